//! Customer notifications (§7.2) and every other webhook a customer is sent, queued in the
//! outbox in the transaction of the change they report; each change is also recorded for the
//! live feed, whether or not the customer asked to be notified of it.

use super::Rules;
use crate::actions::HttpMethod;
use crate::domain::conference::{Conference, Conferencecall, Recording};
use crate::domain::customer::Customer;
use crate::domain::notification::NotificationType;
use crate::domain::{ConferenceId, CustomerId};
use crate::engine::live::ChangeKind;
use crate::engine::EngineError;
use crate::outbox::message::{self, Target};
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// One webhook message for a customer: a notification, an action's async webhook or an XML
/// conference's `onStatus`.
pub(crate) struct Webhook<'m> {
    pub customer: CustomerId,
    /// The conference it is about: its messages are delivered in order.
    pub conference: ConferenceId,
    /// The notification type, `webhook_send` or `conf_status`, as the delivery log shows it.
    pub event_type: &'m str,
    pub url: &'m str,
    pub method: HttpMethod,
    pub content_type: &'m str,
    pub body: String,
}

impl Rules<'_> {
    /// Queues one webhook message, first attempted after the configured delay.
    pub(crate) fn enqueue_webhook(&self, w: Webhook<'_>) -> Result<(), EngineError> {
        let target = Target {
            url: w.url,
            method: w.method,
            content_type: w.content_type,
        };
        self.db.enqueue(&message::webhook(
            w.customer,
            w.conference,
            w.event_type,
            target,
            w.body,
            self.now.micros() + self.settings.webhook_first_delay_micros,
            self.now,
        ))?;
        Ok(())
    }

    /// Records a conference change and notifies it with the conference as the API shows it now.
    pub(crate) fn notify_conference(
        &self,
        conf: &Conference,
        t: NotificationType,
    ) -> Result<(), EngineError> {
        self.record(conf.customer_id, conf.id, ChangeKind::Notified(t));
        let Some(customer) = self.wanting(conf.customer_id, t)? else {
            return Ok(());
        };
        let view = self.db.view(conf.clone())?;
        self.notify(&customer, conf.id, t, view.json())
    }

    /// Records a call's change and notifies it.
    pub(crate) fn notify_call(
        &self,
        call: &Conferencecall,
        t: NotificationType,
    ) -> Result<(), EngineError> {
        self.record(
            call.customer_id,
            call.conference_id,
            ChangeKind::Notified(t),
        );
        let Some(customer) = self.wanting(call.customer_id, t)? else {
            return Ok(());
        };
        self.notify(&customer, call.conference_id, t, call.json())
    }

    /// Records a recording's change and notifies it.
    pub(crate) fn notify_recording(
        &self,
        rec: &Recording,
        t: NotificationType,
    ) -> Result<(), EngineError> {
        self.record(rec.customer_id, rec.conference_id, ChangeKind::Notified(t));
        let Some(customer) = self.wanting(rec.customer_id, t)? else {
            return Ok(());
        };
        self.notify(&customer, rec.conference_id, t, rec.json())
    }

    /// The customer, if it wants notifications of type `t`: the payload is built only then.
    fn wanting(
        &self,
        customer: CustomerId,
        t: NotificationType,
    ) -> Result<Option<Arc<Customer>>, EngineError> {
        Ok(self.cached_customer(customer)?.filter(|c| c.wants(t)))
    }

    /// Queues a notification of type `t` about `data` to the customer's webhook.
    fn notify(
        &self,
        customer: &Customer,
        conference: ConferenceId,
        t: NotificationType,
        data: impl Serialize,
    ) -> Result<(), EngineError> {
        let data = serde_json::to_value(data).unwrap_or(Value::Null);
        let body = json!({"type": t, "timestamp": self.now.to_api(), "data": data}).to_string();
        self.enqueue_webhook(Webhook {
            customer: customer.id,
            conference,
            event_type: t.as_str(),
            url: &customer.webhook_uri,
            method: customer.webhook_method.into(),
            content_type: "application/json",
            body,
        })
    }
}
