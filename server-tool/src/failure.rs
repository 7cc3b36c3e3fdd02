//! hush-run's own failures: a message for the person at the keyboard, an optional hint,
//! and the exit code (125 unless said otherwise, like `env` and `timeout`, so that it is
//! not mistaken for the command's own status).

use std::fmt;

/// hush-run itself failed (bad key, unusable key file, output not writable, ...).
pub const EXIT_OWN_FAILURE: i32 = 125;
/// The command was found but could not be executed.
pub const EXIT_CANNOT_EXECUTE: i32 = 126;
/// The command was not found.
pub const EXIT_NOT_FOUND: i32 = 127;
/// Bad usage (the same code clap uses).
pub const EXIT_USAGE: i32 = 2;

/// A failure to report: `hush-run: <message>` then `hint: <hint>`.
#[derive(Debug)]
pub struct Failure {
    /// What went wrong; never holds a secret.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// The exit code.
    pub code: i32,
}

impl Failure {
    /// A failure of hush-run itself (exit 125).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
            code: EXIT_OWN_FAILURE,
        }
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Sets the exit code.
    pub fn code(mut self, code: i32) -> Self {
        self.code = code;
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl shared::cli::failure::Failure for Failure {
    fn exit_code(&self) -> u8 {
        u8::try_from(self.code).unwrap_or(1)
    }
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.hint.as_deref().map(Into::into)
    }
}

/// Result with a [`Failure`].
pub type Result<T, E = Failure> = std::result::Result<T, E>;
