//! Conferencecalls as a customer reads and kicks them.

use super::{Engine, EngineError, Refusal};
use crate::domain::conference::Conferencecall;
use crate::domain::{ConferencecallId, CustomerId};

impl Engine {
    pub async fn call(
        &self,
        customer: CustomerId,
        id: ConferencecallId,
    ) -> Result<Conferencecall, EngineError> {
        self.store
            .read(move |db| db.call(Some(customer), id))
            .await?
            .ok_or(EngineError::Refused(Refusal::ConferencecallNotFound))
    }

    /// Kicks one call at a customer's request (`DELETE /conferencecalls/{id}`).
    pub async fn kick_call(
        &self,
        customer: CustomerId,
        id: ConferencecallId,
    ) -> Result<Conferencecall, EngineError> {
        self.transact(move |rules| {
            let db = rules.db();
            let found = db
                .call(Some(customer), id)?
                .ok_or(Refusal::ConferencecallNotFound)?;
            // Under the conference's lock, read the call again: it may have moved meanwhile.
            db.lock_conference(found.conference_id)?;
            let mut call = db
                .call(Some(customer), id)?
                .ok_or(Refusal::ConferencecallNotFound)?;
            rules.kick(&mut call)?;
            Ok(call)
        })
        .await
    }
}
