//! What every integration test shares: one server builder, one event poster, one mock
//! receiver, one XML reader, one independent Standard Webhooks signer, bounded waits, and an
//! outbox driver (`TestServer::drain_outbox`: deliver what is due, return once nothing is).

pub mod clock;
pub mod database;
pub mod dialects;
pub mod events;
pub mod process;
pub mod proxy;
pub mod receiver;
pub mod server;
pub mod signature;
pub mod tools;
pub mod wait;
pub mod xml;

pub use database::{on_postgres, TestDb};
pub use events::Signing;
pub use receiver::{Arrival, Receiver, Reply};
pub use server::{allow_private, signed, Customer, TestServer, ADMIN_TOKEN};
pub use signature::PLATFORM_SECRET;
pub use wait::poll_until;
pub use xml::{field, XmlDoc};

use serde_json::{json, Value};

/// The seed's example body (the welcome and goodbye talk actions).
pub fn seed_conference_body() -> Value {
    json!({
        "type": "conference",
        "name": "test conference",
        "detail": "test conference for example.",
        "data": {},
        "timeout": 0,
        "pre_actions": [{
            "id": "00000000-0000-0000-0000-000000000000",
            "next_id": "00000000-0000-0000-0000-000000000000",
            "type": "talk",
            "option": {"text": "Hello. Welcome to the test conference.", "gender": "female", "language": "en-US"}
        }],
        "post_actions": [{
            "id": "00000000-0000-0000-0000-000000000000",
            "next_id": "00000000-0000-0000-0000-000000000000",
            "type": "talk",
            "option": {"text": "The conference has closed. Thank you. Good bye.", "gender": "female", "language": "en-US"}
        }]
    })
}
