//! List pages in PostgreSQL. A page ends at whichever comes first: `limit` items, or
//! `max_bytes` of the items' estimated rendered size (the first item is always taken). Rows
//! are fetched a few at a time in keyset order and fetching stops once the page is full, so a
//! list of 1 MB conferences never holds more than a chunk of rows beyond its page.

use super::rows::*;
use super::PgTx;
use crate::store::tx::{ConferenceStore, DeliveryFilter, ListStore};

/// Rows fetched per round trip while filling a page.
const CHUNK: i64 = 16;

/// Which way a keyset list runs over `(tm_create, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    NewestFirst,
    OldestFirst,
}

type Arg = Box<dyn ToSql + Sync>;

/// A list query: its WHERE clause so far and the arguments of its placeholders.
struct ListQuery {
    sql: String,
    args: Vec<Arg>,
}

impl ListQuery {
    fn new(select: String, first: Arg) -> ListQuery {
        ListQuery {
            sql: format!("{select} $1"),
            args: vec![first],
        }
    }

    /// Adds `AND {column} = $n`.
    fn and_eq(&mut self, column: &str, arg: Arg) {
        self.args.push(arg);
        self.sql
            .push_str(&format!(" AND {column} = ${}", self.args.len()));
    }
}

/// What a page holds so far.
struct Filling<T> {
    items: Vec<T>,
    bytes: usize,
    more: bool,
}

impl<T> Filling<T> {
    /// Takes an item unless the page is full; false once it is.
    fn take(&mut self, limit: usize, max_bytes: usize, item: T, size: usize) -> bool {
        if self.items.len() >= limit
            || (!self.items.is_empty() && self.bytes.saturating_add(size) > max_bytes)
        {
            self.more = true;
            return false;
        }
        self.bytes = self.bytes.saturating_add(size);
        self.items.push(item);
        true
    }
}

impl PgTx<'_> {
    /// Runs a list query in keyset order from `cursor` until the page is full.
    fn keyset_page<T>(
        &self,
        q: ListQuery,
        order: Order,
        cursor: Option<Cursor>,
        (limit, max_bytes): (usize, usize),
        mut load: impl FnMut(&Row) -> Result<(T, usize), StoreError>,
        key: impl Fn(&T) -> Cursor,
    ) -> Result<Page<T>, StoreError> {
        let (after, direction) = match order {
            Order::NewestFirst => ("<", "DESC"),
            Order::OldestFirst => (">", "ASC"),
        };
        let n = q.args.len();
        let first_sql = format!(
            "{} ORDER BY tm_create {direction}, id {direction} LIMIT {CHUNK}",
            q.sql
        );
        let next_sql = format!(
            "{} AND (tm_create, id) {after} (${}, ${}) ORDER BY tm_create {direction}, \
             id {direction} LIMIT {CHUNK}",
            q.sql,
            n + 1,
            n + 2
        );
        let mut page = Filling {
            items: Vec::new(),
            bytes: 0,
            more: false,
        };
        let mut from = cursor.map(|c| (c.tm_create, c.id.to_string()));
        loop {
            let mut args: Vec<&(dyn ToSql + Sync)> = q.args.iter().map(|a| a.as_ref()).collect();
            let rows = match &from {
                Some((tm, id)) => {
                    args.push(tm);
                    args.push(id);
                    self.query(&next_sql, &args)?
                }
                None => self.query(&first_sql, &args)?,
            };
            let fetched = rows.len() as i64;
            for row in &rows {
                let (item, size) = load(row)?;
                let c = key(&item);
                if !page.take(limit, max_bytes, item, size) {
                    return Ok(finish(page, &key));
                }
                from = Some((c.tm_create, c.id.to_string()));
            }
            if fetched < CHUNK {
                return Ok(finish(page, &key));
            }
        }
    }
}

fn finish<T>(page: Filling<T>, key: &impl Fn(&T) -> Cursor) -> Page<T> {
    Page {
        next: if page.more {
            page.items.last().map(key)
        } else {
            None
        },
        items: page.items,
        bytes: page.bytes,
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
        let mut q = ListQuery::new(
            format!("SELECT {CONFERENCE_COLUMNS} FROM conferences WHERE customer_id ="),
            Box::new(customer.to_string()),
        );
        if let Some(s) = filter.status {
            q.and_eq("status", Box::new(s.as_str()));
        }
        if let Some(k) = filter.kind {
            q.and_eq("type", Box::new(k.as_str()));
        }
        if !filter.include_deleted {
            q.sql.push_str(" AND tm_delete IS NULL");
        }
        self.keyset_page(
            q,
            Order::NewestFirst,
            cursor,
            (limit, max_bytes),
            |row| {
                let view = self.view(conference_from_row(row)?)?;
                let size = view.json_len();
                Ok((view, size))
            },
            |v| Cursor {
                tm_create: v.conference.tm_create.micros(),
                id: v.conference.id.uuid(),
            },
        )
    }

    fn list_calls(
        &self,
        customer: CustomerId,
        filter: &CallFilter,
        cursor: Option<Cursor>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Page<Conferencecall>, StoreError> {
        let mut q = ListQuery::new(
            format!("SELECT {CALL_COLUMNS} FROM conferencecalls WHERE customer_id ="),
            Box::new(customer.to_string()),
        );
        if let Some(c) = filter.conference_id {
            q.and_eq("conference_id", Box::new(c.to_string()));
        }
        if let Some(s) = filter.status {
            q.and_eq("status", Box::new(s.as_str()));
        }
        self.keyset_page(
            q,
            Order::NewestFirst,
            cursor,
            (limit, max_bytes),
            |row| {
                let call = call_from_row(row)?;
                let size = call.json_len();
                Ok((call, size))
            },
            call_cursor,
        )
    }

    fn participants_page(
        &self,
        conference_id: ConferenceId,
        cursor: Option<Cursor>,
        limit: usize,
        max_bytes: usize,
        size: &dyn Fn(&Conferencecall) -> usize,
    ) -> Result<Page<Conferencecall>, StoreError> {
        let mut q = ListQuery::new(
            format!("SELECT {CALL_COLUMNS} FROM conferencecalls WHERE conference_id ="),
            Box::new(conference_id.to_string()),
        );
        q.sql.push_str(" AND status <> 'leaved'");
        self.keyset_page(
            q,
            Order::OldestFirst,
            cursor,
            (limit, max_bytes),
            |row| {
                let call = call_from_row(row)?;
                let n = size(&call);
                Ok((call, n))
            },
            call_cursor,
        )
    }

    fn list_recordings(
        &self,
        customer: CustomerId,
        conference_id: Option<ConferenceId>,
        cursor: Option<Cursor>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Page<Recording>, StoreError> {
        let mut q = ListQuery::new(
            format!("SELECT {RECORDING_COLUMNS} FROM recordings WHERE customer_id ="),
            Box::new(customer.to_string()),
        );
        if let Some(c) = conference_id {
            q.and_eq("conference_id", Box::new(c.to_string()));
        }
        self.keyset_page(
            q,
            Order::NewestFirst,
            cursor,
            (limit, max_bytes),
            |row| {
                let rec = recording_from_row(row)?;
                let size = rec.json_len();
                Ok((rec, size))
            },
            |r| Cursor {
                tm_create: r.tm_create.micros(),
                id: r.id.uuid(),
            },
        )
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
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM outbox WHERE customer_id = $1 AND kind = 'webhook' \
             AND ($2::text IS NULL OR status = $2) AND seq < $3 \
             AND ($4::text IS NULL OR ordering_key = $4) ORDER BY seq DESC LIMIT {CHUNK}"
        );
        let (status, conference) = (filter.status, filter.conference);
        let customer = customer.to_string();
        let mut page = Filling {
            items: Vec::new(),
            bytes: 0,
            more: false,
        };
        let mut before = before_seq.unwrap_or(i64::MAX);
        'fetch: loop {
            let rows = self.query(&sql, &[&customer, &status, &before, &conference])?;
            for row in &rows {
                let m = message_from_row(row)?;
                let (seq, n) = (m.seq, size(&m));
                if !page.take(limit, max_bytes, m, n) {
                    break 'fetch;
                }
                before = seq;
            }
            if (rows.len() as i64) < CHUNK {
                break;
            }
        }
        let next = if page.more {
            page.items.last().map(|m| m.seq)
        } else {
            None
        };
        Ok((page.items, next))
    }
}

fn call_cursor(c: &Conferencecall) -> Cursor {
    Cursor {
        tm_create: c.tm_create.micros(),
        id: c.id.uuid(),
    }
}
