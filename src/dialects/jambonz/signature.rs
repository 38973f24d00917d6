//! jambonz's webhook signature, `Jambonz-Signature`: `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.

use crate::domain::signature::constant_time_eq as constant_eq;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Why a jambonz signature was refused.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Jambonz-Signature header is missing or malformed")]
    Malformed,
    #[error("the signature's timestamp is more than {0} s from now")]
    Stale(i64),
    #[error("no signature matches")]
    Mismatch,
}

/// How far a jambonz signature's timestamp may be from now.
pub const TOLERANCE_SECONDS: i64 = 300;

/// Checks `t=<unix>,v1=<hex>[,v1=<hex>…]` against HMAC-SHA256(secret, "<t>." + body).
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", s)) => signatures.push(s),
            _ => {}
        }
    }
    let (Some(t), false) = (timestamp, signatures.is_empty()) else {
        return Err(SignatureError::Malformed);
    };
    if now.abs_diff(t) > TOLERANCE_SECONDS.unsigned_abs() {
        return Err(SignatureError::Stale(TOLERANCE_SECONDS));
    }
    let expected = sign(secret, t, body);
    if signatures
        .iter()
        .any(|s| constant_eq(s.as_bytes(), expected.as_bytes()))
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The hex HMAC-SHA256 jambonz puts in `v1`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jambonz_signatures_check_time_and_body() {
        let body = br#"{"call_sid":"c1"}"#;
        let sig = sign("secret", 1000, body);
        let header = format!("t=1000,v1={sig}");
        assert_eq!(verify("secret", &header, body, 1100), Ok(()));
        assert_eq!(
            verify("other", &header, body, 1100),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("secret", &header, body, 1400),
            Err(SignatureError::Stale(300))
        );
        assert_eq!(
            verify("secret", "v1=abc", body, 1000),
            Err(SignatureError::Malformed)
        );
    }
}
