//! Optional API keys (`--api-keys FILE`, docs/RELAY.md §3.1) for a private relay: a key
//! may create rooms, join them, or both. The file holds only SHA-256 hashes, one per line
//! as `create:HEX` or `join:HEX` (`#` comments, blank lines): the relay never holds a key.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::StartError;

/// What a key lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `POST /v1/rooms`.
    Create,
    /// `POST /v1/nameplates/{n}/join`.
    Join,
}

/// The hashes of the keys allowed, by scope.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    entries: Vec<(Scope, [u8; 32])>,
}

impl ApiKeys {
    /// Reads the file; any line that is not `create:HEX` or `join:HEX` (64 hex digits) is
    /// refused with its number, so that a typo cannot silently open the relay.
    pub fn load(path: &Path) -> Result<Self, StartError> {
        let bad = |line: usize, reason: &'static str| StartError::ApiKeys {
            path: PathBuf::from(path),
            line,
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|source| StartError::StateFile {
            action: "read",
            path: path.to_owned(),
            source,
        })?;
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (scope, hash) = line
                .split_once(':')
                .ok_or(bad(i + 1, "expected create:SHA256HEX or join:SHA256HEX"))?;
            let scope = match scope.trim() {
                "create" => Scope::Create,
                "join" => Scope::Join,
                _ => return Err(bad(i + 1, "the scope must be create or join")),
            };
            let hash = hex::decode(hash.trim())
                .ok()
                .and_then(|h| <[u8; 32]>::try_from(h).ok())
                .ok_or(bad(
                    i + 1,
                    "the hash must be 64 hex digits (SHA-256 of the key)",
                ))?;
            entries.push((scope, hash));
        }
        if entries.is_empty() {
            return Err(bad(0, "no key in the file"));
        }
        Ok(Self { entries })
    }

    /// Whether `key` is allowed `scope` (constant time in the key's hash).
    pub fn allows(&self, scope: Scope, key: &str) -> bool {
        let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        // Every entry is compared, so the time does not tell which one matched.
        self.entries.iter().fold(false, |found, (s, h)| {
            found | (*s == scope && bool::from(h.ct_eq(&hash)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(key: &str) -> String {
        hex::encode(Sha256::digest(key.as_bytes()))
    }

    #[test]
    fn keys_are_scoped_and_typos_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys");
        let text = format!(
            "# ops\ncreate:{}\n\njoin:{}\n",
            hash("c-key"),
            hash("j-key")
        );
        std::fs::write(&path, text).expect("write");
        let keys = ApiKeys::load(&path).expect("load");
        assert!(keys.allows(Scope::Create, "c-key"));
        assert!(!keys.allows(Scope::Join, "c-key"));
        assert!(keys.allows(Scope::Join, "j-key"));
        assert!(!keys.allows(Scope::Create, "wrong"));
        for bad in ["creat:00", "create:xyz", "join", ""] {
            std::fs::write(&path, bad).expect("write");
            assert!(ApiKeys::load(&path).is_err(), "{bad:?} accepted");
        }
    }
}
