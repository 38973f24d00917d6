//! The stored form of a sealed secret and the AEAD (ChaCha20-Poly1305) that seals and opens it.
//!
//! A sealed value is stored as text: `enc:v1:<key_id>:<base64url(nonce || ciphertext+tag)>`,
//! with a fresh random 12-byte nonce per value. The associated data binds the value to its
//! key id, table, row and field, so a value copied to another row or field does not open.

use super::keyfile::Key;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};

/// What every sealed value starts with; a stored secret without it is in clear (written
/// before a key file was set).
pub const PREFIX: &str = "enc:v1:";

const NONCE_BYTES: usize = 12;

/// Where a secret is stored: what its associated data binds it to.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub table: &'a str,
    pub row: &'a str,
    pub field: &'a str,
}

impl Binding<'_> {
    fn associated_data(&self, key_id: &str) -> Vec<u8> {
        format!(
            "confab:v1\0{key_id}\0{}\0{}\0{}",
            self.table, self.row, self.field
        )
        .into_bytes()
    }
}

/// Why a stored secret cannot be opened or sealed. No variant carries a secret or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("it is sealed under key {key_id:?}, which the secrets key file does not hold")]
    MissingKey { key_id: String },
    #[error("it is sealed under key {key_id:?}, but no secrets key file is set")]
    NoKeyFile { key_id: String },
    #[error(
        "it does not decrypt: it was altered, or copied from another row or field \
         (its key is known)"
    )]
    Unreadable,
    #[error("it is not a well-formed sealed value")]
    Malformed,
    #[error("it cannot be sealed: {0}")]
    Seal(&'static str),
}

/// Whether a stored value is sealed (as opposed to in clear).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

/// The key id a sealed value names, or `None` for a value in clear.
pub fn key_id_of(stored: &str) -> Option<Result<&str, SecretError>> {
    let rest = stored.strip_prefix(PREFIX)?;
    Some(match rest.split_once(':') {
        Some((id, _)) if super::keyfile::valid_key_id(id) => Ok(id),
        _ => Err(SecretError::Malformed),
    })
}

/// Seals `plain` under `key` for the place `at`.
pub fn seal(key: &Key, plain: &str, at: Binding<'_>) -> Result<String, SecretError> {
    let cipher = ChaCha20Poly1305::new((&key.bytes).into());
    let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
    let aad = at.associated_data(&key.id);
    let sealed = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plain.as_bytes(),
                aad: &aad,
            },
        )
        .map_err(|_| SecretError::Seal("the cipher refused the value"))?;
    let mut data = Vec::with_capacity(NONCE_BYTES + sealed.len());
    data.extend_from_slice(&nonce);
    data.extend_from_slice(&sealed);
    Ok(format!(
        "{PREFIX}{}:{}",
        key.id,
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
    ))
}

/// Opens a sealed value with `key` (whose id it names) for the place `at`.
pub fn open(key: &Key, stored: &str, at: Binding<'_>) -> Result<String, SecretError> {
    let rest = stored.strip_prefix(PREFIX).ok_or(SecretError::Malformed)?;
    let (id, encoded) = rest.split_once(':').ok_or(SecretError::Malformed)?;
    if id != key.id {
        return Err(SecretError::MissingKey {
            key_id: id.to_string(),
        });
    }
    let data = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| SecretError::Malformed)?;
    if data.len() < NONCE_BYTES {
        return Err(SecretError::Malformed);
    }
    let (nonce, sealed) = data.split_at(NONCE_BYTES);
    let cipher = ChaCha20Poly1305::new((&key.bytes).into());
    let aad = at.associated_data(id);
    let plain = cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: &aad,
            },
        )
        .map_err(|_| SecretError::Unreadable)?;
    String::from_utf8(plain).map_err(|_| SecretError::Unreadable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, fill: u8) -> Key {
        Key {
            id: id.into(),
            bytes: [fill; 32],
        }
    }

    const AT: Binding<'static> = Binding {
        table: "customers",
        row: "c1",
        field: "webhook_secret",
    };

    #[test]
    fn a_value_round_trips_with_a_fresh_nonce_and_names_its_key() {
        let k = key("k1", 7);
        let a = seal(&k, "whsec_abc", AT).unwrap();
        let b = seal(&k, "whsec_abc", AT).unwrap();
        assert!(a.starts_with("enc:v1:k1:"), "{a}");
        assert_ne!(a, b, "each value has its own nonce");
        assert!(!a.contains("whsec_abc"));
        assert_eq!(open(&k, &a, AT).unwrap(), "whsec_abc");
        assert_eq!(key_id_of(&a), Some(Ok("k1")));
        assert_eq!(key_id_of("whsec_abc"), None);
        assert_eq!(
            key_id_of("enc:v1:no colon"),
            Some(Err(SecretError::Malformed))
        );
    }

    #[test]
    fn another_row_or_field_does_not_open() {
        let k = key("k1", 7);
        let sealed = seal(&k, "token", AT).unwrap();
        let other_row = Binding { row: "c2", ..AT };
        let other_field = Binding {
            field: "connections",
            ..AT
        };
        assert_eq!(open(&k, &sealed, other_row), Err(SecretError::Unreadable));
        assert_eq!(open(&k, &sealed, other_field), Err(SecretError::Unreadable));
    }

    #[test]
    fn a_wrong_key_or_key_id_does_not_open() {
        let sealed = seal(&key("k1", 7), "token", AT).unwrap();
        // Same id, other bytes: the tag does not verify.
        assert_eq!(
            open(&key("k1", 8), &sealed, AT),
            Err(SecretError::Unreadable)
        );
        // The value names k1; k2 is not the key it needs.
        assert_eq!(
            open(&key("k2", 7), &sealed, AT),
            Err(SecretError::MissingKey {
                key_id: "k1".into()
            })
        );
        // Relabelled as k2 (same bytes): the key id is bound too.
        let relabelled = sealed.replacen("enc:v1:k1:", "enc:v1:k2:", 1);
        assert_eq!(
            open(&key("k2", 7), &relabelled, AT),
            Err(SecretError::Unreadable)
        );
    }

    #[test]
    fn a_tampered_value_does_not_open() {
        let k = key("k1", 7);
        let sealed = seal(&k, "token", AT).unwrap();
        let (head, data) = sealed.rsplit_once(':').unwrap();
        let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(data)
            .unwrap();
        for i in [0, NONCE_BYTES, bytes.len() - 1] {
            bytes[i] ^= 1;
            let flipped = format!(
                "{head}:{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes)
            );
            assert_eq!(
                open(&k, &flipped, AT),
                Err(SecretError::Unreadable),
                "byte {i}"
            );
            bytes[i] ^= 1;
        }
        assert_eq!(open(&k, "enc:v1:k1:!!", AT), Err(SecretError::Malformed));
        assert_eq!(open(&k, "enc:v1:k1:AAAA", AT), Err(SecretError::Malformed));
    }
}
