//! The real `confab serve` binary as its own process: for a SIGKILL, or to measure its memory
//! alone.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `confab serve`; killed when dropped.
pub struct Process {
    pub child: Child,
    pub base: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    /// Creates a customer through the admin route and returns its API key.
    pub async fn create_customer(&self, client: &reqwest::Client) -> String {
        let customer: serde_json::Value = client
            .post(format!("{}/v1.0/customers", self.base))
            .bearer_auth(super::ADMIN_TOKEN)
            .json(&serde_json::json!({"name": "acme"}))
            .send()
            .await
            .expect("admin route answers")
            .json()
            .await
            .expect("a JSON customer");
        customer["api_key"]
            .as_str()
            .expect("an api_key")
            .to_string()
    }
}

/// Starts `confab serve` on `db` and a free port with the shipped flows and `args`, and waits
/// for it to say where it listens.
pub fn spawn(db: impl AsRef<OsStr>, args: &[&str], log: &str) -> Process {
    let mut child = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(["serve", "--bind", "127.0.0.1:0", "--db"])
        .arg(db)
        .args(["--flows-dir", concat!(env!("CARGO_MANIFEST_DIR"), "/flows")])
        .args(args)
        .env("RUST_LOG", log)
        .stderr(Stdio::piped())
        .spawn()
        .expect("confab starts");
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("addr=").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
        }
    });
    let addr = match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(addr) => addr,
        Err(e) => {
            // Not left running: nothing else would ever stop it.
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "confab did not report its address (its log must include confab::cli=info): {e}"
            );
        }
    };
    Process {
        child,
        base: format!("http://{addr}"),
    }
}
