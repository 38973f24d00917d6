//! Conferences as the JSON API (and, for creation, the XML API) creates, reads, changes and
//! deletes them.

use super::{invalid, Engine, EngineError, Refusal};
use crate::actions::ActionList;
use crate::domain::conference::{
    Conference, ConferenceStatus, ConferenceType, ConferenceView, Origin, StoredJson,
    XmlAttributes, MAX_DATA_BYTES, MAX_DETAIL_CHARS, MAX_NAME_CHARS, MAX_TIMEOUT_SECONDS,
};
use crate::domain::notification::NotificationType;
use crate::domain::room::{RoomRules, MAX_PARTICIPANTS};
use crate::domain::{ConferenceId, CustomerId};
use serde_json::Value;

/// A conference to create, as parsed from a request.
#[derive(Debug, Clone, Default)]
pub struct ConferenceDraft {
    pub kind: Option<ConferenceType>,
    pub name: Option<String>,
    pub detail: Option<String>,
    pub data: Option<Value>,
    pub timeout: Option<i64>,
    pub pre_actions: Option<Value>,
    pub post_actions: Option<Value>,
    pub origin: Option<Origin>,
    pub xml: XmlAttributes,
    pub room: RoomChange,
}

/// Room rules (§14) a create or change sets; `None` leaves one as it is (or its default).
#[derive(Debug, Clone, Default)]
pub struct RoomChange {
    pub max_participants: Option<i64>,
    pub locked: Option<bool>,
    pub wait_for_moderator: Option<bool>,
    pub end_on_moderator_exit: Option<bool>,
    pub wait_music_url: Option<String>,
}

/// Longest `wait_music_url`.
const MAX_URL_CHARS: usize = 2048;

impl RoomChange {
    fn check(&self) -> Result<(), EngineError> {
        if let Some(n) = self.max_participants {
            if !(0..=MAX_PARTICIPANTS).contains(&n) {
                return Err(invalid(
                    "max_participants",
                    format!("must be 0 (no limit) or 1 to {MAX_PARTICIPANTS}"),
                ));
            }
        }
        if let Some(url) = &self.wait_music_url {
            let fine = url.is_empty()
                || (crate::actions::is_http_url(url)
                    && url.chars().count() <= MAX_URL_CHARS
                    && !url.chars().any(char::is_control));
            if !fine {
                return Err(invalid(
                    "wait_music_url",
                    format!("must be \"\" or an http(s) URL of at most {MAX_URL_CHARS} characters"),
                ));
            }
        }
        Ok(())
    }

    fn apply_to(self, room: &mut RoomRules) {
        if let Some(n) = self.max_participants {
            room.max_participants = n;
        }
        if let Some(b) = self.locked {
            room.locked = b;
        }
        if let Some(b) = self.wait_for_moderator {
            room.wait_for_moderator = b;
        }
        if let Some(b) = self.end_on_moderator_exit {
            room.end_on_moderator_exit = b;
        }
        if let Some(u) = self.wait_music_url {
            room.wait_music_url = u;
        }
    }
}

/// Changes to a conference; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ConferencePatch {
    /// The type the client believes the conference has (it cannot be changed): a body sent
    /// back as it was read carries it.
    pub kind: Option<ConferenceType>,
    pub name: Option<String>,
    pub detail: Option<String>,
    pub data: Option<Value>,
    pub timeout: Option<i64>,
    pub pre_actions: Option<Value>,
    pub post_actions: Option<Value>,
    pub room: RoomChange,
}

/// A conference patch checked and its action lists compiled, ready to apply.
#[derive(Clone)]
struct CheckedPatch {
    patch: ConferencePatch,
    pre: Option<ActionList>,
    post: Option<ActionList>,
}

pub(super) fn check_text(field: &str, value: &str, max_chars: usize) -> Result<(), EngineError> {
    if value.chars().count() > max_chars {
        return Err(invalid(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(())
}

fn check_data(data: &Value) -> Result<(), EngineError> {
    if !data.is_object() {
        return Err(invalid("data", "must be a JSON object"));
    }
    if data.to_string().len() > MAX_DATA_BYTES {
        return Err(invalid(
            "data",
            format!("must be at most {MAX_DATA_BYTES} bytes serialized"),
        ));
    }
    Ok(())
}

fn check_timeout(timeout: i64) -> Result<(), EngineError> {
    if !(0..=MAX_TIMEOUT_SECONDS).contains(&timeout) {
        return Err(invalid(
            "timeout",
            format!("must be 0 (none) or 1 to {MAX_TIMEOUT_SECONDS} seconds"),
        ));
    }
    Ok(())
}

impl Engine {
    pub async fn create_conference(
        &self,
        customer: CustomerId,
        draft: ConferenceDraft,
    ) -> Result<ConferenceView, EngineError> {
        let name = draft.name.unwrap_or_default();
        check_text("name", &name, MAX_NAME_CHARS)?;
        let detail = draft.detail.unwrap_or_default();
        check_text("detail", &detail, MAX_DETAIL_CHARS)?;
        let data = draft
            .data
            .unwrap_or_else(|| Value::Object(Default::default()));
        check_data(&data)?;
        let timeout = draft.timeout.unwrap_or(0);
        check_timeout(timeout)?;
        draft.room.check()?;
        let mut room = RoomRules::default();
        draft.room.apply_to(&mut room);
        let empty = Value::Array(Vec::new());
        let pre_actions =
            self.action_list("pre_actions", draft.pre_actions.as_ref().unwrap_or(&empty))?;
        let post_actions = self.action_list(
            "post_actions",
            draft.post_actions.as_ref().unwrap_or(&empty),
        )?;
        let (kind, origin, xml) = (draft.kind, draft.origin, draft.xml);
        self.transact(move |rules| {
            let now = rules.now();
            let conference = Conference {
                id: ConferenceId::new(),
                customer_id: customer,
                kind: kind.unwrap_or(ConferenceType::Conference),
                status: ConferenceStatus::Progressing,
                name: name.clone(),
                detail: detail.clone(),
                data: StoredJson::from_value(&data),
                timeout,
                pre_actions: StoredJson::from_value(&pre_actions.to_json()),
                post_actions: StoredJson::from_value(&post_actions.to_json()),
                origin: origin.unwrap_or(Origin::Json),
                xml: xml.clone(),
                tm_create: now,
                tm_update: now,
                tm_delete: None,
                tm_begin: None,
                tm_end: None,
                room: room.clone(),
            };
            rules.db().insert_conference(&conference)?;
            rules.count_conference(&conference)?;
            rules.notify_conference(&conference, NotificationType::ConferenceCreated)?;
            rules.schedule_idle(&conference)?;
            rules.schedule_timeout(&conference)?;
            Ok(ConferenceView {
                conference,
                conferencecall_ids: Vec::new(),
                recording_id: None,
                recording_ids: Vec::new(),
            })
        })
        .await
    }

    pub async fn conference(
        &self,
        customer: CustomerId,
        id: ConferenceId,
    ) -> Result<ConferenceView, EngineError> {
        self.store
            .read(move |db| match db.conference(Some(customer), id)? {
                Some(c) => Ok(Some(db.view(c)?)),
                None => Ok(None),
            })
            .await?
            .ok_or(EngineError::Refused(Refusal::ConferenceNotFound))
    }

    pub async fn update_conference(
        &self,
        customer: CustomerId,
        id: ConferenceId,
        patch: ConferencePatch,
    ) -> Result<ConferenceView, EngineError> {
        let checked = self.check_patch(patch)?;
        self.transact(move |rules| {
            let db = rules.db();
            let mut c = rules.locked_conference(customer, id)?;
            if !c.status.is_open() || c.tm_delete.is_some() {
                return Err(EngineError::Refused(Refusal::StateInvalid(format!(
                    "a {} conference cannot be changed",
                    c.status.as_str()
                ))));
            }
            if let Some(kind) = checked.patch.kind.filter(|k| *k != c.kind) {
                return Err(invalid(
                    "type",
                    format!(
                        "cannot be changed after creation (this conference is {}, not {kind})",
                        c.kind
                    ),
                ));
            }
            let timeout_set = checked.clone().apply_to(&mut c);
            c.tm_update = rules.now();
            db.update_conference(&c)?;
            rules.notify_conference(&c, NotificationType::ConferenceUpdated)?;
            // A timeout counts from the write that set it (§3.1).
            if timeout_set {
                rules.schedule_timeout(&c)?;
            }
            Ok(db.view(c)?)
        })
        .await
    }

    /// Soft-deletes a conference and terminates it: straight to `terminated` when no call is
    /// in it, else `terminating` until the last call leaves. A repeat changes nothing.
    pub async fn delete_conference(
        &self,
        customer: CustomerId,
        id: ConferenceId,
    ) -> Result<ConferenceView, EngineError> {
        self.transact(move |rules| {
            let db = rules.db();
            let mut c = rules.locked_conference(customer, id)?;
            if c.tm_delete.is_none() {
                c.tm_delete = Some(rules.now());
                c.tm_update = rules.now();
                db.update_conference(&c)?;
                rules.terminate(&mut c)?;
                rules.notify_conference(&c, NotificationType::ConferenceDeleted)?;
            }
            Ok(db.view(c)?)
        })
        .await
    }

    /// Checks a patch's fields and compiles its action lists, before any transaction.
    fn check_patch(&self, patch: ConferencePatch) -> Result<CheckedPatch, EngineError> {
        if let Some(n) = &patch.name {
            check_text("name", n, MAX_NAME_CHARS)?;
        }
        if let Some(d) = &patch.detail {
            check_text("detail", d, MAX_DETAIL_CHARS)?;
        }
        if let Some(d) = &patch.data {
            check_data(d)?;
        }
        if let Some(t) = patch.timeout {
            check_timeout(t)?;
        }
        patch.room.check()?;
        let pre = patch
            .pre_actions
            .as_ref()
            .map(|v| self.action_list("pre_actions", v))
            .transpose()?;
        let post = patch
            .post_actions
            .as_ref()
            .map(|v| self.action_list("post_actions", v))
            .transpose()?;
        Ok(CheckedPatch { patch, pre, post })
    }
}

impl CheckedPatch {
    /// Applies the patch to `c`; whether it set the timeout.
    fn apply_to(self, c: &mut Conference) -> bool {
        let CheckedPatch { patch, pre, post } = self;
        if let Some(n) = patch.name {
            c.name = n;
        }
        if let Some(d) = patch.detail {
            c.detail = d;
        }
        if let Some(d) = patch.data {
            c.data = StoredJson::from_value(&d);
        }
        let timeout_set = patch.timeout.is_some();
        if let Some(t) = patch.timeout {
            c.timeout = t;
        }
        if let Some(p) = pre {
            c.pre_actions = StoredJson::from_value(&p.to_json());
        }
        if let Some(p) = post {
            c.post_actions = StoredJson::from_value(&p.to_json());
        }
        patch.room.apply_to(&mut c.room);
        timeout_set
    }
}
