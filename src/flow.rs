//! The flows directory: named, reusable action lists that `flow` actions include.

use crate::action::{Action, FlowLookup};
use std::collections::BTreeMap;

/// One loaded flow file.
#[derive(Debug, Clone)]
pub struct Flow {
    pub name: String,
    pub description: String,
    pub actions: Vec<Action>,
    pub json: Vec<serde_json::Value>,
    pub file: String,
}

/// Every flow loaded from the directory, by name.
#[derive(Debug, Clone, Default)]
pub struct FlowSet {
    pub flows: BTreeMap<String, Flow>,
}

impl FlowLookup for FlowSet {
    fn flow_actions(&self, name: &str) -> Option<&[Action]> {
        self.flows.get(name).map(|f| f.actions.as_slice())
    }
}
