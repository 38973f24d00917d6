//! Standard Webhooks signatures (§7.2) and the constant-time compare every signature check uses.
//!
//! Outbound messages are signed here and native platform events verified here; the dialects'
//! own signature checks compare with `constant_time_eq`. Pure: the clock is passed in.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// How far a signed timestamp may be from our clock before the message is refused.
pub const TOLERANCE_SECONDS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the secret is not a whsec_ base64 key")]
    BadSecret,
    #[error("missing webhook-id, webhook-timestamp or webhook-signature header")]
    MissingHeader,
    #[error("webhook-timestamp is not a unix time in seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is more than 5 minutes from now")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

/// Decodes a `whsec_` secret into its key bytes. A secret without the prefix is taken as
/// base64 too, as other Standard Webhooks libraries do.
pub fn secret_key(secret: &str) -> Result<Vec<u8>, SignatureError> {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| SignatureError::BadSecret)
}

/// `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// Checks a signed message: the timestamp is within tolerance of `now` and one of the
/// space-separated signatures matches (compared in constant time).
pub fn verify(
    key: &[u8],
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now_unix: i64,
) -> Result<(), SignatureError> {
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    if (now_unix - ts).abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::Stale);
    }
    let expected = sign(key, id, ts, body);
    let expected = expected.as_bytes();
    let matched = signatures
        .split_whitespace()
        .any(|candidate| constant_time_eq(candidate.as_bytes(), expected));
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Equality whose running time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer_vector_from_the_contract() {
        let key = secret_key("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        assert_eq!(
            sign(&key, "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, body),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn verify_accepts_any_listed_signature_and_refuses_stale_ones() {
        let key = b"secret-key";
        let sig = sign(key, "e1", 1000, b"{}");
        let both = format!("v1,bm9wZQ== {sig}");
        assert_eq!(verify(key, "e1", "1000", &both, b"{}", 1100), Ok(()));
        assert_eq!(
            verify(key, "e1", "1000", &sig, b"{ }", 1100),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(key, "e1", "1000", &sig, b"{}", 1301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(key, "e1", "x", &sig, b"{}", 1000),
            Err(SignatureError::BadTimestamp)
        );
    }
}
