//! All-or-nothing output. [`PlainStdout`]: stdout redirected to a regular file is cut back
//! if the message fails, and counts what it wrote when it cannot be (a pipe).
//!
//! [`AtomicFile`], for `-o`: a temporary file (mode 0600) in the target's folder,
//! renamed over the target only once everything was written and, for plaintext, the whole
//! message authenticated. Dropped without [`AtomicFile::commit`], it is deleted; on Ctrl-C,
//! SIGTERM, SIGHUP or SIGQUIT (which would end the process before any drop runs) a watcher
//! thread deletes it before exiting.
//!
//! The file is synced before the rename, so that after a crash the target holds either the
//! old content or the whole new one. A large file is synced as it grows, by a second
//! thread, so that the disk writes go on while the rest is being decrypted instead of all
//! at the end.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use tempfile::NamedTempFile;

use crate::failure::Failure;

/// Bytes written between two requests to the syncing thread.
const SYNC_EVERY: u64 = 32 * 1024 * 1024;

/// A file being written next to its final place.
pub struct AtomicFile {
    tmp: BufWriter<NamedTempFile>,
    target: PathBuf,
    /// Bytes written since the syncing thread was last asked to run.
    unsynced: u64,
    syncer: Syncer,
}

/// A thread that syncs the file (fdatasync) whenever asked, while the writer goes on.
struct Syncer {
    ask: SyncSender<()>,
    thread: JoinHandle<io::Result<()>>,
}

impl Syncer {
    fn start(file: fs::File) -> io::Result<Self> {
        // One request waits at most: while a sync runs, further requests add nothing.
        let (ask, asked) = sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("sync".into())
            .spawn(move || {
                for () in asked {
                    file.sync_data()?;
                }
                Ok(())
            })?;
        Ok(Self { ask, thread })
    }

    /// Asks for a sync unless one is already waiting.
    fn request(&self) {
        // Full: one is waiting already. Gone: it failed, and `finish` reports why.
        let _ = self.ask.try_send(());
    }

    /// Waits for the thread to end; returns its first error.
    fn finish(self) -> io::Result<()> {
        drop(self.ask);
        self.thread
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the sync thread panicked")))
    }
}

impl AtomicFile {
    /// Creates the temporary file in `target`'s folder.
    pub fn create(target: &Path) -> Result<Self, Failure> {
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if target.is_dir() {
            return Err(Failure::usage(format!("{} is a folder", target.display())));
        }
        let tmp = tempfile::Builder::new()
            .prefix(".hush-")
            .suffix(".partial")
            .permissions(fs::Permissions::from_mode(0o600))
            .tempfile_in(dir)
            .map_err(|e| Failure::new(1, format!("cannot write in {}: {e}", dir.display())))?;
        remove_on_signal(tmp.path().to_owned())?;
        let syncer = Syncer::start(tmp.as_file().try_clone()?)?;
        Ok(Self {
            tmp: BufWriter::with_capacity(64 * 1024, tmp),
            target: target.to_owned(),
            unsynced: 0,
            syncer,
        })
    }

    /// Flushes, syncs and renames into place.
    pub fn commit(self) -> Result<(), Failure> {
        self.syncer.finish()?;
        let target = self.target;
        let tmp = self
            .tmp
            .into_inner()
            .map_err(|e| Failure::from(e.into_error()))?;
        tmp.as_file().sync_all()?;
        tmp.persist(&target).map_err(|e| {
            Failure::new(1, format!("cannot write {}: {}", target.display(), e.error))
        })?;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.tmp.write(buf)?;
        self.unsynced += n as u64;
        if self.unsynced >= SYNC_EVERY {
            self.unsynced = 0;
            self.syncer.request();
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.tmp.flush()
    }
}

/// Deletes the temporary file and exits when a termination signal arrives. After a commit
/// the path no longer exists and only the exit remains.
fn remove_on_signal(path: PathBuf) -> Result<(), Failure> {
    let mut signals = signal_hook::iterator::Signals::new(crate::signals::TERMINATING)?;
    std::thread::Builder::new()
        .name("cleanup".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                let _ = fs::remove_file(&path);
                note!("hush: interrupted: no output file written");
                std::process::exit(i32::from(crate::signals::exit_code(sig)));
            }
        })
        .map_err(Failure::from)?;
    Ok(())
}

/// Standard output for plaintext released chunk by chunk as it authenticates, counting
/// what reached it, so that a failure can say how much was written.
///
/// When stdout is a regular file written at its end (`> out`, `>> out`), a failure (or a
/// terminating signal) cuts it back to its length at the start: all or nothing, as `-o`
/// gives, and as hush-run does for its own output. A file written elsewhere (`1<> out` at
/// offset 0) is left as written: cutting it back could destroy what followed.
pub struct PlainStdout {
    out: fs::File,
    /// Plaintext not yet written: pre-sized, never grown (no stray copies), wiped on drop.
    buf: zeroize::Zeroizing<Vec<u8>>,
    written: u64,
    rollback: Option<Rollback>,
}

/// A regular file's length at the start, and the watcher that cuts it back on a signal.
struct Rollback {
    len: u64,
    /// Set once the output is final (or already cut back): the watcher then only exits.
    settled: std::sync::Arc<std::sync::Mutex<bool>>,
}

/// What became of the plaintext written before a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abandoned {
    /// Nothing had reached stdout.
    Nothing,
    /// This many bytes had been written, and the file was cut back to its former length.
    CutBack(u64),
    /// This many bytes had been written and stay there (a pipe, or a file not written at
    /// its end).
    Kept(u64),
}

const STDOUT_BUF: usize = 64 * 1024;

impl PlainStdout {
    /// Takes stdout; remembers its length if it is a regular file written at its end.
    pub fn new() -> io::Result<Self> {
        use std::os::fd::AsFd;
        let out = fs::File::from(io::stdout().as_fd().try_clone_to_owned()?);
        let rollback = match regular_at_end(&out) {
            Some(len) => Some(Rollback::watch(&out, len)?),
            None => None,
        };
        Ok(Self {
            out,
            buf: zeroize::Zeroizing::new(Vec::with_capacity(STDOUT_BUF)),
            written: 0,
            rollback,
        })
    }

    /// Writes `data` to stdout, counting every byte that got there.
    fn write_out(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            match self.out.write(data) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.written += n as u64;
                    data = &data[n..];
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        let buf = std::mem::take(&mut *self.buf);
        let result = self.write_out(&buf);
        // The same allocation goes back, emptied: its bytes are wiped on drop, or overwritten.
        *self.buf = buf;
        self.buf.clear();
        result
    }

    /// Everything written: the output is final, whatever signal comes next.
    pub fn finish(mut self) -> io::Result<()> {
        self.flush()?;
        if let Some(r) = &self.rollback {
            r.settle();
        }
        Ok(())
    }

    /// The message failed: drops what was not written yet and, for a regular file written
    /// at its end, cuts it back. Says what became of what was written (kept, if the file
    /// cannot be cut back: the failure to report is the message's, not this one).
    pub fn abandon(mut self) -> Abandoned {
        use std::io::Seek;
        zeroize::Zeroize::zeroize(&mut *self.buf);
        let written = self.written;
        let Some(r) = &self.rollback else {
            return match written {
                0 => Abandoned::Nothing,
                n => Abandoned::Kept(n),
            };
        };
        r.settle();
        let cut = self
            .out
            .set_len(r.len)
            .and_then(|()| self.out.seek(io::SeekFrom::Start(r.len)));
        match (written, cut) {
            (0, _) => Abandoned::Nothing,
            (n, Ok(_)) => Abandoned::CutBack(n),
            (n, Err(_)) => Abandoned::Kept(n),
        }
    }
}

impl Write for PlainStdout {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > STDOUT_BUF {
            self.flush_buf()?;
        }
        if data.len() >= STDOUT_BUF {
            self.write_out(data)?;
        } else {
            self.buf.extend_from_slice(data);
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_buf()
    }
}

/// Whether `out` is a regular file written at its end (opened to append, or positioned at
/// its end), so that cutting it back to its present length loses only what hush writes.
/// Returns that length.
fn regular_at_end(out: &fs::File) -> Option<u64> {
    use std::io::Seek;
    let meta = out.metadata().ok()?;
    if !meta.file_type().is_file() {
        return None;
    }
    // `>> out` opens to append at offset 0: every write still lands at the end.
    let append = rustix::fs::fcntl_getfl(out)
        .ok()?
        .contains(rustix::fs::OFlags::APPEND);
    let offset = (&*out).stream_position().ok()?;
    (append || offset == meta.len()).then_some(meta.len())
}

impl Rollback {
    /// Starts a thread that, on a terminating signal before the output is settled, cuts the
    /// file back and exits as that signal would have made hush exit.
    fn watch(out: &fs::File, len: u64) -> io::Result<Self> {
        let file = out.try_clone()?;
        let settled = std::sync::Arc::new(std::sync::Mutex::new(false));
        let flag = std::sync::Arc::clone(&settled);
        let mut signals = signal_hook::iterator::Signals::new(crate::signals::TERMINATING)?;
        std::thread::Builder::new()
            .name("cut-back".into())
            .spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    // Held until exit: the main thread cannot settle in between.
                    let settled = flag.lock().unwrap_or_else(|p| p.into_inner());
                    if !*settled && file.set_len(len).is_ok() {
                        note!("hush: interrupted: the output was cut back to what it held before");
                    }
                    std::process::exit(i32::from(crate::signals::exit_code(sig)));
                }
            })?;
        Ok(Self { len, settled })
    }

    fn settle(&self) {
        *self.settled.lock().unwrap_or_else(|p| p.into_inner()) = true;
    }
}
