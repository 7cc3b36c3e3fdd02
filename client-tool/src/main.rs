//! hush: the laptop side of Hush. A terminal UI that makes keys, opens sealed output and
//! puts the plaintext on the clipboard (never on the screen), plus subcommands for scripts.

/// `eprintln!` that does not panic when stderr is gone (a closed terminal): hush must still
/// clear the clipboard and exit with its own code then.
macro_rules! note {
    () => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr());
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod app;
mod cli;
mod clipboard;
mod creds;
mod failure;
mod keygen_cmd;
mod keyring;
mod man;
mod open_cmd;
mod output;
mod seal_cmd;
mod signals;
mod tui;
mod ui;

use std::process::ExitCode;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command};
use crate::failure::Failure;

fn main() -> ExitCode {
    // Before any secret is read: no core dumps, no ptrace attach.
    if let Err(e) = shared::hardening::harden_process() {
        note!("hush: cannot protect the process memory (core dumps, ptrace): {e}");
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
        return match man::print(Cli::command()) {
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
        Some(Command::Completions { shell }) => {
            clap_complete::generate(*shell, &mut Cli::command(), "hush", &mut std::io::stdout());
            Ok(())
        }
        None => tui::run(&cli.key_files, clear_after),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure {
            broken_pipe: true, ..
        }) => ExitCode::SUCCESS,
        Err(f) => {
            note!("{f}");
            ExitCode::from(f.code)
        }
    }
}
