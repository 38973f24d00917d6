//! Recordings of conferences (§3.3): their format and status, and the JSON the API shows.

use super::ids::{ConferenceId, CustomerId, RecordingId};
use super::names::names;
use crate::domain::conference::json_string_len;
use crate::domain::timestamp::{api_or_not_set, ApiTime, Timestamp};
use serde::Serialize;

/// Upper bound of the parts of a recording's JSON that do not vary (names, punctuation, ids,
/// timestamps, numbers, enums), so `json_len` is never below the real length.
const RECORDING_JSON_FIXED: usize = 390;

// The format of a recording (a plain comment: the document's schema has no description).
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum RecordingFormat {
    Wav,
    Mp3,
}

names!(RecordingFormat {
    Wav = "wav",
    Mp3 = "mp3",
});

/// What a recording refers to: always a conference.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum RecordingReferenceType {
    Conference,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum RecordingStatus {
    Recording,
    Stopping,
    Ended,
}

names!(RecordingStatus {
    Recording = "recording",
    Stopping = "stopping",
    Ended = "ended",
});

/// A recording of a conference (§3.3).
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    pub id: RecordingId,
    pub customer_id: CustomerId,
    pub conference_id: ConferenceId,
    pub status: RecordingStatus,
    pub format: RecordingFormat,
    pub duration: i64,
    pub media_url: String,
    pub tm_start: Timestamp,
    pub tm_end: Option<Timestamp>,
    pub tm_create: Timestamp,
    /// The platform call the recording runs on, for dialects that record per call;
    /// empty when the platform records the conference itself.
    pub platform_call: String,
}

/// A recording of a conference (§3.3).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Recording)]
pub struct RecordingJson<'a> {
    id: RecordingId,
    customer_id: CustomerId,
    #[schema(value_type = RecordingReferenceType)]
    reference_type: &'static str,
    /// The conference recorded.
    reference_id: ConferenceId,
    #[schema(value_type = RecordingStatus)]
    status: &'static str,
    #[schema(value_type = RecordingFormat)]
    format: &'static str,
    /// The longest it may run, in seconds.
    #[schema(minimum = 0, maximum = 86400)]
    duration: i64,
    /// Where the platform put the media; empty until it has finished.
    media_url: &'a str,
    #[schema(value_type = ApiTime)]
    tm_start: String,
    #[schema(value_type = ApiTime)]
    tm_end: String,
    #[schema(value_type = ApiTime)]
    tm_create: String,
}

impl Recording {
    /// At least the length of `json()` rendered.
    pub fn json_len(&self) -> usize {
        RECORDING_JSON_FIXED + json_string_len(&self.media_url)
    }

    pub fn json(&self) -> RecordingJson<'_> {
        RecordingJson {
            id: self.id,
            customer_id: self.customer_id,
            reference_type: "conference",
            reference_id: self.conference_id,
            status: self.status.as_str(),
            format: self.format.as_str(),
            duration: self.duration,
            media_url: &self.media_url,
            tm_start: self.tm_start.to_api(),
            tm_end: api_or_not_set(self.tm_end),
            tm_create: self.tm_create.to_api(),
        }
    }
}
