//! List pages. A page ends at whichever comes first: `limit` items, `max_bytes` of the items'
//! rendered size as estimated by the caller's or the domain's `json_len` (the first item is
//! always taken, however large, so a page that finds an item makes progress), or `SCAN_BOUND`
//! rows examined past its cursor. Each list seeks the one index that serves its filter (or
//! the most selective of its filters) in keyset order, and the filters that index leaves over
//! are checked on the walk (`walk.rs`), which counts what it examines: a page of filters that
//! match nothing in a long history stops at the bound, possibly with no item, and its token
//! points after the last row examined so the client continues from there. Whole rows are
//! loaded only for the items taken. The estimates come from the stored text lengths, which
//! are exact for the JSON confab serves verbatim, so nothing is rendered twice.

mod walk;

use super::rows::*;
use super::SqliteTx;
use crate::store::tx::{CallStore, ConferenceStore, DeliveryFilter, ListStore, RecordingStore};
use walk::{Limits, Rest, Walk};

/// The most rows a page examines beyond its cursor. A thousand index entries (with the
/// table rows of those a filter needs) take about a millisecond, so no page holds a reader
/// for long, while a list whose filter an index serves whole still fills a 100-item page.
const SCAN_BOUND: usize = 1000;

#[cfg(test)]
thread_local! {
    /// The bound of this thread's pages, made small by the tests of bounded pages.
    static BOUND: std::cell::Cell<usize> = const { std::cell::Cell::new(SCAN_BOUND) };
}

fn scan_bound() -> usize {
    #[cfg(test)]
    return BOUND.with(|b| b.get());
    #[cfg(not(test))]
    SCAN_BOUND
}

fn limits(items: usize, bytes: usize) -> Limits {
    Limits {
        items,
        bytes,
        rows: scan_bound(),
    }
}

/// Which way a keyset list runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    NewestFirst,
    OldestFirst,
}

/// The key a list runs over and its cursor: `(tm_create, id)`, or the outbox's `seq`.
trait Keyset: Copy {
    /// The key's columns, as selected and ordered.
    const COLUMNS: &'static str;
    /// Placeholders for the key's values.
    const PLACES: &'static str;
    /// How many columns the key has (the walk's filter columns follow them).
    const WIDTH: usize;
    fn read(row: &Row) -> Result<Self, StoreError>;
    fn args(self) -> Vec<SqlValue>;
}

impl Keyset for Cursor {
    const COLUMNS: &'static str = "tm_create, id";
    const PLACES: &'static str = "?, ?";
    const WIDTH: usize = 2;

    fn read(row: &Row) -> Result<Self, StoreError> {
        Ok(Cursor {
            tm_create: row.get(0)?,
            id: crate::store::columns::uuid_col(row, 1)?,
        })
    }

    fn args(self) -> Vec<SqlValue> {
        vec![
            SqlValue::Integer(self.tm_create),
            SqlValue::Text(self.id.to_string()),
        ]
    }
}

/// A position in the delivery log.
#[derive(Debug, Clone, Copy)]
struct Seq(i64);

impl Keyset for Seq {
    const COLUMNS: &'static str = "seq";
    const PLACES: &'static str = "?";
    const WIDTH: usize = 1;

    fn read(row: &Row) -> Result<Self, StoreError> {
        Ok(Seq(row.get(0)?))
    }

    fn args(self) -> Vec<SqlValue> {
        vec![SqlValue::Integer(self.0)]
    }
}

fn text(s: impl ToString) -> SqlValue {
    SqlValue::Text(s.to_string())
}

/// The walk of a conference list: the status index when a status is asked for (type and
/// deletion are then read from the index's trailing columns), else the type index, else the
/// index of conferences not deleted (the default) or of all of them.
fn conference_walk(customer: CustomerId, f: &ConferenceFilter) -> Walk {
    let (table, order) = ("conferences", Order::NewestFirst);
    let w = match (f.status, f.kind) {
        (Some(s), kind) => {
            let w = Walk::new(table, "conferences_by_customer_status", order)
                .seek("customer_id", text(customer))
                .seek("status", text(s.as_str()));
            match kind {
                Some(k) => w.check(Rest::Is("type", k.as_str().into())),
                None => w,
            }
        }
        (None, Some(k)) => Walk::new(table, "conferences_by_customer_type", order)
            .seek("customer_id", text(customer))
            .seek("type", text(k.as_str())),
        (None, None) if !f.include_deleted => {
            let mut w = Walk::new(table, "conferences_live_by_customer", order)
                .seek("customer_id", text(customer));
            w.and("tm_delete IS NULL");
            return w;
        }
        (None, None) => {
            Walk::new(table, "conferences_by_customer", order).seek("customer_id", text(customer))
        }
    };
    if f.include_deleted {
        w
    } else {
        w.check(Rest::Null("tm_delete"))
    }
}

/// The walk of a conferencecall list: by conference (its status checked on the walk) when
/// one is asked for, else by status, else all the customer's calls.
fn call_walk(customer: CustomerId, f: &CallFilter) -> Walk {
    let (table, order) = ("conferencecalls", Order::NewestFirst);
    match (f.conference_id, f.status) {
        (Some(c), status) => {
            let w = Walk::new(table, "conferencecalls_by_customer_conference", order)
                .seek("customer_id", text(customer))
                .seek("conference_id", text(c));
            match status {
                Some(s) => w.check(Rest::Is("status", s.as_str().into())),
                None => w,
            }
        }
        (None, Some(s)) => Walk::new(table, "conferencecalls_by_customer_status", order)
            .seek("customer_id", text(customer))
            .seek("status", text(s.as_str())),
        (None, None) => Walk::new(table, "conferencecalls_by_customer", order)
            .seek("customer_id", text(customer)),
    }
}

/// The walk of the delivery log: by conference (status checked on the walk), else by
/// status, else all the customer's messages (only notifications carry a customer; the kind
/// is checked all the same).
fn delivery_walk(customer: CustomerId, f: DeliveryFilter<'_>) -> Walk {
    let (table, order) = ("outbox", Order::NewestFirst);
    let customer = text(customer);
    let mut w = match (f.conference, f.status) {
        (Some(c), status) => {
            let w = Walk::new(table, "outbox_webhooks_by_customer_conference", order)
                .seek("customer_id", customer)
                .seek("ordering_key", text(c));
            match status {
                Some(s) => w.check(Rest::Is("status", s.as_str().into())),
                None => w,
            }
        }
        (None, Some(s)) => Walk::new(table, "outbox_webhooks_by_customer_status", order)
            .seek("customer_id", customer)
            .seek("status", text(s)),
        (None, None) => {
            return Walk::new(table, "outbox_by_customer", order)
                .seek("customer_id", customer)
                .check(Rest::Is("kind", "webhook".into()))
        }
    };
    w.and("kind = 'webhook'");
    w
}

impl ListStore for SqliteTx<'_> {
    /// A customer's conferences, newest first, with their derived lists.
    fn list_conferences(
        &self,
        customer: CustomerId,
        filter: &ConferenceFilter,
        cursor: Option<Cursor>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Page<ConferenceView>, StoreError> {
        let w = conference_walk(customer, filter);
        let page = self.walk(&w, cursor, limits(limit, max_bytes), |k: Cursor| {
            let Some(conf) = self.conference(None, ConferenceId(k.id))? else {
                return Ok(None);
            };
            let view = self.view(conf)?;
            let size = view.json_len();
            Ok(Some((view, size)))
        })?;
        Ok(page.into())
    }

    /// A customer's conferencecalls, newest first.
    fn list_calls(
        &self,
        customer: CustomerId,
        filter: &CallFilter,
        cursor: Option<Cursor>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Page<Conferencecall>, StoreError> {
        let w = call_walk(customer, filter);
        self.call_page(&w, cursor, limits(limit, max_bytes), &|c| c.json_len())
    }

    /// The calls of a conference that have not left, oldest first; `size` estimates each
    /// one's rendered length (the XML API renders them).
    fn participants_page(
        &self,
        conference_id: ConferenceId,
        cursor: Option<Cursor>,
        limit: usize,
        max_bytes: usize,
        size: &dyn Fn(&Conferencecall) -> usize,
    ) -> Result<Page<Conferencecall>, StoreError> {
        let mut w = Walk::new(
            "conferencecalls",
            "conferencecalls_active_by_conference",
            Order::OldestFirst,
        )
        .seek("conference_id", text(conference_id));
        w.and("status <> 'leaved'");
        self.call_page(&w, cursor, limits(limit, max_bytes), size)
    }

    /// A customer's recordings, newest first.
    fn list_recordings(
        &self,
        customer: CustomerId,
        conference_id: Option<ConferenceId>,
        cursor: Option<Cursor>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Page<Recording>, StoreError> {
        let w = match conference_id {
            Some(c) => Walk::new(
                "recordings",
                "recordings_by_customer_conference",
                Order::NewestFirst,
            )
            .seek("customer_id", text(customer))
            .seek("conference_id", text(c)),
            None => Walk::new("recordings", "recordings_by_customer", Order::NewestFirst)
                .seek("customer_id", text(customer)),
        };
        let page = self.walk(&w, cursor, limits(limit, max_bytes), |k: Cursor| {
            let rec = self.recording(None, RecordingId(k.id))?;
            Ok(rec.map(|r| {
                let size = r.json_len();
                (r, size)
            }))
        })?;
        Ok(page.into())
    }

    /// A customer's notifications (the delivery log), newest first, before the cursor
    /// `before_seq`; `size` estimates each one's rendered length. Returns the page and the seq
    /// to continue before, if more remain.
    fn delivery_page(
        &self,
        customer: CustomerId,
        filter: DeliveryFilter<'_>,
        before_seq: Option<i64>,
        limit: usize,
        max_bytes: usize,
        size: &dyn Fn(&StoredMessage) -> usize,
    ) -> Result<(Vec<StoredMessage>, Option<i64>), StoreError> {
        let w = delivery_walk(customer, filter);
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM outbox WHERE seq = ?"
        ))?;
        let page = self.walk(
            &w,
            before_seq.map(Seq),
            limits(limit, max_bytes),
            |k: Seq| {
                let m = stmt
                    .query_row([k.0], |row| Ok(message_from_row(row)))
                    .optional()?
                    .transpose()?;
                Ok(m.map(|m| {
                    let n = size(&m);
                    (m, n)
                }))
            },
        )?;
        Ok((page.items, page.next.map(|s| s.0)))
    }
}

impl SqliteTx<'_> {
    /// A page of calls walked by `w`, each loaded by its id.
    fn call_page(
        &self,
        w: &Walk,
        cursor: Option<Cursor>,
        limits: Limits,
        size: &dyn Fn(&Conferencecall) -> usize,
    ) -> Result<Page<Conferencecall>, StoreError> {
        let page = self.walk(w, cursor, limits, |k: Cursor| {
            let call = self.call(None, ConferencecallId(k.id))?;
            Ok(call.map(|c| {
                let n = size(&c);
                (c, n)
            }))
        })?;
        Ok(page.into())
    }
}

#[cfg(test)]
mod tests;
