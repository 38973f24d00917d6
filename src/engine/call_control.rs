//! Acting on live calls and rooms at a customer's request (§15): mute, hold, and media said to
//! one call or the whole room.

use super::{invalid, Engine, EngineError, Refusal};
use crate::actions::{self, ActionKind, Program};
use crate::domain::conference::{ConferenceView, Conferencecall};
use crate::domain::{ConferenceId, ConferencecallId, CustomerId};
use serde_json::Value;

/// Longest `music_url`.
const MAX_URL_CHARS: usize = 2048;

/// What a customer asks of a live call.
#[derive(Debug, Clone)]
pub enum CallControl {
    Mute(bool),
    /// Hold (with the music to play, `""` for the platform's own) or resume.
    Hold(bool, String),
    /// Say or play a media list (`talk`, `play`, `beep`, `sleep`) to the call only.
    Say(Value),
}

impl Engine {
    /// Applies `control` to one of a customer's joined calls, under its conference's lock; a
    /// call that is not joined is refused (409), and the state it already has is a no-op.
    pub async fn control_call(
        &self,
        customer: CustomerId,
        id: ConferencecallId,
        control: CallControl,
    ) -> Result<Conferencecall, EngineError> {
        let program = match &control {
            CallControl::Say(list) => Some(self.media_list(list)?),
            CallControl::Hold(_, url) => {
                check_music(url)?;
                None
            }
            CallControl::Mute(_) => None,
        };
        self.transact(move |rules| {
            let db = rules.db();
            let found = db
                .call(Some(customer), id)?
                .ok_or(Refusal::ConferencecallNotFound)?;
            let conf = rules.locked_conference(customer, found.conference_id)?;
            // Read again under the lock: the call may have moved meanwhile.
            let mut call = db
                .call(Some(customer), id)?
                .ok_or(Refusal::ConferencecallNotFound)?;
            match control {
                CallControl::Mute(muted) => rules.set_muted(&mut call, muted)?,
                CallControl::Hold(hold, ref url) => rules.set_held(&mut call, hold, url)?,
                CallControl::Say(_) => {
                    let program = program.clone().unwrap_or_default();
                    let media = rules.media(&conf, Some(&call), &program)?;
                    rules.say_to_call(&conf, &call, &media)?;
                }
            }
            Ok(call)
        })
        .await
    }

    /// Says or plays a media list to every joined call of a customer's progressing conference.
    pub async fn say_to_conference(
        &self,
        customer: CustomerId,
        id: ConferenceId,
        list: Value,
    ) -> Result<ConferenceView, EngineError> {
        let program = self.media_list(&list)?;
        self.transact(move |rules| {
            let conf = rules.locked_conference(customer, id)?;
            let media = rules.media(&conf, None, &program)?;
            rules.say_to_room(&conf, &media)?;
            Ok(rules.db().view(conf)?)
        })
        .await
    }

    /// The media of an announcement confab stored for a platform that fetches it
    /// (`…/announce?id=`); `None` when the customer's conference has no such announcement.
    pub async fn announcement(
        &self,
        customer: CustomerId,
        conference: ConferenceId,
        id: uuid::Uuid,
    ) -> Result<Option<Vec<crate::actions::Emitted>>, EngineError> {
        let text = self
            .store
            .read(move |db| db.announcement(id, customer, conference))
            .await?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// A list of media actions only, each checked as in a conference's lists (§4): errors
    /// name `actions`, the index and the field.
    fn media_list(&self, list: &Value) -> Result<Program, EngineError> {
        let parsed = actions::parse_list("actions", list)?;
        if parsed.actions.is_empty() {
            return Err(invalid("actions", "must hold at least one action"));
        }
        for (index, action) in parsed.actions.iter().enumerate() {
            let media = matches!(
                action.kind,
                ActionKind::Talk { .. }
                    | ActionKind::Play { .. }
                    | ActionKind::Beep
                    | ActionKind::Sleep { .. }
            );
            if !media {
                return Err(actions::ActionError {
                    list: "actions".into(),
                    index,
                    field: "type".into(),
                    message: format!(
                        "{} is not a media action (talk, play, beep or sleep)",
                        action.kind.type_name()
                    ),
                }
                .into());
            }
        }
        // Said in the order written: there is nothing to jump between, so `id` and `next_id`
        // are taken as they come and not followed (a `next_id` could only loop the list).
        let steps = parsed.actions.into_iter().enumerate();
        let program = Program {
            steps: steps
                .map(|(i, action)| actions::Step {
                    action,
                    next: i + 1,
                })
                .collect(),
            index: Default::default(),
            memo: Default::default(),
        };
        Ok(program)
    }
}

/// A hold's music: an http(s) URL, or `""` for the platform's own.
fn check_music(url: &str) -> Result<(), EngineError> {
    let fine = url.is_empty()
        || (actions::is_http_url(url)
            && url.chars().count() <= MAX_URL_CHARS
            && !url.chars().any(char::is_control));
    if fine {
        Ok(())
    } else {
        Err(invalid(
            "music_url",
            format!("must be \"\" or an http(s) URL of at most {MAX_URL_CHARS} characters"),
        ))
    }
}
