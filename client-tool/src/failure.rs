//! What goes wrong, as the person at the keyboard should hear it, and the exit code each
//! kind of failure gives (documented in `hush --help`, see [`EXIT_CODES`]).

use std::fmt;
use std::path::Path;

use shared::Error;

/// The exit code table, shown after `hush --help`.
pub const EXIT_CODES: &str = "\
Exit codes:
  0    success (also: output pipe closed early by the reader)
  1    other error (I/O, ...)
  2    usage error (bad arguments, no terminal for a passphrase prompt, empty passphrase)
  3    input is not hush data: no sealed block, invalid base64, wrong magic
  4    truncated: the sealed block or message is cut off
  5    wrong key, IV or passphrase (or key given for a passphrase message and vice versa)
  6    corrupted: authentication failed (the message says what was written before it)
  7    unsupported format version, key mode or passphrase parameters
  8    key file problem: missing, unreadable, not 0600, bad syntax, or exists (keygen)
  9    no clipboard available (no DISPLAY / WAYLAND_DISPLAY)
  129  stopped by SIGHUP, 130 by Ctrl-C (SIGINT), 131 by Ctrl-\\ (SIGQUIT), 143 by SIGTERM
       (clipboard cleared first)";

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
}

/// The exit code of a library error.
pub fn code_of(e: &Error) -> u8 {
    match e {
        Error::NoSealedBlock | Error::InvalidBase64 { .. } | Error::NotHushData => code::NOT_HUSH,
        Error::ArmorTruncated | Error::Truncated | Error::TruncatedInChunk => code::TRUNCATED,
        Error::WrongKey | Error::WrongPassphrase | Error::ModeMismatch { .. } => code::WRONG_KEY,
        Error::Corrupted | Error::BadPayload(_) => code::CORRUPTED,
        Error::UnsupportedVersion(_)
        | Error::UnsupportedMode(_)
        | Error::ParamsOverCap(_)
        | Error::InvalidParams(_) => code::UNSUPPORTED,
        Error::KeyFilePermissions { .. }
        | Error::KeyFileSyntax { .. }
        | Error::FileExists { .. } => code::KEY_FILE,
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

/// A failure of a subcommand: a message for stderr and an exit code.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub code: u8,
    /// What went wrong (never holds secret bytes).
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// The output pipe was closed by its reader (not worth a message).
    pub broken_pipe: bool,
}

impl Failure {
    /// A failure with an explicit code.
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            hint: None,
            broken_pipe: false,
        }
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// A usage error.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(code::USAGE, message)
    }

    /// A key file that cannot be used.
    pub fn key_file(path: &Path, e: Error) -> Self {
        let message = match &e {
            Error::Io(io) => format!("key file {}: {io}", path.display()),
            other => other.to_string(),
        };
        Self::new(code::KEY_FILE, message)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let mut failure = Self::new(code_of(&e), e.to_string());
        failure.broken_pipe =
            matches!(&e, Error::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe);
        match hint_of(&e) {
            Some(h) => failure.hint(h),
            None => failure,
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Error::from_io(e).into()
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "hush: {}", self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\nhint: {h}")?;
        }
        Ok(())
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
        assert_eq!(code_of(&Error::FileExists { path: "k".into() }), 8);
        assert_eq!(code_of(&Error::Io(std::io::Error::other("x"))), 1);
    }
}
