//! The domain: typed ids, conferences with their calls and recordings, customers, and time —
//! values and the rules that move them between states. Pure: nothing here knows HTTP, SQL or
//! the clock's source.

pub mod conference;
pub mod customer;
pub mod deadline;
pub mod dialect;
pub mod ids;
pub(crate) mod names;
pub mod notification;
pub mod origin;
pub mod query;
pub mod recording;
pub mod room;
pub mod signature;
pub mod timestamp;
pub mod usage;

pub use ids::{ConferenceId, ConferencecallId, CustomerId, RecordingId};
