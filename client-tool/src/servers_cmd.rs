//! `hush servers list|forget NAME|identity`: the servers this laptop paired with
//! (`hush receive --remember`), whose messages it opens with its identity.

use shared::cli::devices::{PeerKind, Peers};
use shared::note;

use crate::cli::ServersCommand;
use crate::creds;
use crate::failure::Failure;

/// Runs one `servers` subcommand.
pub fn run(cmd: &ServersCommand) -> Result<(), Failure> {
    match cmd {
        ServersCommand::List => {
            let servers = Peers::load(PeerKind::Servers)?;
            if servers.entries.is_empty() {
                note!("hush: no server remembered yet (hush receive --remember CODE)");
            }
            print!("{}", servers.listing());
        }
        ServersCommand::Forget { name } => {
            let mut servers = Peers::load(PeerKind::Servers)?;
            let gone = servers.forget(name)?;
            servers.save()?;
            note!(
                "hush: forgot {name} ({}); its messages are refused from now on",
                gone.public().fingerprint()
            );
        }
        ServersCommand::Identity(args) => {
            let file = args.identity_passphrase_file.as_deref();
            let identity = creds::identity(file, false)?.ok_or(Failure::NoIdentity)?;
            println!("{}", identity.own.public().fingerprint());
        }
    }
    Ok(())
}
