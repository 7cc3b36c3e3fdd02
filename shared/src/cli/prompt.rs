//! The controlling terminal: hidden prompts for secrets, and plain line prompts.
//!
//! Prompts read /dev/tty rather than stdin, so that stdin stays free (hush-run's command
//! reads it, `hush open` reads sealed text from it) and a pipe cannot answer a key prompt.
//! Hidden entry turns echo off in canonical mode: the kernel still does line editing
//! (backspace, Ctrl-U) and a paste arrives whole, but nothing typed is shown. Echo stays
//! off across consecutive prompts of one [`Hidden`] session (a key pasted before the IV
//! prompt appeared is not shown either), and a signal that ends the process while echo is
//! off puts the terminal back first (see [`super::signals`]).
//!
//! This replaces `rpassword`, which turns echo back on between prompts, keeps no input
//! that arrived early (key and IV pasted together), reads into a growing `String`, and
//! leaves echo off when a signal ends the process.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;

use rustix::termios::{self, LocalModes, OptionalActions, Termios};
use zeroize::Zeroizing;

use super::error::{Error, Result};
use super::signals;

/// Longest line a prompt accepts (the kernel's canonical-mode limit is 4095 bytes).
pub const MAX_LINE: usize = 4096;

/// The controlling terminal, open for reading and writing.
pub struct Tty {
    file: File,
}

impl Tty {
    /// Opens /dev/tty (close-on-exec, so a command started later does not inherit it).
    pub fn open() -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .map_err(Error::NoTerminal)?;
        Ok(Self { file })
    }

    /// Writes a note to the terminal. A note that cannot be shown is not worth failing for.
    pub fn say(&mut self, text: &str) {
        let _ = self
            .file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.flush());
    }

    /// Asks for a line with echo on. `None` on end of input (Ctrl-D).
    pub fn read_line(&mut self, prompt: &str) -> Result<Option<String>> {
        self.say(prompt);
        let line = read_line_raw(&mut self.file)?;
        Ok(line.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Turns echo off until the returned session ends. Input typed before (with echo on,
    /// so it was seen) is thrown away: it must not become a secret.
    pub fn hidden(&mut self) -> Result<Hidden<'_>> {
        let saved = termios::tcgetattr(&self.file).map_err(|e| Error::Terminal(e.into()))?;
        let mut hidden = saved.clone();
        // No echo of characters, erase or kill; but echo the final newline so that the
        // next line starts on its own line.
        hidden
            .local_modes
            .remove(LocalModes::ECHO | LocalModes::ECHOE | LocalModes::ECHOK);
        hidden
            .local_modes
            .insert(LocalModes::ECHONL | LocalModes::ICANON);
        let restore = self
            .file
            .as_fd()
            .try_clone_to_owned()
            .map_err(Error::Terminal)?;
        signals::restore_terminal_on_signal(Some((restore, saved.clone())));
        if let Err(e) = termios::tcsetattr(&self.file, OptionalActions::Flush, &hidden) {
            signals::restore_terminal_on_signal(None);
            return Err(Error::Terminal(e.into()));
        }
        Ok(Hidden { tty: self, saved })
    }
}

/// Echo off on the terminal, for as long as this lives.
pub struct Hidden<'a> {
    tty: &'a mut Tty,
    saved: Termios,
}

impl Hidden<'_> {
    /// Asks for a secret. `None` on end of input (Ctrl-D). A line that arrived while echo
    /// was already off is kept: key and IV pasted together at the `Key:` prompt fill both.
    pub fn ask(&mut self, prompt: &str) -> Result<Option<Zeroizing<String>>> {
        self.tty.say(prompt);
        let Some(bytes) = read_line_raw(&mut self.tty.file)? else {
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
        let _ = termios::tcflush(&self.tty.file, termios::QueueSelector::IFlush);
    }

    /// Writes a note to the terminal (echo stays off).
    pub fn say(&mut self, text: &str) {
        self.tty.say(text);
    }
}

impl Drop for Hidden<'_> {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(&self.tty.file, OptionalActions::Now, &self.saved);
        signals::restore_terminal_on_signal(None);
    }
}

/// Reads up to a newline into a buffer sized once (so no reallocation leaves copies of a
/// secret behind) and zeroized on drop. The newline (and a CR before it) is dropped.
fn read_line_raw(file: &mut File) -> Result<Option<Zeroizing<Vec<u8>>>> {
    let mut buf = Zeroizing::new(vec![0u8; MAX_LINE]);
    let mut len = 0;
    loop {
        let n = match file.read(&mut buf[len..]) {
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
