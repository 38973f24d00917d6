//! List pages in PostgreSQL. A page ends at whichever comes first: `limit` items, `max_bytes`
//! of the items' estimated rendered size (the first item is always taken), or `SCAN_BOUND`
//! rows examined past its cursor. Each list's conditions lead to the one index that serves
//! its filter (or the most selective of its filters) in keyset order, and the filters that
//! index leaves over are checked on the walk (`walk.rs`), which counts what it examines: a
//! page of filters that match nothing in a long history stops at the bound, possibly with no
//! item, and its token points after the last row examined so the client continues. Whole rows
//! are loaded a few at a time and only for the items taken, so a list of 1 MB conferences
//! never holds more than a few rows beyond its page.

mod walk;

use super::rows::*;
use super::PgTx;
use crate::store::tx::{ConferenceStore, DeliveryFilter, ListStore};
use std::collections::HashMap;
use walk::{Limits, Rest, Walk};

/// The most rows a page examines beyond its cursor, as on SQLite (`sqlite::pages`): at most
/// a few round trips of keys, so no page holds a reader connection for long.
const SCAN_BOUND: usize = 1000;

fn limits(items: usize, bytes: usize) -> Limits {
    Limits {
        items,
        bytes,
        rows: SCAN_BOUND,
    }
}

/// Which way a keyset list runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    NewestFirst,
    OldestFirst,
}

type Arg = Box<dyn ToSql + Sync>;

/// The key a list runs over and its cursor: `(tm_create, id)`, or the outbox's `seq`.
trait Keyset: Copy {
    /// The key's columns, as selected and ordered.
    const COLUMNS: &'static str;
    /// How many columns the key has (the walk's filter columns follow them).
    const WIDTH: usize;
    fn read(row: &Row) -> Result<Self, StoreError>;
    fn args(self) -> Vec<Arg>;
}

impl Keyset for Cursor {
    const COLUMNS: &'static str = "tm_create, id";
    const WIDTH: usize = 2;

    fn read(row: &Row) -> Result<Self, StoreError> {
        Ok(Cursor {
            tm_create: row.try_get(0)?,
            id: crate::store::columns::uuid_col(row, 1)?,
        })
    }

    fn args(self) -> Vec<Arg> {
        vec![Box::new(self.tm_create), Box::new(self.id.to_string())]
    }
}

/// A position in the delivery log.
#[derive(Debug, Clone, Copy)]
struct Seq(i64);

impl Keyset for Seq {
    const COLUMNS: &'static str = "seq";
    const WIDTH: usize = 1;

    fn read(row: &Row) -> Result<Self, StoreError> {
        Ok(Seq(row.try_get(0)?))
    }

    fn args(self) -> Vec<Arg> {
        vec![Box::new(self.0)]
    }
}

fn text(s: impl ToString) -> Arg {
    Box::new(s.to_string())
}

/// The walk of a conference list: by status when a status is asked for (type and deletion
/// are then read from the index's trailing columns), else by type, else the conferences not
/// deleted (the default, a partial index) or all of them.
fn conference_walk(customer: CustomerId, f: &ConferenceFilter) -> Walk {
    let (table, order) = ("conferences", Order::NewestFirst);
    let w = Walk::new(table, order).seek("customer_id", text(customer));
    let w = match (f.status, f.kind) {
        (Some(s), kind) => {
            let w = w.seek("status", text(s.as_str()));
            match kind {
                Some(k) => w.check(Rest::Is("type", k.as_str().into())),
                None => w,
            }
        }
        (None, Some(k)) => w.seek("type", text(k.as_str())),
        (None, None) if !f.include_deleted => {
            let mut w = w;
            w.and("tm_delete IS NULL");
            return w;
        }
        (None, None) => w,
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
    let w = Walk::new("conferencecalls", Order::NewestFirst).seek("customer_id", text(customer));
    match (f.conference_id, f.status) {
        (Some(c), status) => {
            let w = w.seek("conference_id", text(c));
            match status {
                Some(s) => w.check(Rest::Is("status", s.as_str().into())),
                None => w,
            }
        }
        (None, Some(s)) => w.seek("status", text(s.as_str())),
        (None, None) => w,
    }
}

/// The walk of the delivery log: by conference (status checked on the walk), else by status,
/// else all the customer's messages (only notifications carry a customer; the kind is
/// checked all the same).
fn delivery_walk(customer: CustomerId, f: DeliveryFilter<'_>) -> Walk {
    let w = Walk::new("outbox", Order::NewestFirst).seek("customer_id", text(customer));
    let mut w = match (f.conference, f.status) {
        (Some(c), status) => {
            let w = w.seek("ordering_key", text(c));
            match status {
                Some(s) => w.check(Rest::Is("status", s.as_str().into())),
                None => w,
            }
        }
        (None, Some(s)) => w.seek("status", text(s)),
        (None, None) => return w.check(Rest::Is("kind", "webhook".into())),
    };
    w.and("kind = 'webhook'");
    w
}

impl PgTx<'_> {
    /// The rows of `table` whose `key` column is one of `keys`, read by `from_row`, in the
    /// order of `keys` (`None` for a row gone since the walk saw its key).
    fn load_rows<K: Copy, V: ToSql + Sync + Eq + std::hash::Hash, T>(
        &self,
        (table, columns, key): (&str, &str, &str),
        keys: &[K],
        value: impl Fn(K) -> V,
        from_row: impl Fn(&Row) -> Result<(V, T), StoreError>,
    ) -> Result<Vec<Option<T>>, StoreError> {
        let values: Vec<V> = keys.iter().map(|k| value(*k)).collect();
        let sql = format!("SELECT {columns} FROM {table} WHERE {key} = ANY($1)");
        let mut found = HashMap::new();
        for row in self.query(&sql, &[&values])? {
            let (k, item) = from_row(&row)?;
            found.insert(k, item);
        }
        Ok(values.iter().map(|v| found.remove(v)).collect())
    }

    /// The calls of `keys`, in their order, with their sizes.
    fn load_calls(
        &self,
        keys: &[Cursor],
        size: &dyn Fn(&Conferencecall) -> usize,
    ) -> Result<Vec<Option<(Conferencecall, usize)>>, StoreError> {
        let calls = self.load_rows(
            ("conferencecalls", CALL_COLUMNS, "id"),
            keys,
            |k| k.id.to_string(),
            |row| {
                let c = call_from_row(row)?;
                Ok((c.id.to_string(), c))
            },
        )?;
        Ok(calls
            .into_iter()
            .map(|c| {
                c.map(|c| {
                    let n = size(&c);
                    (c, n)
                })
            })
            .collect())
    }
}

impl ListStore for PgTx<'_> {
    fn list_conferences(
        &self,
        customer: CustomerId,
        filter: &ConferenceFilter,
        cursor: Option<Cursor>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Page<ConferenceView>, StoreError> {
        let w = conference_walk(customer, filter);
        let page = self.walk(
            &w,
            cursor,
            limits(limit, max_bytes),
            &mut |keys: &[Cursor]| {
                let confs = self.load_rows(
                    ("conferences", CONFERENCE_COLUMNS, "id"),
                    keys,
                    |k| k.id.to_string(),
                    |row| {
                        let c = conference_from_row(row)?;
                        Ok((c.id.to_string(), c))
                    },
                )?;
                let mut views = Vec::with_capacity(confs.len());
                for conf in confs {
                    views.push(match conf {
                        Some(c) => {
                            let view = self.view(c)?;
                            let size = view.json_len();
                            Some((view, size))
                        }
                        None => None,
                    });
                }
                Ok(views)
            },
        )?;
        Ok(page.into())
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
        let page = self.walk(
            &w,
            cursor,
            limits(limit, max_bytes),
            &mut |keys: &[Cursor]| self.load_calls(keys, &|c| c.json_len()),
        )?;
        Ok(page.into())
    }

    fn participants_page(
        &self,
        conference_id: ConferenceId,
        cursor: Option<Cursor>,
        limit: usize,
        max_bytes: usize,
        size: &dyn Fn(&Conferencecall) -> usize,
    ) -> Result<Page<Conferencecall>, StoreError> {
        let mut w = Walk::new("conferencecalls", Order::OldestFirst)
            .seek("conference_id", text(conference_id));
        w.and("status <> 'leaved'");
        let page = self.walk(
            &w,
            cursor,
            limits(limit, max_bytes),
            &mut |keys: &[Cursor]| self.load_calls(keys, size),
        )?;
        Ok(page.into())
    }

    fn list_recordings(
        &self,
        customer: CustomerId,
        conference_id: Option<ConferenceId>,
        cursor: Option<Cursor>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Page<Recording>, StoreError> {
        let w = Walk::new("recordings", Order::NewestFirst).seek("customer_id", text(customer));
        let w = match conference_id {
            Some(c) => w.seek("conference_id", text(c)),
            None => w,
        };
        let page = self.walk(
            &w,
            cursor,
            limits(limit, max_bytes),
            &mut |keys: &[Cursor]| {
                self.load_rows(
                    ("recordings", RECORDING_COLUMNS, "id"),
                    keys,
                    |k| k.id.to_string(),
                    |row| {
                        let r = recording_from_row(row)?;
                        let size = r.json_len();
                        Ok((r.id.to_string(), (r, size)))
                    },
                )
            },
        )?;
        Ok(page.into())
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
        let page = self.walk(
            &w,
            after,
            limits(limit, max_bytes),
            &mut |keys: &[Seq]| {
                self.load_rows(
                    ("outbox", MESSAGE_COLUMNS, "seq"),
                    keys,
                    |k| k.0,
                    |row| {
                        let m = message_from_row(row)?;
                        let n = size(&m);
                        Ok((m.seq, (m, n)))
                    },
                )
            },
        )?;
        Ok((page.items, page.next.map(|s| s.0)))
    }
}
