//! Column lists and row mappers shared by the PostgreSQL queries.

pub(super) use crate::actions::RecordingFormat;
pub(super) use crate::domain::conference::{
    CallStatus, Conference, ConferenceStatus, ConferenceType, ConferenceView, Conferencecall,
    Origin, Recording, RecordingStatus, StoredJson, XmlAttributes,
};
pub(super) use crate::domain::customer::Customer;
pub(super) use crate::domain::timestamp::Timestamp;
pub(super) use crate::domain::{ConferenceId, ConferencecallId, CustomerId, RecordingId};
pub(super) use crate::store::records::*;
pub(super) use crate::store::StoreError;
pub(super) use postgres::types::ToSql;
pub(super) use postgres::Row;
pub(super) use uuid::Uuid;

pub(super) const MESSAGE_COLUMNS: &str =
    "seq, id, kind, customer_id, ordering_key, event_type, url, method, \
     content_type, body, status, attempts, next_attempt_at, last_status, last_error, tm_create, \
     tm_update";

pub(super) fn message_from_row(row: &Row) -> Result<StoredMessage, StoreError> {
    let customer: Option<String> = row.try_get(3)?;
    let (kind, status): (String, String) = (row.try_get(2)?, row.try_get(10)?);
    Ok(StoredMessage {
        seq: row.try_get(0)?,
        id: row.try_get(1)?,
        kind: MessageKind::parse(&kind).ok_or_else(|| corrupt("message kind", &kind))?,
        customer_id: customer
            .map(|c| {
                Uuid::parse_str(&c)
                    .map(CustomerId)
                    .map_err(|_| corrupt("uuid", &c))
            })
            .transpose()?,
        ordering_key: row.try_get(4)?,
        event_type: row.try_get(5)?,
        url: row.try_get(6)?,
        method: row.try_get(7)?,
        content_type: row.try_get(8)?,
        body: row.try_get(9)?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| corrupt("delivery status", &status))?,
        attempts: row.try_get(11)?,
        next_attempt_at: row.try_get(12)?,
        last_status: row.try_get(13)?,
        last_error: row.try_get(14)?,
        tm_create: row.try_get(15)?,
        tm_update: row.try_get(16)?,
    })
}

pub(super) fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what}: {value:?}"))
}

pub(super) fn uuid_col<T: From<Uuid>>(row: &Row, idx: usize) -> Result<T, StoreError> {
    let s: String = row.try_get(idx)?;
    Uuid::parse_str(&s)
        .map(T::from)
        .map_err(|_| corrupt("uuid", &s))
}

pub(super) fn ts(row: &Row, idx: usize) -> Result<Timestamp, StoreError> {
    Ok(Timestamp(row.try_get(idx)?))
}

pub(super) fn opt_ts(row: &Row, idx: usize) -> Result<Option<Timestamp>, StoreError> {
    Ok(row.try_get::<_, Option<i64>>(idx)?.map(Timestamp))
}

pub(super) const CONFERENCE_COLUMNS: &str =
    "id, customer_id, type, status, name, detail, data, timeout, \
     pre_actions, post_actions, origin, app_sid, user_data, on_status, tm_create, tm_update, \
     tm_delete, tm_begin, tm_end, xml_status";

pub(super) fn conference_from_row(row: &Row) -> Result<Conference, StoreError> {
    let kind: String = row.try_get(2)?;
    let status: String = row.try_get(3)?;
    let data: String = row.try_get(6)?;
    let pre: String = row.try_get(8)?;
    let post: String = row.try_get(9)?;
    let origin: String = row.try_get(10)?;
    Ok(Conference {
        id: uuid_col(row, 0)?,
        customer_id: uuid_col(row, 1)?,
        kind: ConferenceType::parse(&kind).ok_or_else(|| corrupt("conference type", &kind))?,
        status: ConferenceStatus::parse(&status)
            .ok_or_else(|| corrupt("conference status", &status))?,
        name: row.try_get(4)?,
        detail: row.try_get(5)?,
        data: StoredJson::from_stored(data),
        timeout: row.try_get(7)?,
        pre_actions: StoredJson::from_stored(pre),
        post_actions: StoredJson::from_stored(post),
        origin: Origin::parse(&origin).ok_or_else(|| corrupt("origin", &origin))?,
        xml: XmlAttributes {
            app_sid: row.try_get(11)?,
            user_data: row.try_get(12)?,
            on_status: row.try_get(13)?,
            reported_status: row.try_get(19)?,
        },
        tm_create: ts(row, 14)?,
        tm_update: ts(row, 15)?,
        tm_delete: opt_ts(row, 16)?,
        tm_begin: opt_ts(row, 17)?,
        tm_end: opt_ts(row, 18)?,
    })
}

pub(super) const CALL_COLUMNS: &str =
    "id, customer_id, conference_id, reference_id, status, tm_create, tm_update, tm_delete";

pub(super) fn call_from_row(row: &Row) -> Result<Conferencecall, StoreError> {
    let status: String = row.try_get(4)?;
    Ok(Conferencecall {
        id: uuid_col(row, 0)?,
        customer_id: uuid_col(row, 1)?,
        conference_id: uuid_col(row, 2)?,
        reference_id: row.try_get(3)?,
        status: CallStatus::parse(&status).ok_or_else(|| corrupt("call status", &status))?,
        tm_create: ts(row, 5)?,
        tm_update: ts(row, 6)?,
        tm_delete: opt_ts(row, 7)?,
    })
}

pub(super) const RECORDING_COLUMNS: &str =
    "id, customer_id, conference_id, status, format, duration, \
     media_url, tm_start, tm_end, tm_create";

pub(super) fn recording_from_row(row: &Row) -> Result<Recording, StoreError> {
    let status: String = row.try_get(3)?;
    let format: String = row.try_get(4)?;
    Ok(Recording {
        id: uuid_col(row, 0)?,
        customer_id: uuid_col(row, 1)?,
        conference_id: uuid_col(row, 2)?,
        status: RecordingStatus::parse(&status)
            .ok_or_else(|| corrupt("recording status", &status))?,
        format: RecordingFormat::parse(&format).ok_or_else(|| corrupt("format", &format))?,
        duration: row.try_get(5)?,
        media_url: row.try_get(6)?,
        tm_start: ts(row, 7)?,
        tm_end: opt_ts(row, 8)?,
        tm_create: ts(row, 9)?,
    })
}

pub(super) fn customer_from_row(row: &Row) -> Result<Customer, StoreError> {
    let events: String = row.try_get(5)?;
    Ok(Customer {
        id: uuid_col(row, 0)?,
        name: row.try_get(1)?,
        webhook_uri: row.try_get(2)?,
        webhook_method: row.try_get(3)?,
        webhook_secret: row.try_get(4)?,
        webhook_events: serde_json::from_str(&events)
            .map_err(|_| corrupt("webhook_events", &events))?,
        previous_secret: match (row.try_get::<_, String>(8)?, opt_ts(row, 9)?) {
            (s, Some(until)) if !s.is_empty() => Some((s, until)),
            _ => None,
        },
        tm_create: ts(row, 6)?,
        tm_update: ts(row, 7)?,
    })
}
