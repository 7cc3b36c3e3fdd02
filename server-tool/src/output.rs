//! Where the sealed output goes, and how it is held back when the command fails.
//!
//! The sealed block must only appear if the command succeeded (or with --seal-on-error), so
//! by default it is held back and copied to stdout at the end: in memory up to 8 MiB (wiped
//! afterwards), and beyond that in an anonymous, already-unlinked temporary file. Either
//! holds ciphertext only: plaintext never touches the disk.
//! - `-o FILE`: a 0600 temporary file in FILE's folder, renamed over FILE on success and
//!   removed on failure, so FILE is never left half-written.
//! - stdout a regular file (`> out`, `>> out`) that the command's stderr does not share:
//!   sealed straight into it (no second copy), and cut back to its former length on failure.
//! - `--stream`: straight to stdout whatever it is; on failure the block stays unfinished
//!   (no final chunk, no END line), which `hush` refuses to open.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use shared::cli::atomic::AtomicFile;
use shared::cli::stdout;
use zeroize::Zeroize;

use crate::failure::{Failure, Result};

enum Kind {
    /// Held in memory, then in an anonymous temporary file; copied to stdout on success.
    Held(File),
    /// Stdout itself; on failure, cut back to `restore_len` if it is a regular file.
    Direct {
        file: File,
        restore_len: Option<u64>,
    },
    /// Temporary file renamed over the target on success.
    Named(AtomicFile),
}

/// Sealed bytes held in memory before they spill to the temporary file: most commands'
/// output (a key, a password, a config) never touches the disk, even encrypted.
pub const HOLD_IN_MEMORY: usize = 8 << 20;
/// Memory is taken in blocks of this size as the output grows: never reallocated, so no
/// copy is left behind, and a short output costs one block.
const HOLD_BLOCK: usize = 256 << 10;

/// Held sealed output (by default, when stdout is not a regular file): in memory up to
/// [`HOLD_IN_MEMORY`] bytes, then, all of it, in the unlinked temporary file. It is
/// ciphertext, but the memory is still wiped when it is dropped or spilled.
pub struct Held {
    /// Full blocks, then the one being filled (each `HOLD_BLOCK` of capacity).
    blocks: Vec<Vec<u8>>,
    /// Bytes in `blocks`.
    held: usize,
    /// Most bytes held in memory.
    limit: usize,
    /// The unlinked temporary file (created before the command runs, so that an unusable
    /// TMPDIR is reported without running anything); written only past `limit`.
    file: File,
    spilled: bool,
}

impl Held {
    fn new(file: File, limit: usize) -> Self {
        Self {
            blocks: Vec::new(),
            held: 0,
            limit,
            file,
            spilled: false,
        }
    }

    /// Moves what is held in memory to the file; everything after goes there too.
    fn spill(&mut self) -> io::Result<()> {
        for block in &self.blocks {
            self.file.write_all(block)?;
        }
        self.wipe();
        self.spilled = true;
        Ok(())
    }

    fn wipe(&mut self) {
        for block in &mut self.blocks {
            // Only the used part: the rest of a block was never written (nor touched).
            block.as_mut_slice().zeroize();
        }
        self.blocks = Vec::new();
        self.held = 0;
    }

    /// Whether the output went to the temporary file.
    #[cfg(test)]
    fn spilled(&self) -> bool {
        self.spilled
    }

    /// Writes everything held to `out`.
    fn deliver(mut self, out: &mut File) -> io::Result<()> {
        if self.spilled {
            return copy_all(&mut self.file, out);
        }
        for block in &self.blocks {
            out.write_all(block)?;
        }
        Ok(())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.wipe();
    }
}

impl Write for Held {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if !self.spilled && self.held + data.len() > self.limit {
            self.spill()?;
        }
        if self.spilled {
            return self.file.write(data);
        }
        let mut rest = data;
        while !rest.is_empty() {
            let block = match self.blocks.last_mut() {
                Some(block) if block.len() < HOLD_BLOCK => block,
                _ => {
                    self.blocks.push(Vec::with_capacity(HOLD_BLOCK));
                    self.blocks
                        .last_mut()
                        .unwrap_or_else(|| unreachable!("just pushed"))
                }
            };
            let n = (HOLD_BLOCK - block.len()).min(rest.len());
            block.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
        }
        self.held += data.len();
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.spilled {
            self.file.flush()
        } else {
            Ok(())
        }
    }
}

/// What the sealer's writer thread writes to.
pub enum Dest {
    /// A file: stdout itself, or `-o`'s temporary file.
    File(File),
    /// Held until the command succeeded.
    Held(Held),
}

impl Write for Dest {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Dest::File(f) => f.write(data),
            Dest::Held(h) => h.write(data),
        }
    }

    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Dest::File(f) => f.write_all(data),
            Dest::Held(h) => h.write_all(data),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Dest::File(f) => f.flush(),
            Dest::Held(h) => h.flush(),
        }
    }
}

/// A destination for one sealed message.
pub struct Output {
    kind: Kind,
}

/// Whether stdout is a regular file we can seal into directly and cut back on failure:
/// written at its end (see `shared::cli::stdout::regular_at_end`), and not shared with
/// stderr (the command's errors would land inside the block). Returns its length.
fn direct_regular_stdout(out: &File, seal_stderr: bool) -> Option<u64> {
    let len = stdout::regular_at_end(out)?;
    if !seal_stderr {
        let same = |a: &rustix::fs::Stat, b: &rustix::fs::Stat| {
            (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
        };
        if let (Ok(o), Ok(e)) = (rustix::fs::fstat(out), rustix::fs::fstat(io::stderr())) {
            if same(&o, &e) {
                return None;
            }
        }
    }
    Some(len)
}

/// Copies a whole file to `out`: sendfile (the kernel moves the pages, no copy through
/// user space), or large reads and writes where sendfile does not apply.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn copy_all(file: &mut File, out: &mut File) -> io::Result<()> {
    let len = file.metadata()?.len();
    let mut offset = 0u64;
    while offset < len {
        let want = usize::try_from(len - offset)
            .unwrap_or(usize::MAX)
            .min(1 << 30);
        match rustix::fs::sendfile(&*out, &*file, Some(&mut offset), want) {
            Ok(0) => break,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => {}
            Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOSYS) => {
                return copy_by_reads(file, out, offset);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// macOS's sendfile sends to sockets only: large reads and writes.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn copy_all(file: &mut File, out: &mut File) -> io::Result<()> {
    copy_by_reads(file, out, 0)
}

/// Copies `file` from `offset` to its end into `out`, 256 KiB at a time.
fn copy_by_reads(file: &mut File, out: &mut File, offset: u64) -> io::Result<()> {
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.write_all(&buf[..n])?;
    }
}

impl Output {
    /// Prepares the destination before the command starts, so that an unusable one is
    /// reported without running anything.
    pub fn open(path: Option<&Path>, stream: bool, seal_stderr: bool) -> Result<Self> {
        let kind = match path {
            // Mode 0600 from the start, synced before the rename, removed on a signal.
            Some(path) => Kind::Named(AtomicFile::create(path).map_err(Failure::OutputFile)?),
            None => {
                let file = stdout::file().map_err(Failure::Stdout)?;
                let direct = direct_regular_stdout(&file, seal_stderr);
                if stream || direct.is_some() {
                    Kind::Direct {
                        file,
                        restore_len: direct,
                    }
                } else {
                    let file = tempfile::tempfile().map_err(Failure::HoldFile)?;
                    Kind::Held(file)
                }
            }
        };
        Ok(Self { kind })
    }

    /// Where the writer thread writes: a descriptor of the file (same open file, same
    /// offset), or the memory that holds the message back.
    pub fn sink(&self) -> io::Result<Dest> {
        Ok(match &self.kind {
            Kind::Held(f) => Dest::Held(Held::new(f.try_clone()?, HOLD_IN_MEMORY)),
            Kind::Direct { file: f, .. } => Dest::File(f.try_clone()?),
            Kind::Named(file) => Dest::File(file.file()?),
        })
    }

    /// Delivers the sealed message, given back by the finished writer. Returns where it
    /// went, for notes.
    pub fn commit(self, sink: Dest) -> io::Result<String> {
        match self.kind {
            Kind::Held(_) => {
                let Dest::Held(held) = sink else {
                    return Err(io::Error::other("held output without its holder"));
                };
                let mut out = stdout::file()?;
                held.deliver(&mut out)?;
                Ok("stdout".to_owned())
            }
            Kind::Direct { .. } => Ok("stdout".to_owned()),
            Kind::Named(file) => {
                let to = file.target().display().to_string();
                file.commit().map_err(io::Error::other)?;
                Ok(to)
            }
        }
    }

    /// Throws the sealed message away (the command failed). Returns whether an unfinished
    /// block was left on stdout (`--stream` to a pipe or terminal).
    pub fn discard(self) -> bool {
        match self.kind {
            Kind::Held(_) => false,
            Kind::Direct {
                mut file,
                restore_len: Some(len),
            } => {
                // Nothing to say if it fails: the command's own failure is what is reported.
                let _ = stdout::cut_back(&mut file, len);
                false
            }
            Kind::Direct {
                restore_len: None, ..
            } => true,
            Kind::Named(file) => {
                drop(file);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 131 % 251) as u8).collect()
    }

    /// Writes `len` bytes in uneven pieces; returns whether it spilled and what it delivers.
    fn hold(len: usize, limit: usize) -> (bool, u64, Vec<u8>) {
        let data = pattern(len);
        let mut held = Held::new(tempfile::tempfile().unwrap(), limit);
        let mut file = held.file.try_clone().unwrap();
        for piece in data.chunks(100_003) {
            held.write_all(piece).unwrap();
        }
        held.flush().unwrap();
        let spilled = held.spilled();
        let on_disk = file.metadata().unwrap().len();
        let mut out = tempfile::tempfile().unwrap();
        held.deliver(&mut out).unwrap();
        out.seek(SeekFrom::Start(0)).unwrap();
        let mut got = Vec::new();
        out.read_to_end(&mut got).unwrap();
        assert!(got == data, "{len} bytes did not come back whole");
        file.seek(SeekFrom::Start(0)).unwrap();
        (spilled, on_disk, got)
    }

    #[test]
    fn up_to_the_limit_nothing_touches_the_disk() {
        for len in [
            0,
            1,
            HOLD_BLOCK - 1,
            HOLD_BLOCK,
            HOLD_BLOCK + 1,
            HOLD_IN_MEMORY,
        ] {
            let (spilled, on_disk, _) = hold(len, HOLD_IN_MEMORY);
            assert!(!spilled, "{len}");
            assert_eq!(on_disk, 0, "{len}");
        }
    }

    #[test]
    fn beyond_the_limit_all_of_it_goes_to_the_file() {
        for len in [
            HOLD_IN_MEMORY + 1,
            HOLD_IN_MEMORY + HOLD_BLOCK + 7,
            3 * HOLD_IN_MEMORY,
        ] {
            let (spilled, on_disk, _) = hold(len, HOLD_IN_MEMORY);
            assert!(spilled, "{len}");
            assert_eq!(on_disk, len as u64, "{len}");
        }
        // One write that crosses the limit spills before it lands.
        let mut held = Held::new(tempfile::tempfile().unwrap(), 10);
        held.write_all(b"0123456789").unwrap();
        assert!(!held.spilled());
        held.write_all(b"a").unwrap();
        assert!(held.spilled() && held.blocks.is_empty() && held.held == 0);
    }
}
