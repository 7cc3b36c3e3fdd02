//! hush-run: runs a command and prints only its output, sealed for `hush` on the laptop.
//!
//! main stays thin: harden the process before anything else (no core dumps, no ptrace
//! attach: a secret is read soon after), parse the command line, run, exit with the code.

mod app;
mod audit;
mod child;
mod cli;
mod command;
mod credentials;
mod devices;
mod failure;
mod job;
mod mailbox;
mod output;
mod plan;
mod relay;
mod signals;
mod user;

use std::process::ExitCode;

fn main() -> ExitCode {
    // Hardening only: the signal thread (and its descriptors) starts once a key descriptor,
    // if any, has been read (see `app::run`), so that a descriptor number the caller forgot
    // to open is an error rather than one of ours.
    if let Err(e) = shared::cli::hardening::harden_process() {
        // Without it a core dump or a debugger could read the key: refuse rather than risk it.
        shared::note!("hush-run: cannot disable core dumps and ptrace attach: {e}");
        return ExitCode::from(125);
    }
    if let Some(cmd) = cli::Cli::devices_command() {
        return match devices::run(cmd) {
            Ok(()) => ExitCode::SUCCESS,
            Err(failure) => shared::cli::failure::exit("hush-run", &failure),
        };
    }
    let cli = cli::Cli::parse_checked();
    if let Some(shell) = cli.completions {
        cli::Cli::print_completions(shell);
        return ExitCode::SUCCESS;
    }
    if cli.man {
        if let Err(e) = shared::cli::man::print(<cli::Cli as clap::CommandFactory>::command()) {
            shared::note!("hush-run: cannot write the manual page: {e}");
            return ExitCode::from(125);
        }
        return ExitCode::SUCCESS;
    }
    let result = plan::Plan::new(cli).and_then(app::run);
    match result {
        Ok(child::Ended::Exited(code)) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        // The command was killed by a signal: end the same way, as `timeout` and `env` do.
        Ok(child::Ended::Signaled(signal)) => signals::die_by(signal),
        Err(failure) => shared::cli::failure::exit("hush-run", &failure),
    }
}
