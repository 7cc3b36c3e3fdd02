//! Files that hold secrets: key files and passphrase files.
//!
//! Reading follows ssh's rules for private keys, checked on the opened file so that nothing
//! can swap it between the check and the read: the path must be the file itself (not a
//! link), a regular file, owned by the user, and nobody else may read or write it. On Unix
//! that is mode 0600 (the owner may also be root); on Windows, a DACL that grants access to
//! nobody but the user (and SYSTEM and Administrators, who can take any file anyway).
//! The one exception is a descriptor handed over by the caller (`/dev/fd/N`, e.g. a pipe):
//! it is read as it is.
//!
//! Writing goes through [`AtomicFile`]: private (0600, or the owner-only DACL) from
//! creation, synced, renamed.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::atomic::AtomicFile;
use super::error::{Error, Result};
use super::{keyfile, platform};
use crate::{Credentials, Iv, Key, Passphrase};

/// A key or passphrase file is a few lines; anything much larger is not one.
pub const MAX_LEN: usize = 64 * 1024;

/// Opens a private file for reading after the checks above.
pub fn open(path: &Path) -> Result<File> {
    platform::open_private(path)
}

/// Reads a whole private file (at most [`MAX_LEN`] bytes) after the checks above.
pub fn read(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    read_all(path, open(path)?)
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
    parse_key_text(path, &read(path)?)
}

/// Reads key file text from an inherited descriptor `fd` (3 or above), then closes it so
/// that a command started later cannot read it again.
///
/// Call this before the process opens descriptors of its own: a number the caller forgot
/// to open must be an error, not one of ours taken by mistake.
pub fn read_key_fd(fd: i32) -> Result<Credentials> {
    let name = PathBuf::from(format!("descriptor {fd}"));
    let file = platform::take_inherited(fd).map_err(|source| Error::Unreadable {
        path: name.clone(),
        source,
    })?;
    let text = read_all(&name, file)?;
    parse_key_text(&name, &text)
}

/// Reads a passphrase: the first line of a private file.
pub fn read_passphrase_file(path: &Path) -> Result<Passphrase> {
    let bytes = read(path)?;
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

/// Writes a key file only the user may read (mode 0600, or an owner-only DACL), atomically. Without `overwrite`, an existing file is
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
#[cfg(unix)] // the tests read Unix modes; Windows is checked by scripts/cross
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
