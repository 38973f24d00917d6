//! The XML API's use cases (§6.2): its conferences are ordinary conferences of the shared core
//! with extra rules (`rules/xml.rs`) — deleted when nobody joins within the idle timeout or
//! when they empty after having had participants — and status changes reported to `onStatus`.

use super::conferences::check_text;
use super::rules::calls_joining;
use super::{invalid, ConferenceDraft, Engine, EngineError, Refusal};
use crate::domain::conference::{
    Conference, ConferenceType, Conferencecall, Origin, XmlAttributes, XmlStatus,
};
use crate::domain::notification::NotificationType;
use crate::domain::{ConferenceId, ConferencecallId, CustomerId};

/// Longest `userData` (§6.2).
pub const MAX_USER_DATA_CHARS: usize = 128;

impl Engine {
    /// Creates a conference through the XML API: an ordinary conference with the XML
    /// attributes and an idle deadline.
    pub async fn create_xml_conference(
        &self,
        customer: CustomerId,
        xml: XmlAttributes,
    ) -> Result<(Conference, XmlStatus), EngineError> {
        // Bounded and free of control characters (NUL included) like every stored text.
        check_text("userData", &xml.user_data, MAX_USER_DATA_CHARS)?;
        if !xml.on_status.is_empty() {
            match reqwest::Url::parse(&xml.on_status) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
                _ => return Err(invalid("onStatus", "must be an http(s) URL")),
            }
        }
        check_text("appSid", &xml.app_sid, 64)?;
        let draft = ConferenceDraft {
            kind: Some(ConferenceType::Conference),
            origin: Some(Origin::Xml),
            xml: XmlAttributes {
                reported_status: XmlStatus::Initiated.as_str().into(),
                ..xml
            },
            ..Default::default()
        };
        let view = self.create_conference(customer, draft).await?;
        Ok((view.conference, XmlStatus::Initiated))
    }

    /// A conference of `customer` with its XML status.
    pub async fn xml_conference(
        &self,
        customer: CustomerId,
        id: ConferenceId,
    ) -> Result<(Conference, XmlStatus), EngineError> {
        self.store
            .read(move |db| {
                let Some(conf) = db.conference(Some(customer), id)? else {
                    return Ok(None);
                };
                let status = XmlStatus::of(&conf, calls_joining(db, &conf)?);
                Ok(Some((conf, status)))
            })
            .await?
            .ok_or(EngineError::Refused(Refusal::ConferenceNotFound))
    }

    /// Terminates and deletes a conference; a disposed (deleted) one is not found again.
    pub async fn dispose_conference(
        &self,
        customer: CustomerId,
        id: ConferenceId,
    ) -> Result<(Conference, XmlStatus), EngineError> {
        self.transact(move |rules| {
            let db = rules.db();
            let mut conf = rules.locked_conference(customer, id)?;
            // A disposed conference is gone for the XML API.
            if conf.tm_delete.is_some() {
                return Err(Refusal::ConferenceNotFound.into());
            }
            conf.tm_delete = Some(rules.now());
            conf.tm_update = rules.now();
            db.update_conference(&conf)?;
            rules.terminate(&mut conf)?;
            rules.notify_conference(&conf, NotificationType::ConferenceDeleted)?;
            Ok((conf, XmlStatus::Completed))
        })
        .await
    }

    /// Kicks one participant, named by its conferencecall id or its platform call id.
    pub async fn dispose_participant(
        &self,
        customer: CustomerId,
        id: ConferenceId,
        call_sid: String,
    ) -> Result<Conferencecall, EngineError> {
        self.transact(move |rules| {
            let db = rules.db();
            rules.locked_conference(customer, id)?;
            let by_id = ConferencecallId::parse(&call_sid);
            let mut call = db
                .calls_in(id)?
                .into_iter()
                .find(|c| Some(c.id) == by_id || c.reference_id == call_sid)
                .ok_or(Refusal::ConferencecallNotFound)?;
            rules.kick(&mut call)?;
            Ok(call)
        })
        .await
    }
}
