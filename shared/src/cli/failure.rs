//! One exit style for both binaries: `main` returns an [`ExitCode`] made by [`exit`] from
//! the binary's typed error, whose Display is the message (ripgrep's and rage's shape).
//! Nothing else ends the process, except a signal (see [`super::signals`]).

use std::borrow::Cow;
use std::fmt::Display;
use std::process::ExitCode;

/// A binary's failure: its Display is the message for the person at the keyboard.
pub trait Failure: Display {
    /// The exit code (documented in the tool's `--help` and docs).
    fn exit_code(&self) -> u8;

    /// What to do about it, if there is something to say.
    fn hint(&self) -> Option<Cow<'_, str>> {
        None
    }

    /// A failure not worth a message (the reader of our output went away).
    fn is_quiet(&self) -> bool {
        false
    }
}

/// Reports `failure` on stderr as `tool: message` and `hint: ...`, and returns its code.
pub fn exit(tool: &str, failure: &dyn Failure) -> ExitCode {
    report(tool, failure);
    ExitCode::from(failure.exit_code())
}

/// Reports `failure` on stderr as `tool: message` and `hint: ...` (a failure that does not
/// end the tool: one command of an interactive session).
pub fn report(tool: &str, failure: &dyn Failure) {
    if !failure.is_quiet() {
        crate::note!("{tool}: {failure}");
        if let Some(hint) = failure.hint() {
            crate::note!("hint: {hint}");
        }
    }
}

/// The conventional exit status after signal `signal`: 128 + its number.
pub fn signal_code(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(1)
}
