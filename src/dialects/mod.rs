//! Platform dialects: everything confab knows of each platform it speaks with, one folder per platform, behind the `Platform` trait.
//!
//! A platform's folder holds how its requests are signed and read, how an answer is written
//! in its words, the connection a customer stores for it (checks and masking), and the
//! requests confab sends it (kicks, recordings) as outbox messages, with the credentials they
//! carry at each attempt. The rest of confab reaches a platform only through `platform`.
//!
//! Layering: below the engine, beside `outbox` and `render`. Nothing here knows the engine,
//! HTTP (actix) or SQL; a platform reads and writes values, the callers do the I/O.

pub mod answer;
pub mod inbound;
pub mod jambonz;
pub mod native;
pub mod outbound;
pub mod settings;
pub mod twilio;
pub mod voices;

#[cfg(test)]
mod replays;

pub use answer::{Answer, AnswerContext, Callbacks};
pub use inbound::{BadInput, Hook, Inbound, Keys, Reading, Refused, Webhooks};
pub use outbound::{Command, Outbound, Outgoing, Recorder, Unsent};

pub(crate) use answer::whole_seconds;

use crate::domain::dialect::{Connections, Dialect};
use crate::render::EventAnswer;
use crate::store::StoredMessage;

/// One platform: what confab needs of it, in and out.
pub trait Platform: Send + Sync {
    /// The dialect its calls are stored with.
    fn dialect(&self) -> Dialect;

    /// Its webhooks, for a platform that posts to per-customer URLs; `None` for one whose
    /// events come to `/v1.0/platform/events` (native), which the JSON API reads.
    fn webhooks(&self) -> Option<Webhooks>;

    /// Checks that a request comes from the customer's account on the platform (or, native,
    /// from the platform itself).
    fn verify(&self, request: &Inbound<'_>, keys: &Keys<'_>) -> Result<(), Refused>;

    /// Reads a verified request to one of its hooks; a bad field is named.
    fn read(&self, hook: Hook, request: &Inbound<'_>) -> Result<Reading, BadInput>;

    /// An event's answer in the platform's words.
    fn render(&self, answer: &EventAnswer, context: &AnswerContext<'_>) -> Answer;

    /// The answer to a call confab will not take (closed, full, unknown, busy): hang up.
    fn hang_up(&self) -> Answer;

    /// The answer to a request whose answer is not played (a status callback).
    fn acknowledge(&self) -> Answer;

    /// What a caller waiting for a moderator hears (`Hook::Wait`), for a platform that asks
    /// confab for it: the room's music, or nothing.
    fn wait(&self, _music_url: &str) -> Answer {
        self.acknowledge()
    }

    /// The account customers connect on it (`PUT /v1.0/customer`), if it takes one.
    fn connection(&self) -> Option<&'static dyn settings::ConnectionKind> {
        None
    }

    /// How it records a conference.
    fn recorder(&self) -> Recorder;

    /// Whether it can say or play something to one call in a conference at all.
    fn plays_to_calls(&self) -> bool {
        true
    }

    /// Whether it says something to a whole room with one request (`Command::RoomPlay`);
    /// otherwise each of its joined calls is told (`Command::Play`).
    fn plays_to_rooms(&self) -> bool {
        true
    }

    /// Whether it fetches what to say from a URL confab serves (`…/announce?id=`), so the
    /// actions must be kept under the announcement's id.
    fn fetches_announcements(&self) -> bool {
        false
    }

    /// Whether it knows a dial-out by the conferencecall confab dialled it for, so a ringing
    /// dial can be cancelled before it has reported its own call id (native); otherwise the
    /// cancel waits for the dial's report of ringing, which carries that id.
    fn knows_dials(&self) -> bool {
        false
    }

    /// A command as the request that carries it, or why it cannot be sent.
    fn command(&self, command: Command<'_>, out: &Outgoing<'_>) -> Result<Outbound, Unsent>;

    /// The `Authorization` of one of its REST requests, from the customer's connection as it
    /// is at the attempt; an error fails the message for good.
    fn authorization(
        &self,
        message: &StoredMessage,
        connections: &Connections,
    ) -> Result<String, String>;

    /// Whether a failed answer to one of its REST requests says the call (or its recording)
    /// is already gone, so the command has nothing left to do.
    fn gone(&self, status: u16, answer: &[u8]) -> bool;
}

/// The registry: the platform of each dialect, one line per platform.
pub fn platform(dialect: Dialect) -> &'static dyn Platform {
    match dialect {
        Dialect::Native => &native::Native,
        Dialect::Twilio => &twilio::Twilio,
        Dialect::Jambonz => &jambonz::Jambonz,
    }
}

/// The platform that records whole conferences (`Recorder::Conference`): it records a
/// conference none of whose calls came by a platform that records otherwise.
pub fn conference_recorder() -> Option<&'static dyn Platform> {
    all().find(|p| p.recorder() == Recorder::Conference)
}

/// Every platform, in the registry's order.
pub fn all() -> impl Iterator<Item = &'static dyn Platform> {
    Dialect::ALL.iter().map(|d| platform(*d))
}

/// The platform whose webhooks are under `segment` (also the name a simulation renders for).
pub fn by_segment(segment: &str) -> Option<&'static dyn Platform> {
    all().find(|p| p.webhooks().is_some_and(|w| w.segment == segment))
}

/// The platform a REST request in the outbox is for, by its event type's prefix.
pub fn of_message(message: &StoredMessage) -> Option<&'static dyn Platform> {
    let (prefix, _) = message.event_type.split_once('.')?;
    Dialect::parse(prefix).map(platform)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_has_each_dialect_once_with_distinct_names() {
        for d in Dialect::ALL {
            assert_eq!(platform(*d).dialect(), *d);
        }
        let segments: Vec<&str> = all()
            .filter_map(|p| p.webhooks().map(|w| w.segment))
            .collect();
        let mut unique = segments.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(segments.len(), unique.len(), "{segments:?}");
        for s in &segments {
            assert!(by_segment(s).is_some());
            assert_ne!(
                *s, "native",
                "a segment must not shadow the native renderings"
            );
            assert_ne!(*s, "xml");
        }
    }
}
