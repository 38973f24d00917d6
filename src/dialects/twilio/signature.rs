//! Twilio's webhook signature, `X-Twilio-Signature`: HMAC-SHA1 over the URL and the sorted POST parameters, as twilio-python's `RequestValidator` computes it.

use crate::domain::signature::constant_time_eq as constant_eq;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Twilio's signature of a request: base64(HMAC-SHA1(auth token, URL + each parameter's name
/// and value, sorted by name, then by value for a repeated name)).
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
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
pub fn valid(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    url_forms(url)
        .iter()
        .any(|u| constant_eq(sign(auth_token, u, params).as_bytes(), signature.as_bytes()))
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
    fn twilio_urls_are_tried_with_and_without_the_port() {
        let p = params(&[("B", "2"), ("A", "1")]);
        let sig = sign("tok", "https://example.com/x?y=1", &p);
        assert!(valid("tok", "https://example.com:443/x?y=1", &p, &sig));
        assert!(valid("tok", "https://example.com/x?y=1", &p, &sig));
        assert!(!valid("tok", "https://example.com/x?y=2", &p, &sig));
        let with_port = sign("tok", "https://example.com:443/x", &p);
        assert!(valid("tok", "https://example.com/x", &p, &with_port));
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
        assert_eq!(sign(TOKEN, URL, &params()), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        assert!(valid(TOKEN, URL, &params(), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        // Signed with the explicit default port, validated without it (and back).
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        assert_eq!(
            sign(TOKEN, with_port, &params()),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        );
        assert!(valid(TOKEN, URL, &params(), "kvajT1Ptam85bY51eRf/AJRuM3w="));
        assert!(valid(
            TOKEN,
            with_port,
            &params(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        let http = "http://mycompany.com/myapp.php?foo=1&bar=2";
        assert!(valid(
            TOKEN,
            http,
            &params(),
            "0ZXoZLH/DfblKGATFgpif+LLRf4="
        ));
        let odd_port = "http://mycompany.com:1234/myapp.php?foo=1&bar=2";
        assert_eq!(
            sign(TOKEN, odd_port, &params()),
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="
        );
        // A non-default port is dropped by Twilio's validator too.
        let https_odd = "https://mycompany.com:1234/myapp.php?foo=1&bar=2";
        assert!(valid(
            TOKEN,
            https_odd,
            &params(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        assert!(!valid(
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
        assert_eq!(sign(TOKEN, URL, &p), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    }
}
