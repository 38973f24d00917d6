//! List pages. A page ends at whichever comes first: `limit` items, or `max_bytes` of the
//! items' rendered size as estimated by the caller's or the domain's `json_len` (the first item
//! is always taken, however large, so every page makes progress). Rows are read one at a time
//! and reading stops as soon as the page is full: a list of 1 MB conferences loads a few rows,
//! not `limit` rows to cut afterwards. The estimates come from the stored text lengths, which
//! are exact for the JSON confab serves verbatim, so nothing is rendered twice.

use super::rows::*;
use super::SqliteTx;
use crate::store::tx::{ConferenceStore, DeliveryFilter, ListStore};
use rusqlite::Rows;

/// Which way a keyset list runs over `(tm_create, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    NewestFirst,
    OldestFirst,
}

/// A list query: its WHERE clause so far and the arguments of its placeholders.
struct ListQuery {
    sql: String,
    args: Vec<SqlValue>,
}

impl ListQuery {
    fn new(sql: String, first: SqlValue) -> ListQuery {
        ListQuery {
            sql,
            args: vec![first],
        }
    }

    fn and(&mut self, condition: &str, arg: SqlValue) {
        self.sql.push_str(" AND ");
        self.sql.push_str(condition);
        self.args.push(arg);
    }
}

/// What `fill` read: the items taken, their estimated size, and whether rows remain.
struct Filled<T> {
    items: Vec<T>,
    bytes: usize,
    more: bool,
}

/// Takes rows in order until the page is full. `load` turns a row into an item and its size;
/// at most one row beyond the page is loaded (to learn that more exist) and then dropped.
fn fill<T>(
    rows: &mut Rows<'_>,
    limit: usize,
    max_bytes: usize,
    mut load: impl FnMut(&Row) -> Result<(T, usize), StoreError>,
) -> Result<Filled<T>, StoreError> {
    let mut page = Filled {
        items: Vec::new(),
        bytes: 0,
        more: false,
    };
    while let Some(row) = rows.next()? {
        if page.items.len() >= limit {
            page.more = true;
            break;
        }
        let (item, size) = load(row)?;
        if !page.items.is_empty() && page.bytes.saturating_add(size) > max_bytes {
            page.more = true;
            break;
        }
        page.bytes = page.bytes.saturating_add(size);
        page.items.push(item);
    }
    Ok(page)
}

impl SqliteTx<'_> {
    /// Runs a list query one page past `cursor` in keyset order.
    fn keyset_page<T>(
        &self,
        mut q: ListQuery,
        order: Order,
        cursor: Option<Cursor>,
        (limit, max_bytes): (usize, usize),
        load: impl FnMut(&Row) -> Result<(T, usize), StoreError>,
        key: impl Fn(&T) -> Cursor,
    ) -> Result<Page<T>, StoreError> {
        let (after, direction) = match order {
            Order::NewestFirst => ("<", "DESC"),
            Order::OldestFirst => (">", "ASC"),
        };
        if let Some(c) = cursor {
            q.sql.push_str(&format!(
                " AND (tm_create {after} ? OR (tm_create = ? AND id {after} ?))"
            ));
            q.args.push(SqlValue::Integer(c.tm_create));
            q.args.push(SqlValue::Integer(c.tm_create));
            q.args.push(SqlValue::Text(c.id.to_string()));
        }
        q.sql.push_str(&format!(
            " ORDER BY tm_create {direction}, id {direction} LIMIT ?"
        ));
        q.args.push(SqlValue::Integer(sql_limit(limit)));
        let mut stmt = self.conn.prepare_cached(&q.sql)?;
        let mut rows = stmt.query(params_from_iter(q.args))?;
        let filled = fill(&mut rows, limit, max_bytes, load)?;
        Ok(Page {
            next: if filled.more {
                filled.items.last().map(key)
            } else {
                None
            },
            items: filled.items,
            bytes: filled.bytes,
        })
    }
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
        let mut q = ListQuery::new(
            format!("SELECT {CONFERENCE_COLUMNS} FROM conferences WHERE customer_id = ?"),
            SqlValue::Text(customer.to_string()),
        );
        if let Some(s) = filter.status {
            q.and("status = ?", SqlValue::Text(s.as_str().into()));
        }
        if let Some(k) = filter.kind {
            q.and("type = ?", SqlValue::Text(k.as_str().into()));
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

    /// A customer's conferencecalls, newest first.
    fn list_calls(
        &self,
        customer: CustomerId,
        filter: &CallFilter,
        cursor: Option<Cursor>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Page<Conferencecall>, StoreError> {
        let mut q = ListQuery::new(
            format!("SELECT {CALL_COLUMNS} FROM conferencecalls WHERE customer_id = ?"),
            SqlValue::Text(customer.to_string()),
        );
        if let Some(c) = filter.conference_id {
            q.and("conference_id = ?", SqlValue::Text(c.to_string()));
        }
        if let Some(s) = filter.status {
            q.and("status = ?", SqlValue::Text(s.as_str().into()));
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
        let mut q = ListQuery::new(
            format!("SELECT {CALL_COLUMNS} FROM conferencecalls WHERE conference_id = ?"),
            SqlValue::Text(conference_id.to_string()),
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

    /// A customer's recordings, newest first.
    fn list_recordings(
        &self,
        customer: CustomerId,
        conference_id: Option<ConferenceId>,
        cursor: Option<Cursor>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Page<Recording>, StoreError> {
        let mut q = ListQuery::new(
            format!("SELECT {RECORDING_COLUMNS} FROM recordings WHERE customer_id = ?"),
            SqlValue::Text(customer.to_string()),
        );
        if let Some(c) = conference_id {
            q.and("conference_id = ?", SqlValue::Text(c.to_string()));
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
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM outbox WHERE customer_id = ?1 AND kind = 'webhook' \
             AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR seq < ?3) \
             AND (?5 IS NULL OR ordering_key = ?5) ORDER BY seq DESC LIMIT ?4"
        ))?;
        let mut rows = stmt.query(params![
            customer.to_string(),
            filter.status,
            before_seq,
            sql_limit(limit),
            filter.conference,
        ])?;
        let filled = fill(&mut rows, limit, max_bytes, |row| {
            let m = message_from_row(row)?;
            let n = size(&m);
            Ok((m, n))
        })?;
        let next = if filled.more {
            filled.items.last().map(|m| m.seq)
        } else {
            None
        };
        Ok((filled.items, next))
    }
}

/// The SQL `LIMIT` of a page of `limit` items: one row more, to learn whether more exist.
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX)
}

fn call_cursor(c: &Conferencecall) -> Cursor {
    Cursor {
        tm_create: c.tm_create.micros(),
        id: c.id.uuid(),
    }
}
