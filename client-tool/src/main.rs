//! hush: the laptop side of Hush. A terminal UI that makes keys, opens sealed output and
//! puts the plaintext on the clipboard (never on the screen), plus subcommands for scripts.

use shared::note;

mod app;
mod cli;
mod clipboard;
mod creds;
mod failure;
mod inbox_cmd;
mod keygen_cmd;
mod keyring;
mod mailbox;
mod open_cmd;
mod pairing;
mod receive_cmd;
mod seal_cmd;
mod servers_cmd;
mod signals;
mod tui;
mod ui;

use std::process::ExitCode;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    // Before any secret is read: no core dumps, no ptrace attach.
    if let Err(e) = shared::cli::init("hush") {
        note!("hush: {e}");
        return ExitCode::from(failure::code::OTHER);
    }
    let cli = Cli::parse();
    if cli.man {
        if cli.command.is_some() {
            // clap's `exclusive` covers arguments, not subcommands.
            let mut cmd = Cli::command();
            cmd.error(ErrorKind::ArgumentConflict, "--man takes no subcommand")
                .exit();
        }
        return match shared::cli::man::print(Cli::command()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                note!("hush: cannot write the manual page: {e}");
                ExitCode::from(failure::code::OTHER)
            }
        };
    }
    tui::install_panic_hook();
    let clear_after = (cli.clear_after > 0).then(|| Duration::from_secs(cli.clear_after));
    let result = match &cli.command {
        Some(Command::Keygen(args)) => keygen_cmd::run(args),
        Some(Command::Open(args)) => open_cmd::run(args, clear_after),
        Some(Command::Seal(args)) => seal_cmd::run(args),
        // `hush --relay URL receive` means the same as `hush receive --relay URL`.
        Some(Command::Receive(args)) => receive_cmd::run(
            args,
            clear_after,
            tui::RelayFlags {
                url: cli.relay.as_deref(),
                pin: cli.relay_pin.as_deref(),
            },
        ),
        Some(Command::Inbox(args)) => inbox_cmd::run(args, clear_after),
        Some(Command::Servers(cmd)) => servers_cmd::run(cmd),
        Some(Command::Completions { shell }) => {
            clap_complete::generate(*shell, &mut Cli::command(), "hush", &mut std::io::stdout());
            Ok(())
        }
        None => tui::run(
            &cli.key_files,
            !cli.no_identity,
            clear_after,
            tui::RelayFlags {
                url: cli.relay.as_deref(),
                pin: cli.relay_pin.as_deref(),
            },
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output went away (`| head`): not an error, as in ripgrep.
        Err(f) if shared::cli::failure::Failure::is_quiet(&f) => ExitCode::SUCCESS,
        Err(f) => shared::cli::failure::exit("hush", &f),
    }
}
