//! `hush seal`: seals data locally, in the same format as hush-run (stdout records).

use shared::note;
use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use shared::cli::atomic::AtomicFile;
use shared::cli::prompt::Tty;
use shared::{Metadata, SealOptions, SealWriter, Stream};
use zeroize::Zeroizing;

use crate::cli::SealArgs;
use crate::creds;
use crate::failure::Failure;

/// Runs `hush seal`.
pub fn run(args: &SealArgs) -> Result<(), Failure> {
    let given = args.creds.key_files.len()
        + usize::from(args.creds.passphrase || args.creds.passphrase_file.is_some());
    if given > 1 {
        return Err(Failure::TwoKeys);
    }
    if args.binary && args.output.is_none() && io::stdout().is_terminal() {
        return Err(Failure::BinaryToTerminal);
    }
    let mut candidates = creds::load(&args.creds, true)?;
    let creds = candidates.pop().ok_or(Failure::NoKey)?;
    let time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs());
    let meta = Metadata {
        time,
        ..Metadata::default()
    };

    let mut input: Box<dyn Read> = match &args.input {
        Some(path) => Box::new(File::open(path).map_err(|source| Failure::Input {
            path: path.clone(),
            source,
        })?),
        None if io::stdin().is_terminal() => Box::new(io::Cursor::new(read_hidden_text()?)),
        None => Box::new(io::stdin().lock()),
    };

    let done = match creds.fingerprint() {
        Some(fp) => format!("hush: sealed with key {fp}"),
        None => "hush: sealed with the passphrase".to_owned(),
    };
    let result = match &args.output {
        Some(path) => {
            let mut file = AtomicFile::create(path)?;
            seal_into(&mut input, &mut file, &creds, &meta, !args.binary)?;
            file.commit().map_err(Failure::from)
        }
        None => {
            let stdout = io::stdout();
            let mut out = io::BufWriter::new(stdout.lock());
            match seal_into(&mut input, &mut out, &creds, &meta, !args.binary)
                .and_then(|()| Ok(out.flush()?))
            {
                Err(f) if shared::cli::failure::Failure::is_quiet(&f) => Ok(()),
                other => other,
            }
        }
    };
    if result.is_ok() {
        note!("{done}");
    }
    result
}

/// Typed text would echo on the screen: read it hidden, one line.
fn read_hidden_text() -> Result<Zeroizing<Vec<u8>>, Failure> {
    let failed = |source| Failure::Prompt {
        what: "the text to seal",
        source,
    };
    let mut tty = Tty::open().map_err(failed)?;
    let line = tty
        .hidden()
        .and_then(|mut hidden| hidden.ask("Text to seal (hidden, one line): "))
        .map_err(failed)?
        .unwrap_or_default();
    Ok(Zeroizing::new(line.as_bytes().to_vec()))
}

fn seal_into(
    input: &mut dyn Read,
    out: &mut dyn Write,
    creds: &shared::Credentials,
    meta: &Metadata,
    armored: bool,
) -> Result<(), Failure> {
    let mut writer = SealWriter::new(out, creds, meta, armored, SealOptions::default())?;
    let mut buf = Zeroizing::new(vec![0u8; 64 * 1024]);
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Failure::Stdin(e)),
        };
        writer.write(Stream::Stdout, &buf[..n])?;
    }
    writer.finish(None)?;
    Ok(())
}
