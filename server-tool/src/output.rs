//! Where the sealed output goes, and how it is held back when the command fails.
//!
//! The sealed block must only appear if the command succeeded (or with --seal-on-error), so
//! by default it is written to an anonymous, already-unlinked temporary file and copied to
//! stdout at the end. That file holds ciphertext only: plaintext never touches the disk.
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

use crate::failure::{Failure, Result};

enum Kind {
    /// Anonymous temporary file, copied to stdout on success.
    Held(File),
    /// Stdout itself; on failure, cut back to `restore_len` if it is a regular file.
    Direct {
        file: File,
        restore_len: Option<u64>,
    },
    /// Temporary file renamed over the target on success.
    Named(AtomicFile),
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

    /// A descriptor for the writer thread (same open file, same offset).
    pub fn file(&self) -> io::Result<File> {
        match &self.kind {
            Kind::Held(f) | Kind::Direct { file: f, .. } => f.try_clone(),
            Kind::Named(file) => file.file(),
        }
    }

    /// Delivers the sealed message. Returns where it went, for notes.
    pub fn commit(self) -> io::Result<String> {
        match self.kind {
            Kind::Held(mut file) => {
                let mut out = stdout::file()?;
                copy_all(&mut file, &mut out)?;
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
