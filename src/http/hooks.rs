//! The platform dialects' webhooks (§11), one handler for every platform: read the body, verify and read it through the platform, make the event, apply it, answer in the platform's words.
//!
//! The platforms send no event ids, so confab makes them here from what it knows (`CallEvents`);
//! everything a platform's request or answer looks like is the platform's (`crate::dialects`).

use super::error::ApiError;
use super::input::read_body;
use super::AppState;
use crate::dialects::answer::label;
use crate::dialects::{
    AnswerContext, BadInput, Callbacks, Hook, Inbound, Keys, Platform, Reading, Refused,
};
use crate::domain::dialect::{Connections, Dialect};
use crate::domain::{ConferenceId, ConferencecallId, CustomerId};
use crate::engine::{EngineError, EventKind, PlatformEvent, Refusal};
use crate::render::EventAnswer;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use std::sync::OnceLock;
use uuid::Uuid;

/// The customer and conference a webhook URL names.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub customer: CustomerId,
    pub conference: ConferenceId,
}

impl Route {
    /// Reads `/{customer_id}/conferences/{conference_id}/…`; a malformed id is a URL confab
    /// never gave out: 404.
    pub fn parse(customer: &str, conference: &str) -> Result<Route, ApiError> {
        match (Uuid::parse_str(customer), Uuid::parse_str(conference)) {
            (Ok(c), Ok(f)) => Ok(Route {
                customer: CustomerId(c),
                conference: ConferenceId(f),
            }),
            _ => Err(ApiError::not_found()),
        }
    }

    /// The callbacks of this route's customer and conference.
    pub fn callbacks<'a>(&self, state: &'a AppState) -> Callbacks<'a> {
        Callbacks {
            public_url: state.engine.public_url(),
            customer: self.customer,
            conference: self.conference,
        }
    }
}

/// 403: the request is not from the customer's platform account. The same answer whether the
/// customer is unknown, has no connection, or the signature is wrong, so the URL space cannot
/// be probed; the log says which.
fn forbidden(why: &str) -> ApiError {
    tracing::info!(why, "dialect webhook refused");
    ApiError::new(
        StatusCode::FORBIDDEN,
        "SIGNATURE_INVALID",
        "the request's platform signature is missing or does not verify",
    )
}

fn bad_input(e: BadInput) -> ApiError {
    match e {
        BadInput::Malformed(message) => ApiError::invalid_json(message),
        BadInput::Field { field, message } => ApiError::invalid_argument(&field, message),
    }
}

/// The customer's platform connections, or 403 if there is no such customer.
async fn connections(state: &AppState, customer: CustomerId) -> Result<Connections, ApiError> {
    match state.engine.customer_for_event(customer).await? {
        Some(c) => Ok(c.connections.clone()),
        None => Err(forbidden("unknown customer")),
    }
}

/// The URL the platform called, as it knows it: `--public-url` and the request's path and
/// query (what URL-covering signatures sign).
fn called_url(state: &AppState, req: &HttpRequest) -> String {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    format!("{}{path}", state.engine.public_url())
}

/// The beep's URL: `--beep-url`, or the sound confab serves.
pub fn beep_url(state: &AppState) -> String {
    match &state.beep_url {
        Some(u) => u.clone(),
        None => format!("{}/v1.0/sounds/beep.wav", state.engine.public_url()),
    }
}

fn respond(answer: crate::dialects::Answer) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(answer.content_type)
        .body(answer.body)
}

/// `POST /v1.0/{segment}/{customer_id}/conferences/{conference_id}/{leaf}`: one hook of one
/// platform. A call's hooks (`Hook::plays_answer`) answer with its actions, or the
/// platform's hang-up when confab refuses the call; the others are acknowledged.
pub async fn handle(
    platform: &'static dyn Platform,
    hook: Hook,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let route = Route::parse(&path.0, &path.1)?;
    let body = read_body(&req, payload).await?;
    let connections = connections(&state, route.customer).await?;
    let url = called_url(&state, &req);
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let request = Inbound {
        url: &url,
        header: &header,
        body: &body,
        now: chrono::Utc::now().timestamp(),
    };
    let keys = Keys {
        connections: &connections,
        platform_key: None,
    };
    platform
        .verify(&request, &keys)
        .map_err(|Refused(why)| forbidden(&why))?;
    let reading = platform.read(hook, &request).map_err(bad_input)?;
    let dialled = dialled(&url)?;
    if let Reading::Wait { music } = reading {
        return wait(&state, platform, route, music).await;
    }
    if let Reading::Announce { id } = reading {
        let actions = state
            .engine
            .announcement(route.customer, route.conference, id)
            .await?
            .unwrap_or_default();
        let answer = EventAnswer {
            conferencecall: None,
            recording: None,
            actions: Some(actions),
            pause: None,
        };
        let beep = beep_url(&state);
        let context = AnswerContext {
            callbacks: route.callbacks(&state),
            beep_url: &beep,
            label: "",
            connections: &connections,
        };
        return Ok(respond(platform.render(&answer, &context)));
    }
    let Some(event) = event(&state, platform.dialect(), route, reading, dialled).await? else {
        return Ok(respond(platform.acknowledge()));
    };
    let outcome = apply(&state, event).await?;
    if !hook.plays_answer() {
        return Ok(respond(platform.acknowledge()));
    }
    Ok(respond(match outcome {
        // A stale gather: digits for a call that is not waiting at that pause, which the
        // engine answers with the call and no actions. The caller is on the line waiting for
        // this answer, so it must say what happens next. It is not a retry of a pause confab
        // answered (a retry has the same event id and replays that answer), so confab has
        // ended this membership's list (the call was kicked, left or already got its join) or
        // never gave out that pause: nothing may continue, least of all into a PIN room. An
        // empty document would end the call too (TwiML ends the call at the end of the
        // document; jambonz ends it after the gather, the last verb), but only by each
        // platform's rules for running out of verbs; the platform's own hang-up says it
        // outright, as for a refused call.
        Ok(answer) if hook == Hook::Gather && answer.actions.is_none() => {
            tracing::info!(conference_id = %route.conference, "stale gather callback; hanging up");
            platform.hang_up()
        }
        Ok(answer) => {
            let (beep, label) = (beep_url(&state), label(&answer));
            let context = AnswerContext {
                callbacks: route.callbacks(&state),
                beep_url: &beep,
                label: &label,
                connections: &connections,
            };
            platform.render(&answer, &context)
        }
        Err(_) => platform.hang_up(),
    }))
}

/// What a caller waiting for a moderator hears: the conference's `wait_music_url` as it is
/// now (a conference confab does not know has none); on hold, the hold's music.
async fn wait(
    state: &AppState,
    platform: &'static dyn Platform,
    route: Route,
    hold_music: Option<String>,
) -> Result<HttpResponse, ApiError> {
    if let Some(music) = hold_music {
        return Ok(respond(platform.wait(&music)));
    }
    let music = match state
        .engine
        .conference(route.customer, route.conference)
        .await
    {
        Ok(view) => view.conference.room.wait_music_url,
        Err(EngineError::Refused(_)) => String::new(),
        Err(other) => return Err(other.into()),
    };
    Ok(respond(platform.wait(&music)))
}

/// The dialled conferencecall a dial-out's hooks name (`?conferencecall=`, in the URLs confab
/// gave the platform when it dialled), read the same for every platform.
fn dialled(url: &str) -> Result<Option<ConferencecallId>, ApiError> {
    let Some(value) = url::Url::parse(url).ok().and_then(|u| {
        u.query_pairs()
            .find(|(k, _)| k == "conferencecall")
            .map(|(_, v)| v.into_owned())
    }) else {
        return Ok(None);
    };
    ConferencecallId::parse(&value)
        .map(Some)
        .ok_or_else(|| ApiError::invalid_argument("conferencecall", "must be a UUID"))
}

/// The platform event a reading makes, limited to the customer the URL names; `None` for a
/// reading confab does not act on. `dialled` names the conferencecall of a dial-out.
async fn event(
    state: &AppState,
    dialect: Dialect,
    route: Route,
    reading: Reading,
    dialled: Option<ConferencecallId>,
) -> Result<Option<PlatformEvent>, ApiError> {
    let call = |call_id: String| CallEvents::of(state, dialect, route, call_id, false);
    Ok(Some(match reading {
        Reading::Joining {
            call_id,
            from,
            to,
            variables,
        } => call(call_id).await?.joining(from, to, variables, dialled),
        Reading::Joined {
            call_id,
            platform_conference,
            sequence,
        } => call(call_id).await?.joined(platform_conference, sequence),
        Reading::Left {
            call_id,
            reason,
            sequence,
        } => {
            let events = CallEvents::of(state, dialect, route, call_id, sequence.is_some()).await?;
            // A leave numbered before the join of the call's current membership is a late
            // report of an earlier one (the call left and came back): it must not end this
            // one, nor take this one's leave event, so it is acknowledged and dropped.
            if sequence.is_some_and(|n| events.join_sequence.is_some_and(|j| n < j)) {
                tracing::debug!(conference_id = %route.conference, "late leave of an earlier membership ignored");
                return Ok(None);
            }
            events.left(reason, dialled)
        }
        Reading::Digits {
            call_id,
            digits,
            pause,
        } => call(call_id).await?.digits(digits, pause),
        Reading::RecordingFinished {
            recording_id,
            outcome,
            media_url,
            duration_ms,
        } => PlatformEvent {
            // One event per recording and outcome: a platform's retry replays its answer.
            id: format!(
                "{}:{}:recording:{recording_id}:{outcome}",
                dialect.as_str(),
                route.customer
            ),
            kind: EventKind::RecordingFinished {
                recording_id,
                media_url,
                duration_ms,
            },
            scope: Some(route.customer),
        },
        Reading::Updated {
            call_id,
            muted,
            hold,
            sequence,
        } => call(call_id).await?.updated(muted, hold, sequence),
        // A dial's report of ringing names the dial; any other call's ringing (a number's
        // call status callback pointed here) is nothing confab acts on.
        Reading::Ringing { call_id } => match dialled {
            Some(dialled) => call(call_id).await?.ringing(dialled),
            None => return Ok(None),
        },
        Reading::Ignored | Reading::Wait { .. } | Reading::Announce { .. } => return Ok(None),
    }))
}

/// One platform call in the conference a webhook URL names, and the platform events it
/// makes. The platforms send no event ids, so confab makes them from what it knows: the
/// customer, the conference, the call, and which membership of the call in the conference the
/// event is about (a call may leave and come back). A platform's retry of a request maps to
/// the same id and gets the same answer; a leave status event and the request to `…/after`
/// are one `call_left`, whichever comes first.
pub struct CallEvents {
    dialect: Dialect,
    route: Route,
    call_id: String,
    /// Memberships of the call in the conference that have ended.
    left: usize,
    /// The newest membership, or `none`.
    latest: String,
    /// The number of the platform's report of the newest membership's join, if it numbered
    /// one.
    join_sequence: Option<i64>,
}

impl CallEvents {
    /// Reads where the call stands in the conference (one store read); `with_join_sequence`
    /// for a numbered leave, which is checked against its membership's join.
    pub async fn of(
        state: &AppState,
        dialect: Dialect,
        route: Route,
        call_id: String,
        with_join_sequence: bool,
    ) -> Result<CallEvents, ApiError> {
        let m = state
            .engine
            .membership(
                route.customer,
                route.conference,
                call_id.clone(),
                with_join_sequence,
            )
            .await?;
        Ok(CallEvents {
            dialect,
            route,
            call_id,
            left: m.left,
            latest: m
                .latest
                .map(|c| c.id.to_string())
                .unwrap_or_else(|| "none".into()),
            join_sequence: m.join_sequence,
        })
    }

    fn event(&self, step: String, kind: EventKind) -> PlatformEvent {
        PlatformEvent {
            id: format!(
                "{}:{}:{}:{}:{step}",
                self.dialect.as_str(),
                self.route.customer,
                self.route.conference,
                self.call_id
            ),
            kind,
            scope: Some(self.route.customer),
        }
    }

    /// A new membership's `call_joining`, numbered by the memberships that ended before it
    /// (which stays the same until it ends, so a retry gets the same id).
    pub fn joining(
        &self,
        from: String,
        to: String,
        variables: crate::actions::interpreter::Variables,
        dialled: Option<ConferencecallId>,
    ) -> PlatformEvent {
        let kind = EventKind::CallJoining {
            call_id: self.call_id.clone(),
            conference_id: self.route.conference,
            from,
            to,
            variables,
            dialect: self.dialect,
            dialled,
        };
        self.event(format!("joining:{}", self.left), kind)
    }

    pub fn joined(&self, platform_conference: String, sequence: Option<i64>) -> PlatformEvent {
        let kind = EventKind::CallJoined {
            call_id: self.call_id.clone(),
            conference_id: self.route.conference,
            platform_conference,
            sequence,
        };
        self.event(format!("{}:joined", self.latest), kind)
    }

    pub fn left(&self, reason: String, dialled: Option<ConferencecallId>) -> PlatformEvent {
        let kind = EventKind::CallLeft {
            call_id: self.call_id.clone(),
            conference_id: self.route.conference,
            reason,
            dialled,
        };
        self.event(format!("{}:left", self.latest), kind)
    }
}

impl CallEvents {
    /// A reported mute or hold, numbered by the platform (`sequence`), so a retry of one
    /// report is the same event.
    pub fn updated(&self, muted: Option<bool>, hold: Option<bool>, sequence: i64) -> PlatformEvent {
        let kind = EventKind::CallUpdated {
            call_id: self.call_id.clone(),
            conference_id: self.route.conference,
            muted,
            hold,
            sequence: Some(sequence),
        };
        self.event(format!("{}:update:{sequence}", self.latest), kind)
    }

    /// A dial's call ringing: one event per dial, whichever report of it (placed, ringing)
    /// comes first; the others replay its answer.
    pub fn ringing(&self, dialled: ConferencecallId) -> PlatformEvent {
        let kind = EventKind::DialRinging {
            call_id: self.call_id.clone(),
            conference_id: self.route.conference,
            dialled,
        };
        self.event(format!("dial:{dialled}:ringing"), kind)
    }

    /// The caller's digits for the membership's pause numbered `pause` (the gather URL names
    /// it): a retry of one pause's report maps to the same id, the next pause's to another.
    pub fn digits(&self, digits: String, pause: u32) -> PlatformEvent {
        let kind = EventKind::CallDigitsReceived {
            call_id: self.call_id.clone(),
            conference_id: self.route.conference,
            digits,
            pause: Some(pause),
        };
        self.event(format!("{}:digits:{pause}", self.latest), kind)
    }
}

/// Applies an event: its answer, or a refusal the platform answers in its own words (hang
/// up). Store faults stay errors (503).
async fn apply(
    state: &AppState,
    event: PlatformEvent,
) -> Result<Result<EventAnswer, Refusal>, ApiError> {
    let id = event.id.clone();
    match state.engine.handle_event(event).await {
        Ok(answer) => Ok(Ok(answer)),
        Err(EngineError::Refused(r)) => {
            tracing::info!(event_id = %id, reason = r.code(), "dialect event refused: {r}");
            Ok(Err(r))
        }
        Err(other) => Err(ApiError::from(other)),
    }
}

/// `GET /v1.0/sounds/beep.wav`: the beep the dialects play for a `beep` action, since their
/// platforms have no beep verb. A 1 kHz tone of 250 ms, 8 kHz 16-bit mono PCM, made once.
pub async fn beep() -> HttpResponse {
    static WAV: OnceLock<Vec<u8>> = OnceLock::new();
    let wav = WAV.get_or_init(beep_wav);
    HttpResponse::Ok()
        .content_type("audio/wav")
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .body(wav.clone())
}

fn beep_wav() -> Vec<u8> {
    const RATE: u32 = 8000;
    const SAMPLES: u32 = RATE / 4;
    let data_len = SAMPLES * 2;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&RATE.to_le_bytes());
    out.extend_from_slice(&(RATE * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for n in 0..SAMPLES {
        let t = n as f64 / RATE as f64;
        let sample = (t * 1000.0 * std::f64::consts::TAU).sin() * 0.5 * i16::MAX as f64;
        out.extend_from_slice(&(sample as i16).to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_beep_is_a_wav_file() {
        let wav = super::beep_wav();
        assert_eq!(&wav[0..4], b"RIFF");
        assert_eq!(&wav[8..12], b"WAVE");
        assert_eq!(wav.len(), 44 + 4000);
    }
}
