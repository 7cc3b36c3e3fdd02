//! The controlling terminal: hidden prompts for secrets, and plain line prompts.
//!
//! Prompts read /dev/tty (the console, on Windows) rather than stdin, so that stdin stays free (hush-run's command
//! reads it, `hush open` reads sealed text from it) and a pipe cannot answer a key prompt.
//! Hidden entry turns echo off in line mode: the system still does line editing
//! (backspace, Ctrl-U) and a paste arrives whole, but nothing typed is shown. Echo stays
//! off across consecutive prompts of one [`Hidden`] session (a key pasted before the IV
//! prompt appeared is not shown either), and a signal that ends the process while echo is
//! off puts the terminal back first (see [`super::signals`]).
//!
//! This replaces `rpassword`, which turns echo back on between prompts, keeps no input
//! that arrived early (key and IV pasted together), reads into a growing `String`, and
//! leaves echo off when a signal ends the process.

use std::io;

use zeroize::Zeroizing;

use super::error::{Error, Result};
use super::platform::{Saved, Terminal};
use super::signals;

/// Longest line a prompt accepts (the kernel's canonical-mode limit is 4095 bytes).
pub const MAX_LINE: usize = 4096;

/// The controlling terminal (the console on Windows), open for reading and writing.
pub struct Tty {
    term: Terminal,
}

impl Tty {
    /// Opens /dev/tty (CONIN$ and CONOUT$ on Windows), not inherited by a command started
    /// later.
    pub fn open() -> Result<Self> {
        let term = Terminal::open().map_err(Error::NoTerminal)?;
        Ok(Self { term })
    }

    /// Writes a note to the terminal. A note that cannot be shown is not worth failing for.
    pub fn say(&mut self, text: &str) {
        let _ = self.term.write_all(text.as_bytes());
    }

    /// The window's size, `(columns, rows)`, when the terminal tells it: what a caller
    /// that moves the cursor back over earlier lines needs (a long line wraps).
    pub fn size(&self) -> Option<(u16, u16)> {
        self.term.size()
    }

    /// Asks for a line with echo on. `None` on end of input (Ctrl-D).
    pub fn read_line(&mut self, prompt: &str) -> Result<Option<String>> {
        self.say(prompt);
        let line = read_line_raw(&mut self.term)?;
        Ok(line.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Turns echo off until the returned session ends. Input typed before (with echo on,
    /// so it was seen) is thrown away: it must not become a secret.
    pub fn hidden(&mut self) -> Result<Hidden<'_>> {
        let saved = self.term.save().map_err(Error::Terminal)?;
        // Known to the signal thread before echo goes off, so that no signal can leave the
        // terminal without echo.
        signals::restore_terminal_on_signal(Some(saved.try_clone().map_err(Error::Terminal)?));
        if let Err(e) = self.term.hide_input(&saved) {
            signals::restore_terminal_on_signal(None);
            return Err(Error::Terminal(e));
        }
        Ok(Hidden { tty: self, saved })
    }
}

/// Echo off on the terminal, for as long as this lives.
pub struct Hidden<'a> {
    tty: &'a mut Tty,
    saved: Saved,
}

impl Hidden<'_> {
    /// Asks for a secret. `None` on end of input (Ctrl-D). A line that arrived while echo
    /// was already off is kept: key and IV pasted together at the `Key:` prompt fill both.
    pub fn ask(&mut self, prompt: &str) -> Result<Option<Zeroizing<String>>> {
        self.tty.say(prompt);
        let Some(bytes) = read_line_raw(&mut self.tty.term)? else {
            return Ok(None);
        };
        Ok(Some(match std::str::from_utf8(&bytes) {
            Ok(text) => {
                let mut out = Zeroizing::new(String::with_capacity(text.len()));
                out.push_str(text);
                out
            }
            // Not UTF-8: cannot be a key or a passphrase; the caller explains it.
            Err(_) => Zeroizing::new("\u{fffd}".to_owned()),
        }))
    }

    /// Throws away input that is waiting (after a bad entry, whatever was pasted with it).
    pub fn discard_pending(&mut self) {
        self.tty.term.discard_input();
    }

    /// Writes a note to the terminal (echo stays off).
    pub fn say(&mut self, text: &str) {
        self.tty.say(text);
    }
}

impl Drop for Hidden<'_> {
    fn drop(&mut self) {
        self.saved.restore();
        signals::restore_terminal_on_signal(None);
    }
}

/// Reads up to a newline into a buffer sized once (so no reallocation leaves copies of a
/// secret behind) and zeroized on drop. The newline (and a CR before it) is dropped.
fn read_line_raw(term: &mut Terminal) -> Result<Option<Zeroizing<Vec<u8>>>> {
    let mut buf = Zeroizing::new(vec![0u8; MAX_LINE]);
    let mut len = 0;
    loop {
        let n = match term.read(&mut buf[len..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::Terminal(e)),
        };
        if n == 0 {
            // Ctrl-D: at the start of a line it means "no more input".
            if len == 0 {
                return Ok(None);
            }
            break;
        }
        len += n;
        if buf[len - 1] == b'\n' {
            len -= 1;
            break;
        }
        if len == buf.len() {
            return Err(Error::LineTooLong(MAX_LINE));
        }
    }
    let mut line = Zeroizing::new(Vec::with_capacity(len));
    line.extend_from_slice(&buf[..len]);
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(line))
}
