//! The tools' settings file, `$XDG_CONFIG_HOME/hush/config.toml` (else
//! `~/.config/hush/config.toml`): the relay to use and its pin, so that neither needs
//! typing on every run. It holds no secret (a secret never goes in a file the user did not
//! ask for), but it decides where pairings go, so it is read the way ssh reads its
//! config: owned by the user (or root), writable by nobody else, or refused.
//!
//! ```toml
//! [relay]
//! url = "https://relay.example.org:8443"
//! pin = "sha256:3f1c…"     # for a relay with a self-signed certificate
//! ```
//!
//! Command-line flags win over the file; a missing file is an empty one.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Largest settings file read (a few lines are expected).
const MAX_LEN: u64 = 64 * 1024;

/// Why the settings file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// It exists but could not be read.
    #[error("cannot read {path}: {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Someone else could change where pairings go.
    #[error("{path} is {why}: refusing it (chmod go-w, and own it yourself)")]
    Unsafe {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: &'static str,
    },
    /// Not TOML, or unknown keys.
    #[error("{path}: {reason}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message (line and column included).
        reason: String,
    },
}

/// The file's contents.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The `[relay]` table.
    #[serde(default)]
    pub relay: RelaySettings,
}

/// The `[relay]` table.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RelaySettings {
    /// `https://host:port` of the relay.
    pub url: Option<String>,
    /// `sha256:HEX` of the relay's certificate.
    pub pin: Option<String>,
}

/// Where the file is: `$XDG_CONFIG_HOME/hush/config.toml`, else under `~/.config`.
pub fn default_path() -> Option<PathBuf> {
    Some(super::devices::hush_dir()?.join("config.toml"))
}

/// Reads the settings at the default place; nothing there is no settings.
pub fn load() -> Result<Config, ConfigError> {
    match default_path() {
        Some(path) => load_from(&path),
        None => Ok(Config::default()),
    }
}

/// Reads the settings at `path`; a missing file is an empty one.
pub fn load_from(path: &Path) -> Result<Config, ConfigError> {
    let unreadable = |source| ConfigError::Unreadable {
        path: path.to_owned(),
        source,
    };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(e) => return Err(unreadable(e)),
    };
    check_owner(path, &file)?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(&file, MAX_LEN), &mut text)
        .map_err(unreadable)?;
    parse(path, &text)
}

/// Parses the file's text.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Syntax {
        path: path.to_owned(),
        reason: e.to_string().trim_end().replace('\n', " "),
    })
}

#[cfg(unix)]
fn check_owner(path: &Path, file: &std::fs::File) -> Result<(), ConfigError> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = file.metadata().map_err(|source| ConfigError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    let unsafe_because = |why| ConfigError::Unsafe {
        path: path.to_owned(),
        why,
    };
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(unsafe_because("owned by another user"));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(unsafe_because("writable by group or others"));
    }
    Ok(())
}

#[cfg(windows)]
fn check_owner(_path: &Path, _file: &std::fs::File) -> Result<(), ConfigError> {
    // The profile folder it lives in is the user's own on Windows.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relay_table_is_read_and_unknown_keys_are_refused() {
        let path = Path::new("config.toml");
        let text = "[relay]\nurl = \"https://r.example:8443\"\npin = \"sha256:00\"\n";
        let config = parse(path, text).expect("parses");
        assert_eq!(config.relay.url.as_deref(), Some("https://r.example:8443"));
        assert_eq!(config.relay.pin.as_deref(), Some("sha256:00"));
        assert_eq!(parse(path, "").expect("empty"), Config::default());
        let typo = parse(path, "[relay]\nulr = \"x\"\n").expect_err("a typo");
        assert!(typo.to_string().contains("ulr"), "{typo}");
        let not_toml = parse(path, "[relay\n").expect_err("not TOML");
        assert!(
            not_toml.to_string().starts_with("config.toml: "),
            "{not_toml}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_may_write_is_refused_and_a_missing_one_is_empty() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.toml");
        assert_eq!(load_from(&path).expect("missing"), Config::default());
        std::fs::write(&path, "[relay]\nurl = \"https://r.example\"\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(load_from(&path).expect("0644 is fine").relay.url.is_some());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o664)).expect("chmod");
        let err = load_from(&path).expect_err("group-writable");
        assert!(
            err.to_string().contains("writable by group or others"),
            "{err}"
        );
    }
}
