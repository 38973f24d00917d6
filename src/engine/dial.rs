//! Dial-out at a customer's request (§15): confab calls someone into a conference. The input
//! is checked here; the rules (`rules/dial.rs`) decide under the conference's lock.

use super::{invalid, Engine, EngineError};
use crate::domain::conference::Conferencecall;
use crate::domain::dialect::Dialect;
use crate::domain::{ConferenceId, CustomerId};

use super::rules::Dial;

/// Longest `sip:` URI a dial takes.
const MAX_SIP_CHARS: usize = 256;
/// The seconds a dial may ring: at least 5, at most 120, 30 unless said.
pub const DIAL_TIMEOUT_RANGE: std::ops::RangeInclusive<i64> = 5..=120;
pub const DEFAULT_DIAL_TIMEOUT: i64 = 30;

/// A dial as the customer wrote it, before it is checked.
#[derive(Debug, Clone, Default)]
pub struct DialRequest {
    pub destination: Option<String>,
    pub from: Option<String>,
    pub dialect: Option<String>,
    pub timeout: Option<i64>,
}

impl Engine {
    /// Dials `request.destination` into one of a customer's conferences: the new
    /// conferencecall, `dialing`. Every problem with the input names its field.
    pub async fn dial(
        &self,
        customer: CustomerId,
        conference: ConferenceId,
        request: DialRequest,
    ) -> Result<Conferencecall, EngineError> {
        let dial = check(request)?;
        self.transact(move |rules| {
            let conf = rules.locked_conference(customer, conference)?;
            rules.dial(&conf, &dial)
        })
        .await
    }
}

/// The dial's fields checked, with their defaults.
fn check(request: DialRequest) -> Result<Dial, EngineError> {
    let destination = address("destination", request.destination)?;
    let from = address("from", request.from)?;
    let dialect = match request.dialect.as_deref() {
        None => Dialect::Native,
        Some(name) => Dialect::parse(name)
            .ok_or_else(|| invalid("dialect", "must be native, twilio or jambonz"))?,
    };
    let timeout = request.timeout.unwrap_or(DEFAULT_DIAL_TIMEOUT);
    if !DIAL_TIMEOUT_RANGE.contains(&timeout) {
        return Err(invalid("timeout", "must be 5 to 120 seconds"));
    }
    Ok(Dial {
        destination,
        from,
        dialect,
        timeout,
    })
}

/// A number or address to dial or dial from: E.164 (`+` and 2 to 15 digits, the first not
/// 0) or a `sip:` URI of at most 256 characters without spaces or control characters.
fn address(field: &str, value: Option<String>) -> Result<String, EngineError> {
    let value = value.ok_or_else(|| invalid(field, "is required"))?;
    if is_e164(&value) || is_sip_uri(&value) {
        return Ok(value);
    }
    Err(invalid(
        field,
        format!(
            "must be an E.164 number (+ and 2 to 15 digits) or a sip: URI of at most \
             {MAX_SIP_CHARS} characters"
        ),
    ))
}

/// `^\+[1-9][0-9]{1,14}$`.
pub fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// `sip:` and something after it that has no whitespace or control characters.
pub fn is_sip_uri(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("sip:") else {
        return false;
    };
    !rest.is_empty()
        && s.chars().count() <= MAX_SIP_CHARS
        && !rest.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_e164_numbers_or_sip_uris() {
        for good in [
            "+12025550123",
            "+44",
            "sip:alice@example.com",
            "sip:+1555@pbx",
        ] {
            assert!(is_e164(good) || is_sip_uri(good), "{good}");
        }
        for bad in [
            "",
            "+",
            "+0123",
            "12025550123",
            "+1202555012345678",
            "+1 202",
            "sip:",
            "sip:a b",
            "tel:+1555",
            "SIP:x",
            "+1555\u{0}",
        ] {
            assert!(!is_e164(bad) && !is_sip_uri(bad), "{bad:?}");
        }
        assert!(!is_sip_uri(&format!("sip:{}", "a".repeat(253))));
        assert!(is_sip_uri(&format!("sip:{}", "a".repeat(252))));
    }

    #[test]
    fn a_dial_names_the_field_it_refuses() {
        let good = DialRequest {
            destination: Some("+12025550123".into()),
            from: Some("+12025550100".into()),
            ..Default::default()
        };
        let dial = check(good.clone()).unwrap();
        assert_eq!((dial.dialect, dial.timeout), (Dialect::Native, 30));
        let field = |r: DialRequest| match check(r) {
            Err(EngineError::InvalidArgument { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let bad = DialRequest {
            destination: Some("12025550123".into()),
            ..good.clone()
        };
        assert_eq!(field(bad), "destination");
        let bad = DialRequest {
            from: None,
            ..good.clone()
        };
        assert_eq!(field(bad), "from");
        let bad = DialRequest {
            dialect: Some("asterisk".into()),
            ..good.clone()
        };
        assert_eq!(field(bad), "dialect");
        for t in [4, 121] {
            let bad = DialRequest {
                timeout: Some(t),
                ..good.clone()
            };
            assert_eq!(field(bad), "timeout");
        }
    }
}
