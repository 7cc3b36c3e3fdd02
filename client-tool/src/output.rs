//! All-or-nothing output files: a temporary file (mode 0600) in the target's folder,
//! renamed over the target only once everything was written and, for plaintext, the whole
//! message authenticated. Dropped without [`AtomicFile::commit`], it is deleted; on Ctrl-C,
//! SIGTERM or SIGHUP (which would end the process before any drop runs) a watcher thread
//! deletes it before exiting.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::failure::Failure;

/// A file being written next to its final place.
pub struct AtomicFile {
    tmp: BufWriter<NamedTempFile>,
    target: PathBuf,
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
        Ok(Self {
            tmp: BufWriter::with_capacity(64 * 1024, tmp),
            target: target.to_owned(),
        })
    }

    /// Flushes, syncs and renames into place.
    pub fn commit(self) -> Result<(), Failure> {
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
        self.tmp.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.tmp.flush()
    }
}

/// Deletes the temporary file and exits when a termination signal arrives. After a commit
/// the path no longer exists and only the exit remains.
fn remove_on_signal(path: PathBuf) -> Result<(), Failure> {
    use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
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
