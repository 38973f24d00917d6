//! What a list asks for and gets: filters, a keyset cursor, and a page of items.

use super::conference::{CallStatus, ConferenceStatus, ConferenceType};
use super::ConferenceId;
use uuid::Uuid;

/// Position after the last item of a page: items are ordered by `(tm_create, id)` descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub tm_create: i64,
    pub id: Uuid,
}

/// One page of a list: its items, where the next page starts (`None` on the last one), and
/// the items' estimated JSON length (see `pages`).
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
    pub bytes: usize,
}

#[derive(Debug, Clone, Default)]
pub struct ConferenceFilter {
    pub status: Option<ConferenceStatus>,
    pub kind: Option<ConferenceType>,
    pub include_deleted: bool,
}

#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    pub conference_id: Option<ConferenceId>,
    pub status: Option<CallStatus>,
}
