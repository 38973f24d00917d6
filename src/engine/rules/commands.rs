//! Platform commands (§7.1): what confab asks the native platform to do, queued in the outbox in
//! the transaction of the change that needs it.

use super::Rules;
use crate::domain::ConferenceId;
use crate::engine::EngineError;
use crate::outbox::message;
use serde_json::{json, Value};
use uuid::Uuid;

impl Rules<'_> {
    /// Queues a platform command (when a platform URL is set).
    pub(crate) fn command(
        &self,
        conference_id: ConferenceId,
        kind: &str,
        data: Value,
    ) -> Result<(), EngineError> {
        let Some(base) = &self.settings.platform_url else {
            tracing::debug!(kind, "no --platform-url: command not sent");
            return Ok(());
        };
        let id = Uuid::now_v7().to_string();
        let body = json!({"id": id, "type": kind, "data": data}).to_string();
        self.db.enqueue(&message::command(
            id,
            conference_id,
            kind,
            format!("{}/commands", base.trim_end_matches('/')),
            body,
            self.now.micros() + self.settings.command_first_delay_micros,
            self.now,
        ))?;
        Ok(())
    }
}
