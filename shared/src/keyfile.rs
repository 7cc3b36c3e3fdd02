//! Key files: a `key = <base64>` line and an `iv = <base64>` line, `#` comments allowed,
//! mode 0600. Reading one that other users can read is refused, as ssh does.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::{Credentials, Iv, Key};

/// Reads a key file, refusing it if group or others may read or write it.
pub fn read(path: &Path) -> Result<Credentials> {
    let meta = fs::metadata(path)?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::KeyFilePermissions {
            path: path.to_owned(),
            mode,
        });
    }
    let text = Zeroizing::new(fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData => syntax(path, 0, "not a text file"),
        _ => Error::Io(e),
    })?);
    parse(path, &text)
}

fn syntax(path: &Path, line: usize, reason: &str) -> Error {
    Error::KeyFileSyntax {
        path: path.to_owned(),
        line,
        reason: reason.to_owned(),
    }
}

/// Parses key file text (`path` only names the file in errors).
pub fn parse(path: &Path, text: &str) -> Result<Credentials> {
    let (mut key, mut iv) = (None, None);
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(syntax(
                path,
                i + 1,
                "expected 'key = <base64>' or 'iv = <base64>'",
            ));
        };
        // Base64 padding also uses '=': split at the first one only, and the value keeps
        // its own padding.
        let (name, value) = (name.trim(), value.trim());
        let wrap = |e: Error| syntax(path, i + 1, &e.to_string());
        match name {
            "key" if key.is_none() => key = Some(Key::parse(value).map_err(wrap)?),
            "iv" if iv.is_none() => iv = Some(Iv::parse(value).map_err(wrap)?),
            "key" | "iv" => return Err(syntax(path, i + 1, &format!("'{name}' appears twice"))),
            _ => return Err(syntax(path, i + 1, "unknown name (expected 'key' or 'iv')")),
        }
    }
    match (key, iv) {
        (Some(key), Some(iv)) => Ok(Credentials::KeyIv { key, iv }),
        (None, _) => Err(syntax(path, 0, "no 'key = ...' line")),
        (_, None) => Err(syntax(path, 0, "no 'iv = ...' line")),
    }
}

/// The text of a key file.
pub fn render(key: &Key, iv: &Iv) -> Zeroizing<String> {
    let fingerprint = crate::keys::Fingerprint::of(key, iv);
    Zeroizing::new(format!(
        "# hush key file: keep it secret (mode 0600). Fingerprint {fingerprint}\nkey = {}\niv = {}\n",
        key.to_base64().as_str(),
        iv.to_base64().as_str()
    ))
}

/// Writes a key file with mode 0600, atomically: a temporary file in the same folder
/// (created 0600 from the start) renamed into place. Without `overwrite`, an existing file
/// is left alone and [`Error::FileExists`] returned.
pub fn write(path: &Path, key: &Key, iv: &Iv, overwrite: bool) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".hush-key-")
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)?;
    tmp.write_all(render(key, iv).as_bytes())?;
    tmp.as_file().sync_all()?;
    if overwrite {
        tmp.persist(path).map_err(|e| Error::Io(e.error))?;
    } else {
        tmp.persist_noclobber(path)
            .map_err(|e| match e.error.kind() {
                std::io::ErrorKind::AlreadyExists => Error::FileExists {
                    path: path.to_owned(),
                },
                _ => Error::Io(e.error),
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let (key, iv) = (Key::generate().unwrap(), Iv::generate().unwrap());
        write(&path, &key, &iv, false).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let Credentials::KeyIv { key: k2, iv: i2 } = read(&path).unwrap() else {
            panic!()
        };
        assert_eq!((k2.expose(), i2.expose()), (key.expose(), iv.expose()));
        assert!(matches!(
            write(&path, &key, &iv, false),
            Err(Error::FileExists { .. })
        ));
        write(&path, &key, &iv, true).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = read(&path).err().unwrap();
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn syntax_errors_name_the_line_not_the_secret() {
        let p = Path::new("k");
        let key = Key::generate().unwrap().to_base64();
        let text = format!(
            "# c\nkey = {}\niv = {}x\n",
            key.as_str(),
            "AAAAAAAAAAAAAAAA"
        );
        let err = parse(p, &text).err().unwrap();
        assert!(err.to_string().starts_with("k, line 3:"), "{err}");
        assert!(!err.to_string().contains(key.as_str()));
        assert!(parse(p, "key = x\nkey = y").is_err());
        assert!(
            parse(p, &format!("key = {}\n", key.as_str()))
                .err()
                .unwrap()
                .to_string()
                .contains("no 'iv")
        );
        assert!(parse(p, "nonsense").is_err());
    }
}
