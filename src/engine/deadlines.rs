//! Deadlines as the scheduler fires them (§8): a conference's timeout, the XML idle rule, a
//! kicked call's grace.

use super::{Engine, EngineError};
use crate::domain::deadline::DueDeadline;
use uuid::Uuid;

impl Engine {
    /// Fires one deadline, unless it was moved or cleared since it was read. A deadline of a
    /// kind this build does not know, or about no valid id, is dropped.
    pub async fn fire_deadline(&self, due: &DueDeadline) -> Result<(), EngineError> {
        let due_at = due.due_at;
        let kind = match &due.kind {
            Ok(k) => *k,
            Err(kind) => {
                tracing::warn!(kind, "unknown deadline kind; dropping it");
                let (kind, subject) = (kind.clone(), due.subject.clone());
                return self
                    .transact(move |rules| Ok(rules.db().drop_unknown_deadline(&kind, &subject)?))
                    .await;
            }
        };
        let Ok(id) = Uuid::parse_str(&due.subject) else {
            let subject = due.subject.clone();
            return self
                .transact(move |rules| Ok(rules.db().clear_deadline(kind, &subject)?))
                .await;
        };
        self.transact(move |rules| rules.fire_deadline(kind, id, due_at))
            .await
    }
}
