//! Twilio and the platforms that speak TwiML (SignalWire cXML, Telnyx TeXML).

pub mod twiml;
