//! The secrets key file: lines of `KEY_ID:BASE64` (32-byte keys), the last one the newest.

use base64::Engine as _;
use std::path::Path;

/// Longest key id accepted: it is written beside every sealed value.
const MAX_KEY_ID_CHARS: usize = 32;

/// A key's length in bytes (ChaCha20-Poly1305's key).
pub const KEY_BYTES: usize = 32;

/// One key of the file: its id and its 32 bytes.
#[derive(Clone)]
pub struct Key {
    pub id: String,
    pub bytes: [u8; KEY_BYTES],
}

// The key's bytes never reach a log through `Debug`: only its id is shown.
impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id)
            .field("bytes", &"(redacted)")
            .finish()
    }
}

/// Why a key file cannot be used. No variant carries a line's text: a malformed line may
/// hold key material, so errors name the line by its number only.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read the secrets key file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("secrets key file {path}, line {line}: {reason}")]
    Malformed {
        path: String,
        line: usize,
        reason: &'static str,
    },
    #[error("secrets key file {path} holds no key (expected lines of KEY_ID:BASE64)")]
    Empty { path: String },
}

/// Reads and checks a key file.
pub fn read(path: &Path) -> Result<Vec<Key>, KeyFileError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Read {
        path: shown.clone(),
        source,
    })?;
    parse(&text, &shown)
}

/// Parses a key file's text; `path` only names it in errors. Blank lines and lines starting
/// with `#` are skipped, so an operator may note when a key was added.
pub fn parse(text: &str, path: &str) -> Result<Vec<Key>, KeyFileError> {
    let mut keys: Vec<Key> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let malformed = |reason| KeyFileError::Malformed {
            path: path.to_string(),
            line,
            reason,
        };
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (id, encoded) = trimmed
            .split_once(':')
            .ok_or_else(|| malformed("expected KEY_ID:BASE64"))?;
        if !valid_key_id(id) {
            return Err(malformed(
                "the key id must be 1 to 32 letters, digits, '-', '_' or '.'",
            ));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| malformed("the key is not valid base64"))?;
        let bytes: [u8; KEY_BYTES] = decoded
            .try_into()
            .map_err(|_| malformed("the key must be 32 bytes (44 characters of base64)"))?;
        if keys.iter().any(|k| k.id == id) {
            return Err(malformed("this key id is already used by an earlier line"));
        }
        keys.push(Key {
            id: id.to_string(),
            bytes,
        });
    }
    if keys.is_empty() {
        return Err(KeyFileError::Empty {
            path: path.to_string(),
        });
    }
    Ok(keys)
}

/// The file's permission bits when others than its owner may read it (it should be 0600),
/// so start-up can warn; `None` when only the owner can, or on systems without them.
pub fn readable_by_others(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Whether `id` may name a key: it is stored inside each sealed value, between colons.
pub fn valid_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_KEY_ID_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn keys_are_read_in_order_and_comments_skipped() {
        let text = format!("# added 2026-01-01\nk1:{K1}\n\nk2:{K1}\n");
        let keys = parse(&text, "keys").unwrap();
        let ids: Vec<&str> = keys.iter().map(|k| k.id.as_str()).collect();
        assert_eq!(ids, ["k1", "k2"]);
        assert_eq!(keys[0].bytes[31], 31);
        assert!(!format!("{:?}", keys[0]).contains("AAEC"));
    }

    #[test]
    fn a_malformed_file_names_the_line_and_never_the_key() {
        let secretish = "c2VjcmV0LWtleS1tYXRlcmlhbA==";
        let cases = [
            (format!("k1:{K1}\n{secretish}\n"), 2, "KEY_ID:BASE64"),
            (format!("k1:{K1}\nk 2:{K1}\n"), 2, "key id"),
            (format!("k1:{secretish}!\n"), 1, "base64"),
            (format!("k1:{secretish}\n"), 1, "32 bytes"),
            (format!("k1:{K1}\n#\nk1:{K1}\n"), 3, "already used"),
        ];
        for (text, line, words) in cases {
            let err = parse(&text, "keys").unwrap_err();
            let shown = err.to_string();
            assert!(shown.contains(&format!("line {line}")), "{shown}");
            assert!(shown.contains(words), "{shown}");
            assert!(!shown.contains("c2VjcmV0"), "{shown}");
            assert!(!format!("{err:?}").contains("c2VjcmV0"), "{err:?}");
        }
        assert!(matches!(
            parse("\n# nothing\n", "keys"),
            Err(KeyFileError::Empty { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_is_noticed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        std::fs::write(&path, format!("k1:{K1}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(readable_by_others(&path), None);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(readable_by_others(&path), Some(0o644));
    }
}
