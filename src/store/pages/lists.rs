//! The lists: which index each list's filters seek, and `ListStore` for every backend that
//! gives its rows to the walk (`PageSource`).

use super::walk::{walk, Limits, Loader, Rest, Walk};
use super::{limits, text, ByKey, Keyset, Order, PageSource, Param, Seq};
use crate::domain::conference::{Conference, ConferenceView, Conferencecall, Recording};
use crate::domain::query::{CallFilter, ConferenceFilter, Cursor, Page};
use crate::domain::{ConferenceId, CustomerId};
use crate::store::columns::{
    call_from_row, conference_from_row, message_from_row, recording_from_row, Columns,
    CALL_COLUMNS, CONFERENCE_COLUMNS, MESSAGE_COLUMNS, RECORDING_COLUMNS,
};
use crate::store::records::StoredMessage;
use crate::store::tx::{ConferenceStore, DeliveryFilter, ListStore};
use crate::store::StoreError;
use std::collections::HashMap;

/// The walk of a conference list: the status index when a status is asked for (type and
/// deletion are then read from the index's trailing columns), else the type index, else the
/// index of conferences not deleted (the default, a partial index) or of all of them.
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
            return Walk::new(table, "conferences_live_by_customer", order)
                .seek("customer_id", text(customer))
                .and("tm_delete IS NULL");
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

/// The walk of the calls of a conference that have not left (a partial index).
fn participants_walk(conference_id: ConferenceId) -> Walk {
    Walk::new(
        "conferencecalls",
        "conferencecalls_active_by_conference",
        Order::OldestFirst,
    )
    .seek("conference_id", text(conference_id))
    .and("status <> 'leaved'")
}

/// The walk of a recording list: by conference when one is asked for, else all the
/// customer's recordings.
fn recording_walk(customer: CustomerId, conference_id: Option<ConferenceId>) -> Walk {
    let (table, order) = ("recordings", Order::NewestFirst);
    match conference_id {
        Some(c) => Walk::new(table, "recordings_by_customer_conference", order)
            .seek("customer_id", text(customer))
            .seek("conference_id", text(c)),
        None => {
            Walk::new(table, "recordings_by_customer", order).seek("customer_id", text(customer))
        }
    }
}

/// The walk of the delivery log: by conference (status checked on the walk), else by
/// status, else all the customer's messages (only notifications carry a customer; the kind
/// is checked all the same).
fn delivery_walk(customer: CustomerId, f: DeliveryFilter<'_>) -> Walk {
    let (table, order) = ("outbox", Order::NewestFirst);
    let w = match (f.conference, f.status) {
        (Some(c), status) => {
            let w = Walk::new(table, "outbox_webhooks_by_customer_conference", order)
                .seek("customer_id", text(customer))
                .seek("ordering_key", text(c));
            match status {
                Some(s) => w.check(Rest::Is("status", s.as_str().into())),
                None => w,
            }
        }
        (None, Some(s)) => Walk::new(table, "outbox_webhooks_by_customer_status", order)
            .seek("customer_id", text(customer))
            .seek("status", text(s)),
        (None, None) => {
            return Walk::new(table, "outbox_by_customer", order)
                .seek("customer_id", text(customer))
                .check(Rest::Is("kind", "webhook".into()))
        }
    };
    w.and("kind = 'webhook'")
}

/// How a list's whole rows are read: the table, its columns, how a row maps to an item, and
/// the item's row key (the keyset's `ROW` column).
struct Rows<T> {
    table: &'static str,
    columns: &'static str,
    read: fn(&dyn Columns) -> Result<T, StoreError>,
    key: fn(&T) -> Param,
}

const CONFERENCES: Rows<Conference> = Rows {
    table: "conferences",
    columns: CONFERENCE_COLUMNS,
    read: conference_from_row,
    key: |c| text(c.id),
};

const CALLS: Rows<Conferencecall> = Rows {
    table: "conferencecalls",
    columns: CALL_COLUMNS,
    read: call_from_row,
    key: |c| text(c.id),
};

const RECORDINGS: Rows<Recording> = Rows {
    table: "recordings",
    columns: RECORDING_COLUMNS,
    read: recording_from_row,
    key: |r| text(r.id),
};

const MESSAGES: Rows<StoredMessage> = Rows {
    table: "outbox",
    columns: MESSAGE_COLUMNS,
    read: message_from_row,
    key: |m| Param::Int(m.seq),
};

/// The whole rows of `keys`, in the keys' order (`None` for a row gone since the walk saw
/// its key).
fn load<S: PageSource, K: Keyset, T>(
    src: &S,
    rows: &Rows<T>,
    keys: &[K],
) -> Result<Vec<Option<T>>, StoreError> {
    let wanted: Vec<Param> = keys.iter().map(|k| k.row()).collect();
    let mut found = HashMap::with_capacity(wanted.len());
    let by_key = ByKey {
        table: rows.table,
        columns: rows.columns,
        key: K::ROW,
        keys: &wanted,
    };
    src.rows_by_key(&by_key, &mut |row| {
        let item = (rows.read)(row)?;
        found.insert((rows.key)(&item), item);
        Ok(())
    })?;
    Ok(wanted.iter().map(|k| found.remove(k)).collect())
}

/// Loaded items with their estimated sizes.
fn sized<T>(items: Vec<Option<T>>, size: &dyn Fn(&T) -> usize) -> Vec<Option<(T, usize)>> {
    items
        .into_iter()
        .map(|item| {
            item.map(|item| {
                let n = size(&item);
                (item, n)
            })
        })
        .collect()
}

/// A list page walked by `w` from `cursor`, its items loaded by `load`.
fn page<S: PageSource, T>(
    src: &S,
    w: &Walk,
    cursor: Option<Cursor>,
    limits: Limits,
    load: &mut Loader<'_, Cursor, T>,
) -> Result<Page<T>, StoreError> {
    Ok(walk(src, w, cursor, limits, load)?.into())
}

impl<S: PageSource + ConferenceStore> ListStore for S {
    fn list_conferences(
        &self,
        customer: CustomerId,
        filter: &ConferenceFilter,
        cursor: Option<Cursor>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Page<ConferenceView>, StoreError> {
        let w = conference_walk(customer, filter);
        page(self, &w, cursor, limits(limit, max_bytes), &mut |keys| {
            let views = load(self, &CONFERENCES, keys)?
                .into_iter()
                .map(|conf| conf.map(|c| self.view(c)).transpose())
                .collect::<Result<Vec<_>, _>>()?;
            Ok(sized(views, &|v: &ConferenceView| v.json_len()))
        })
    }

    fn list_calls(
        &self,
        customer: CustomerId,
        filter: &CallFilter,
        cursor: Option<Cursor>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Page<Conferencecall>, StoreError> {
        let w = call_walk(customer, filter);
        page(self, &w, cursor, limits(limit, max_bytes), &mut |keys| {
            Ok(sized(load(self, &CALLS, keys)?, &|c| c.json_len()))
        })
    }

    fn participants_page(
        &self,
        conference_id: ConferenceId,
        cursor: Option<Cursor>,
        limit: usize,
        max_bytes: usize,
        size: &dyn Fn(&Conferencecall) -> usize,
    ) -> Result<Page<Conferencecall>, StoreError> {
        let w = participants_walk(conference_id);
        page(self, &w, cursor, limits(limit, max_bytes), &mut |keys| {
            Ok(sized(load(self, &CALLS, keys)?, size))
        })
    }

    fn list_recordings(
        &self,
        customer: CustomerId,
        conference_id: Option<ConferenceId>,
        cursor: Option<Cursor>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Page<Recording>, StoreError> {
        let w = recording_walk(customer, conference_id);
        page(self, &w, cursor, limits(limit, max_bytes), &mut |keys| {
            Ok(sized(load(self, &RECORDINGS, keys)?, &|r| r.json_len()))
        })
    }

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
        let after = before_seq.map(Seq);
        let page = walk(self, &w, after, limits(limit, max_bytes), &mut |keys| {
            Ok(sized(load(self, &MESSAGES, keys)?, size))
        })?;
        Ok((page.items, page.next.map(|s| s.0)))
    }
}
