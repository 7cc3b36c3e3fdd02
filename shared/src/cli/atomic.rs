//! All-or-nothing output files: a temporary file (private from its creation: mode 0600, or
//! an owner-only DACL on Windows) in the
//! target's folder, renamed over the target only once everything was written and, for
//! plaintext, the whole message authenticated. Dropped without a commit, it is deleted; a
//! signal that ends the process deletes it too (see [`super::signals`]).
//!
//! The file is synced before the rename, so that after a crash the target holds either
//! the old content or the whole new one. A large file is synced as it grows, by a second
//! thread, so that the disk writes go on while the rest is produced instead of all at the
//! end (`hush open -o` of 256 MiB: final fsync 78 ms → 0.1 ms).
//!
//! Writes go straight to the file, with no buffer of ours in between: callers write large
//! pieces already, and a user-space buffer would be one more copy of plaintext to wipe.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use tempfile::NamedTempFile;

use super::error::{Error, Result};
use super::{parent_dir, platform, signals};

/// Bytes written between two requests to the syncing thread.
const SYNC_EVERY: u64 = 32 * 1024 * 1024;

/// A file being written next to its final place.
pub struct AtomicFile {
    tmp: NamedTempFile,
    target: PathBuf,
    /// Bytes written since the syncing thread was last asked to run.
    unsynced: u64,
    syncer: Syncer,
    _watched: Watched,
}

/// The temporary file is removed if a signal ends the process while this lives.
struct Watched(PathBuf);

impl Drop for Watched {
    fn drop(&mut self) {
        // Renamed into place, or deleted by the temporary file's own drop: either way there
        // is nothing left for the signal thread to remove.
        signals::keep(&self.0);
    }
}

/// A thread that syncs the file (fdatasync) whenever asked, while the writer goes on.
struct Syncer {
    ask: SyncSender<()>,
    thread: JoinHandle<io::Result<()>>,
}

impl Syncer {
    fn start(file: File) -> io::Result<Self> {
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
    pub fn create(target: &Path) -> Result<Self> {
        match std::fs::metadata(target) {
            Ok(meta) if meta.is_dir() => {
                return Err(Error::IsFolder {
                    path: target.to_owned(),
                });
            }
            // A device, a pipe or a socket: renaming a file over it would replace the node
            // itself (as root, `-o /dev/null` would leave a regular file at /dev/null).
            Ok(meta) if !meta.is_file() => {
                return Err(Error::OutputNotAFile {
                    path: target.to_owned(),
                });
            }
            _ => {}
        }
        let dir = parent_dir(target);
        if !dir.is_dir() {
            return Err(Error::NoFolder {
                dir: dir.to_owned(),
            });
        }
        let create_in = |source| Error::CreateIn {
            dir: dir.to_owned(),
            source: without_temp_name(source),
        };
        // Private from its creation (0600, or an owner-only DACL on Windows): a file made
        // first and restricted afterwards could be opened by someone else in between.
        let tmp = tempfile::Builder::new()
            .prefix(".hush-")
            .suffix(".partial")
            .make_in(dir, platform::create_private)
            .map_err(create_in)?;
        signals::remove_on_signal(tmp.path());
        let watched = Watched(tmp.path().to_owned());
        let syncer = tmp
            .as_file()
            .try_clone()
            .and_then(Syncer::start)
            .map_err(create_in)?;
        Ok(Self {
            tmp,
            target: target.to_owned(),
            unsynced: 0,
            syncer,
            _watched: watched,
        })
    }

    /// The file it will become.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Another handle on the temporary file (same open file, same offset), for a writer
    /// thread. Its writes are synced at the commit.
    pub fn file(&self) -> io::Result<File> {
        self.tmp.as_file().try_clone()
    }

    /// Syncs and renames into place, replacing the target.
    pub fn commit(self) -> Result<()> {
        self.persist(true)
    }

    /// Syncs and renames into place unless the target exists ([`Error::Exists`] then).
    pub fn commit_new(self) -> Result<()> {
        self.persist(false)
    }

    fn persist(self, replace: bool) -> Result<()> {
        let Self {
            tmp,
            target,
            syncer,
            ..
        } = self;
        let failed = |source| Error::Write {
            path: target.clone(),
            source,
        };
        syncer.finish().map_err(failed)?;
        tmp.as_file().sync_all().map_err(failed)?;
        let persisted = if replace {
            tmp.persist(&target)
        } else {
            tmp.persist_noclobber(&target)
        };
        match persisted {
            Ok(_) => Ok(()),
            Err(e) if !replace && e.error.kind() == io::ErrorKind::AlreadyExists => {
                Err(Error::Exists { path: target })
            }
            Err(e) => Err(failed(e.error)),
        }
    }
}

/// tempfile names its random temporary file in its errors; the folder is named already,
/// and a random name would only make the message differ from run to run.
fn without_temp_name(e: io::Error) -> io::Error {
    let code = e
        .get_ref()
        .and_then(|inner| inner.source())
        .and_then(|source| source.downcast_ref::<io::Error>())
        .and_then(io::Error::raw_os_error);
    code.map(io::Error::from_raw_os_error).unwrap_or(e)
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

#[cfg(test)]
#[cfg(unix)] // the tests read Unix modes; Windows is checked by scripts/cross
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn committed_file_is_private_and_complete() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        fs::write(&target, b"old").unwrap();
        let mut f = AtomicFile::create(&target).unwrap();
        f.write_all(b"new content").unwrap();
        assert_eq!(
            fs::read(&target).unwrap(),
            b"old",
            "untouched until the commit"
        );
        f.commit().unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new content");
        let mode = fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(names(dir.path()), ["out"]);
    }

    #[test]
    fn dropped_file_leaves_nothing_and_the_target_alone() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        fs::write(&target, b"old").unwrap();
        let mut f = AtomicFile::create(&target).unwrap();
        f.write_all(b"partial").unwrap();
        drop(f);
        assert_eq!(fs::read(&target).unwrap(), b"old");
        assert_eq!(names(dir.path()), ["out"]);
    }

    #[test]
    fn commit_new_refuses_an_existing_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("k");
        fs::write(&target, b"old").unwrap();
        let f = AtomicFile::create(&target).unwrap();
        assert!(matches!(f.commit_new(), Err(Error::Exists { .. })));
        assert_eq!(fs::read(&target).unwrap(), b"old");
        assert_eq!(names(dir.path()), ["k"]);
        assert!(matches!(
            AtomicFile::create(dir.path()),
            Err(Error::IsFolder { .. })
        ));
        #[cfg(unix)]
        {
            let err = AtomicFile::create(Path::new("/dev/null")).err().unwrap();
            assert!(matches!(err, Error::OutputNotAFile { .. }), "{err}");
            assert!(err.to_string().contains("> /dev/null"), "{err}");
        }
        let nowhere = dir.path().join("missing/out");
        let err = AtomicFile::create(&nowhere).err().unwrap();
        assert!(matches!(err, Error::NoFolder { .. }), "{err}");
        assert!(err.to_string().ends_with("missing does not exist"), "{err}");
    }
}
