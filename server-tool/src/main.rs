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
mod failure;
mod job;
mod output;
mod signals;
mod tty;
mod user;

fn main() {
    if let Err(e) = shared::hardening::harden_process() {
        // Without it a core dump or a debugger could read the key: refuse rather than risk it.
        eprintln!("hush-run: cannot disable core dumps and ptrace attach: {e}");
        std::process::exit(failure::EXIT_OWN_FAILURE);
    }
    let cli = cli::Cli::parse_checked();
    if let Some(shell) = cli.completions {
        cli::Cli::print_completions(shell);
        return;
    }
    match app::run(cli) {
        Ok(child::Ended::Exited(code)) => std::process::exit(code),
        // The command was killed by a signal: end the same way, as `timeout` and `env` do.
        Ok(child::Ended::Signaled(signal)) => signals::die_by(signal),
        Err(failure) => {
            eprintln!("{failure}");
            std::process::exit(failure.code);
        }
    }
}
