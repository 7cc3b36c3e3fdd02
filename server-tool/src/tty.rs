//! The controlling terminal: hidden prompts for secrets and the interactive command prompt.
//!
//! Prompts read /dev/tty rather than stdin, so that stdin stays the command's (and a pipe
//! into hush-run cannot answer a key prompt). Hidden entry turns echo off in canonical mode:
//! the kernel still does line editing (backspace, Ctrl-U) and a paste arrives whole, but
//! nothing typed is shown. If hush-run is stopped by a signal at a hidden prompt, the
//! signal thread puts the terminal settings back (see `signals`).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;

use rustix::termios::{self, LocalModes, OptionalActions};
use zeroize::Zeroizing;

use crate::signals::Signals;

/// Longest line a prompt accepts (the kernel's canonical-mode limit is 4095 bytes).
const MAX_LINE: usize = 4096;

/// The controlling terminal, open for reading and writing.
pub struct Tty {
    file: File,
    signals: Signals,
}

impl Tty {
    /// Opens /dev/tty (close-on-exec, so the command does not inherit this descriptor).
    pub fn open(signals: &Signals) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open("/dev/tty")?;
        Ok(Self {
            file,
            signals: signals.clone(),
        })
    }

    /// Writes a note to the terminal.
    pub fn say(&mut self, text: &str) {
        // A note that cannot be shown is not worth failing for.
        let _ = self
            .file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.flush());
    }

    /// Asks for a secret with echo off. `None` on end of input (Ctrl-D).
    ///
    /// With `discard_pending`, input typed before the prompt is thrown away: it was typed with
    /// echo on, so it has been seen, and must not become the secret. Without it, a line that
    /// arrived while echo was already off is kept: key and IV pasted together at the `Key:`
    /// prompt fill both prompts.
    pub fn read_hidden(
        &mut self,
        prompt: &str,
        discard_pending: bool,
    ) -> io::Result<Option<Zeroizing<String>>> {
        let saved = termios::tcgetattr(&self.file)?;
        let mut hidden = saved.clone();
        // No echo of characters, erase or kill; but echo the final newline so that the next
        // line starts on its own line.
        hidden
            .local_modes
            .remove(LocalModes::ECHO | LocalModes::ECHOE | LocalModes::ECHOK);
        hidden
            .local_modes
            .insert(LocalModes::ECHONL | LocalModes::ICANON);
        self.signals.set_tty_restore(Some((
            self.file.as_fd().try_clone_to_owned()?,
            saved.clone(),
        )));
        let when = if discard_pending {
            OptionalActions::Flush
        } else {
            OptionalActions::Now
        };
        let result = termios::tcsetattr(&self.file, when, &hidden)
            .map_err(io::Error::from)
            .and_then(|()| {
                self.file.write_all(prompt.as_bytes())?;
                self.file.flush()?;
                self.read_line_raw()
            });
        let restored = termios::tcsetattr(&self.file, OptionalActions::Now, &saved);
        self.signals.set_tty_restore(None);
        restored?;
        let Some(bytes) = result? else {
            return Ok(None);
        };
        match std::str::from_utf8(&bytes) {
            Ok(text) => {
                let mut out = Zeroizing::new(String::with_capacity(text.len()));
                out.push_str(text);
                Ok(Some(out))
            }
            // Not UTF-8: cannot be base64 either; the caller explains it as invalid text.
            Err(_) => Ok(Some(Zeroizing::new("\u{fffd}".to_owned()))),
        }
    }

    /// Asks for a line with echo on (the interactive command prompt). `None` on Ctrl-D.
    pub fn read_line(&mut self, prompt: &str) -> io::Result<Option<String>> {
        self.file.write_all(prompt.as_bytes())?;
        self.file.flush()?;
        let Some(bytes) = self.read_line_raw()? else {
            return Ok(None);
        };
        Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Reads up to a newline into a buffer sized once (so no reallocation leaves copies of a
    /// secret behind) and zeroized on drop. The newline is dropped.
    fn read_line_raw(&mut self) -> io::Result<Option<Zeroizing<Vec<u8>>>> {
        let mut buf = Zeroizing::new(vec![0u8; MAX_LINE]);
        let mut len = 0;
        loop {
            let n = match self.file.read(&mut buf[len..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
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
                return Err(io::Error::new(io::ErrorKind::InvalidInput, "line too long"));
            }
        }
        let mut line = Zeroizing::new(Vec::with_capacity(len));
        line.extend_from_slice(&buf[..len]);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok(Some(line))
    }
}
