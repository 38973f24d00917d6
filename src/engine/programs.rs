//! Compiled action lists, kept per conference: an event runs the conference's list without
//! parsing and compiling it again inside the write transaction, as long as neither the stored
//! list nor the loaded flows changed.

use crate::actions::flows::FlowSet;
use crate::actions::Program;
use crate::domain::ConferenceId;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

/// Past this many entries the cache starts over: a bound on memory, not an eviction policy
/// (the lists of busy conferences come back within one event each).
const MAX_ENTRIES: usize = 4096;

struct Entry {
    /// The stored list's length and hash: a changed list is compiled again.
    text: (usize, u64),
    /// The flows it was compiled with (held, so a reload can never reuse its address).
    flows: Arc<FlowSet>,
    program: Arc<Program>,
}

#[derive(Default)]
pub(crate) struct ProgramCache {
    entries: Mutex<HashMap<(ConferenceId, &'static str), Entry>>,
}

fn fingerprint(text: &str) -> (usize, u64) {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    (text.len(), h.finish())
}

impl ProgramCache {
    /// The compiled `list` of a conference whose stored text is `text`, compiling it with
    /// `compile` when it is not cached (or changed, or the flows were reloaded).
    pub(crate) fn get<E>(
        &self,
        key: (ConferenceId, &'static str),
        text: &str,
        flows: &Arc<FlowSet>,
        compile: impl FnOnce() -> Result<Program, E>,
    ) -> Result<Arc<Program>, E> {
        let print = fingerprint(text);
        if let Ok(entries) = self.entries.lock() {
            if let Some(e) = entries.get(&key) {
                if e.text == print && Arc::ptr_eq(&e.flows, flows) {
                    return Ok(e.program.clone());
                }
            }
        }
        let program = Arc::new(compile()?);
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(
                key,
                Entry {
                    text: print,
                    flows: flows.clone(),
                    program: program.clone(),
                },
            );
        }
        Ok(program)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn compiles_once_until_the_list_or_the_flows_change() {
        let cache = ProgramCache::default();
        let key = (ConferenceId::new(), "pre_actions");
        let compiled = Cell::new(0);
        let compile = || {
            compiled.set(compiled.get() + 1);
            Ok::<_, ()>(Program::default())
        };
        let flows = Arc::new(FlowSet::default());
        for _ in 0..3 {
            cache.get(key, "[1]", &flows, compile).unwrap();
        }
        assert_eq!(compiled.get(), 1);
        cache.get(key, "[2]", &flows, compile).unwrap();
        assert_eq!(compiled.get(), 2);
        let reloaded = Arc::new(FlowSet::default());
        cache.get(key, "[2]", &reloaded, compile).unwrap();
        assert_eq!(compiled.get(), 3);
    }
}
