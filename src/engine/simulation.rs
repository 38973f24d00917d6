//! Simulations (§12): a customer's conference list, a loaded flow or a list given inline,
//! compiled and run as a real join or leave would run it, changing nothing.

use super::{Engine, EngineError};
use crate::actions::interpreter::Variables;
use crate::actions::simulation::{self, CallEvent, Simulated};
use crate::actions::{self, Program};
use crate::domain::{ConferenceId, CustomerId};
use serde_json::Value;

/// What to run.
#[derive(Debug, Clone)]
pub enum Subject {
    /// The conference's `pre_actions` (join) or `post_actions` (leave), with its variables;
    /// or, with a list, that list (a draft) with the conference's variables.
    Conference(ConferenceId, Option<Value>),
    /// A flow of the flows directory, by name.
    Flow(String),
    /// An action list as a request carries it.
    Actions(Value),
}

/// A simulation request, parsed.
#[derive(Debug, Clone)]
pub struct Simulation {
    pub subject: Subject,
    pub event: CallEvent,
    /// Variables the platform would pass (`call.from`, ...). As in a real event, the
    /// conference's own (`conference.*`) win over them.
    pub variables: Variables,
    /// The caller's digits for each pause, in order (§13).
    pub inputs: Vec<String>,
}

/// A simulation's result and the conference it ran against, if any.
pub struct SimulationRun {
    pub simulated: Simulated,
    pub conference_id: Option<ConferenceId>,
}

impl Engine {
    /// Runs a simulation for `customer`. Another customer's conference is not found.
    pub async fn simulate(
        &self,
        customer: CustomerId,
        request: Simulation,
    ) -> Result<SimulationRun, EngineError> {
        let flows = self.flows();
        let event = request.event;
        let mut room = crate::domain::room::RoomRules::default();
        let (program, conference_vars, conference_id) = match request.subject {
            Subject::Conference(id, draft) => {
                let view = self.conference(customer, id).await?;
                let conf = &view.conference;
                let list = draft.unwrap_or_else(|| match event {
                    CallEvent::Join => conf.pre_actions.parse(),
                    CallEvent::Leave => conf.post_actions.parse(),
                });
                let program = compile(event.list(), &list, &flows)?;
                // A real join counts the calls joined before it; a real leave counts them
                // after the leaving call (one of the joined) has gone.
                let joined = view.conferencecall_ids.len();
                let participants = match event {
                    CallEvent::Join => joined,
                    CallEvent::Leave => joined.saturating_sub(1),
                };
                let vars = super::rules::conference_variables(conf, participants);
                room = conf.room.clone();
                (program, vars, Some(id))
            }
            Subject::Flow(name) => {
                let flow = flows
                    .flows
                    .get(&name)
                    .ok_or_else(|| EngineError::InvalidArgument {
                        field: "flow".into(),
                        message: format!("no flow named {name:?} is loaded (GET /v1.0/flows)"),
                    })?;
                let program = actions::compile(&name, &flow.actions, flows.as_ref())
                    .map_err(EngineError::InvalidAction)?;
                (program, Variables::new(), None)
            }
            Subject::Actions(list) => (compile("actions", &list, &flows)?, Variables::new(), None),
        };
        let mut variables = request.variables;
        variables.extend(conference_vars);
        let target = conference_id.map_or_else(|| "(simulated)".to_string(), |id| id.to_string());
        Ok(SimulationRun {
            simulated: simulation::simulate(
                &program,
                variables,
                event,
                &target,
                &room,
                &request.inputs,
            ),
            conference_id,
        })
    }
}

/// Parses and compiles a list as a write would check it, so a simulation refuses exactly what
/// a `PUT` would.
fn compile(
    list: &str,
    value: &Value,
    flows: &crate::actions::flows::FlowSet,
) -> Result<Program, EngineError> {
    let parsed = actions::parse_list(list, value).map_err(EngineError::InvalidAction)?;
    actions::compile(list, &parsed.actions, flows).map_err(EngineError::InvalidAction)
}
