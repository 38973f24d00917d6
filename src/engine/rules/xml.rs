//! The XML API's own rules (§6.2): its status model reported to `onStatus`, and an XML
//! conference that empties after having had participants is deleted.

use super::{Rules, Webhook};
use crate::actions::HttpMethod;
use crate::domain::conference::{CallStatus, Conference, Origin, XmlStatus};
use crate::domain::notification::NotificationType;
use crate::engine::live::ChangeKind;
use crate::engine::EngineError;
use crate::render::xml::ConfDoc;
use crate::store::prelude::*;
use crate::store::StoreError;

/// The event type of an `onStatus` report in the outbox; the live feed's name for the same
/// change is `ChangeKind::XmlStatus`.
const XML_STATUS: &str = "conf_status";

impl Rules<'_> {
    /// Reports the XML status of an XML-API conference to its `onStatus` URL if it changed
    /// since the last report, and writes the reported status. Called at the end of every
    /// change that may move it, with the conference as that change left it.
    pub(crate) fn sync_xml_status(&self, conf: &mut Conference) -> Result<(), EngineError> {
        if self.report_xml_status(conf)? {
            self.db.update_conference(conf)?;
        }
        Ok(())
    }

    /// Brings `conf`'s reported XML status up to date and queues its `onStatus` report;
    /// whether it moved. The caller writes the conference.
    pub(super) fn report_xml_status(&self, conf: &mut Conference) -> Result<bool, EngineError> {
        // Most conferences are the JSON API's; they have no XML status to report.
        if conf.origin != Origin::Xml {
            return Ok(false);
        }
        let status = XmlStatus::of(conf, calls_joining(self.db, conf)?);
        if conf.xml.reported_status == status.as_str() {
            return Ok(false);
        }
        conf.xml.reported_status = status.as_str().into();
        self.record(conf.customer_id, conf.id, ChangeKind::XmlStatus);
        if conf.xml.on_status.is_empty() || self.cached_customer(conf.customer_id)?.is_none() {
            return Ok(true);
        }
        let body = ConfDoc {
            conference: conf,
            status,
        }
        .event();
        self.enqueue_webhook(Webhook {
            customer: conf.customer_id,
            conference: conf.id,
            event_type: XML_STATUS,
            url: &conf.xml.on_status,
            method: HttpMethod::Post,
            content_type: "application/xml",
            body,
        })?;
        Ok(true)
    }

    /// The XML rules after a call left: an XML-API conference that had participants and is now
    /// empty (`remaining`: its calls not left) is terminated and deleted. Returns whether it
    /// applied.
    pub(super) fn xml_empty_rule(
        &self,
        conf: &mut Conference,
        remaining: usize,
    ) -> Result<bool, EngineError> {
        if conf.origin != Origin::Xml
            || conf.tm_begin.is_none()
            || !conf.status.is_open()
            || remaining > 0
        {
            return Ok(false);
        }
        conf.tm_delete = Some(self.now);
        self.terminate(conf)?;
        self.notify_conference(conf, NotificationType::ConferenceDeleted)?;
        Ok(true)
    }
}

/// Whether any call of the conference is still joining (or being dialled), where the XML status depends on it:
/// only before anyone has joined, and then only when the counts kept on the conference say
/// some call is neither joined nor gone (so a running conference never reads its calls).
pub(crate) fn calls_joining(db: &dyn Tx, conf: &Conference) -> Result<bool, StoreError> {
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
        .any(|c| matches!(c.status, CallStatus::Dialing | CallStatus::Joining)))
}
