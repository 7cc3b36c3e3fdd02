//! Standard output for data that must not be left half-written: `hush open` to `> out`
//! (plaintext released as each chunk authenticates) and `hush-run` to `> out` (a sealed
//! block that must appear only on success).
//!
//! Writes go straight to descriptor 1, with no buffer of ours: the library writes large
//! pieces, and Rust's own stdout buffer would keep a copy of plaintext that nothing wipes.
//! When stdout is a regular file written at its end (`> out`, `>> out`), a failure, or a
//! signal (see [`super::signals`]), cuts it back to the length it had: all or nothing. A
//! pipe cannot be taken back: the caller says how much reached it.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};

use super::{platform, signals};

/// A duplicate of descriptor 1 (the standard output handle on Windows) as a `File` (same
/// open file, same offset).
pub fn file() -> io::Result<File> {
    platform::stdout_file()
}

/// Whether `out` is a regular file written at its end (opened to append, or positioned at
/// its end), so that cutting it back to its present length loses only what we write.
/// Returns that length.
pub fn regular_at_end(out: &File) -> Option<u64> {
    let meta = out.metadata().ok()?;
    if !meta.file_type().is_file() {
        return None;
    }
    // `>> out` opens to append at offset 0: every write still lands at the end.
    let append = platform::is_append(out)?;
    let offset = (&*out).stream_position().ok()?;
    (append || offset == meta.len()).then_some(meta.len())
}

/// Cuts `file` back to `len` and puts the offset there too: it is shared with the shell's
/// descriptor, and the next command run by the shell writes at it.
pub fn cut_back(file: &mut File, len: u64) -> io::Result<()> {
    file.set_len(len)?;
    file.seek(SeekFrom::Start(len))?;
    Ok(())
}

/// What became of the data written before a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abandoned {
    /// Nothing had been written.
    Nothing,
    /// This many bytes had been written, and the file was cut back to its former length.
    CutBack(u64),
    /// This many bytes had been written and stay there (a pipe, a terminal, or a file not
    /// written at its end).
    Kept(u64),
}

/// Standard output, counted, and taken back on failure where it can be.
pub struct Stdout {
    out: File,
    written: u64,
    /// The length to cut back to, if stdout is a regular file written at its end.
    former_len: Option<u64>,
}

impl Stdout {
    /// Takes stdout; remembers its length if it is a regular file written at its end, and
    /// has it cut back if a signal ends the process before [`Stdout::finish`].
    pub fn new() -> io::Result<Self> {
        let out = file()?;
        let former_len = regular_at_end(&out);
        if let Some(len) = former_len {
            signals::cut_back_on_signal(Some((out.try_clone()?, len)));
        }
        Ok(Self {
            out,
            written: 0,
            former_len,
        })
    }

    /// Everything was written: the output is final, whatever signal comes next (the
    /// drop stops the watch).
    pub fn finish(self) {}

    /// The data failed: cuts a regular file back, and says what became of what was
    /// written (kept, if the file cannot be cut back: the failure to report is the data's,
    /// not this one).
    pub fn abandon(mut self) -> Abandoned {
        let Some(len) = self.former_len else {
            return match self.written {
                0 => Abandoned::Nothing,
                n => Abandoned::Kept(n),
            };
        };
        match (self.written, cut_back(&mut self.out, len)) {
            (0, _) => Abandoned::Nothing,
            (n, Ok(())) => Abandoned::CutBack(n),
            (n, Err(_)) => Abandoned::Kept(n),
        }
    }
}

impl Drop for Stdout {
    fn drop(&mut self) {
        // Finished, abandoned (already cut back) or dropped on the way out: either way a
        // later signal must not cut the output back any more.
        if self.former_len.is_some() {
            signals::cut_back_on_signal(None);
        }
    }
}

impl Write for Stdout {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.out.write(data)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
