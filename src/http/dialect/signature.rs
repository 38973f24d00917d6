//! The platforms' webhook signatures: Twilio's `X-Twilio-Signature` (HMAC-SHA1 over the URL
//! and the sorted POST parameters, as twilio-python's `RequestValidator` computes it) and
//! jambonz's `Jambonz-Signature` (`t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`).

use crate::domain::signature::constant_time_eq as constant_eq;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

/// Twilio's signature of a request: base64(HMAC-SHA1(auth token, URL + each parameter's name
/// and value, sorted by name, then by value for a repeated name)).
pub fn twilio(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut mac = match Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()) {
        Ok(m) => m,
        // HMAC takes keys of any length; this cannot happen.
        Err(_) => return String::new(),
    };
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `signature` signs the request. As Twilio's own validators do, the URL is tried
/// both without its port and with the scheme's port made explicit, since Twilio may sign
/// either form of the URL it was given.
pub fn twilio_valid(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    signature: &str,
) -> bool {
    url_forms(url).iter().any(|u| {
        constant_eq(
            twilio(auth_token, u, params).as_bytes(),
            signature.as_bytes(),
        )
    })
}

fn url_forms(url: &str) -> Vec<String> {
    let Ok(parsed) = url::Url::parse(url) else {
        return vec![url.to_string()];
    };
    let mut without = parsed.clone();
    let _ = without.set_port(None);
    let mut forms = vec![url.to_string(), without.to_string()];
    if let Some(port) = parsed.port_or_known_default() {
        // `url` drops a scheme's default port when set, so write it into the text instead.
        let host = parsed.host_str().unwrap_or("");
        let mut with = without.to_string();
        let authority = format!("{}://{host}", parsed.scheme());
        if let Some(rest) = with.strip_prefix(&authority) {
            with = format!("{authority}:{port}{rest}");
        }
        forms.push(with);
    }
    forms
}

/// Why a jambonz signature was refused.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum JambonzError {
    #[error("the Jambonz-Signature header is missing or malformed")]
    Malformed,
    #[error("the signature's timestamp is more than {0} s from now")]
    Stale(i64),
    #[error("no signature matches")]
    Mismatch,
}

/// How far a jambonz signature's timestamp may be from now.
pub const JAMBONZ_TOLERANCE_SECONDS: i64 = 300;

/// Checks `t=<unix>,v1=<hex>[,v1=<hex>…]` against HMAC-SHA256(secret, "<t>." + body).
pub fn jambonz_verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now: i64,
) -> Result<(), JambonzError> {
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
        return Err(JambonzError::Malformed);
    };
    if now.abs_diff(t) > JAMBONZ_TOLERANCE_SECONDS.unsigned_abs() {
        return Err(JambonzError::Stale(JAMBONZ_TOLERANCE_SECONDS));
    }
    let expected = jambonz_sign(secret, t, body);
    if signatures
        .iter()
        .any(|s| constant_eq(s.as_bytes(), expected.as_bytes()))
    {
        Ok(())
    } else {
        Err(JambonzError::Mismatch)
    }
}

/// The hex HMAC-SHA256 jambonz puts in `v1`.
pub fn jambonz_sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
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

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn jambonz_signatures_check_time_and_body() {
        let body = br#"{"call_sid":"c1"}"#;
        let sig = jambonz_sign("secret", 1000, body);
        let header = format!("t=1000,v1={sig}");
        assert_eq!(jambonz_verify("secret", &header, body, 1100), Ok(()));
        assert_eq!(
            jambonz_verify("other", &header, body, 1100),
            Err(JambonzError::Mismatch)
        );
        assert_eq!(
            jambonz_verify("secret", &header, body, 1400),
            Err(JambonzError::Stale(300))
        );
        assert_eq!(
            jambonz_verify("secret", "v1=abc", body, 1000),
            Err(JambonzError::Malformed)
        );
    }

    #[test]
    fn twilio_urls_are_tried_with_and_without_the_port() {
        let p = params(&[("B", "2"), ("A", "1")]);
        let sig = twilio("tok", "https://example.com/x?y=1", &p);
        assert!(twilio_valid(
            "tok",
            "https://example.com:443/x?y=1",
            &p,
            &sig
        ));
        assert!(twilio_valid("tok", "https://example.com/x?y=1", &p, &sig));
        assert!(!twilio_valid("tok", "https://example.com/x?y=2", &p, &sig));
        let with_port = twilio("tok", "https://example.com:443/x", &p);
        assert!(twilio_valid("tok", "https://example.com/x", &p, &with_port));
    }
}

/// Twilio's own vectors, from twilio-python's `tests/unit/test_request_validator.py`.
#[cfg(test)]
mod twilio_vectors {
    use super::*;

    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn the_published_signatures_compute_and_validate() {
        assert_eq!(
            twilio(TOKEN, URL, &params()),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        assert!(twilio_valid(
            TOKEN,
            URL,
            &params(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        // Signed with the explicit default port, validated without it (and back).
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        assert_eq!(
            twilio(TOKEN, with_port, &params()),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        );
        assert!(twilio_valid(
            TOKEN,
            URL,
            &params(),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        ));
        assert!(twilio_valid(
            TOKEN,
            with_port,
            &params(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        let http = "http://mycompany.com/myapp.php?foo=1&bar=2";
        assert!(twilio_valid(
            TOKEN,
            http,
            &params(),
            "0ZXoZLH/DfblKGATFgpif+LLRf4="
        ));
        let odd_port = "http://mycompany.com:1234/myapp.php?foo=1&bar=2";
        assert_eq!(
            twilio(TOKEN, odd_port, &params()),
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="
        );
        // A non-default port is dropped by Twilio's validator too.
        let https_odd = "https://mycompany.com:1234/myapp.php?foo=1&bar=2";
        assert!(twilio_valid(
            TOKEN,
            https_odd,
            &params(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        assert!(!twilio_valid(
            TOKEN,
            URL,
            &params(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8x"
        ));
    }

    #[test]
    fn repeated_parameters_sign_each_value_once_in_order() {
        let p: Vec<(String, String)> = [
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(twilio(TOKEN, URL, &p), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    }
}
