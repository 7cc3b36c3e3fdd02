//! hush-run's own failures: each variant's Display is the message for the person at the
//! keyboard, with a hint where there is something to do, and an exit code (125 unless said
//! otherwise, like `env` and `timeout`, so that it is not mistaken for the command's own
//! status). The codes are documented in `--help` (cli.rs) and docs/hush-run.md.

use std::borrow::Cow;
use std::io;
use std::path::PathBuf;

use shared::cli::Error as CliError;
use shared::cli::config::ConfigError;
use shared::cli::devices::DeviceError;
use shared::cli::relay_client::RelayError;
use shared::cli::relay_flow::FlowError;

/// hush-run itself failed (bad key, unusable key file, output not writable, ...).
pub const EXIT_OWN_FAILURE: u8 = 125;
/// The command was found but could not be executed.
pub const EXIT_CANNOT_EXECUTE: u8 = 126;
/// The command was not found.
pub const EXIT_NOT_FOUND: u8 = 127;
/// Bad usage (the same code clap uses).
pub const EXIT_USAGE: u8 = 2;
/// Relay mode: a wrong code was used, so the room was burned (someone may be attacking).
pub const EXIT_WRONG_CODE: u8 = 122;
/// Relay mode: the pairing did not complete (the code expired, no receiver was approved,
/// the relay lost the room); the command was not run.
pub const EXIT_NOT_PAIRED: u8 = 123;

/// Tries per hidden entry before giving up.
pub const TRIES: usize = 3;

/// Everything hush-run itself can fail at. No variant holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    // --- usage (2) ----------------------------------------------------------------------
    /// Raw sealed bytes would garble the terminal.
    #[error("refusing to write binary sealed data to a terminal")]
    BinaryToTerminal,
    /// Interactive mode needs a terminal to read commands from.
    #[error("no command given, and no terminal to ask for one on ({})", tty_reason(.0))]
    NoCommand(CliError),
    /// `-o FILE` in interactive mode: each command would replace the previous one's file.
    #[error("-o FILE takes the output of one command, not of an interactive session")]
    OutputInInteractiveMode,
    /// `--stream` with `--relay`: the relay carries one whole message.
    #[error(
        "--stream cannot be used with --relay: the relay carries each receiver's message whole, once the command has ended"
    )]
    StreamWithRelay,
    /// `--relay` alone, and no URL in the settings file.
    #[error("--relay needs a URL: none given, and no [relay] url in {0}")]
    RelayNoUrl(String),
    /// The relay URL is malformed.
    #[error("--relay: {0}")]
    RelayUrl(RelayError),
    /// The relay pin is malformed.
    #[error("{from}: {source}")]
    RelayPin {
        /// Where it came from.
        from: String,
        /// Why.
        source: RelayError,
    },
    /// The settings file cannot be used.
    #[error("settings file: {0}")]
    Config(ConfigError),
    /// `--remember` with more than one receiver: a name is for one device.
    #[error("--remember NAME names one device: it cannot go with --receivers above 1")]
    RememberSeveral,
    /// A device named with `--to` or `devices forget` is not known, or a bad name.
    #[error("{0}")]
    UnknownDevice(DeviceError),
    /// Relay mode needs the terminal for the code and the approvals.
    #[error("no terminal to show the code and approve receivers on ({})", tty_reason(.0))]
    NoApprovalTerminal(CliError),

    // --- before the command (125) -------------------------------------------------------
    /// The folder of `-o FILE` does not exist.
    #[error("-o {}: the folder {} does not exist", .path.display(), .dir.display())]
    NoOutputFolder {
        /// The output file.
        path: PathBuf,
        /// Its folder.
        dir: PathBuf,
    },
    /// Signal handling could not be set up.
    #[error("{0}")]
    Signals(CliError),
    /// No terminal for the key prompts.
    #[error("no terminal to ask for the key on ({})", tty_reason(.0))]
    NoTerminal(CliError),
    /// The terminal failed while asking for the key.
    #[error("{0}")]
    Terminal(CliError),
    /// End of input (Ctrl-D) at a key prompt.
    #[error("no key entered (end of input)")]
    NoKeyEntered,
    /// Three bad entries.
    #[error("no valid {0} after {TRIES} tries")]
    NoValidEntry(&'static str),
    /// The key file cannot be used.
    #[error("{}", key_file_message(.0))]
    KeyFile(CliError),
    /// The key descriptor cannot be used.
    #[error("{}", key_fd_message(.source))]
    KeyFd {
        /// The descriptor.
        fd: i32,
        /// Why.
        source: CliError,
    },
    /// The system log is unreachable with --audit.
    #[error("--audit: cannot reach the system log at {}: {source}", .path.display())]
    AuditUnreachable {
        /// The socket.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The start record could not be logged: the command is not run.
    #[error("--audit: cannot write to the system log: {0}; the command was not run")]
    AuditStart(io::Error),
    /// The output file cannot be created.
    #[error("cannot create the output file: {0}")]
    OutputFile(CliError),
    /// stdout cannot be used.
    #[error("cannot use stdout: {0}")]
    Stdout(io::Error),
    /// The temporary file that holds the sealed output cannot be created.
    #[error("cannot create a temporary file to hold the sealed output: {0}")]
    HoldFile(io::Error),
    /// The sealed output cannot be started.
    #[error("cannot start the sealed output: {0}")]
    StartSealing(shared::Error),

    // --- relay mode, before the command (125, 122, 123) -----------------------------------
    /// The relay failed (unreachable, TLS, pin, refused) before the command ran.
    #[error("{source}; the command was not run")]
    Relay {
        /// Why.
        source: FlowError,
    },
    /// The server's identity or its list of devices cannot be used, or a remembered
    /// device came back with another key.
    #[error("{0}")]
    Devices(DeviceError),
    /// A receiver's confirmation was wrong: the room is burned.
    #[error("wrong code used: someone may be attacking; start again")]
    WrongCode,
    /// The code expired before every receiver was decided.
    #[error(
        "the code expired with {approved} of {wanted} receivers approved; the command was not run"
    )]
    PairingExpired {
        /// Receivers approved by then.
        approved: usize,
        /// `--receivers`.
        wanted: u8,
    },
    /// Every receiver was denied.
    #[error("no receiver was approved; the command was not run")]
    NoneApproved,
    /// The relay lost the room mid-pairing.
    #[error(
        "the relay lost the pairing (it restarted, or the pairing expired); the command was not run"
    )]
    PairingLost,

    // --- the command (126, 127, 125) ----------------------------------------------------
    /// The program does not exist.
    #[error("cannot run '{0}': command not found")]
    NotFound(String),
    /// The program exists but cannot be executed.
    #[error("cannot run '{program}': {}", spawn_reason(.source))]
    CannotExecute {
        /// The program.
        program: String,
        /// Why.
        source: io::Error,
    },
    /// Reading the command's output or sealing it failed; the command was stopped.
    #[error("cannot seal the output of {command}: {source}")]
    Sealing {
        /// The command as shown.
        command: String,
        /// Why.
        source: shared::Error,
    },
    /// The sealed output could not be finished or delivered.
    #[error("cannot write the sealed output: {0}")]
    Delivery(io::Error),
}

fn tty_reason(e: &CliError) -> String {
    match e {
        CliError::NoTerminal(io) => format!("/dev/tty: {io}"),
        other => other.to_string(),
    }
}

fn key_file_message(e: &CliError) -> String {
    match e {
        CliError::Format(e) => format!("bad key file: {e}"),
        other => other.to_string(),
    }
}

fn key_fd_message(e: &CliError) -> String {
    match e {
        CliError::Format(e) => format!("bad key: {e}"),
        other => other.to_string(),
    }
}

fn spawn_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}

impl Failure {
    /// The failure of starting the command.
    pub fn spawn(program: String, source: io::Error) -> Self {
        match source.kind() {
            io::ErrorKind::NotFound => Self::NotFound(program),
            _ => Self::CannotExecute { program, source },
        }
    }
}

impl shared::cli::failure::Failure for Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Self::BinaryToTerminal
            | Self::NoCommand(_)
            | Self::OutputInInteractiveMode
            | Self::StreamWithRelay
            | Self::RelayNoUrl(_)
            | Self::RelayUrl(_)
            | Self::RelayPin { .. }
            | Self::Config(_)
            | Self::RememberSeveral
            | Self::UnknownDevice(_) => EXIT_USAGE,
            Self::WrongCode => EXIT_WRONG_CODE,
            Self::PairingExpired { .. } | Self::NoneApproved | Self::PairingLost => EXIT_NOT_PAIRED,
            Self::NotFound(_) => EXIT_NOT_FOUND,
            Self::CannotExecute { .. } => EXIT_CANNOT_EXECUTE,
            _ => EXIT_OWN_FAILURE,
        }
    }

    fn hint(&self) -> Option<Cow<'_, str>> {
        Some(match self {
            Self::BinaryToTerminal => {
                "use -o FILE, redirect stdout, or drop --binary for armored text".into()
            }
            Self::NoCommand(_) => {
                "hush-run -- CMD [ARGS...], or hush-run --shell 'CMD | ...'".into()
            }
            Self::OutputInInteractiveMode => {
                "give the command: hush-run -o FILE -- CMD [ARGS...]".into()
            }
            Self::NoTerminal(_) => {
                "over ssh, ask for a terminal with `ssh -t`; for automation use \
                 --key-file FILE (mode 0600) or --key-fd N"
                    .into()
            }
            Self::KeyFile(CliError::Unreadable { .. }) => "a key file holds `key = ...` and \
                 `iv = ...` lines and has mode 0600 (`hush keygen` writes one)"
                .into(),
            // The message already says what to run.
            Self::KeyFile(CliError::Permissions { .. } | CliError::Format(_)) => return None,
            Self::KeyFile(_) => {
                "a key file must be your own regular file (not a link), mode 0600".into()
            }
            Self::KeyFd { fd, .. } => {
                format!("open it for hush-run, e.g. `hush-run --key-fd {fd} -- CMD {fd}< key-file`")
                    .into()
            }
            Self::AuditUnreachable { .. } | Self::AuditStart(_) => {
                "start rsyslog or systemd-journald, or run without --audit".into()
            }
            Self::StreamWithRelay => "drop --stream (each message is at most 1 MiB)".into(),
            Self::RelayNoUrl(_) => "hush-run --relay https://HOST:PORT -- CMD, or set url under \
                 [relay] in the settings file"
                .into(),
            Self::RelayUrl(_) => {
                "give --relay https://HOST:PORT before the command, and the command after `--` \
                 (`--relay` alone takes the URL from the settings file)"
                    .into()
            }
            Self::RelayPin { .. } => {
                "hush-relay prints its pin (cert_sha256) on its first line: sha256: and 64 hex \
                 digits"
                    .into()
            }
            Self::NoApprovalTerminal(_) => {
                "over ssh, ask for a terminal with `ssh -t`: the receivers are approved there"
                    .into()
            }
            Self::Relay {
                source: FlowError::Relay(RelayError::PinMismatch(_)),
            } => "check --relay-pin (or [relay] pin) against the relay's first log line".into(),
            Self::Relay {
                source: FlowError::Relay(RelayError::Tls(_)),
            } => "a relay with a self-signed certificate needs --relay-pin sha256:HEX".into(),
            Self::WrongCode => "the room is burned and the code spent: run hush-run again for a \
                 new code, and give it only to the laptop that should receive"
                .into(),
            Self::PairingExpired { .. } => {
                "run hush-run again for a new code (type it on the laptop with \
                 `hush receive CODE`, or `r` in hush)"
                    .into()
            }
            Self::NoneApproved | Self::PairingLost => "run hush-run again for a new code".into(),
            Self::UnknownDevice(DeviceError::Unknown { .. }) => {
                "pair with it once: hush-run --relay --remember NAME -- CMD, and `hush receive \
                 --remember CODE` on the laptop (hush-run devices list shows the known ones)"
                    .into()
            }
            Self::HoldFile(_) => {
                "set TMPDIR to a writable folder, or use -o FILE or --stream".into()
            }
            Self::Sealing { .. } => {
                "the command was stopped; check free space in the output folder or TMPDIR".into()
            }
            _ => return None,
        })
    }
}

/// Result with a [`Failure`].
pub type Result<T, E = Failure> = std::result::Result<T, E>;
