//! `hush-run devices list|forget NAME|identity`: the devices this server seals for with
//! `--to NAME`, remembered at a relay pairing with `--remember NAME`.

use shared::cli::devices::{PeerKind, Peers};

use crate::cli::DevicesCli;
use crate::failure::{Failure, Result};

/// Runs one `devices` subcommand.
pub fn run(cmd: DevicesCli) -> Result<()> {
    let mut devices = Peers::load(PeerKind::Devices).map_err(Failure::Devices)?;
    match cmd {
        DevicesCli::List => {
            if devices.entries.is_empty() {
                shared::note!(
                    "hush-run: no device remembered yet (pair with --relay --remember NAME)"
                );
            }
            print!("{}", devices.listing());
        }
        DevicesCli::Forget { name } => {
            let gone = devices.forget(&name).map_err(Failure::UnknownDevice)?;
            devices.save().map_err(Failure::Devices)?;
            shared::note!(
                "hush-run: forgot {name} ({}); `--to {name}` is refused from now on",
                gone.public().fingerprint()
            );
        }
        DevicesCli::Identity => {
            println!(
                "{}",
                crate::credentials::server_identity(false)?
                    .public()
                    .fingerprint()
            );
        }
    }
    Ok(())
}
