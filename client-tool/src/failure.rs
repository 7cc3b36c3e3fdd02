//! What goes wrong, as the person at the keyboard should hear it, and the exit code each
//! kind of failure gives (documented in `hush --help`, see [`EXIT_CODES`]).

use shared::Error;

use shared::cli::config::ConfigError;
use shared::cli::relay_client::RelayError;
use shared::cli::relay_flow::FlowError;
use shared::cli::stdout::Abandoned;
use shared::relay::{CodeError, Nameplate};

use crate::clipboard::ClipboardError;
use shared::cli::devices::DeviceError;

/// The exit code table, shown after `hush --help`.
pub const EXIT_CODES: &str = "\
Exit codes:
  0    success (also when the reader of the output pipe closed it early)
  1    other error: I/O, an unreadable input file, binary output asked for the clipboard
  2    usage: bad arguments, no key given, two keys for seal, binary sealed data to a
       terminal, -o FILE a folder, no terminal for a passphrase prompt, empty passphrase,
       passphrases that do not match; receive: a malformed code, no code, no relay URL,
       a malformed --relay-pin, an unusable settings file
  3    not hush data: no sealed block, invalid base64, wrong magic
  4    truncated: the block's END line is missing, or the message stops before its final
       chunk or inside a chunk
  5    wrong key, IV or passphrase; a key given for a passphrase message or the other way
       round; a message sealed for other devices
  6    corrupted: authentication failed (the message says what was written before it)
  7    unsupported format version, key mode, or passphrase parameters over the cap
  8    key file or passphrase file problem: missing, unreadable, not 0600, bad syntax;
       keygen: the file exists or cannot be written; the laptop's identity or servers.toml
       unusable (not 0600, not an identity, bad syntax)
  9    no clipboard available (no DISPLAY / WAYLAND_DISPLAY)
  10   receive: the relay is unreachable (after retries), or refused in a way not below
  11   receive: TLS with the relay failed: certificate not trusted, or not the --relay-pin
  12   receive: the relay is busy: rate-limited, or full (after retries)
  13   receive: unknown or expired code (nothing waits behind its number), or every
       receiver place of it is taken
  14   receive: the sender burned the room: the code was wrong, or someone else tried one
  15   receive: the sender denied this receiver (its receiver code was not approved)
  16   receive: the pairing was tampered with (the relay or someone in between)
  17   receive: the relay lost the pairing (restarted without its state, or it expired)
  18   receive: nothing came within --wait seconds
  19   a message for this device from a server it does not trust: never paired with,
       forgotten (hush servers forget), or not verifying as sealed by the server it names
  20   a remembered server presents another identity than when paired (or that identity
       is remembered under another name): refused, nothing remembered or received
  129  stopped by SIGHUP, or the terminal went away (after clearing the clipboard)
  130  stopped by Ctrl-C, SIGINT (after clearing the clipboard)
  131  stopped by Ctrl-\\, SIGQUIT (after clearing the clipboard)
  143  stopped by SIGTERM (after clearing the clipboard)";

/// Exit codes by kind.
pub mod code {
    /// Other error.
    pub const OTHER: u8 = 1;
    /// Usage error (clap uses 2 too).
    pub const USAGE: u8 = 2;
    /// Not hush data.
    pub const NOT_HUSH: u8 = 3;
    /// Truncated input.
    pub const TRUNCATED: u8 = 4;
    /// Wrong key, IV or passphrase.
    pub const WRONG_KEY: u8 = 5;
    /// Authentication failed.
    pub const CORRUPTED: u8 = 6;
    /// Unsupported version, mode or parameters.
    pub const UNSUPPORTED: u8 = 7;
    /// Key file problem.
    pub const KEY_FILE: u8 = 8;
    /// No clipboard.
    pub const NO_CLIPBOARD: u8 = 9;
    /// The relay is unreachable, or refused.
    pub const RELAY_UNREACHABLE: u8 = 10;
    /// TLS with the relay failed (untrusted certificate, pin mismatch).
    pub const RELAY_TLS: u8 = 11;
    /// The relay is rate-limiting or full.
    pub const RELAY_BUSY: u8 = 12;
    /// Unknown or expired code, or no receiver place left.
    pub const UNKNOWN_CODE: u8 = 13;
    /// The sender burned the room.
    pub const BURNED: u8 = 14;
    /// The sender denied this receiver.
    pub const DENIED: u8 = 15;
    /// The pairing was tampered with.
    pub const TAMPERED: u8 = 16;
    /// The relay lost the pairing.
    pub const LOST: u8 = 17;
    /// Nothing came in time.
    pub const TIMED_OUT: u8 = 18;
    /// A device-mode message not from a server this device trusts: never paired, forgotten,
    /// or not verifying as sealed by the server it names.
    pub const UNTRUSTED_SENDER: u8 = 19;
    /// A server remembered under a name presents another identity (or the identity is
    /// remembered under another name): nothing was remembered.
    pub const IDENTITY_CHANGED: u8 = 20;
}

/// What stopped `hush receive` at the relay. Each has its exit code ([`RelayFailure::code`]).
#[derive(Debug, thiserror::Error)]
pub enum RelayFailure {
    /// The relay, the pairing or the sender stopped it (burned, denied, lost, tampered,
    /// unreachable, TLS, busy...).
    #[error(transparent)]
    Flow(FlowError),
    /// Nothing waits behind the code's number (404 at the join).
    #[error(
        "no pairing waits behind code number {0}: the code expired or was used up, or its number is mistyped"
    )]
    UnknownCode(Nameplate),
    /// Every receiver place of the room is taken (409 `room_full` at the join).
    #[error("every receiver place of code number {0} is taken")]
    RoomFull(Nameplate),
    /// The `--wait` deadline passed.
    #[error("{what} within {secs} s (--wait)")]
    TimedOut {
        /// What did not come.
        what: &'static str,
        /// The wait.
        secs: u64,
    },
    /// After the pairing the relay went away, and hush gave up: hush-run, failing to
    /// deliver, may have printed its sealed block, which only the TUI can open.
    #[error("{0}; hush-run may have printed the output as a sealed block instead")]
    AwayAfterPairing(Box<RelayFailure>),
}

impl RelayFailure {
    /// The failure of a pairing or delivery with the code for `nameplate`, waited for
    /// `secs` seconds.
    pub fn of(e: FlowError, nameplate: Nameplate, secs: u64) -> Self {
        match e {
            FlowError::Relay(RelayError::Refused { status: 404, .. }) => {
                Self::UnknownCode(nameplate)
            }
            FlowError::Relay(RelayError::Refused { ref code, .. }) if code == "room_full" => {
                Self::RoomFull(nameplate)
            }
            FlowError::TimedOut(what) => Self::TimedOut { what, secs },
            e => Self::Flow(e),
        }
    }

    /// The exit code.
    pub fn code(&self) -> u8 {
        match self {
            Self::Flow(e) => match e {
                FlowError::Relay(r) => relay_code(r),
                FlowError::WrongCode | FlowError::Burned => code::BURNED,
                FlowError::Denied => code::DENIED,
                FlowError::Lost => code::LOST,
                FlowError::Pairing(_) | FlowError::Remember(_) => code::TAMPERED,
                FlowError::TimedOut(_) => code::TIMED_OUT,
            },
            Self::UnknownCode(_) | Self::RoomFull(_) => code::UNKNOWN_CODE,
            Self::TimedOut { .. } => code::TIMED_OUT,
            Self::AwayAfterPairing(inner) => inner.code(),
        }
    }

    pub(crate) fn hint(&self) -> Option<&'static str> {
        Some(match self {
            Self::Flow(FlowError::Relay(r)) => match r {
                RelayError::PinMismatch(_) => {
                    "compare --relay-pin with the sha256 fingerprint hush-relay printed at start"
                }
                RelayError::Tls(_) => {
                    "a relay with a self-signed certificate needs --relay-pin sha256:HEX (from its first line)"
                }
                RelayError::Unreachable(_) => "check the relay's URL and this machine's network",
                RelayError::Refused {
                    status: 429 | 503, ..
                } => "wait a minute, then ask for a new code",
                _ => return None,
            },
            Self::Flow(FlowError::Burned | FlowError::WrongCode | FlowError::Lost)
            | Self::UnknownCode(_) => "ask the person at the server to start again: a new code",
            Self::Flow(FlowError::Denied) => {
                "the server did not approve this receiver code; if it was yours, start again"
            }
            Self::Flow(FlowError::Pairing(_)) => {
                "nothing was received; start again, and distrust this relay if it happens again"
            }
            Self::TimedOut { .. } => "a longer --wait SECS gives the server more time",
            Self::RoomFull(_) => {
                "someone else joined with this code: the server must approve only your receiver code; ask for a new code"
            }
            Self::AwayAfterPairing(_) => {
                "that block opens only in a hush TUI that paired with the code (`r`) and still waits, \
                 not in hush receive: with a flaky relay, pair in the TUI"
            }
            _ => return None,
        })
    }
}

/// The exit code of a relay call's failure.
fn relay_code(e: &RelayError) -> u8 {
    match e {
        RelayError::NotHttps(_) | RelayError::BadPin => code::USAGE,
        RelayError::PinMismatch(_) | RelayError::Tls(_) | RelayError::Identity(_) => {
            code::RELAY_TLS
        }
        RelayError::Refused {
            status: 429 | 503, ..
        } => code::RELAY_BUSY,
        RelayError::Refused { code, .. } if code == "burned" => code::BURNED,
        RelayError::Refused { code, .. } if code == "denied" => code::DENIED,
        _ => code::RELAY_UNREACHABLE,
    }
}

/// The exit code of a library error.
pub fn code_of(e: &Error) -> u8 {
    match e {
        Error::NoSealedBlock | Error::InvalidBase64 { .. } | Error::NotHushData => code::NOT_HUSH,
        Error::ArmorTruncated | Error::Truncated | Error::TruncatedInChunk => code::TRUNCATED,
        Error::WrongKey
        | Error::WrongPassphrase
        | Error::ModeMismatch { .. }
        | Error::OtherPairing
        | Error::NotForThisDevice => code::WRONG_KEY,
        Error::UnknownSender(_) | Error::ForgottenSender(_) | Error::SenderMismatch(_) => {
            code::UNTRUSTED_SENDER
        }
        Error::Corrupted | Error::BadPayload(_) => code::CORRUPTED,
        Error::UnsupportedVersion(_)
        | Error::UnsupportedMode(_)
        | Error::ParamsOverCap(_)
        | Error::InvalidParams(_) => code::UNSUPPORTED,
        Error::KeyFileSyntax { .. } => code::KEY_FILE,
        Error::EmptyPassphrase => code::USAGE,
        _ => code::OTHER,
    }
}

/// A hint that tells what to do about a library error, where there is one worth giving.
pub fn hint_of(e: &Error) -> Option<&'static str> {
    match e {
        Error::NoSealedBlock => {
            Some("copy the whole block printed by hush-run, from its BEGIN line to its END line")
        }
        Error::ArmorTruncated | Error::Truncated => {
            Some("the copy stopped early: select the block again, BEGIN to END, and retry")
        }
        // Only raw sealed bytes are named so (cut armor misses its END line instead).
        Error::TruncatedInChunk => Some(
            "the data looks cut off (a copy or download that stopped early): get all of it again",
        ),
        Error::WrongKey => Some("compare the fingerprint hush-run showed with the keys hush knows"),
        Error::Corrupted => {
            Some("the block was altered after sealing; copy it again from its source")
        }
        Error::UnsupportedVersion(_) | Error::UnsupportedMode(_) => {
            Some("upgrade hush on this machine")
        }
        _ => None,
    }
}

/// Everything a hush command can fail at. Each variant's Display is the message (never
/// secret bytes); [`Failure::exit_code`] and [`Failure::hint`] come with it.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The library refused the input or the key (not hush data, wrong key, corrupted, ...).
    #[error(transparent)]
    Format(#[from] Error),
    /// Opening failed part way through a message: says what became of the output, since
    /// the streaming path writes each chunk once it authenticated.
    #[error("{source}{}", after(.abandoned))]
    Opening {
        /// What was wrong with the message.
        source: Error,
        /// What became of the output written before.
        abandoned: Abandoned,
    },
    /// A key file or passphrase file cannot be used (or, for keygen, written).
    #[error(transparent)]
    KeyFile(shared::cli::Error),
    /// An output file or the process set-up failed.
    #[error(transparent)]
    File(shared::cli::Error),
    /// The clipboard failed.
    #[error(transparent)]
    Clipboard(#[from] ClipboardError),
    /// No key material given to open or seal.
    #[error("no key given: use --key-file FILE, --passphrase or --passphrase-file FILE")]
    NoKey,
    /// `seal` takes one key.
    #[error("seal takes one key: a single --key-file, or a passphrase")]
    TwoKeys,
    /// Raw sealed bytes would garble the terminal.
    #[error("refusing to write binary sealed data to a terminal")]
    BinaryToTerminal,
    /// No terminal for a hidden prompt.
    #[error("cannot ask for {what}: {source}")]
    Prompt {
        /// What was to be asked.
        what: &'static str,
        /// Why.
        source: shared::cli::Error,
    },
    /// End of input at the passphrase prompt.
    #[error("no passphrase entered (end of input)")]
    NoPassphrase,
    /// The passphrase and its confirmation differ.
    #[error("the passphrases do not match")]
    PassphrasesDiffer,
    /// A passphrase file holds no usable passphrase.
    #[error("{}: {source}", .path.display())]
    PassphraseFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: Error,
    },
    /// The input file cannot be read.
    #[error("cannot read {}: {source}", .path.display())]
    Input {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Standard input cannot be read.
    #[error("cannot read the input: {0}")]
    Stdin(std::io::Error),
    /// Opened, but the output cannot go on the clipboard as text.
    #[error("the output is binary ({0} bytes): it cannot go on the clipboard as text")]
    BinaryOutput(usize),
    /// The TUI needs a terminal.
    #[error("the hush UI needs a terminal")]
    NoTerminalUi,
    /// The terminal's input ended.
    #[error("terminal input closed")]
    InputClosed,
    /// A termination signal arrived (the clipboard was cleared first).
    #[error("stopped by signal {0}; clipboard cleared")]
    Signal(i32),
    /// The terminal was hung up (window closed, SSH gone), with or without SIGHUP.
    #[error("the terminal went away; clipboard cleared")]
    TerminalGone,
    /// Any other I/O failure (the terminal, stdout).
    #[error(transparent)]
    Io(std::io::Error),
    /// The typed text is not a code (nothing was sent anywhere).
    #[error("{0}")]
    BadCode(CodeError),
    /// No code given, and none typed at the prompt.
    #[error("no code given")]
    NoCode,
    /// No code on the command line, and no terminal to ask for one.
    #[error("cannot ask for the code: {0}")]
    CodePrompt(shared::cli::Error),
    /// No relay to use.
    #[error("no relay given: use --relay https://HOST:PORT, or set url under [relay] in {0}")]
    NoRelay(String),
    /// The relay URL or pin is malformed.
    #[error(transparent)]
    RelaySettings(RelayError),
    /// The settings file cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The relay, the pairing or the sender stopped `hush receive`.
    #[error(transparent)]
    Relay(#[from] RelayFailure),
    /// `--identity`, and this laptop has none yet.
    #[error(
        "this laptop has no identity yet: it is made when it first pairs with `hush receive --remember`"
    )]
    NoIdentity,
    /// `hush inbox`, and no server got a mailbox of this laptop.
    #[error(
        "this laptop has no mailbox yet: it gives one to each server it remembers (`hush receive --remember`) on the pairing's relay"
    )]
    NoMailbox,
    /// The laptop's identity or its list of servers cannot be used, or a remembered server
    /// came back with another identity.
    #[error(transparent)]
    Devices(#[from] DeviceError),
}

/// The end of an [`Failure::Opening`] message.
fn after(abandoned: &Abandoned) -> String {
    match abandoned {
        Abandoned::Nothing => "; nothing was released".to_owned(),
        Abandoned::CutBack(n) => format!(
            "; the {n} bytes of output already written were removed (stdout is cut back to \
             its former length)"
        ),
        Abandoned::Kept(n) => {
            format!(
                ", after {n} bytes of output had been written; they are authentic but incomplete"
            )
        }
    }
}

impl Failure {
    /// The failure of opening a message, with what became of the output (`abandoned`) when
    /// the failure can come after some chunks were opened.
    pub fn opening(source: Error, abandoned: Abandoned) -> Self {
        // Failures that can only come before any chunk was opened say nothing of output.
        let mid_message = matches!(
            source,
            Error::Corrupted
                | Error::Truncated
                | Error::TruncatedInChunk
                | Error::ArmorTruncated
                | Error::InvalidBase64 { .. }
                | Error::BadPayload(_)
                | Error::TooLong
                | Error::Io(_)
        );
        if mid_message {
            Self::Opening { source, abandoned }
        } else {
            Self::Format(source)
        }
    }

    /// A key or passphrase file that cannot be used (exit code 8).
    pub fn key_file(e: shared::cli::Error) -> Self {
        match e {
            shared::cli::Error::Format(e) => Self::Format(e),
            e => Self::KeyFile(e),
        }
    }

    /// A relay flow's failure outside a pairing's own steps (an answer that did not go).
    pub fn flow(e: FlowError) -> Self {
        Self::Relay(RelayFailure::Flow(e))
    }

    /// Whether this is an I/O error of the terminal (so possibly the terminal going away).
    pub fn is_io(&self) -> bool {
        matches!(self, Self::Io(_))
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        match Error::from_io(e) {
            Error::Io(io) => Self::Io(io),
            other => Self::Format(other),
        }
    }
}

impl From<shared::cli::Error> for Failure {
    fn from(e: shared::cli::Error) -> Self {
        match e {
            shared::cli::Error::Format(e) => Self::Format(e),
            e => Self::File(e),
        }
    }
}

impl shared::cli::failure::Failure for Failure {
    fn exit_code(&self) -> u8 {
        use shared::cli::Error as CliError;
        match self {
            Self::Format(e) | Self::Opening { source: e, .. } => code_of(e),
            Self::KeyFile(_) => code::KEY_FILE,
            Self::File(CliError::IsFolder { .. } | CliError::OutputNotAFile { .. }) => code::USAGE,
            Self::File(CliError::Exists { .. }) => code::KEY_FILE,
            Self::Clipboard(_) => code::NO_CLIPBOARD,
            Self::NoKey
            | Self::TwoKeys
            | Self::BinaryToTerminal
            | Self::Prompt { .. }
            | Self::NoPassphrase
            | Self::PassphrasesDiffer
            | Self::PassphraseFile { .. }
            | Self::NoTerminalUi => code::USAGE,
            Self::Signal(sig) => shared::cli::failure::signal_code(*sig),
            Self::TerminalGone => shared::cli::failure::signal_code(shared::cli::signals::SIGHUP),
            Self::BadCode(_)
            | Self::NoCode
            | Self::CodePrompt(_)
            | Self::NoRelay(_)
            | Self::RelaySettings(_)
            | Self::Config(_) => code::USAGE,
            Self::Relay(r) => r.code(),
            Self::NoIdentity => code::KEY_FILE,
            Self::NoMailbox => code::USAGE,
            Self::Devices(e) => match e {
                DeviceError::WrongPassphrase { .. } => code::WRONG_KEY,
                DeviceError::Changed { .. } | DeviceError::OtherName { .. } => {
                    code::IDENTITY_CHANGED
                }
                DeviceError::Unknown { .. } | DeviceError::BadName(_) => code::USAGE,
                _ => code::KEY_FILE,
            },
            _ => code::OTHER,
        }
    }

    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        let hint = match self {
            Self::Format(e) | Self::Opening { source: e, .. } => hint_of(e)?,
            Self::Clipboard(e) => e.hint()?,
            Self::NoKey => "make a key file with `hush keygen --out FILE`",
            Self::BinaryToTerminal => "use -o FILE, a pipe, or drop --binary for armored text",
            Self::Prompt { .. } => "use --passphrase-file FILE when there is no terminal",
            Self::BinaryOutput(_) => "write it to a file with -o FILE, or pipe it",
            Self::BadCode(_) => "type the code as hush-run printed it, like 417-4K7M-Q2ZP",
            Self::NoCode | Self::CodePrompt(_) => {
                "give the code hush-run printed: hush receive 417-4K7M-Q2ZP"
            }
            Self::RelaySettings(RelayError::BadPin) => {
                "the pin is the cert_sha256 hush-relay printed: sha256: and 64 hex digits"
            }
            Self::Relay(r) => r.hint()?,
            Self::NoTerminalUi => {
                "in scripts, use `hush keygen`, `hush open` or `hush seal` (see hush --help)"
            }
            _ => return None,
        };
        Some(hint.into())
    }

    /// The reader of our output went away (`| head`): not worth a message, as in ripgrep.
    fn is_quiet(&self) -> bool {
        matches!(self, Self::Format(Error::Io(e)) | Self::Io(e) | Self::Opening { source: Error::Io(e), .. }
            if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_code() {
        assert_eq!(code_of(&Error::NoSealedBlock), 3);
        assert_eq!(code_of(&Error::NotHushData), 3);
        assert_eq!(code_of(&Error::ArmorTruncated), 4);
        assert_eq!(code_of(&Error::Truncated), 4);
        assert_eq!(code_of(&Error::TruncatedInChunk), 4);
        assert!(
            hint_of(&Error::TruncatedInChunk)
                .unwrap()
                .contains("cut off")
        );
        assert_eq!(code_of(&Error::WrongKey), 5);
        assert_eq!(code_of(&Error::WrongPassphrase), 5);
        assert_eq!(code_of(&Error::Corrupted), 6);
        assert_eq!(code_of(&Error::UnsupportedVersion(9)), 7);
        assert_eq!(code_of(&Error::UnsupportedMode(9)), 7);
        let syntax = Error::KeyFileSyntax {
            path: "k".into(),
            line: 1,
            reason: "x".into(),
        };
        assert_eq!(code_of(&syntax), 8);
        assert_eq!(code_of(&Error::Io(std::io::Error::other("x"))), 1);
    }

    #[test]
    fn own_failures_have_their_codes_and_broken_pipes_are_quiet() {
        use shared::cli::failure::Failure as _;
        for usage in [
            Failure::NoKey,
            Failure::TwoKeys,
            Failure::BinaryToTerminal,
            Failure::PassphrasesDiffer,
            Failure::NoTerminalUi,
        ] {
            assert_eq!(usage.exit_code(), 2, "{usage}");
        }
        assert_eq!(Failure::Signal(15).exit_code(), 143);
        assert_eq!(Failure::TerminalGone.exit_code(), 129);
        assert_eq!(Failure::Clipboard(ClipboardError::NoDisplay).exit_code(), 9);
        assert!(
            Failure::Clipboard(ClipboardError::NoDisplay)
                .hint()
                .is_some()
        );
        let missing = shared::cli::Error::NoFolder { dir: "d".into() };
        assert_eq!(Failure::key_file(missing).exit_code(), 8);
        assert_eq!(Failure::BinaryOutput(3).exit_code(), 1);
        let pipe = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(Failure::from(pipe).is_quiet());
        assert!(!Failure::Stdin(std::io::Error::other("x")).is_quiet());
    }

    #[test]
    fn a_relay_gone_after_the_pairing_points_to_the_block_and_the_tui() {
        use shared::cli::failure::Failure as _;
        let nameplate = Nameplate::new(417).unwrap();
        for (e, code) in [
            (
                FlowError::Relay(RelayError::Unreachable("refused".into())),
                10,
            ),
            (FlowError::TimedOut("no message came"), 18),
            (FlowError::Lost, 17),
        ] {
            let inner = RelayFailure::of(e, nameplate, 60);
            let said = inner.to_string();
            let f = Failure::from(RelayFailure::AwayAfterPairing(Box::new(inner)));
            assert_eq!(f.exit_code(), code);
            assert_eq!(
                f.to_string(),
                format!("{said}; hush-run may have printed the output as a sealed block instead")
            );
            let hint = f.hint().unwrap();
            assert!(hint.contains("hush TUI that paired"), "{hint}");
        }
    }

    #[test]
    fn relay_failures_have_their_codes() {
        use shared::cli::failure::Failure as _;
        let nameplate = Nameplate::new(417).unwrap();
        let refused = |status, code: &str| {
            FlowError::Relay(RelayError::Refused {
                status,
                code: code.to_owned(),
                message: "m".to_owned(),
            })
        };
        let of = |e| Failure::from(RelayFailure::of(e, nameplate, 60)).exit_code();
        assert_eq!(
            of(FlowError::Relay(RelayError::Unreachable("x".into()))),
            10
        );
        assert_eq!(of(FlowError::Relay(RelayError::Malformed("slot"))), 10);
        assert_eq!(of(refused(401, "unauthorized")), 10);
        assert_eq!(
            of(FlowError::Relay(RelayError::PinMismatch("ab".into()))),
            11
        );
        assert_eq!(of(FlowError::Relay(RelayError::Tls("x".into()))), 11);
        assert_eq!(of(refused(429, "rate_limited")), 12);
        assert_eq!(of(refused(503, "full")), 12);
        assert_eq!(of(refused(404, "not_found")), 13);
        assert_eq!(of(refused(409, "room_full")), 13);
        assert_eq!(of(FlowError::Burned), 14);
        assert_eq!(of(refused(410, "burned")), 14);
        assert_eq!(of(FlowError::Denied), 15);
        assert_eq!(
            of(FlowError::Pairing(shared::relay::PairingError::Tampered)),
            16
        );
        assert_eq!(of(FlowError::Lost), 17);
        assert_eq!(of(FlowError::TimedOut("no message came")), 18);
        let unknown = RelayFailure::of(refused(404, "not_found"), nameplate, 60);
        assert!(unknown.to_string().contains("code number 417"), "{unknown}");
        let late = RelayFailure::of(FlowError::TimedOut("no message came"), nameplate, 60);
        assert_eq!(late.to_string(), "no message came within 60 s (--wait)");
        for usage in [
            Failure::BadCode(CodeError::WrongLength { got: 7 }),
            Failure::NoCode,
            Failure::RelaySettings(RelayError::BadPin),
            Failure::NoRelay("config.toml".into()),
        ] {
            assert_eq!(usage.exit_code(), 2, "{usage}");
        }
    }
}
