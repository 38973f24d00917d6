//! Standard Webhooks signing and checking, written independently of confab's `signature`
//! module so that confab's verifier and signer are tested against a second implementation.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::Mac;

/// The platform secret test servers are configured with (`support::server::signed`).
pub const PLATFORM_SECRET: &str = "whsec_dGVzdC1wbGF0Zm9ybS1zZWNyZXQtMDEyMzQ1Njc4OQ==";

/// A secret confab does not know: its signatures must be refused ("some-other-key").
pub const WRONG_SECRET: &str = "whsec_c29tZS1vdGhlci1rZXk=";

/// The `webhook-signature` value for a message: `v1,` and the base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` keyed with the base64-decoded part of the secret after `whsec_`.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "v1,{}",
        STANDARD.encode(mac(secret, id, &timestamp.to_string(), body))
    )
}

/// True when one of the space-separated signatures in `header` is the one `secret` makes.
/// During a secret rotation confab sends two; either may match.
pub fn verify(secret: &str, id: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    let expected = format!("v1,{}", STANDARD.encode(mac(secret, id, timestamp, body)));
    header.split(' ').any(|s| s == expected)
}

fn mac(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .expect("test secrets are base64");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// Seconds since the Unix epoch by the system clock, as the platform would sign.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}
