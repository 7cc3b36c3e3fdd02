//! The stderr policy: a note that cannot be written is dropped, never a panic.
//!
//! `eprintln!` panics when stderr is closed or its pipe broken (exit 101), and a tool that
//! has a clipboard to clear or a terminal to restore must still do so and exit with its
//! own code then. Every line both binaries write on stderr goes through [`line()`].

use std::fmt;
use std::io::{self, Write};

/// Writes one line on stderr; a failure to write is ignored.
pub fn line(args: fmt::Arguments<'_>) {
    let mut err = io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.write_all(b"\n"));
}

/// Writes text on stderr without a newline (a countdown redrawn in place); returns whether
/// it reached the terminal, so that a caller can notice that the terminal went away.
pub fn write(text: &str) -> io::Result<()> {
    let mut err = io::stderr().lock();
    err.write_all(text.as_bytes()).and_then(|()| err.flush())
}

/// `eprintln!` that never panics (see [`line()`]).
#[macro_export]
macro_rules! note {
    () => {
        $crate::cli::stderr::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::cli::stderr::line(format_args!($($arg)*))
    };
}
