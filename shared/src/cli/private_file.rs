//! Files that hold secrets: key files and passphrase files.
//!
//! Reading follows ssh's rules for private keys, checked on the opened descriptor (fstat),
//! so that nothing can swap the file between the check and the read: the path must be the
//! file itself (`O_NOFOLLOW`: a link could be pointed elsewhere), a regular file, owned by
//! the user or root, and neither readable nor writable by group or others. The one
//! exception is a descriptor handed over by the caller (`/dev/fd/N`, e.g. a pipe): it is
//! read as it is.
//!
//! Writing goes through [`AtomicFile`]: mode 0600 from creation, synced, renamed.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode};
use zeroize::Zeroizing;

use super::atomic::AtomicFile;
use super::error::{Error, Result};
use super::keyfile;
use crate::{Credentials, Iv, Key, Passphrase};

/// A key or passphrase file is a few lines; anything much larger is not one.
pub const MAX_LEN: usize = 64 * 1024;

/// Opens a private file for reading after the checks above.
pub fn open(path: &Path) -> Result<File> {
    let unreadable = |source| Error::Unreadable {
        path: path.to_owned(),
        source,
    };
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc_flags::NOFOLLOW)
        .open(path);
    let file = match opened {
        Ok(file) => file,
        Err(e) if e.raw_os_error() == Some(libc_flags::ELOOP) && is_inherited_fd(path) => {
            // /dev/fd/N is a link to a descriptor the caller opened for us.
            let file = File::open(path).map_err(unreadable)?;
            let stat = rustix::fs::fstat(&file).map_err(|e| unreadable(e.into()))?;
            if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
                return Ok(file);
            }
            // A regular file behind the descriptor still gets the usual checks.
            return check(path, file);
        }
        Err(e) if e.raw_os_error() == Some(libc_flags::ELOOP) => {
            return Err(Error::Symlink {
                path: path.to_owned(),
            });
        }
        Err(e) => return Err(unreadable(e)),
    };
    check(path, file)
}

/// The constants the opener needs, from rustix (which has them for every Unix).
mod libc_flags {
    /// `O_NOFOLLOW`.
    pub const NOFOLLOW: i32 = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
    /// `ELOOP`: what `O_NOFOLLOW` gives for a symbolic link.
    pub const ELOOP: i32 = rustix::io::Errno::LOOP.raw_os_error();
}

fn is_inherited_fd(path: &Path) -> bool {
    path.starts_with("/dev/fd") || path.starts_with("/proc/self/fd")
}

fn check(path: &Path, file: File) -> Result<File> {
    let stat = rustix::fs::fstat(&file).map_err(|e| Error::Unreadable {
        path: path.to_owned(),
        source: e.into(),
    })?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(Error::NotAFile {
            path: path.to_owned(),
        });
    }
    let me = rustix::process::geteuid().as_raw();
    if stat.st_uid != me && stat.st_uid != 0 {
        return Err(Error::Owner {
            path: path.to_owned(),
            owner: stat.st_uid,
            me,
        });
    }
    let mode = Mode::from_raw_mode(stat.st_mode).bits() & 0o777;
    if mode & 0o077 != 0 {
        // mode_t is u32 on Linux, u16 on macOS.
        #[allow(clippy::useless_conversion)]
        let mode = u32::from(mode);
        return Err(Error::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(file)
}

/// Reads at most [`MAX_LEN`] bytes into a buffer sized once and wiped on drop.
fn read_all(path: &Path, mut file: File) -> Result<Zeroizing<Vec<u8>>> {
    let mut text = Zeroizing::new(Vec::with_capacity(MAX_LEN + 1));
    (&mut file)
        .take(MAX_LEN as u64 + 1)
        .read_to_end(&mut text)
        .map_err(|source| Error::Unreadable {
            path: path.to_owned(),
            source,
        })?;
    if text.len() > MAX_LEN {
        return Err(Error::TooLarge {
            path: path.to_owned(),
            len: text.len() as u64,
        });
    }
    Ok(text)
}

fn parse_key_text(name: &Path, bytes: &[u8]) -> Result<Credentials> {
    let text = std::str::from_utf8(bytes).map_err(|_| crate::Error::KeyFileSyntax {
        path: name.to_owned(),
        line: 0,
        reason: "not a text file".into(),
    })?;
    Ok(keyfile::parse(name, text)?)
}

/// Reads a key file (`key = ...` and `iv = ...`).
pub fn read_key_file(path: &Path) -> Result<Credentials> {
    let text = read_all(path, open(path)?)?;
    parse_key_text(path, &text)
}

/// Reads key file text from an inherited descriptor `fd` (3 or above), then closes it so
/// that a command started later cannot read it again.
///
/// Call this before the process opens descriptors of its own: a number the caller forgot
/// to open must be an error, not one of ours taken by mistake.
pub fn read_key_fd(fd: i32) -> Result<Credentials> {
    let name = PathBuf::from(format!("descriptor {fd}"));
    let unreadable = |source| Error::Unreadable {
        path: name.clone(),
        source,
    };
    if fd < 3 {
        return Err(unreadable(io::Error::from(io::ErrorKind::InvalidInput)));
    }
    // Check it is open before taking ownership, so that a wrong number is an error message
    // and not a descriptor of ours closed behind our back.
    // SAFETY: the descriptor is only borrowed for this one fcntl call.
    #[allow(unsafe_code)]
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    rustix::io::fcntl_getfd(borrowed).map_err(|e| unreadable(e.into()))?;
    // SAFETY: the caller handed this descriptor (>= 3) to the process and nothing else in
    // it opened or owns it (this runs before we open any); it is closed right after reading.
    #[allow(unsafe_code)]
    let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let text = read_all(&name, file)?;
    parse_key_text(&name, &text)
}

/// Reads a passphrase: the first line of a private file.
pub fn read_passphrase_file(path: &Path) -> Result<Passphrase> {
    let bytes = read_all(path, open(path)?)?;
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = std::str::from_utf8(line).map_err(|_| crate::Error::KeyFileSyntax {
        path: path.to_owned(),
        line: 1,
        reason: "the passphrase is not UTF-8 text".into(),
    })?;
    let mut owned = Zeroizing::new(String::with_capacity(text.len()));
    owned.push_str(text);
    Ok(Passphrase::new(owned)?)
}

/// Writes a key file with mode 0600, atomically. Without `overwrite`, an existing file is
/// left alone and [`Error::Exists`] returned.
pub fn write_key_file(path: &Path, key: &Key, iv: &Iv, overwrite: bool) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(keyfile::render(key, iv).as_bytes())
        .map_err(|source| Error::Write {
            path: path.to_owned(),
            source,
        })?;
    if overwrite {
        file.commit()
    } else {
        file.commit_new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn keys() -> (Key, Iv) {
        (Key::generate().unwrap(), Iv::generate().unwrap())
    }

    #[test]
    fn write_then_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let (key, iv) = keys();
        write_key_file(&path, &key, &iv, false).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let Credentials::KeyIv { key: k2, iv: i2 } = read_key_file(&path).unwrap() else {
            panic!("not a key")
        };
        assert_eq!((k2.expose(), i2.expose()), (key.expose(), iv.expose()));
        assert!(matches!(
            write_key_file(&path, &key, &iv, false),
            Err(Error::Exists { .. })
        ));
        write_key_file(&path, &key, &iv, true).unwrap();
    }

    #[test]
    fn unsafe_files_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let (key, iv) = keys();
        write_key_file(&path, &key, &iv, false).unwrap();

        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let err = read_key_file(&path).unwrap_err();
        assert!(
            matches!(err, Error::Permissions { mode: 0o640, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 600"), "{err}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();

        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(matches!(read_key_file(&link), Err(Error::Symlink { .. })));

        assert!(matches!(
            read_key_file(dir.path()),
            Err(Error::NotAFile { .. })
        ));
        assert!(matches!(
            read_key_file(&dir.path().join("missing")),
            Err(Error::Unreadable { .. })
        ));

        let big = dir.path().join("big");
        fs::write(&big, vec![b'#'; MAX_LEN + 1]).unwrap();
        fs::set_permissions(&big, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(read_key_file(&big), Err(Error::TooLarge { .. })));
    }

    #[test]
    fn a_file_of_another_user_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let (key, iv) = keys();
        write_key_file(&path, &key, &iv, false).unwrap();
        let me = rustix::process::geteuid().as_raw();
        let other = if me == 0 { 65534 } else { me };
        // Only root can give a file away; as another user this checks nothing new.
        if me == 0 {
            std::os::unix::fs::chown(&path, Some(other), None).unwrap();
            let err = read_key_file(&path).unwrap_err();
            assert!(matches!(err, Error::Owner { owner: 65534, .. }), "{err}");
        }
    }

    #[test]
    fn passphrase_is_the_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        fs::write(&path, b"correct horse\r\nsecond line\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let p = read_passphrase_file(&path).unwrap();
        assert_eq!(p.expose(), b"correct horse");
        fs::write(&path, b"\n").unwrap();
        assert!(matches!(
            read_passphrase_file(&path),
            Err(Error::Format(crate::Error::EmptyPassphrase))
        ));
    }
}
