//! Documents confab renders for the outside world beyond the JSON of its resources: the typed
//! answer to a platform event (JSON and XML), the XML API's documents and `onStatus` events.
//! Each platform dialect writes the same answer in its own words (`crate::dialects`).

pub mod answer;
pub mod xml;

pub use answer::EventAnswer;
