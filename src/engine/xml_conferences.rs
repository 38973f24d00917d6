//! The XML API's use cases (§6.2): its conferences are ordinary conferences of the shared core
//! with extra rules — deleted when nobody joins within the idle timeout or when they empty
//! after having had participants — and status changes reported to `onStatus`.

use super::{Engine, EngineError, Refusal};
use crate::domain::conference::{
    CallStatus, Conference, ConferenceType, Conferencecall, Origin, XmlAttributes, XmlStatus,
};
use crate::domain::deadline::DeadlineKind;
use crate::domain::notification::NotificationType;
use crate::domain::timestamp::Timestamp;
use crate::domain::{ConferenceId, ConferencecallId, CustomerId};
use crate::render::xml::ConfDoc;
use crate::store::prelude::*;

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
        if xml.user_data.chars().count() > MAX_USER_DATA_CHARS {
            return Err(super::invalid(
                "userData",
                format!("must be at most {MAX_USER_DATA_CHARS} characters"),
            ));
        }
        if !xml.on_status.is_empty() {
            match reqwest::Url::parse(&xml.on_status) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
                _ => return Err(super::invalid("onStatus", "must be an http(s) URL")),
            }
        }
        if xml.app_sid.chars().count() > 64 {
            return Err(super::invalid("appSid", "must be at most 64 characters"));
        }
        let draft = super::ConferenceDraft {
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
        let engine = self.clone();
        let now = self.now();
        self.write(move |db| {
            db.lock_conference(id)?;
            let mut conf = db
                .conference(Some(customer), id)?
                .filter(|c| c.tm_delete.is_none())
                .ok_or(Refusal::ConferenceNotFound)?;
            conf.tm_delete = Some(now);
            conf.tm_update = now;
            db.update_conference(&conf)?;
            engine.terminate(db, &mut conf, now)?;
            engine.notify_conference(db, &conf, NotificationType::ConferenceDeleted, now)?;
            let conf = db.conference(None, id)?.unwrap_or(conf);
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
        let engine = self.clone();
        let now = self.now();
        self.write(move |db| {
            db.lock_conference(id)?;
            if db.conference(Some(customer), id)?.is_none() {
                return Err(Refusal::ConferenceNotFound.into());
            }
            let by_id = ConferencecallId::parse(&call_sid);
            let mut call = db
                .calls_in(id)?
                .into_iter()
                .find(|c| Some(c.id) == by_id || c.reference_id == call_sid)
                .ok_or(Refusal::ConferencecallNotFound)?;
            engine.kick(db, &mut call, now)?;
            Ok(call)
        })
        .await
    }

    /// Reports the XML status of an XML-API conference to its `onStatus` URL if it changed
    /// since the last report. Called at the end of every change that may move it.
    pub(crate) fn sync_xml_status(
        &self,
        db: &dyn Tx,
        conference_id: ConferenceId,
        now: Timestamp,
    ) -> Result<(), EngineError> {
        // Most conferences are the JSON API's; they have no XML status to report.
        if db.conference_origin(conference_id)? != Some(Origin::Xml) {
            return Ok(());
        }
        let Some(mut conf) = db.conference(None, conference_id)? else {
            return Ok(());
        };
        if conf.origin != Origin::Xml {
            return Ok(());
        }
        let status = XmlStatus::of(&conf, calls_joining(db, &conf)?);
        if conf.xml.reported_status == status.as_str() {
            return Ok(());
        }
        conf.xml.reported_status = status.as_str().into();
        db.update_conference(&conf)?;
        if conf.xml.on_status.is_empty() {
            return Ok(());
        }
        let Some(customer) = db.customer(conf.customer_id)? else {
            return Ok(());
        };
        let body = ConfDoc {
            conference: &conf,
            status,
        }
        .event();
        self.enqueue_webhook(
            db,
            &customer,
            conf.id,
            "conf_status",
            &conf.xml.on_status,
            crate::actions::HttpMethod::Post,
            "application/xml",
            body,
            now,
        )
    }

    /// The XML rules after a call left: an XML-API conference that had participants and is now
    /// empty is terminated and deleted. Returns whether it applied.
    pub(crate) fn xml_empty_rule(
        &self,
        db: &dyn Tx,
        conf: &mut Conference,
        now: Timestamp,
    ) -> Result<bool, EngineError> {
        if conf.origin != Origin::Xml || conf.tm_begin.is_none() || !conf.status.is_open() {
            return Ok(false);
        }
        if db
            .calls_in(conf.id)?
            .iter()
            .any(|c| c.status != CallStatus::Leaved)
        {
            return Ok(false);
        }
        conf.tm_delete = Some(now);
        self.terminate(db, conf, now)?;
        self.notify_conference(db, conf, NotificationType::ConferenceDeleted, now)?;
        Ok(true)
    }

    /// Sets the idle deadline of a new XML-API conference.
    pub(crate) fn schedule_idle(
        &self,
        db: &dyn Tx,
        conf: &Conference,
        now: Timestamp,
    ) -> Result<(), EngineError> {
        if conf.origin == Origin::Xml {
            db.set_deadline(
                DeadlineKind::Idle,
                &conf.id.to_string(),
                now.plus_seconds(self.settings.idle_timeout_seconds),
            )?;
        }
        Ok(())
    }
}

/// Whether any call of the conference is still joining, where the XML status depends on it:
/// only before anyone has joined, and then only when the counts kept on the conference say
/// some call is neither joined nor gone (so a running conference never reads its calls).
fn calls_joining(db: &dyn Tx, conf: &Conference) -> Result<bool, crate::store::StoreError> {
    if !conf.status.is_open() || conf.tm_delete.is_some() || conf.tm_begin.is_some() {
        return Ok(false);
    }
    let (active, joined) = db.call_counts(conf.id)?;
    if active == joined {
        return Ok(false);
    }
    Ok(db
        .calls_in(conf.id)?
        .iter()
        .any(|c| c.status == CallStatus::Joining))
}
