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
use std::os::fd::AsFd;
use std::path::Path;

use rustix::fs::{FileType, OFlags};
use shared::cli::atomic::AtomicFile;

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

/// A duplicate of descriptor 1 as a `File`, for unbuffered large writes.
fn stdout_file() -> io::Result<File> {
    Ok(File::from(io::stdout().as_fd().try_clone_to_owned()?))
}

/// Whether stdout is a regular file we can seal into directly and cut back on failure:
/// not shared with stderr (the command's errors would land inside the block), and written
/// at its end (so cutting back loses nothing of what was there). Returns its length.
fn direct_regular_stdout(seal_stderr: bool) -> Option<u64> {
    let out = rustix::fs::fstat(io::stdout()).ok()?;
    if FileType::from_raw_mode(out.st_mode) != FileType::RegularFile {
        return None;
    }
    if !seal_stderr {
        if let Ok(err) = rustix::fs::fstat(io::stderr()) {
            if (err.st_dev, err.st_ino) == (out.st_dev, out.st_ino) {
                return None;
            }
        }
    }
    let len = out.st_size as u64;
    let append = rustix::fs::fcntl_getfl(io::stdout())
        .ok()?
        .contains(OFlags::APPEND);
    let offset = rustix::fs::seek(io::stdout(), rustix::fs::SeekFrom::Current(0)).ok()?;
    (append || offset == len).then_some(len)
}

/// Copies a whole file to `out`: sendfile (the kernel moves the pages, no copy through
/// user space), or large reads and writes where sendfile does not apply.
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
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

impl Output {
    /// Prepares the destination before the command starts, so that an unusable one is
    /// reported without running anything.
    pub fn open(path: Option<&Path>, stream: bool, seal_stderr: bool) -> Result<Self> {
        let kind = match path {
            // Mode 0600 from the start, synced before the rename, removed on a signal.
            Some(path) => Kind::Named(AtomicFile::create(path).map_err(Failure::OutputFile)?),
            None => {
                let direct = direct_regular_stdout(seal_stderr);
                if stream || direct.is_some() {
                    let file = stdout_file().map_err(Failure::Stdout)?;
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
                let mut out = stdout_file()?;
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
                // The offset is shared with the shell's descriptor: put it back too.
                let _ = file
                    .set_len(len)
                    .and_then(|()| file.seek(SeekFrom::Start(len)));
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
