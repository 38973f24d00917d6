//! The stored records' column lists and row mappers, written once for both backends over
//! `Columns`: the few typed reads a result row of either database gives.

use crate::actions::RecordingFormat;
use crate::domain::conference::{
    CallStatus, Conference, ConferenceStatus, ConferenceType, Conferencecall, Origin, Recording,
    RecordingStatus, StoredJson, XmlAttributes,
};
use crate::domain::customer::Customer;
use crate::domain::dialect::{Connections, Dialect};
use crate::domain::notification::{NotificationType, WebhookMethod};
use crate::domain::room::{Role, RoomRules};
use crate::domain::timestamp::Timestamp;
use crate::domain::CustomerId;
use crate::secrets::Secrets;
use crate::store::records::{DeliveryStatus, MessageKind, StoredMessage};
use crate::store::secrets::{SecretField, StoredSecrets};
use crate::store::StoreError;
use uuid::Uuid;

/// A result row: its columns read as the four types confab stores.
pub trait Columns {
    fn text(&self, idx: usize) -> Result<String, StoreError>;
    fn opt_text(&self, idx: usize) -> Result<Option<String>, StoreError>;
    fn int(&self, idx: usize) -> Result<i64, StoreError>;
    fn opt_int(&self, idx: usize) -> Result<Option<i64>, StoreError>;
}

impl dyn Columns + '_ {
    /// A column as whichever of the four types the caller expects.
    pub fn get<T: Value>(&self, idx: usize) -> Result<T, StoreError> {
        T::read(self, idx)
    }
}

/// A type a column is read as.
pub trait Value: Sized {
    fn read(row: &dyn Columns, idx: usize) -> Result<Self, StoreError>;
}

impl Value for String {
    fn read(row: &dyn Columns, idx: usize) -> Result<Self, StoreError> {
        row.text(idx)
    }
}

impl Value for Option<String> {
    fn read(row: &dyn Columns, idx: usize) -> Result<Self, StoreError> {
        row.opt_text(idx)
    }
}

impl Value for i64 {
    fn read(row: &dyn Columns, idx: usize) -> Result<Self, StoreError> {
        row.int(idx)
    }
}

impl Value for Option<i64> {
    fn read(row: &dyn Columns, idx: usize) -> Result<Self, StoreError> {
        row.opt_int(idx)
    }
}

pub const PAUSE_COLUMNS: &str = "conferencecall_id, seq, active, list, program, state, tm_update";

pub fn pause_from_row(row: &dyn Columns) -> Result<crate::store::records::StoredPause, StoreError> {
    let id: String = row.get(0)?;
    Ok(crate::store::records::StoredPause {
        conferencecall_id: Uuid::parse_str(&id)
            .map(crate::domain::ConferencecallId)
            .map_err(|_| corrupt("uuid", &id))?,
        seq: row.get(1)?,
        active: row.get::<i64>(2)? != 0,
        list: row.get(3)?,
        program: row.get(4)?,
        state: row.get(5)?,
        tm_update: row.get(6)?,
    })
}

pub const MESSAGE_COLUMNS: &str =
    "seq, id, kind, customer_id, ordering_key, event_type, url, method, \
     content_type, body, status, attempts, next_attempt_at, last_status, last_error, tm_create, \
     tm_update";

pub fn message_from_row(row: &dyn Columns) -> Result<StoredMessage, StoreError> {
    let customer: Option<String> = row.get(3)?;
    let (kind, status): (String, String) = (row.get(2)?, row.get(10)?);
    Ok(StoredMessage {
        seq: row.get(0)?,
        id: row.get(1)?,
        kind: MessageKind::parse(&kind).ok_or_else(|| corrupt("message kind", &kind))?,
        customer_id: customer
            .map(|c| {
                Uuid::parse_str(&c)
                    .map(CustomerId)
                    .map_err(|_| corrupt("uuid", &c))
            })
            .transpose()?,
        ordering_key: row.get(4)?,
        event_type: row.get(5)?,
        url: row.get(6)?,
        method: row.get(7)?,
        content_type: row.get(8)?,
        body: row.get(9)?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| corrupt("delivery status", &status))?,
        attempts: row.get(11)?,
        next_attempt_at: row.get(12)?,
        last_status: row.get(13)?,
        last_error: row.get(14)?,
        tm_create: row.get(15)?,
        tm_update: row.get(16)?,
    })
}

/// A customer's stored `webhook_events`: a JSON array of notification type names, each one
/// checked when it was set, so a name this build does not know means the row is corrupt.
fn notification_types(stored: &str) -> Result<Vec<NotificationType>, StoreError> {
    let names: Vec<String> =
        serde_json::from_str(stored).map_err(|_| corrupt("webhook_events", stored))?;
    names
        .iter()
        .map(|n| NotificationType::parse(n).ok_or_else(|| corrupt("webhook_events", stored)))
        .collect()
}

pub fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what}: {value:?}"))
}

pub fn uuid_col<T: From<Uuid>>(row: &dyn Columns, idx: usize) -> Result<T, StoreError> {
    let s: String = row.get(idx)?;
    Uuid::parse_str(&s)
        .map(T::from)
        .map_err(|_| corrupt("uuid", &s))
}

pub fn ts(row: &dyn Columns, idx: usize) -> Result<Timestamp, StoreError> {
    Ok(Timestamp(row.get(idx)?))
}

pub fn opt_ts(row: &dyn Columns, idx: usize) -> Result<Option<Timestamp>, StoreError> {
    Ok(row.get::<Option<i64>>(idx)?.map(Timestamp))
}

pub const CONFERENCE_COLUMNS: &str = "id, customer_id, type, status, name, detail, data, timeout, \
     pre_actions, post_actions, origin, app_sid, user_data, on_status, tm_create, tm_update, \
     tm_delete, tm_begin, tm_end, xml_status, max_participants, locked, wait_for_moderator, \
     end_on_moderator_exit, wait_music_url";

pub fn conference_from_row(row: &dyn Columns) -> Result<Conference, StoreError> {
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
        room: RoomRules {
            max_participants: row.get(20)?,
            locked: row.get::<i64>(21)? != 0,
            wait_for_moderator: row.get::<i64>(22)? != 0,
            end_on_moderator_exit: row.get::<i64>(23)? != 0,
            wait_music_url: row.get(24)?,
        },
    })
}

pub const CALL_COLUMNS: &str = "id, customer_id, conference_id, reference_id, status, \
     tm_create, tm_update, tm_delete, dialect, platform_conference, role, muted, hold, \
     leave_reason, tm_joined, tm_left, call_from, call_to";

pub fn call_from_row(row: &dyn Columns) -> Result<Conferencecall, StoreError> {
    let status: String = row.get(4)?;
    let dialect: String = row.get(8)?;
    Ok(Conferencecall {
        id: uuid_col(row, 0)?,
        customer_id: uuid_col(row, 1)?,
        conference_id: uuid_col(row, 2)?,
        reference_id: row.get(3)?,
        status: CallStatus::parse(&status).ok_or_else(|| corrupt("call status", &status))?,
        tm_create: ts(row, 5)?,
        tm_update: ts(row, 6)?,
        tm_delete: opt_ts(row, 7)?,
        dialect: Dialect::parse(&dialect).ok_or_else(|| corrupt("dialect", &dialect))?,
        platform_conference: row.get(9)?,
        role: {
            let role: String = row.get(10)?;
            Role::parse(&role).ok_or_else(|| corrupt("role", &role))?
        },
        muted: row.get::<i64>(11)? != 0,
        hold: row.get::<i64>(12)? != 0,
        leave_reason: row.get(13)?,
        tm_joined: opt_ts(row, 14)?,
        tm_left: opt_ts(row, 15)?,
        from: row.get(16)?,
        to: row.get(17)?,
    })
}

pub const RECORDING_COLUMNS: &str = "id, customer_id, conference_id, status, format, duration, \
     media_url, tm_start, tm_end, tm_create, platform_call";

pub fn recording_from_row(row: &dyn Columns) -> Result<Recording, StoreError> {
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
        platform_call: row.get(10)?,
    })
}

/// The columns `customer_from_row` reads, in its order.
pub const CUSTOMER_COLUMNS: &str = "id, name, webhook_uri, webhook_method, webhook_secret, \
     webhook_events, tm_create, tm_update, webhook_secret_previous, \
     webhook_secret_previous_until, connections";

/// A customer row, its secret columns opened with `secrets` (see `store::secrets`).
pub fn customer_from_row(row: &dyn Columns, secrets: &Secrets) -> Result<Customer, StoreError> {
    let id: String = row.get(0)?;
    let method: String = row.get(3)?;
    let events: String = row.get(5)?;
    let open = |idx: usize, field: SecretField| -> Result<String, StoreError> {
        let stored: String = row.get(idx)?;
        crate::store::secrets::open(secrets, &id, field, &stored)
    };
    let connections = open(10, SecretField::Connections)?;
    Ok(Customer {
        id: uuid_col(row, 0)?,
        name: row.get(1)?,
        webhook_uri: row.get(2)?,
        webhook_method: WebhookMethod::parse(&method)
            .ok_or_else(|| corrupt("webhook_method", &method))?,
        webhook_secret: open(4, SecretField::WebhookSecret)?,
        webhook_events: notification_types(&events)?,
        previous_secret: match (
            open(8, SecretField::WebhookSecretPrevious)?,
            opt_ts(row, 9)?,
        ) {
            (s, Some(until)) if !s.is_empty() => Some((s, until)),
            _ => None,
        },
        connections: Connections::from_stored(&connections)
            .map_err(|_| corrupt("connections", "(not shown: holds secrets)"))?,
        tm_create: ts(row, 6)?,
        tm_update: ts(row, 7)?,
    })
}

/// The columns `stored_secrets_from_row` reads, in its order.
pub const SECRET_COLUMNS: &str = "id, webhook_secret, webhook_secret_previous, connections";

pub fn stored_secrets_from_row(row: &dyn Columns) -> Result<StoredSecrets, StoreError> {
    Ok(StoredSecrets {
        customer: row.get(0)?,
        values: [row.get(1)?, row.get(2)?, row.get(3)?],
    })
}
