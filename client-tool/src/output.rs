//! All-or-nothing output files: a temporary file (mode 0600) in the target's folder,
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
