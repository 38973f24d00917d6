//! Documents confab renders for the outside world beyond plain JSON: XML answers to platforms,
//! the XML API's documents and `onStatus` events.

pub mod xml;
