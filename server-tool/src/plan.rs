//! The command line turned into a checked plan before anything is opened (ripgrep's
//! LowArgs → HiArgs): every combination that cannot work is refused here, with its own
//! message, so that the code that runs the plan has no impossible case left to handle.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;

use crate::cli::Cli;
use crate::command::Spec;
use crate::failure::{Failure, Result};
use crate::relay::Settings;

/// Where the key comes from.
pub enum KeySource {
    /// Key file text on an inherited descriptor: read before anything else is opened.
    Fd(i32),
    /// Obtained once the checks that come before the key are done.
    Later(LaterKey),
}

/// A key obtained after the checks: asked on the terminal, or read from a file.
pub enum LaterKey {
    /// Hidden prompts for key and IV.
    Prompt,
    /// Hidden prompts for a passphrase, twice.
    Passphrase,
    /// A key file.
    File(PathBuf),
    /// This server's identity, sealing for remembered devices (`--to`); with `print`, the
    /// block is printed (or written to `-o FILE`) even for devices with a mailbox.
    Devices {
        /// The devices' names.
        names: Vec<String>,
        /// `--print`, `-o FILE` or `--stream`: no mailbox.
        print: bool,
    },
}

/// What to run.
pub enum Work {
    /// One command, given on the command line.
    One(Spec),
    /// Commands read from the terminal until an empty line.
    Interactive,
}

/// Options that apply to every command of the invocation.
#[derive(Clone, Copy)]
pub struct Sealing {
    /// Raw sealed bytes instead of armor.
    pub binary: bool,
    /// Seal stderr too.
    pub seal_stderr: bool,
    /// Deliver the output even if the command fails.
    pub seal_on_error: bool,
    /// Write as it is produced.
    pub stream: bool,
    /// No notes on stderr.
    pub quiet: bool,
}

/// One invocation of hush-run, checked.
pub struct Plan {
    /// Where the key comes from.
    pub key: KeySource,
    /// What to run.
    pub work: Work,
    /// `-o FILE`: only with one command, and its folder exists.
    pub output: Option<PathBuf>,
    /// How to seal.
    pub sealing: Sealing,
    /// The syslog socket, with --audit.
    pub audit: Option<PathBuf>,
    /// `--relay`: pair with receivers instead of taking a key (`key` is then unused).
    pub relay: Option<Settings>,
}

impl Plan {
    /// Checks the command line.
    pub fn new(cli: Cli) -> Result<Self> {
        if cli.binary && cli.output.is_none() && std::io::stdout().is_terminal() {
            return Err(Failure::BinaryToTerminal);
        }
        // clap refused --relay with a key source, -o FILE and --binary already.
        let relay = match cli.relay {
            Some(_) if cli.stream => return Err(Failure::StreamWithRelay),
            Some(url) => Some(Settings::resolve(
                url,
                cli.relay_pin,
                cli.receivers,
                cli.relay_timeout,
                cli.remember,
            )?),
            None => None,
        };
        let work = work(cli.shell, cli.command);
        if let Some(path) = &cli.output {
            if matches!(work, Work::Interactive) {
                return Err(Failure::OutputInInteractiveMode);
            }
            // Before the key is asked: a bad output folder does not waste the entry.
            let dir = shared::cli::parent_dir(path);
            if !dir.is_dir() {
                return Err(Failure::NoOutputFolder {
                    path: path.clone(),
                    dir: dir.to_owned(),
                });
            }
        }
        for name in &cli.to {
            shared::cli::devices::check_name(name).map_err(Failure::UnknownDevice)?;
        }
        let key = match (cli.key_file, cli.key_fd, cli.passphrase) {
            _ if !cli.to.is_empty() => KeySource::Later(LaterKey::Devices {
                print: cli.print || cli.output.is_some() || cli.stream,
                names: cli.to,
            }),
            (Some(path), _, _) => KeySource::Later(LaterKey::File(path)),
            (_, Some(fd), _) => KeySource::Fd(fd),
            (_, _, true) => KeySource::Later(LaterKey::Passphrase),
            _ => KeySource::Later(LaterKey::Prompt),
        };
        Ok(Self {
            key,
            work,
            output: cli.output,
            sealing: Sealing {
                binary: cli.binary,
                seal_stderr: cli.seal_stderr,
                seal_on_error: cli.seal_on_error,
                stream: cli.stream,
                quiet: cli.quiet,
            },
            audit: cli.audit.then_some(cli.audit_socket),
            relay,
        })
    }
}

fn work(shell: Option<String>, command: Vec<OsString>) -> Work {
    match shell {
        Some(line) => Work::One(Spec::Shell(line)),
        None if command.is_empty() => Work::Interactive,
        None => Work::One(Spec::Argv(command)),
    }
}
