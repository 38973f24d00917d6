//! The platforms' own libraries, installed by the tests themselves: Python `twilio`
//! (RequestValidator, VoiceResponse) and the npm packages `@jambonz/verb-specifications` (what
//! jambonz's feature server validates verbs with) and `@jambonz/schema` (JSON Schemas of verbs
//! and webhook bodies). Why: the dialects must agree with the platforms, not with a second
//! implementation written here; and `cargo test` on a fresh machine (CI has Python 3.11, Node 20
//! and PyPI/npm) must need no setup step, so the first test that asks installs them.
//!
//! Installed once, pinned, under `<target>/test-tools/` (`venv/`, `node/`): once per process
//! (a `OnceLock`), and once across test processes running at once (an `flock` on a lock file
//! beside each). A marker file, written only after a successful install and holding the pins,
//! tells a finished install from a half one, which is removed and redone.
//!
//! Everything here is blocking (it runs processes and may wait minutes for an install). From a
//! `#[tokio::test]` call it directly when nothing else must run meanwhile; while a server under
//! test must keep answering, call it through `tokio::task::spawn_blocking`.

use serde_json::Value;
use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// Pinned so a new release can't change what the tests check against without a commit.
pub const TWILIO_VERSION: &str = "9.13.0";
pub const VERB_SPECIFICATIONS_VERSION: &str = "0.1.13";
pub const JAMBONZ_SCHEMA_VERSION: &str = "0.4.15";

const DIALECTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/dialects");

/// The Python of a venv that has `twilio` installed. Panics, saying what to install by hand,
/// when it can't be made (no python3, no network).
pub fn twilio_python() -> PathBuf {
    static VENV: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let venv = tools_dir().join("venv");
    let pin = format!("twilio=={TWILIO_VERSION}");
    let done = VENV.get_or_init(|| {
        install(&venv, &pin, |dir| {
            run(Command::new("python3").arg("-m").arg("venv").arg(dir))?;
            run(Command::new(dir.join("bin/python"))
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "-q",
                    &pin,
                ])
                .env("PIP_NO_INPUT", "1"))
        })
        .map(|()| venv.join("bin/python"))
    });
    match done {
        Ok(python) => python.clone(),
        Err(e) => panic!(
            "could not install Python {pin} for the TwiML tests: {e}\n\
             Needs python3 with venv and PyPI. Install by hand: python3 -m venv {v} && {v}/bin/pip install {pin} && \
             echo '{pin}' > {v}/.installed",
            v = venv.display()
        ),
    }
}

/// A `node_modules` holding the pinned jambonz packages (for `NODE_PATH`). Panics, saying what
/// to install by hand, when it can't be made (no npm, no network).
pub fn jambonz_node_modules() -> PathBuf {
    static NODE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let pins = [
        format!("@jambonz/verb-specifications@{VERB_SPECIFICATIONS_VERSION}"),
        format!("@jambonz/schema@{JAMBONZ_SCHEMA_VERSION}"),
    ];
    node_modules(&NODE, "node", &pins, "the jambonz tests")
}

/// `<target>/test-tools/{name}/node_modules` with the pinned npm packages `pins`, installed
/// once (`cell` per process, the marker across processes).
fn node_modules(
    cell: &OnceLock<Result<PathBuf, String>>,
    name: &str,
    pins: &[String],
    purpose: &str,
) -> PathBuf {
    let dir = tools_dir().join(name);
    let pin = pins.join(" ");
    let done = cell.get_or_init(|| {
        install(&dir, &pin, |dir| {
            std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
            run(Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--prefix"])
                .arg(dir)
                .args(pins)
                .env("NPM_CONFIG_UPDATE_NOTIFIER", "false"))
        })
        .map(|()| dir.join("node_modules"))
    });
    match done {
        Ok(modules) => modules.clone(),
        Err(e) => panic!(
            "could not install {pin} for {purpose}: {e}\n\
             Needs Node.js with npm and the npm registry. Install by hand: npm install --prefix {d} {pin} && echo '{pin}' > {d}/.installed",
            d = dir.display()
        ),
    }
}

/// The Python of a venv holding the pinned `tests/{suite}/requirements.txt` (`contract`:
/// Schemathesis; `client`: openapi-python-client and mypy), under `<target>/test-tools/`.
/// The requirements' text is the install marker, so changing a pin reinstalls. Panics, saying
/// what to install by hand, when it can't be made (no python3, no PyPI).
pub fn suite_python(suite: &'static str) -> PathBuf {
    static VENVS: std::sync::Mutex<std::collections::BTreeMap<&str, Result<PathBuf, String>>> =
        std::sync::Mutex::new(std::collections::BTreeMap::new());
    let requirements = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(suite)
        .join("requirements.txt");
    let venv = tools_dir().join(format!("{suite}-venv"));
    let mut venvs = VENVS.lock().unwrap_or_else(|e| e.into_inner());
    let done = venvs.entry(suite).or_insert_with(|| {
        let pins = std::fs::read_to_string(&requirements)
            .map_err(|e| format!("read {}: {e}", requirements.display()))?;
        install(&venv, pins.trim(), |dir| {
            run(Command::new("python3").arg("-m").arg("venv").arg(dir))?;
            run(Command::new(dir.join("bin/python"))
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "-q",
                    "-r",
                ])
                .arg(&requirements)
                .env("PIP_NO_INPUT", "1"))
        })
        .map(|()| venv.join("bin/python"))
    });
    match done {
        Ok(python) => python.clone(),
        Err(e) => panic!(
            "could not install tests/{suite}/requirements.txt: {e}\n\
             Needs python3 with venv and PyPI. Install by hand: python3 -m venv {v} && \
             {v}/bin/pip install -r {r} && cp {r} {v}/.installed",
            v = venv.display(),
            r = requirements.display()
        ),
    }
}

/// Pinned for the console's browser test (`tests/console/`).
pub const PLAYWRIGHT_CORE_VERSION: &str = "1.65.1";

/// A `node_modules` holding the pinned `playwright-core` (for `NODE_PATH`).
pub fn playwright_node_modules() -> PathBuf {
    static NODE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let pins = [format!("playwright-core@{PLAYWRIGHT_CORE_VERSION}")];
    node_modules(&NODE, "console-node", &pins, "the console test")
}

/// Debian's Chromium, installed with apt-get when it is missing (the test machines run as
/// root; CI too). Panics, saying what to install, when it can't be.
pub fn chromium() -> PathBuf {
    static CHROMIUM: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let path = PathBuf::from("/usr/bin/chromium");
    let done = CHROMIUM.get_or_init(|| {
        if path.exists() {
            return Ok(path.clone());
        }
        let marker = tools_dir().join("chromium");
        install(&marker, "chromium (apt)", |dir| {
            std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
            if path.exists() {
                return Ok(());
            }
            let apt = |args: &[&str]| {
                run(Command::new("apt-get")
                    .args(args)
                    .env("DEBIAN_FRONTEND", "noninteractive"))
            };
            apt(&["update", "-qq"])?;
            apt(&["install", "-y", "-qq", "chromium"])
        })?;
        if path.exists() {
            Ok(path.clone())
        } else {
            Err("apt-get finished but /usr/bin/chromium is missing".into())
        }
    });
    match done {
        Ok(p) => p.clone(),
        Err(e) => panic!(
            "could not install Chromium for the console test: {e}\n\
             Install by hand (root): apt-get install -y chromium"
        ),
    }
}

/// Runs `tests/dialects/twilio_tool.py` (see its doc for the commands) with the venv's Python:
/// `args` as JSON on stdin, its JSON answer returned. Panics when the tool fails.
pub fn twilio_tool(args: Value) -> Value {
    let mut cmd = Command::new(twilio_python());
    cmd.arg(format!("{DIALECTS}/twilio_tool.py"));
    let (code, out, err) = pipe(&mut cmd, &args);
    if code != Some(0) {
        panic!("twilio_tool.py {args} exited {code:?}: {err}");
    }
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("twilio_tool.py printed {out:?}: {e}"))
}

/// Checks a verb array as jambonz's feature server does (`@jambonz/verb-specifications`).
/// `Err` holds the validator's message.
pub fn jambonz_validate(verbs: &Value) -> Result<(), String> {
    jambonz_tool(&["verbs"], verbs)
}

/// Checks a verb array against `@jambonz/schema`'s JSON Schemas (stricter on some types).
pub fn jambonz_schema_validate(verbs: &Value) -> Result<(), String> {
    jambonz_tool(&["schema-verbs"], verbs)
}

/// Checks a webhook body jambonz would send against `@jambonz/schema`'s
/// `callbacks/{kind}.schema.json`: `session-new` (the call webhook), `conference-status`
/// (a conference statusHook), `conference` (its actionHook), `gather` (a gather's actionHook),
/// `call-status`, ...
pub fn jambonz_payload(kind: &str, body: &Value) -> Result<(), String> {
    jambonz_tool(&["payload", kind], body)
}

fn jambonz_tool(args: &[&str], input: &Value) -> Result<(), String> {
    let mut cmd = Command::new("node");
    cmd.arg(format!("{DIALECTS}/jambonz_tool.js"))
        .args(args)
        .env("NODE_PATH", jambonz_node_modules());
    match pipe(&mut cmd, input) {
        (Some(0), _, _) => Ok(()),
        (Some(1), _, err) => Err(err.trim().to_string()),
        (code, _, err) => panic!("jambonz_tool.js {args:?} exited {code:?}: {err}"),
    }
}

/// Runs `cmd` with `input` as JSON on stdin; its exit code, stdout and stderr.
fn pipe(cmd: &mut Command, input: &Value) -> (Option<i32>, String, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {cmd:?}: {e}"));
    // Written from a thread so a child that answers before reading all input can't block us.
    let mut stdin = child.stdin.take().unwrap_or_else(|| panic!("no stdin"));
    let body = input.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(body.as_bytes()));
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for {cmd:?}: {e}"));
    let _ = writer.join();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Makes `dir` hold the install named `pin` unless it already does: under an exclusive `flock`
/// on `<dir>.lock` (another test process installing meanwhile is waited for), a missing or
/// different `<dir>/.installed` marker means a half or stale install, removed and redone.
fn install(
    dir: &Path,
    pin: &str,
    make: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<(), String> {
    let marker = dir.join(".installed");
    let lock_path = dir.with_extension("lock");
    std::fs::create_dir_all(tools_dir()).map_err(|e| format!("mkdir: {e}"))?;
    let lock = std::fs::File::create(&lock_path)
        .map_err(|e| format!("open {}: {e}", lock_path.display()))?;
    // SAFETY: flock on a descriptor this function owns; released when `lock` is dropped.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(format!(
            "flock {}: {}",
            lock_path.display(),
            std::io::Error::last_os_error()
        ));
    }
    if std::fs::read_to_string(&marker).is_ok_and(|m| m.trim() == pin) {
        return Ok(());
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| format!("rm {}: {e}", dir.display()))?;
    }
    make(dir)?;
    std::fs::write(&marker, format!("{pin}\n")).map_err(|e| format!("write marker: {e}"))
}

/// Runs an install step; its output becomes the error when it fails.
fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not start {cmd:?}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// `<target>/test-tools`: CARGO_TARGET_DIR when set (now or at build time), else the cargo
/// target directory this test binary sits in (the ancestor holding cargo's CACHEDIR.TAG, which
/// also covers `--target <triple>` layouts), else `<crate>/target`.
fn tools_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| option_env!("CARGO_TARGET_DIR").map(PathBuf::from))
        .or_else(|| {
            let exe = std::env::current_exe().ok()?;
            exe.ancestors()
                .find(|d| d.join("CACHEDIR.TAG").is_file())
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(|| PathBuf::from("target"));
    // A relative CARGO_TARGET_DIR is cargo's, from the workspace root (this crate's directory).
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(target)
        .join("test-tools")
}
