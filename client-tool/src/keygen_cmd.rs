//! `hush keygen --out FILE`: a new key file, and only its fingerprint on the screen.

use shared::{Fingerprint, Iv, Key};

use crate::cli::KeygenArgs;
use crate::failure::Failure;

/// Runs `hush keygen`.
pub fn run(args: &KeygenArgs) -> Result<(), Failure> {
    let key = Key::generate()?;
    let iv = Iv::generate()?;
    shared::cli::private_file::write_key_file(&args.out, &key, &iv, args.force)
        .map_err(Failure::key_file)?;
    println!("{}", Fingerprint::of(&key, &iv));
    Ok(())
}
