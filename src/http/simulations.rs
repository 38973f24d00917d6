//! `POST /v1.0/simulations` (§12): a dry run of a conference's list, a loaded flow or a list
//! given inline, answered as the platform would receive it in the chosen dialect, with a
//! trace of every step. Nothing is stored, sent or started.

use super::auth::Tenant;
use super::error::ApiError;
use super::hooks::{beep_url, Route};
use super::input::{json_body, optional_uuid};
use super::AppState;
use crate::actions::schema::Action;
use crate::actions::simulation::CallEvent;
use crate::actions::Emitted;
use crate::dialects::{self, AnswerContext};
use crate::domain::ConferenceId;
use crate::engine::{Simulation, SimulationRun, Subject};
use crate::render::EventAnswer;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

/// What to simulate: one of `conference_id`, `flow` and `actions`; or `conference_id` with
/// `actions`, a draft list run with the conference's variables.
#[derive(Deserialize, ToSchema)]
#[schema(as = NewSimulation)]
struct SimulationBody {
    /// Run this conference's `pre_actions` (join) or `post_actions` (leave) with its variables.
    #[schema(format = Uuid)]
    conference_id: Option<String>,
    /// Run this flow of the flows directory.
    #[schema(min_length = 1)]
    flow: Option<String>,
    /// Run this action list (with `conference_id`: as that conference's draft).
    #[schema(value_type = Option<Vec<Action>>, max_items = 100)]
    actions: Option<Vec<Value>>,
    /// `join` (default) or `leave`: a join ends with `conference_join` unless it hung up.
    #[schema(value_type = Option<SimulatedEvent>, inline)]
    event: Option<String>,
    /// Variables the platform would pass, e.g. `{"call.from": "+15550100"}` (text, numbers or
    /// booleans); as in a real event, the conference's own `conference.*` win over them.
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    variables: Option<Map<String, Value>>,
    /// The caller's digits for each pause (`digits_receive`), in order: `["1234", ""]` enters
    /// 1234 at the first pause and nothing at the second. Left over inputs are not used; at a
    /// pause with none left the run ends waiting.
    #[schema(max_items = 20, value_type = Option<Vec<String>>, pattern = "^[0-9*#A-Da-d]{0,128}$")]
    inputs: Option<Vec<Value>>,
    /// How the platform would receive the actions: `native` (JSON, default), `xml` (the
    /// native XML answer), or a platform dialect by its webhooks' name (its answer).
    #[schema(value_type = Option<SimulatedDialect>, inline)]
    dialect: Option<String>,
}

/// Which list a simulation runs.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum SimulatedEvent {
    Join,
    Leave,
}

/// How a simulation's actions are rendered: the native answer's two forms, then each
/// platform dialect by its webhooks' name.
struct SimulatedDialect;

fn simulated_dialects() -> Vec<&'static str> {
    let dialects = dialects::all().filter_map(|p| p.webhooks().map(|w| w.segment));
    ["native", "xml"].into_iter().chain(dialects).collect()
}

impl utoipa::PartialSchema for SimulatedDialect {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("How a simulation's actions are rendered."))
            .enum_values(Some(simulated_dialects()))
            .into()
    }
}

impl ToSchema for SimulatedDialect {}

/// A simulation's answer.
#[derive(ToSchema)]
#[allow(dead_code)]
struct SimulationAnswer {
    /// The actions exactly as the platform would receive them: a JSON array where the
    /// dialect answers JSON (`native`, some platforms), else its document as a string.
    #[schema(value_type = Value)]
    actions: (),
    /// One entry per step (`step`, `id`, `type`, what it did, `next`), then `{"end", "steps"}`.
    #[schema(value_type = Vec<Object>)]
    trace: (),
    /// Webhooks and recordings the run would cause; none is sent or started.
    #[schema(value_type = Vec<Object>)]
    effects: (),
    /// The variables as the run left them.
    #[schema(value_type = std::collections::HashMap<String, String>)]
    variables: (),
    /// The run ended with `hangup` (a joining call would not join).
    hangup: bool,
    /// Why the run stopped early (the step or pause limit), else `null`.
    error: Option<String>,
    /// Each answer the platform would receive, rendered like `actions`: the first event's,
    /// then one per resume (every one but the last ends asking for digits).
    #[schema(value_type = Vec<Value>)]
    answers: (),
    /// The run ended at a pause with no input left.
    waiting: bool,
    dialect: String,
}

#[utoipa::path(post, path = "/v1.0/simulations", operation_id = "simulate", tag = "flows",
    request_body = SimulationBody,
    responses((status = 200, description = "What the call would get, and how the run went", body = SimulationAnswer)))]
pub async fn simulate(
    req: HttpRequest,
    tenant: Tenant,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: SimulationBody = json_body(&req, payload).await?;
    let dialect = body.dialect.clone().unwrap_or_else(|| "native".into());
    let names = simulated_dialects();
    if !names.contains(&dialect.as_str()) {
        let (last, rest) = names.split_last().unwrap_or((&"native", &[]));
        return Err(ApiError::invalid_argument(
            "dialect",
            format!("must be {} or {last}", rest.join(", ")),
        ));
    }
    let request = parse(body)?;
    let run = state.engine.simulate(tenant.0, request).await?;
    let actions = render(&state, tenant, &dialect, &run, &run.simulated.actions, None).await?;
    let mut answers = Vec::new();
    for (i, answer) in run.simulated.answers.iter().enumerate() {
        let paused = matches!(answer.last(), Some(Emitted::DigitsReceive { .. }));
        let pause = paused.then(|| u32::try_from(i + 1).unwrap_or(u32::MAX));
        answers.push(render(&state, tenant, &dialect, &run, answer, pause).await?);
    }
    let s = run.simulated;
    Ok(HttpResponse::Ok().json(json!({
        "actions": actions,
        "trace": s.trace,
        "effects": s.effects,
        "variables": s.variables,
        "hangup": s.hangup,
        "error": s.error,
        "answers": answers,
        "waiting": s.waiting,
        "dialect": dialect,
    })))
}

fn parse(body: SimulationBody) -> Result<Simulation, ApiError> {
    let conference = optional_uuid::<ConferenceId>("conference_id", body.conference_id.as_deref())?;
    let subject = match (conference, body.flow, body.actions) {
        (Some(id), None, None) => Subject::Conference(id, None),
        (Some(id), None, Some(list)) => Subject::Conference(id, Some(Value::Array(list))),
        (None, Some(flow), None) if !flow.is_empty() => Subject::Flow(flow),
        (None, None, Some(list)) => Subject::Actions(Value::Array(list)),
        _ => {
            return Err(ApiError::invalid_argument(
                "conference_id",
                "give one of conference_id, flow (a name) and actions (a list), or conference_id with actions (a draft run with the conference's variables)",
            ))
        }
    };
    let event = match body.event.as_deref() {
        None => CallEvent::Join,
        Some(e) => CallEvent::parse(e)
            .ok_or_else(|| ApiError::invalid_argument("event", "must be join or leave"))?,
    };
    let variables = super::input::variables("variables", body.variables.unwrap_or_default())?;
    let inputs = inputs(body.inputs.unwrap_or_default())?;
    Ok(Simulation {
        subject,
        event,
        inputs,
        variables,
    })
}

/// A simulation's `inputs`: at most 20 (a run pauses at most 20 times), each keypad digits.
fn inputs(values: Vec<Value>) -> Result<Vec<String>, ApiError> {
    if values.len() > crate::actions::interpreter::MAX_PAUSES as usize {
        return Err(ApiError::invalid_argument(
            "inputs",
            "must hold at most 20 entries (a run pauses at most 20 times)",
        ));
    }
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::String(s) if crate::dialects::inbound::is_digits(&s) => Ok(s),
            _ => Err(ApiError::invalid_argument(
                &format!("inputs[{i}]"),
                "must be a string of keypad digits (0-9, *, #, A-D), at most 128",
            )),
        })
        .collect()
}

/// Actions in the dialect asked for, rendered by the same code real answers use; `pause`
/// numbers an answer that asks for digits (its gather callback names it).
async fn render(
    state: &AppState,
    tenant: Tenant,
    dialect: &str,
    run: &SimulationRun,
    actions: &[Emitted],
    pause: Option<u32>,
) -> Result<Value, ApiError> {
    let answer = EventAnswer {
        conferencecall: None,
        recording: None,
        actions: Some(actions.to_vec()),
        pause,
    };
    let platform = match dialect {
        "xml" => return Ok(Value::String(answer.to_xml())),
        "native" => return Ok(Value::Array(actions.iter().map(Emitted::to_json).collect())),
        other => dialects::by_segment(other),
    };
    let Some(platform) = platform else {
        return Err(ApiError::invalid_argument("dialect", "is not a dialect"));
    };
    let route = Route {
        customer: tenant.0,
        conference: run.conference_id.unwrap_or(ConferenceId::nil()),
    };
    let connections = match state.engine.customer(tenant.0).await? {
        Some(c) => c.connections,
        None => Default::default(),
    };
    let beep = beep_url(state);
    let context = AnswerContext {
        callbacks: route.callbacks(state),
        beep_url: &beep,
        label: "simulated",
        connections: &connections,
    };
    let rendered = platform.render(&answer, &context);
    // A JSON answer is shown as JSON, a document as its text.
    Ok(if rendered.content_type.starts_with("application/json") {
        serde_json::from_str(&rendered.body).unwrap_or(Value::String(rendered.body))
    } else {
        Value::String(rendered.body)
    })
}
