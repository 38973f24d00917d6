//! Documents confab renders for the outside world beyond the JSON of its resources: the typed
//! answer to a platform event (JSON and XML), the XML API's documents and `onStatus` events.

pub mod answer;
pub mod xml;

pub use answer::EventAnswer;
