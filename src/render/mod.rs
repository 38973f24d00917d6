//! Documents confab renders for the outside world beyond the JSON of its resources: the typed
//! answer to a platform event (JSON and XML), the XML API's documents and `onStatus` events,
//! and the same answer in the platform dialects (TwiML, jambonz verbs).

pub mod answer;
pub mod jambonz;
pub mod steps;
pub mod twiml;
pub mod voices;
pub mod xml;

pub use answer::EventAnswer;
