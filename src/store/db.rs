//! Every SQL statement of confab, behind methods that speak in domain types.

use super::StoreError;
use crate::actions::RecordingFormat;
use crate::conference::{
    CallStatus, Conference, ConferenceStatus, ConferenceType, ConferenceView, Conferencecall,
    Origin, Recording, RecordingStatus, StoredJson, XmlAttributes,
};
use crate::customer::Customer;
use crate::timestamp::Timestamp;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use std::sync::atomic::{AtomicBool, Ordering};
use uuid::Uuid;

/// A connection seen through confab's queries. Reader and writer threads hand one to the
/// closure they run.
pub struct Db<'c> {
    conn: &'c Connection,
    /// Set when this write queued a message or set a deadline; `None` on readers.
    signals: Option<&'c WriteSignals>,
}

/// What the writes of a batch did that background tasks must hear about once it commits.
#[derive(Debug, Default)]
pub struct WriteSignals {
    pub outbox: AtomicBool,
    pub deadlines: AtomicBool,
}

impl WriteSignals {
    fn raise(flag: &AtomicBool) {
        flag.store(true, Ordering::Release);
    }

    /// Takes (and clears) the flags: (outbox, deadlines).
    pub fn take(&self) -> (bool, bool) {
        (
            self.outbox.swap(false, Ordering::AcqRel),
            self.deadlines.swap(false, Ordering::AcqRel),
        )
    }
}

mod pages;

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

/// A row of the outbox: one outbound message and its delivery state.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    pub seq: i64,
    pub id: String,
    pub kind: String,
    pub customer_id: Option<Uuid>,
    pub ordering_key: String,
    pub event_type: String,
    pub url: String,
    pub method: String,
    pub content_type: String,
    pub body: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_status: Option<i64>,
    pub last_error: String,
    pub tm_create: i64,
    pub tm_update: i64,
}

const MESSAGE_COLUMNS: &str = "seq, id, kind, customer_id, ordering_key, event_type, url, method, \
     content_type, body, status, attempts, next_attempt_at, last_status, last_error, tm_create, \
     tm_update";

fn message_from_row(row: &Row) -> Result<StoredMessage, StoreError> {
    let customer: Option<String> = row.get(3)?;
    Ok(StoredMessage {
        seq: row.get(0)?,
        id: row.get(1)?,
        kind: row.get(2)?,
        customer_id: customer
            .map(|c| Uuid::parse_str(&c).map_err(|_| corrupt("uuid", &c)))
            .transpose()?,
        ordering_key: row.get(4)?,
        event_type: row.get(5)?,
        url: row.get(6)?,
        method: row.get(7)?,
        content_type: row.get(8)?,
        body: row.get(9)?,
        status: row.get(10)?,
        attempts: row.get(11)?,
        next_attempt_at: row.get(12)?,
        last_status: row.get(13)?,
        last_error: row.get(14)?,
        tm_create: row.get(15)?,
        tm_update: row.get(16)?,
    })
}

#[derive(Debug, Clone, Default)]
pub struct ConferenceFilter {
    pub status: Option<ConferenceStatus>,
    pub kind: Option<ConferenceType>,
    pub include_deleted: bool,
}

#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    pub conference_id: Option<Uuid>,
    pub status: Option<CallStatus>,
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what}: {value:?}"))
}

fn uuid_col(row: &Row, idx: usize) -> Result<Uuid, StoreError> {
    let s: String = row.get(idx)?;
    Uuid::parse_str(&s).map_err(|_| corrupt("uuid", &s))
}

fn ts(row: &Row, idx: usize) -> Result<Timestamp, StoreError> {
    Ok(Timestamp(row.get(idx)?))
}

fn opt_ts(row: &Row, idx: usize) -> Result<Option<Timestamp>, StoreError> {
    Ok(row.get::<_, Option<i64>>(idx)?.map(Timestamp))
}

const CONFERENCE_COLUMNS: &str = "id, customer_id, type, status, name, detail, data, timeout, \
     pre_actions, post_actions, origin, app_sid, user_data, on_status, tm_create, tm_update, \
     tm_delete, tm_begin, tm_end, xml_status";

fn conference_from_row(row: &Row) -> Result<Conference, StoreError> {
    let kind: String = row.get(2)?;
    let status: String = row.get(3)?;
    let data: String = row.get(6)?;
    let pre: String = row.get(8)?;
    let post: String = row.get(9)?;
    let origin: String = row.get(10)?;
    Ok(Conference {
        id: uuid_col(row, 0)?,
        customer_id: uuid_col(row, 1)?,
        kind: ConferenceType::parse(&kind).ok_or_else(|| corrupt("conference type", &kind))?,
        status: ConferenceStatus::parse(&status)
            .ok_or_else(|| corrupt("conference status", &status))?,
        name: row.get(4)?,
        detail: row.get(5)?,
        data: StoredJson::from_stored(data),
        timeout: row.get(7)?,
        pre_actions: StoredJson::from_stored(pre),
        post_actions: StoredJson::from_stored(post),
        origin: Origin::parse(&origin).ok_or_else(|| corrupt("origin", &origin))?,
        xml: XmlAttributes {
            app_sid: row.get(11)?,
            user_data: row.get(12)?,
            on_status: row.get(13)?,
            reported_status: row.get(19)?,
        },
        tm_create: ts(row, 14)?,
        tm_update: ts(row, 15)?,
        tm_delete: opt_ts(row, 16)?,
        tm_begin: opt_ts(row, 17)?,
        tm_end: opt_ts(row, 18)?,
    })
}

const CALL_COLUMNS: &str =
    "id, customer_id, conference_id, reference_id, status, tm_create, tm_update, tm_delete";

fn call_from_row(row: &Row) -> Result<Conferencecall, StoreError> {
    let status: String = row.get(4)?;
    Ok(Conferencecall {
        id: uuid_col(row, 0)?,
        customer_id: uuid_col(row, 1)?,
        conference_id: uuid_col(row, 2)?,
        reference_id: row.get(3)?,
        status: CallStatus::parse(&status).ok_or_else(|| corrupt("call status", &status))?,
        tm_create: ts(row, 5)?,
        tm_update: ts(row, 6)?,
        tm_delete: opt_ts(row, 7)?,
    })
}

const RECORDING_COLUMNS: &str = "id, customer_id, conference_id, status, format, duration, \
     media_url, tm_start, tm_end, tm_create";

fn recording_from_row(row: &Row) -> Result<Recording, StoreError> {
    let status: String = row.get(3)?;
    let format: String = row.get(4)?;
    Ok(Recording {
        id: uuid_col(row, 0)?,
        customer_id: uuid_col(row, 1)?,
        conference_id: uuid_col(row, 2)?,
        status: RecordingStatus::parse(&status)
            .ok_or_else(|| corrupt("recording status", &status))?,
        format: RecordingFormat::parse(&format).ok_or_else(|| corrupt("format", &format))?,
        duration: row.get(5)?,
        media_url: row.get(6)?,
        tm_start: ts(row, 7)?,
        tm_end: opt_ts(row, 8)?,
        tm_create: ts(row, 9)?,
    })
}

fn customer_from_row(row: &Row) -> Result<Customer, StoreError> {
    let events: String = row.get(5)?;
    Ok(Customer {
        id: uuid_col(row, 0)?,
        name: row.get(1)?,
        webhook_uri: row.get(2)?,
        webhook_method: row.get(3)?,
        webhook_secret: row.get(4)?,
        webhook_events: serde_json::from_str(&events)
            .map_err(|_| corrupt("webhook_events", &events))?,
        previous_secret: match (row.get::<_, String>(8)?, opt_ts(row, 9)?) {
            (s, Some(until)) if !s.is_empty() => Some((s, until)),
            _ => None,
        },
        tm_create: ts(row, 6)?,
        tm_update: ts(row, 7)?,
    })
}

impl<'c> Db<'c> {
    /// Runs a query expected to return at most one row and maps it.
    fn optional_row<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        map: fn(&Row) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params)?;
        match rows.next()? {
            Some(row) => Ok(Some(map(row)?)),
            None => Ok(None),
        }
    }

    pub(super) fn reader(conn: &'c Connection) -> Self {
        Db {
            conn,
            signals: None,
        }
    }

    pub(super) fn writer(conn: &'c Connection, signals: &'c WriteSignals) -> Self {
        Db {
            conn,
            signals: Some(signals),
        }
    }

    /// A trivial query, to prove the store answers.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.conn.query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }

    /// Rewrites the probe row: a write that changes a page, so its commit proves the store
    /// can write.
    pub fn probe(&self, now: i64) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("INSERT OR REPLACE INTO store_probe (id, at) VALUES (1, ?)")?
            .execute([now])?;
        Ok(())
    }

    // ---- customers -------------------------------------------------------------------

    pub fn insert_customer(&self, c: &Customer, key_hash: &[u8; 32]) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO customers (id, name, webhook_uri, webhook_method, webhook_secret, \
                 webhook_events, tm_create, tm_update) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )?
            .execute(params![
                c.id.to_string(),
                c.name,
                c.webhook_uri,
                c.webhook_method,
                c.webhook_secret,
                serde_json::to_string(&c.webhook_events).unwrap_or_else(|_| "[]".into()),
                c.tm_create.micros(),
                c.tm_update.micros(),
            ])?;
        self.conn
            .prepare_cached(
                "INSERT INTO api_keys (key_hash, customer_id, tm_create) VALUES (?, ?, ?)",
            )?
            .execute(params![
                &key_hash[..],
                c.id.to_string(),
                c.tm_create.micros()
            ])?;
        Ok(())
    }

    /// Writes every mutable column of a customer.
    pub fn update_customer(&self, c: &Customer) -> Result<(), StoreError> {
        let (previous, until) = match &c.previous_secret {
            Some((s, t)) => (s.clone(), Some(t.micros())),
            None => (String::new(), None),
        };
        self.conn
            .prepare_cached(
                "UPDATE customers SET name = ?, webhook_uri = ?, webhook_method = ?, \
                 webhook_secret = ?, webhook_events = ?, webhook_secret_previous = ?, \
                 webhook_secret_previous_until = ?, tm_update = ? WHERE id = ?",
            )?
            .execute(params![
                c.name,
                c.webhook_uri,
                c.webhook_method,
                c.webhook_secret,
                serde_json::to_string(&c.webhook_events).unwrap_or_else(|_| "[]".into()),
                previous,
                until,
                c.tm_update.micros(),
                c.id.to_string(),
            ])?;
        Ok(())
    }

    pub fn customer_id_by_key(&self, key_hash: &[u8; 32]) -> Result<Option<Uuid>, StoreError> {
        let id: Option<String> = self
            .conn
            .prepare_cached("SELECT customer_id FROM api_keys WHERE key_hash = ?")?
            .query_row([&key_hash[..]], |r| r.get(0))
            .optional()?;
        id.map(|s| Uuid::parse_str(&s).map_err(|_| corrupt("uuid", &s)))
            .transpose()
    }

    pub fn customer(&self, id: Uuid) -> Result<Option<Customer>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, name, webhook_uri, webhook_method, webhook_secret, webhook_events, \
             tm_create, tm_update, webhook_secret_previous, webhook_secret_previous_until \
             FROM customers WHERE id = ?",
        )?;
        let mut rows = stmt.query([id.to_string()])?;
        match rows.next()? {
            Some(row) => Ok(Some(customer_from_row(row)?)),
            None => Ok(None),
        }
    }

    /// The secrets a notification must be signed with now: the current one, and the previous
    /// one while its rotation grace period lasts.
    pub fn signing_secrets(
        &self,
        customer: Uuid,
        now: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        Ok(self
            .customer(customer)?
            .map(|c| c.signing_secrets(now))
            .unwrap_or_default())
    }

    // ---- conferences -----------------------------------------------------------------

    pub fn insert_conference(&self, c: &Conference) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(&format!(
                "INSERT INTO conferences ({CONFERENCE_COLUMNS}) VALUES \
                 (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))?
            .execute(params![
                c.id.to_string(),
                c.customer_id.to_string(),
                c.kind.as_str(),
                c.status.as_str(),
                c.name,
                c.detail,
                c.data.text(),
                c.timeout,
                c.pre_actions.text(),
                c.post_actions.text(),
                c.origin.as_str(),
                c.xml.app_sid,
                c.xml.user_data,
                c.xml.on_status,
                c.tm_create.micros(),
                c.tm_update.micros(),
                c.tm_delete.map(Timestamp::micros),
                c.tm_begin.map(Timestamp::micros),
                c.tm_end.map(Timestamp::micros),
                c.xml.reported_status,
            ])?;
        Ok(())
    }

    /// Writes every mutable column of a conference.
    pub fn update_conference(&self, c: &Conference) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE conferences SET status = ?, name = ?, detail = ?, data = ?, timeout = ?, \
                 pre_actions = ?, post_actions = ?, app_sid = ?, user_data = ?, on_status = ?, \
                 tm_update = ?, tm_delete = ?, tm_begin = ?, tm_end = ?, xml_status = ? WHERE id = ?",
            )?
            .execute(params![
                c.status.as_str(),
                c.name,
                c.detail,
                c.data.text(),
                c.timeout,
                c.pre_actions.text(),
                c.post_actions.text(),
                c.xml.app_sid,
                c.xml.user_data,
                c.xml.on_status,
                c.tm_update.micros(),
                c.tm_delete.map(Timestamp::micros),
                c.tm_begin.map(Timestamp::micros),
                c.tm_end.map(Timestamp::micros),
                c.xml.reported_status,
                c.id.to_string(),
            ])?;
        Ok(())
    }

    /// A conference by id, optionally only if it belongs to `customer`.
    pub fn conference(
        &self,
        customer: Option<Uuid>,
        id: Uuid,
    ) -> Result<Option<Conference>, StoreError> {
        self.optional_row(
            &format!(
                "SELECT {CONFERENCE_COLUMNS} FROM conferences WHERE id = ?1 \
             AND (?2 IS NULL OR customer_id = ?2)"
            ),
            params![id.to_string(), customer.map(|c| c.to_string())],
            conference_from_row,
        )
    }

    /// Adds the lists derived from calls and recordings.
    pub fn view(&self, conference: Conference) -> Result<ConferenceView, StoreError> {
        let id = conference.id.to_string();
        let mut stmt = self.conn.prepare_cached(
            "SELECT id FROM conferencecalls WHERE conference_id = ? AND status = 'joined' \
             ORDER BY join_seq",
        )?;
        let conferencecall_ids = stmt
            .query_map([&id], |r| r.get::<_, String>(0))?
            .map(|r| {
                let s = r?;
                Uuid::parse_str(&s).map_err(|_| corrupt("uuid", &s))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, status FROM recordings WHERE conference_id = ? ORDER BY tm_create, id",
        )?;
        let mut recording_ids = Vec::new();
        let mut recording_id = None;
        let mut rows = stmt.query([&id])?;
        while let Some(row) = rows.next()? {
            let rid = uuid_col(row, 0)?;
            let status: String = row.get(1)?;
            if status != RecordingStatus::Ended.as_str() {
                recording_id = Some(rid);
            }
            recording_ids.push(rid);
        }
        Ok(ConferenceView {
            conference,
            conferencecall_ids,
            recording_id,
            recording_ids,
        })
    }

    // ---- conferencecalls ---------------------------------------------------------------

    pub fn insert_call(&self, c: &Conferencecall) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(&format!(
                "INSERT INTO conferencecalls ({CALL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            ))?
            .execute(params![
                c.id.to_string(),
                c.customer_id.to_string(),
                c.conference_id.to_string(),
                c.reference_id,
                c.status.as_str(),
                c.tm_create.micros(),
                c.tm_update.micros(),
                c.tm_delete.map(Timestamp::micros),
            ])?;
        Ok(())
    }

    /// Moves a call to `status`. Reaching `joined` also takes the next join position.
    pub fn set_call_status(&self, c: &Conferencecall) -> Result<(), StoreError> {
        let joined = c.status == CallStatus::Joined;
        self.conn
            .prepare_cached(
                "UPDATE conferencecalls SET status = ?1, tm_update = ?2, tm_delete = ?3, \
                 join_seq = CASE WHEN ?4 THEN (SELECT COALESCE(MAX(join_seq), 0) + 1 \
                 FROM conferencecalls WHERE conference_id = ?5) ELSE join_seq END WHERE id = ?6",
            )?
            .execute(params![
                c.status.as_str(),
                c.tm_update.micros(),
                c.tm_delete.map(Timestamp::micros),
                joined,
                c.conference_id.to_string(),
                c.id.to_string(),
            ])?;
        Ok(())
    }

    pub fn call(
        &self,
        customer: Option<Uuid>,
        id: Uuid,
    ) -> Result<Option<Conferencecall>, StoreError> {
        self.optional_row(
            &format!(
                "SELECT {CALL_COLUMNS} FROM conferencecalls WHERE id = ?1 \
             AND (?2 IS NULL OR customer_id = ?2)"
            ),
            params![id.to_string(), customer.map(|c| c.to_string())],
            call_from_row,
        )
    }

    /// The platform call's membership that has not ended, if any (at most one exists).
    pub fn active_call(&self, reference_id: &str) -> Result<Option<Conferencecall>, StoreError> {
        self.optional_row(
            &format!(
            "SELECT {CALL_COLUMNS} FROM conferencecalls WHERE reference_id = ? AND status <> 'leaved'"
        ),
            [reference_id],
            call_from_row,
        )
    }

    /// The newest membership of a platform call in one conference, whatever its status.
    pub fn latest_call_in(
        &self,
        reference_id: &str,
        conference_id: Uuid,
    ) -> Result<Option<Conferencecall>, StoreError> {
        self.optional_row(
            &format!(
            "SELECT {CALL_COLUMNS} FROM conferencecalls WHERE reference_id = ? AND conference_id = ? \
             ORDER BY tm_create DESC LIMIT 1"
        ),
            params![reference_id, conference_id.to_string()],
            call_from_row,
        )
    }

    /// How many calls of a conference have not left, and how many of those are joined.
    pub fn call_counts(&self, conference_id: Uuid) -> Result<(usize, usize), StoreError> {
        let (active, joined): (i64, i64) = self
            .conn
            .prepare_cached(
                "SELECT COUNT(*), COALESCE(SUM(status = 'joined'), 0) FROM conferencecalls \
                 WHERE conference_id = ? AND status <> 'leaved'",
            )?
            .query_row([conference_id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok((active as usize, joined as usize))
    }

    /// Which API created a conference, without loading it.
    pub fn conference_origin(&self, id: Uuid) -> Result<Option<Origin>, StoreError> {
        let origin: Option<String> = self
            .conn
            .prepare_cached("SELECT origin FROM conferences WHERE id = ?")?
            .query_row([id.to_string()], |r| r.get(0))
            .optional()?;
        Ok(origin.and_then(|o| Origin::parse(&o)))
    }

    /// Calls of a conference that have not left, oldest first.
    pub fn calls_in(&self, conference_id: Uuid) -> Result<Vec<Conferencecall>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {CALL_COLUMNS} FROM conferencecalls WHERE conference_id = ? \
             AND status <> 'leaved' ORDER BY tm_create, id"
        ))?;
        let mut rows = stmt.query([conference_id.to_string()])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(call_from_row(row)?);
        }
        Ok(out)
    }

    // ---- recordings --------------------------------------------------------------------

    pub fn recording(
        &self,
        customer: Option<Uuid>,
        id: Uuid,
    ) -> Result<Option<Recording>, StoreError> {
        self.optional_row(
            &format!(
                "SELECT {RECORDING_COLUMNS} FROM recordings WHERE id = ?1 \
             AND (?2 IS NULL OR customer_id = ?2)"
            ),
            params![id.to_string(), customer.map(|c| c.to_string())],
            recording_from_row,
        )
    }

    pub fn insert_recording(&self, r: &Recording) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(&format!(
                "INSERT INTO recordings ({RECORDING_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))?
            .execute(params![
                r.id.to_string(),
                r.customer_id.to_string(),
                r.conference_id.to_string(),
                r.status.as_str(),
                r.format.as_str(),
                r.duration,
                r.media_url,
                r.tm_start.micros(),
                r.tm_end.map(Timestamp::micros),
                r.tm_create.micros(),
            ])?;
        Ok(())
    }

    pub fn update_recording(&self, r: &Recording) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE recordings SET status = ?, media_url = ?, tm_end = ? WHERE id = ?",
            )?
            .execute(params![
                r.status.as_str(),
                r.media_url,
                r.tm_end.map(Timestamp::micros),
                r.id.to_string(),
            ])?;
        Ok(())
    }

    /// The recording of a conference that has not ended, if any.
    pub fn active_recording(&self, conference_id: Uuid) -> Result<Option<Recording>, StoreError> {
        self.optional_row(
            &format!(
            "SELECT {RECORDING_COLUMNS} FROM recordings WHERE conference_id = ? AND status <> 'ended' \
             ORDER BY tm_create DESC LIMIT 1"
        ),
            [conference_id.to_string()],
            recording_from_row,
        )
    }

    /// Runs `f` so that if it fails, none of its changes remain (a nested savepoint).
    pub fn atomically<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Db) -> Result<T, E>,
    ) -> Result<T, E> {
        let run = |sql: &str| {
            self.conn
                .prepare_cached(sql)
                .and_then(|mut s| s.execute([]))
                .map(|_| ())
        };
        run("SAVEPOINT step").map_err(|e| E::from(e.into()))?;
        let result = f(self);
        let end = match &result {
            Ok(_) => run("RELEASE step"),
            Err(_) => run("ROLLBACK TO step").and_then(|_| run("RELEASE step")),
        };
        end.map_err(|e| E::from(e.into()))?;
        result
    }

    // ---- outbox --------------------------------------------------------------------------

    pub fn enqueue(&self, m: &StoredMessage) -> Result<(), StoreError> {
        if let Some(s) = self.signals {
            WriteSignals::raise(&s.outbox);
        }
        self.conn
            .prepare_cached(
                "INSERT INTO outbox (id, kind, customer_id, ordering_key, event_type, url, method, \
                 content_type, body, status, attempts, next_attempt_at, last_error, tm_create, \
                 tm_update) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, '', ?, ?)",
            )?
            .execute(params![
                m.id,
                m.kind,
                m.customer_id.map(|c| c.to_string()),
                m.ordering_key,
                m.event_type,
                m.url,
                m.method,
                m.content_type,
                m.body,
                m.next_attempt_at,
                m.tm_create,
                m.tm_update,
            ])?;
        Ok(())
    }

    /// Pending messages due by `now` that are first in line for their ordering key.
    /// Keys of `skip` (being delivered now) and messages of `busy` customers (at their
    /// concurrency cap) are left out, so they cannot crowd everyone else out of the page.
    pub fn due_messages(
        &self,
        now: i64,
        limit: usize,
        skip: &[String],
        busy: &[Uuid],
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let mut sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM outbox o WHERE o.status = 'pending' \
             AND o.next_attempt_at <= ? AND o.seq = (SELECT MIN(p.seq) FROM outbox p \
             WHERE p.ordering_key = o.ordering_key AND p.status = 'pending')"
        );
        let mut args = vec![SqlValue::Integer(now)];
        if !skip.is_empty() {
            sql.push_str(&format!(
                " AND o.ordering_key NOT IN ({})",
                vec!["?"; skip.len()].join(",")
            ));
            args.extend(skip.iter().map(|k| SqlValue::Text(k.clone())));
        }
        if !busy.is_empty() {
            sql.push_str(&format!(
                " AND (o.customer_id IS NULL OR o.customer_id NOT IN ({}))",
                vec!["?"; busy.len()].join(",")
            ));
            args.extend(busy.iter().map(|c| SqlValue::Text(c.to_string())));
        }
        sql.push_str(" ORDER BY o.next_attempt_at, o.seq LIMIT ?");
        args.push(SqlValue::Integer(limit as i64));
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(params_from_iter(args))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(message_from_row(row)?);
        }
        Ok(out)
    }

    /// The next messages of one ordering key in line, oldest first, as long as each is due by
    /// `now` (a message waiting for its retry holds back the ones after it).
    pub fn next_run(
        &self,
        key: &str,
        now: i64,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM outbox WHERE ordering_key = ? AND status = 'pending' \
             ORDER BY seq LIMIT ?"
        ))?;
        let mut rows = stmt.query(params![key, limit as i64])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let m = message_from_row(row)?;
            if m.next_attempt_at > now {
                break;
            }
            out.push(m);
        }
        Ok(out)
    }

    /// When the next pending message is due, if any is pending.
    pub fn next_message_due(&self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'pending'")?
            .query_row([], |r| r.get(0))?)
    }

    /// Records the outcome of a delivery attempt.
    pub fn record_attempt(&self, m: &StoredMessage) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE outbox SET status = ?, attempts = ?, next_attempt_at = ?, last_status = ?, \
                 last_error = ?, tm_update = ? WHERE seq = ?",
            )?
            .execute(params![
                m.status,
                m.attempts,
                m.next_attempt_at,
                m.last_status,
                m.last_error,
                m.tm_update,
                m.seq,
            ])?;
        Ok(())
    }

    pub fn message(&self, id: &str) -> Result<Option<StoredMessage>, StoreError> {
        self.optional_row(
            &format!("SELECT {MESSAGE_COLUMNS} FROM outbox WHERE id = ?"),
            [id],
            message_from_row,
        )
    }

    /// A customer's notifications, newest first, after the cursor `before_seq`.
    pub fn list_messages(
        &self,
        customer: Uuid,
        status: Option<&str>,
        before_seq: Option<i64>,
        limit: usize,
    ) -> Result<(Vec<StoredMessage>, Option<i64>), StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM outbox WHERE customer_id = ?1 AND kind = 'webhook' \
             AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR seq < ?3) \
             ORDER BY seq DESC LIMIT ?4"
        ))?;
        let mut rows = stmt.query(params![
            customer.to_string(),
            status,
            before_seq,
            limit as i64 + 1
        ])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(message_from_row(row)?);
        }
        let next = if out.len() > limit {
            out.truncate(limit);
            out.last().map(|m| m.seq)
        } else {
            None
        };
        Ok((out, next))
    }

    // ---- deadlines -----------------------------------------------------------------------

    /// Sets (or moves) the deadline of `kind` for `subject`.
    pub fn set_deadline(
        &self,
        kind: &str,
        subject: &str,
        due_at: Timestamp,
    ) -> Result<(), StoreError> {
        if let Some(s) = self.signals {
            WriteSignals::raise(&s.deadlines);
        }
        self.conn
            .prepare_cached(
                "INSERT INTO deadlines (kind, subject_id, due_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (kind, subject_id) DO UPDATE SET due_at = ?3",
            )?
            .execute(params![kind, subject, due_at.micros()])?;
        Ok(())
    }

    pub fn clear_deadline(&self, kind: &str, subject: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("DELETE FROM deadlines WHERE kind = ? AND subject_id = ?")?
            .execute(params![kind, subject])?;
        Ok(())
    }

    /// Deadlines due by `now`, earliest first.
    pub fn due_deadlines(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT kind, subject_id, due_at FROM deadlines WHERE due_at <= ? ORDER BY due_at LIMIT ?",
        )?;
        let rows = stmt.query_map(params![now.micros(), limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Whether a deadline is still set with exactly this due time (it was not moved or cleared
    /// since it was read).
    pub fn deadline_is(&self, kind: &str, subject: &str, due_at: i64) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT 1 FROM deadlines WHERE kind = ? AND subject_id = ? AND due_at = ?",
            )?
            .query_row(params![kind, subject, due_at], |_| Ok(()))
            .optional()?
            .is_some())
    }

    pub fn next_deadline(&self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT MIN(due_at) FROM deadlines")?
            .query_row([], |r| r.get(0))?)
    }

    /// The gauges of `/metrics`.
    pub fn gauges(&self) -> Result<crate::metrics::Gauges, StoreError> {
        let mut g = crate::metrics::Gauges::default();
        let mut stmt = self.conn.prepare_cached(
            "SELECT kind, status, COUNT(*) FROM outbox WHERE status IN ('pending', 'failed') \
             GROUP BY kind, status",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let (kind, status, n): (String, String, i64) = (row.get(0)?, row.get(1)?, row.get(2)?);
            if status == "pending" {
                g.outbox_pending.push((kind, n));
            } else {
                g.outbox_failed.push((kind, n));
            }
        }
        let (conferences, calls) = self.active_counts()?;
        g.active_conferences = conferences;
        g.active_calls = calls;
        g.deadlines = self
            .conn
            .prepare_cached("SELECT COUNT(*) FROM deadlines")?
            .query_row([], |r| r.get(0))?;
        Ok(g)
    }

    /// Deletes history older than its retention: answered platform events (the idempotency
    /// window) and delivered or failed outbox messages. Returns how many rows went.
    pub fn prune(
        &self,
        events_before: Timestamp,
        messages_before: Timestamp,
    ) -> Result<usize, StoreError> {
        let events = self
            .conn
            .prepare_cached("DELETE FROM platform_events WHERE tm_create < ?")?
            .execute([events_before.micros()])?;
        let messages = self
            .conn
            .prepare_cached(
                "DELETE FROM outbox WHERE status IN ('delivered', 'failed') AND tm_update < ?",
            )?
            .execute([messages_before.micros()])?;
        Ok(events + messages)
    }

    /// Counts for metrics: conferences not terminated, calls not left.
    pub fn active_counts(&self) -> Result<(i64, i64), StoreError> {
        let conferences = self
            .conn
            .prepare_cached("SELECT COUNT(*) FROM conferences WHERE status <> 'terminated'")?
            .query_row([], |r| r.get(0))?;
        let calls = self
            .conn
            .prepare_cached("SELECT COUNT(*) FROM conferencecalls WHERE status <> 'leaved'")?
            .query_row([], |r| r.get(0))?;
        Ok((conferences, calls))
    }

    // ---- platform events ---------------------------------------------------------------

    /// The answer already given to a platform event id.
    pub fn event_answer(&self, id: &str) -> Result<Option<(u16, String)>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT status, body FROM platform_events WHERE id = ?")?
            .query_row([id], |r| Ok((r.get::<_, u16>(0)?, r.get::<_, String>(1)?)))
            .optional()?)
    }

    pub fn record_event_answer(
        &self,
        id: &str,
        event_type: &str,
        status: u16,
        body: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO platform_events (id, type, status, body, tm_create) VALUES (?, ?, ?, ?, ?)",
            )?
            .execute(params![id, event_type, status, body, now.micros()])?;
        Ok(())
    }
}
