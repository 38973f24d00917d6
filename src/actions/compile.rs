//! Compiling a parsed list: flows inlined, ids unique, every jump target resolved.

use super::model::{Action, ActionKind};
use super::{ActionError, MAX_FLOW_DEPTH};
use std::collections::HashMap;
use uuid::Uuid;

/// Resolves `flow` names while compiling. The flow catalog implements it.
pub trait FlowLookup {
    fn flow_actions(&self, name: &str) -> Option<&[Action]>;
}

/// One executable step: an action plus where control goes when it completes normally.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub action: Action,
    /// Index of the next step; `steps.len()` means the end of the program.
    pub next: usize,
}

/// An action list with every `flow` inlined and every id resolved to a step index.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Program {
    pub steps: Vec<Step>,
    pub index: HashMap<Uuid, usize>,
    /// The program's fingerprint once computed (`fingerprint`): programs are cached and
    /// shared, so a pause and its resume write it out once per compiled program, not per
    /// event.
    pub memo: Memo,
}

/// A value computed once for a program and kept with it; it takes no part in equality.
#[derive(Debug, Clone, Default)]
pub struct Memo(std::sync::OnceLock<String>);

impl PartialEq for Memo {
    fn eq(&self, _: &Memo) -> bool {
        true
    }
}

impl Program {
    /// A fingerprint of the program, the same on every node and build that compiles the same
    /// steps: FNV-1a over the steps as written out. A paused run keeps it, and a resume runs
    /// only a program with the same one.
    pub fn fingerprint(&self) -> &str {
        self.memo.0.get_or_init(|| {
            let text = format!("{:?}", self.steps);
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
            for b in text.bytes() {
                hash ^= u64::from(b);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
            format!("{:016x}:{}", hash, self.steps.len())
        })
    }
}

impl Program {
    /// The step index an action id names (validated at compile time).
    pub fn resolve(&self, id: Uuid) -> Option<usize> {
        self.index.get(&id).copied()
    }
}

/// Inlines flows and checks the list as a whole: unique ids, and every `next_id` and target
/// naming an action of the same list. Errors name the outer list's index and field.
pub fn compile(
    list: &str,
    actions: &[Action],
    flows: &dyn FlowLookup,
) -> Result<Program, ActionError> {
    let mut flat: Vec<(usize, Action)> = Vec::new();
    // Ids that name the start of an included flow (the `flow` action's own id).
    let mut aliases: Vec<(Uuid, usize, usize)> = Vec::new();
    let mut stack = Vec::new();
    expand(
        list,
        actions,
        flows,
        None,
        &mut stack,
        &mut flat,
        &mut aliases,
    )?;

    let mut index = HashMap::new();
    for (pos, (origin, action)) in flat.iter().enumerate() {
        if !action.id.is_nil() && index.insert(action.id, pos).is_some() {
            return Err(ActionError {
                list: list.into(),
                index: *origin,
                field: "id".into(),
                message: format!("duplicate action id {}", action.id),
            });
        }
    }
    for (id, pos, origin) in &aliases {
        if index.insert(*id, *pos).is_some() {
            return Err(ActionError {
                list: list.into(),
                index: *origin,
                field: "id".into(),
                message: format!("duplicate action id {id}"),
            });
        }
    }

    let len = flat.len();
    let mut steps = Vec::with_capacity(len);
    for (pos, (origin, action)) in flat.into_iter().enumerate() {
        let mut checks = action.kind.targets();
        if !action.next_id.is_nil() {
            checks.push(("next_id".into(), action.next_id));
        }
        for (field, id) in checks {
            if !id.is_nil() && !index.contains_key(&id) {
                return Err(ActionError {
                    list: list.into(),
                    index: origin,
                    field,
                    message: format!("names no action of this list: {id}"),
                });
            }
        }
        let next = if action.next_id.is_nil() {
            pos + 1
        } else {
            index.get(&action.next_id).copied().unwrap_or(len)
        };
        steps.push(Step { action, next });
    }
    Ok(Program {
        steps,
        index,
        memo: Memo::default(),
    })
}

fn expand(
    list: &str,
    actions: &[Action],
    flows: &dyn FlowLookup,
    outer_index: Option<usize>,
    stack: &mut Vec<String>,
    flat: &mut Vec<(usize, Action)>,
    aliases: &mut Vec<(Uuid, usize, usize)>,
) -> Result<(), ActionError> {
    for (i, action) in actions.iter().enumerate() {
        // Inside an included flow every problem is reported at the outer `flow` action.
        let origin = outer_index.unwrap_or(i);
        let ActionKind::Flow { name } = &action.kind else {
            flat.push((origin, action.clone()));
            continue;
        };
        let fail = |message: String| ActionError {
            list: list.into(),
            index: origin,
            field: "option.name".into(),
            message,
        };
        if stack.iter().any(|n| n == name) {
            return Err(fail(format!(
                "flow {name:?} includes itself: {} -> {name}",
                stack.join(" -> ")
            )));
        }
        if stack.len() >= MAX_FLOW_DEPTH {
            return Err(fail(format!("flows nest deeper than {MAX_FLOW_DEPTH}")));
        }
        let included = flows
            .flow_actions(name)
            .ok_or_else(|| fail(format!("unknown flow {name:?}")))?;
        if !action.id.is_nil() {
            aliases.push((action.id, flat.len(), origin));
        }
        stack.push(name.clone());
        expand(list, included, flows, Some(origin), stack, flat, aliases)?;
        stack.pop();
        if !action.next_id.is_nil() {
            flat.push((
                origin,
                Action {
                    id: Uuid::nil(),
                    next_id: Uuid::nil(),
                    kind: ActionKind::Jump {
                        target_id: action.next_id,
                    },
                },
            ));
        }
    }
    Ok(())
}

/// A lookup with no flows, for lists that may not include any.
pub struct NoFlows;

impl FlowLookup for NoFlows {
    fn flow_actions(&self, _name: &str) -> Option<&[Action]> {
        None
    }
}
