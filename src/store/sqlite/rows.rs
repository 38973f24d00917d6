//! What the SQLite queries share: the record mappers (`store::columns`) and how a SQLite row
//! reads its columns.

pub(super) use crate::domain::conference::{
    CallStatus, Conference, ConferenceView, Conferencecall, Recording, RecordingStatus,
};
pub(super) use crate::domain::customer::Customer;
pub(super) use crate::domain::timestamp::Timestamp;
pub(super) use crate::domain::{ConferenceId, ConferencecallId, CustomerId, RecordingId};
pub(super) use crate::store::records::*;
pub(super) use crate::store::StoreError;
pub(super) use rusqlite::types::Value as SqlValue;
pub(super) use rusqlite::{params, params_from_iter, OptionalExtension, Row};
pub(super) use uuid::Uuid;

pub(super) use crate::store::columns::*;

impl Columns for Row<'_> {
    fn text(&self, idx: usize) -> Result<String, StoreError> {
        Ok(self.get(idx)?)
    }
    fn opt_text(&self, idx: usize) -> Result<Option<String>, StoreError> {
        Ok(self.get(idx)?)
    }
    fn int(&self, idx: usize) -> Result<i64, StoreError> {
        Ok(self.get(idx)?)
    }
    fn opt_int(&self, idx: usize) -> Result<Option<i64>, StoreError> {
        Ok(self.get(idx)?)
    }
}
