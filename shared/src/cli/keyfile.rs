//! Key files' text: a `key = <base64>` line and an `iv = <base64>` line, `#` comments
//! allowed. Opening, checking and writing the files themselves (mode 0600, as ssh wants)
//! is [`super::private_file`]'s work.

use std::path::Path;

use zeroize::Zeroizing;

use crate::{Credentials, Error, Iv, Key, Result};

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

#[cfg(test)]
mod tests {
    use super::*;

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
