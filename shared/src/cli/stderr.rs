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

/// One status line on stderr for something retried (a relay that does not answer): on a
/// terminal it is rewritten in place at each attempt and erased by [`StatusLine::clear`];
/// elsewhere (a log, a pipe) a line is written only when what it says changes, not at each
/// attempt of each long-poll. Shared by threads (a retry hook and the code that clears it).
#[derive(Debug)]
pub struct StatusLine {
    terminal: bool,
    shown: std::sync::Mutex<Shown>,
}

#[derive(Debug, Default)]
struct Shown {
    /// A terminal line without its newline, still to be erased.
    open: bool,
    /// The last state written off a terminal.
    last: Option<String>,
}

impl StatusLine {
    /// A status line for this process's stderr (a terminal or not).
    pub fn new() -> Self {
        use std::io::IsTerminal as _;
        Self::for_terminal(io::stderr().is_terminal())
    }

    /// A status line that writes as to a terminal, or not.
    pub fn for_terminal(terminal: bool) -> Self {
        Self {
            terminal,
            shown: std::sync::Mutex::default(),
        }
    }

    /// Shows `state` (what the line says), with `detail` (what changes at each attempt,
    /// such as `(2 of 6)`: on a terminal only).
    pub fn show(&self, state: &str, detail: &str) {
        if let Some(text) = self.render(state, detail) {
            let _ = write(&text);
        }
    }

    /// What [`StatusLine::show`] writes, if anything.
    pub fn render(&self, state: &str, detail: &str) -> Option<String> {
        let mut shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        if self.terminal {
            shown.open = true;
            return Some(format!("\r{state}{detail}\x1b[K"));
        }
        if shown.last.as_deref() == Some(state) {
            return None;
        }
        shown.last = Some(state.to_owned());
        Some(format!("{state}\n"))
    }

    /// Erases the line on a terminal, before another message. Off a terminal nothing is
    /// erased, and a state already written is not written again.
    pub fn clear(&self) {
        let mut shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        if shown.open {
            let _ = write("\r\x1b[K");
            shown.open = false;
        }
    }
}

impl Default for StatusLine {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::StatusLine;

    /// To a log, the attempts of one state make one line; another state another.
    #[test]
    fn off_a_terminal_a_line_per_state() {
        let line = StatusLine::for_terminal(false);
        let written: Vec<String> = ["refused", "refused", "refused", "timed out"]
            .iter()
            .enumerate()
            .filter_map(|(n, why)| line.render(&format!("away ({why})"), &format!(" ({n})")))
            .collect();
        assert_eq!(written, ["away (refused)\n", "away (timed out)\n"]);
    }

    /// On a terminal every attempt rewrites the one line in place.
    #[test]
    fn on_a_terminal_rewritten_in_place() {
        let line = StatusLine::for_terminal(true);
        let written: Vec<String> = (2..4)
            .filter_map(|n| line.render("away", &format!(" ({n} of 6)")))
            .collect();
        assert_eq!(written, ["\raway (2 of 6)\x1b[K", "\raway (3 of 6)\x1b[K"]);
    }
}
