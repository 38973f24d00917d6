//! What history is kept how long: one line per table the backends prune, and the bounded
//! delete each runs, so a long backlog goes in small transactions rather than one that holds
//! the writer.

/// Which retention a table's rows follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// The idempotency window (7 days): what only a replay within it reads.
    Events,
    /// The delivery log's retention (30 days).
    Messages,
}

/// One table's pruning: rows whose `time` column is before the cutoff and that match `filter`
/// go, by their `key`.
pub struct Pruned {
    pub table: &'static str,
    pub key: &'static str,
    pub filter: &'static str,
    pub time: &'static str,
    pub kept: Kept,
}

/// Every table with history to prune.
pub const PRUNED: &[Pruned] = &[
    // Answered platform events: a replay after the window is a new event.
    Pruned {
        table: "platform_events",
        key: "seq",
        filter: "TRUE",
        time: "tm_create",
        kept: Kept::Events,
    },
    // Delivered and failed messages, in the delivery log for a month.
    Pruned {
        table: "outbox",
        key: "seq",
        filter: "status IN ('delivered', 'failed')",
        time: "tm_update",
        kept: Kept::Messages,
    },
    // What a platform fetched to say: fetched seconds after it was made, kept for the
    // command's retries and then some.
    Pruned {
        table: "announcements",
        key: "id",
        filter: "TRUE",
        time: "tm_create",
        kept: Kept::Events,
    },
    // Finished pauses: kept past the window of the digits events that ended them, so a pause
    // number is never given out again while a report of the old one could be replayed.
    Pruned {
        table: "call_pauses",
        key: "conferencecall_id",
        filter: "active = 0",
        time: "tm_update",
        kept: Kept::Messages,
    },
    // A dial's ringing call id (minutes) and a call's newest platform report.
    Pruned {
        table: "platform_calls",
        key: "conferencecall_id",
        filter: "TRUE",
        time: "tm_update",
        kept: Kept::Messages,
    },
];

/// Rows one transaction deletes from one table at most.
pub const PRUNE_BATCH: i64 = 100;

impl Pruned {
    /// The bounded delete, with the backend's placeholders for the cutoff and the limit.
    pub fn delete(&self, cutoff: &str, limit: &str) -> String {
        let Pruned {
            table,
            key,
            filter,
            time,
            ..
        } = self;
        format!(
            "DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} \
             WHERE {filter} AND {time} < {cutoff} LIMIT {limit})"
        )
    }
}
