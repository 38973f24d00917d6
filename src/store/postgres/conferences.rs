//! Customers, conferences and recordings, in PostgreSQL.

use super::rows::*;
use super::{LockSpace, PgTx};
use crate::store::tx::{ConferenceStore, CustomerReads, CustomerStore, RecordingStore};

impl CustomerStore for PgTx<'_> {
    fn insert_customer(&self, c: &Customer, key_hash: &[u8; 32]) -> Result<(), StoreError> {
        let events = serde_json::to_string(&c.webhook_events).unwrap_or_else(|_| "[]".into());
        self.execute(
            "INSERT INTO customers (id, name, webhook_uri, webhook_method, webhook_secret, \
             webhook_events, tm_create, tm_update, connections) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &c.id.to_string(),
                &c.name,
                &c.webhook_uri,
                &c.webhook_method.as_str(),
                &c.webhook_secret,
                &events,
                &c.tm_create.micros(),
                &c.tm_update.micros(),
                &c.connections.to_stored(),
            ],
        )?;
        self.execute(
            "INSERT INTO api_keys (key_hash, customer_id, tm_create) VALUES ($1, $2, $3)",
            &[&&key_hash[..], &c.id.to_string(), &c.tm_create.micros()],
        )?;
        Ok(())
    }

    /// Writes every mutable column of a customer.
    fn update_customer(&self, c: &Customer) -> Result<(), StoreError> {
        let (previous, until) = match &c.previous_secret {
            Some((s, t)) => (s.clone(), Some(t.micros())),
            None => (String::new(), None),
        };
        let events = serde_json::to_string(&c.webhook_events).unwrap_or_else(|_| "[]".into());
        self.execute(
            "UPDATE customers SET name = $1, webhook_uri = $2, webhook_method = $3, \
             webhook_secret = $4, webhook_events = $5, webhook_secret_previous = $6, \
             webhook_secret_previous_until = $7, tm_update = $8, connections = $9 \
             WHERE id = $10",
            &[
                &c.name,
                &c.webhook_uri,
                &c.webhook_method.as_str(),
                &c.webhook_secret,
                &events,
                &previous,
                &until,
                &c.tm_update.micros(),
                &c.connections.to_stored(),
                &c.id.to_string(),
            ],
        )?;
        Ok(())
    }

    fn customer_id_by_key(&self, key_hash: &[u8; 32]) -> Result<Option<CustomerId>, StoreError> {
        self.optional_row(
            "SELECT customer_id FROM api_keys WHERE key_hash = $1",
            &[&&key_hash[..]],
            |row| uuid_col(row, 0),
        )
    }
}

impl CustomerReads for PgTx<'_> {
    fn customer(&self, id: CustomerId) -> Result<Option<Customer>, StoreError> {
        self.optional_row(
            &format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = $1"),
            &[&id.to_string()],
            customer_from_row,
        )
    }

    fn signing_secrets(
        &self,
        customer: CustomerId,
        now: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        Ok(self
            .customer(customer)?
            .map(|c| c.signing_secrets(now))
            .unwrap_or_default())
    }
}

impl ConferenceStore for PgTx<'_> {
    /// An advisory lock rather than a row lock: it also serializes the creation of a
    /// conference that has no row yet, and it is held until the transaction ends.
    fn lock_conference(&self, id: ConferenceId) -> Result<(), StoreError> {
        self.lock(LockSpace::Conference, &id.to_string())
    }

    fn insert_conference(&self, c: &Conference) -> Result<(), StoreError> {
        self.execute(
            &format!(
                "INSERT INTO conferences ({CONFERENCE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, \
                 $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
            ),
            &[
                &c.id.to_string(),
                &c.customer_id.to_string(),
                &c.kind.as_str(),
                &c.status.as_str(),
                &c.name,
                &c.detail,
                &c.data.text(),
                &c.timeout,
                &c.pre_actions.text(),
                &c.post_actions.text(),
                &c.origin.as_str(),
                &c.xml.app_sid,
                &c.xml.user_data,
                &c.xml.on_status,
                &c.tm_create.micros(),
                &c.tm_update.micros(),
                &c.tm_delete.map(Timestamp::micros),
                &c.tm_begin.map(Timestamp::micros),
                &c.tm_end.map(Timestamp::micros),
                &c.xml.reported_status,
            ],
        )?;
        Ok(())
    }

    fn update_conference(&self, c: &Conference) -> Result<(), StoreError> {
        self.execute(
            "UPDATE conferences SET status = $1, name = $2, detail = $3, data = $4, \
             timeout = $5, pre_actions = $6, post_actions = $7, app_sid = $8, user_data = $9, \
             on_status = $10, tm_update = $11, tm_delete = $12, tm_begin = $13, tm_end = $14, \
             xml_status = $15 WHERE id = $16",
            &[
                &c.status.as_str(),
                &c.name,
                &c.detail,
                &c.data.text(),
                &c.timeout,
                &c.pre_actions.text(),
                &c.post_actions.text(),
                &c.xml.app_sid,
                &c.xml.user_data,
                &c.xml.on_status,
                &c.tm_update.micros(),
                &c.tm_delete.map(Timestamp::micros),
                &c.tm_begin.map(Timestamp::micros),
                &c.tm_end.map(Timestamp::micros),
                &c.xml.reported_status,
                &c.id.to_string(),
            ],
        )?;
        Ok(())
    }

    fn conference(
        &self,
        customer: Option<CustomerId>,
        id: ConferenceId,
    ) -> Result<Option<Conference>, StoreError> {
        self.optional_row(
            &format!(
                "SELECT {CONFERENCE_COLUMNS} FROM conferences WHERE id = $1 \
                 AND ($2::text IS NULL OR customer_id = $2)"
            ),
            &[&id.to_string(), &customer.map(|c| c.to_string())],
            conference_from_row,
        )
    }

    fn view(&self, conference: Conference) -> Result<ConferenceView, StoreError> {
        let id = conference.id.to_string();
        let conferencecall_ids = self
            .query(
                "SELECT id FROM conferencecalls WHERE conference_id = $1 AND status = 'joined' \
                 ORDER BY join_seq",
                &[&id],
            )?
            .iter()
            .map(|row| uuid_col(row, 0))
            .collect::<Result<Vec<ConferencecallId>, _>>()?;
        let mut recording_ids = Vec::new();
        let mut recording_id = None;
        for row in self.query(
            "SELECT id, status FROM recordings WHERE conference_id = $1 ORDER BY tm_create, id",
            &[&id],
        )? {
            let rid = uuid_col(&row, 0)?;
            let status: String = row.try_get(1)?;
            if status == RecordingStatus::Recording.as_str() {
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
}

impl RecordingStore for PgTx<'_> {
    fn recording(
        &self,
        customer: Option<CustomerId>,
        id: RecordingId,
    ) -> Result<Option<Recording>, StoreError> {
        self.optional_row(
            &format!(
                "SELECT {RECORDING_COLUMNS} FROM recordings WHERE id = $1 \
                 AND ($2::text IS NULL OR customer_id = $2)"
            ),
            &[&id.to_string(), &customer.map(|c| c.to_string())],
            recording_from_row,
        )
    }

    fn insert_recording(&self, r: &Recording) -> Result<(), StoreError> {
        self.execute(
            &format!(
                "INSERT INTO recordings ({RECORDING_COLUMNS}) VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            ),
            &[
                &r.id.to_string(),
                &r.customer_id.to_string(),
                &r.conference_id.to_string(),
                &r.status.as_str(),
                &r.format.as_str(),
                &r.duration,
                &r.media_url,
                &r.tm_start.micros(),
                &r.tm_end.map(Timestamp::micros),
                &r.tm_create.micros(),
                &r.platform_call,
            ],
        )?;
        Ok(())
    }

    fn update_recording(&self, r: &Recording) -> Result<(), StoreError> {
        self.execute(
            "UPDATE recordings SET status = $1, media_url = $2, tm_end = $3, platform_call = $4 \
             WHERE id = $5",
            &[
                &r.status.as_str(),
                &r.media_url,
                &r.tm_end.map(Timestamp::micros),
                &r.platform_call,
                &r.id.to_string(),
            ],
        )?;
        Ok(())
    }

    fn active_recording(
        &self,
        conference_id: ConferenceId,
    ) -> Result<Option<Recording>, StoreError> {
        self.optional_row(
            &format!(
                "SELECT {RECORDING_COLUMNS} FROM recordings WHERE conference_id = $1 \
                 AND status = 'recording' ORDER BY tm_create DESC LIMIT 1"
            ),
            &[&conference_id.to_string()],
            recording_from_row,
        )
    }
}
