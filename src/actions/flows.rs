//! The flows directory: named, reusable action lists that `flow` actions include, loaded and
//! validated as a set, with problems reported as `file:line:col: message`.

use crate::actions::{self, Action, FlowLookup};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One loaded flow file.
#[derive(Debug, Clone)]
pub struct Flow {
    pub name: String,
    pub description: String,
    pub actions: Vec<Action>,
    pub json: Vec<Value>,
    pub file: PathBuf,
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

/// A problem in a flow file, located for an editor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowProblem {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl std::fmt::Display for FlowProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

/// A flow name is a file-name-like identifier, so it reads well in an action.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// The flow files of a directory, sorted, with their modification times: a change in this list
/// is what triggers a reload.
pub fn fingerprint(dir: &Path) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
    let mut out: Vec<_> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| {
                let meta = std::fs::metadata(&p).ok();
                let mtime = meta.as_ref().and_then(|m| m.modified().ok());
                let len = meta.map(|m| m.len()).unwrap_or(0);
                (p, mtime, len)
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

struct Parsed {
    flow: Flow,
    text: String,
}

impl FlowSet {
    /// Loads and validates every `*.json` in `dir`. All problems are reported, not just the
    /// first; any problem means the set is not usable.
    pub fn load_dir(dir: &Path) -> Result<FlowSet, Vec<FlowProblem>> {
        let dir_problem = |message: String| FlowProblem {
            file: dir.display().to_string(),
            line: 1,
            col: 1,
            message,
        };
        let entries = std::fs::read_dir(dir)
            .map_err(|e| vec![dir_problem(format!("cannot read the flows directory: {e}"))])?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        let mut problems = Vec::new();
        let mut parsed: Vec<Parsed> = Vec::new();
        for path in files {
            match parse_file(&path) {
                Ok(p) => {
                    if let Some(other) = parsed.iter().find(|o| o.flow.name == p.flow.name) {
                        let (line, col) = locate(&p.text, &[Seg::Key("name")]);
                        problems.push(FlowProblem {
                            file: path.display().to_string(),
                            line,
                            col,
                            message: format!(
                                "flow name {:?} is also used by {}",
                                p.flow.name,
                                other.flow.file.display()
                            ),
                        });
                    } else {
                        parsed.push(p);
                    }
                }
                Err(p) => problems.push(p),
            }
        }
        let set = FlowSet {
            flows: parsed
                .iter()
                .map(|p| (p.flow.name.clone(), p.flow.clone()))
                .collect(),
        };
        // Compile each flow against the whole set: includes resolve, no cycles, targets exist.
        for p in &parsed {
            if let Err(e) = actions::compile(&p.flow.name, &p.flow.actions, &set) {
                let (line, col) = locate(&p.text, &[Seg::Key("actions"), Seg::Index(e.index)]);
                problems.push(FlowProblem {
                    file: p.flow.file.display().to_string(),
                    line,
                    col,
                    message: format!(
                        "actions[{}]{}: {}",
                        e.index,
                        if e.field.is_empty() {
                            String::new()
                        } else {
                            format!(".{}", e.field)
                        },
                        e.message
                    ),
                });
            }
        }
        if problems.is_empty() {
            Ok(set)
        } else {
            Err(problems)
        }
    }
}

fn parse_file(path: &Path) -> Result<Parsed, FlowProblem> {
    let file = path.display().to_string();
    let problem = |line: usize, col: usize, message: String| FlowProblem {
        file: file.clone(),
        line,
        col,
        message,
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| problem(1, 1, format!("cannot read: {e}")))?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| problem(e.line(), e.column(), format!("invalid JSON: {e}")))?;
    let obj = value.as_object().ok_or_else(|| {
        problem(
            1,
            1,
            "a flow file must be a JSON object with name, description and actions".into(),
        )
    })?;
    let at = |seg: &[Seg]| locate(&text, seg);
    let name = match obj.get("name") {
        Some(Value::String(n)) if valid_name(n) => n.clone(),
        Some(_) => {
            let (l, c) = at(&[Seg::Key("name")]);
            return Err(problem(
                l,
                c,
                "name must be 1 to 64 letters, digits, '_', '-' or '.'".into(),
            ));
        }
        None => return Err(problem(1, 1, "name is required".into())),
    };
    let description = match obj.get("description") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(d)) => d.clone(),
        Some(_) => {
            let (l, c) = at(&[Seg::Key("description")]);
            return Err(problem(l, c, "description must be a string".into()));
        }
    };
    let actions_value = obj
        .get("actions")
        .ok_or_else(|| problem(1, 1, "actions is required".into()))?;
    let list = actions::parse_list(&name, actions_value).map_err(|e| {
        let (l, c) = if actions_value.is_array() {
            at(&[Seg::Key("actions"), Seg::Index(e.index)])
        } else {
            at(&[Seg::Key("actions")])
        };
        let field = if e.field.is_empty() {
            String::new()
        } else {
            format!(".{}", e.field)
        };
        problem(l, c, format!("actions[{}]{field}: {}", e.index, e.message))
    })?;
    Ok(Parsed {
        flow: Flow {
            name,
            description,
            actions: list.actions,
            json: list.json,
            file: path.to_path_buf(),
        },
        text,
    })
}

/// A step of a path into a JSON document.
#[derive(Debug, Clone, Copy)]
pub enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// The 1-based line and column where the value at `path` starts in JSON `text` (the start of
/// the deepest part of the path that exists). `text` is known to be valid JSON.
pub fn locate(text: &str, path: &[Seg]) -> (usize, usize) {
    let mut scan = Scan {
        b: text.as_bytes(),
        i: 0,
    };
    let offset = scan.find(path).unwrap_or(scan.i);
    line_col(text, offset)
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map(|p| p + 1)
        .unwrap_or(0);
    let col = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, col)
}

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scan<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Skips a string, returning its raw contents.
    fn string(&mut self) -> Option<&[u8]> {
        if self.peek()? != b'"' {
            return None;
        }
        self.i += 1;
        let start = self.i;
        while self.i < self.b.len() {
            match self.b[self.i] {
                b'\\' => self.i += 2,
                b'"' => {
                    let s = &self.b[start..self.i];
                    self.i += 1;
                    return Some(s);
                }
                _ => self.i += 1,
            }
        }
        None
    }

    fn skip_value(&mut self) -> Option<()> {
        self.ws();
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                self.i += 1;
                loop {
                    self.ws();
                    match self.peek()? {
                        c if c == close => {
                            self.i += 1;
                            return Some(());
                        }
                        b',' | b':' => self.i += 1,
                        _ => self.skip_value()?,
                    }
                }
            }
            _ => {
                while self.i < self.b.len()
                    && !matches!(self.b[self.i], b',' | b'}' | b']')
                    && !self.b[self.i].is_ascii_whitespace()
                {
                    self.i += 1;
                }
                Some(())
            }
        }
    }

    fn find(&mut self, path: &[Seg]) -> Option<usize> {
        self.ws();
        let Some((seg, rest)) = path.split_first() else {
            return Some(self.i);
        };
        let here = self.i;
        match seg {
            Seg::Key(key) => {
                if self.peek()? != b'{' {
                    return Some(here);
                }
                self.i += 1;
                loop {
                    self.ws();
                    if self.peek()? == b'}' {
                        return Some(here);
                    }
                    let k = self.string()?;
                    let found = k == key.as_bytes();
                    self.ws();
                    self.i += 1; // ':'
                    if found {
                        return self.find(rest);
                    }
                    self.skip_value()?;
                    self.ws();
                    if self.peek()? == b',' {
                        self.i += 1;
                    }
                }
            }
            Seg::Index(n) => {
                if self.peek()? != b'[' {
                    return Some(here);
                }
                self.i += 1;
                let mut idx = 0;
                loop {
                    self.ws();
                    if self.peek()? == b']' {
                        return Some(here);
                    }
                    if idx == *n {
                        return self.find(rest);
                    }
                    self.skip_value()?;
                    self.ws();
                    if self.peek()? == b',' {
                        self.i += 1;
                    }
                    idx += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_array_elements_and_keys() {
        let text = "{\n  \"name\": \"x\",\n  \"actions\": [\n    {\"type\": \"beep\"},\n    {\"type\": \"talk\"}\n  ]\n}";
        assert_eq!(locate(text, &[Seg::Key("actions"), Seg::Index(1)]), (5, 5));
        assert_eq!(locate(text, &[Seg::Key("name")]), (2, 11));
    }

    #[test]
    fn reports_problems_with_positions_and_detects_cycles() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.json"),
            r#"{"name": "a", "actions": [{"type": "flow", "option": {"name": "b"}}]}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("b.json"),
            r#"{"name": "b", "actions": [{"type": "flow", "option": {"name": "a"}}]}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("c.json"),
            "{\"name\": \"c\",\n \"actions\": [{\"type\": \"talk\"}]}",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("d.json"),
            "{\"name\": \"d\", \"actions\": [",
        )
        .unwrap();
        let problems = FlowSet::load_dir(dir.path()).unwrap_err();
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert!(
            text.iter()
                .any(|t| t.ends_with("c.json:2:14: actions[0].option.text: is required")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("d.json:1:") && t.contains("invalid JSON")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("a.json:1:27:") && t.contains("includes itself")),
            "{text:?}"
        );
    }
}
