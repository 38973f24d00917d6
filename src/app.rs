//! Start-up and shutdown: everything `confab serve` runs, built from a `Config`.

use crate::actions::flows::{self, FlowSet};
use crate::config::{parse_schedule, Config};
use crate::domain::timestamp::{Clock, SystemClock};
use crate::engine::{Engine, EngineSettings};
use crate::http::{self, AppState};
use crate::ops::ratelimit::Limiter;
use crate::outbox::{DeliverySettings, Dispatcher, RetryPolicy};
use crate::scheduler;
use crate::secrets::Secrets;
use crate::store::{Store, StoreOptions};
use actix_web::{web, HttpServer};
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("flows: {0}")]
    Flows(String),
    #[error("{0}")]
    Secrets(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("server: {0}")]
    Server(#[from] std::io::Error),
}

/// A built but not yet running confab: the store is open, the listener bound.
pub struct App {
    engine: Engine,
    delivery: DeliverySettings,
    platform_key: Option<Vec<u8>>,
    listener: TcpListener,
    config: Config,
}

impl App {
    pub fn build(config: Config) -> Result<App, StartError> {
        App::build_with_clock(config, Arc::new(SystemClock::default()))
    }

    /// `build` with another source of "now" for every timestamp, deadline and retry time.
    /// Production always uses `build` (the system clock); tests pass a clock they can move
    /// forward, so a deadline or a retry comes due without the test sleeping for it.
    pub fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> Result<App, StartError> {
        let webhook_schedule =
            parse_schedule("webhook-retry-schedule", &config.webhook_retry_schedule)
                .map_err(StartError::Config)?;
        let command_schedule =
            parse_schedule("command-retry-schedule", &config.command_retry_schedule)
                .map_err(StartError::Config)?;
        let platform_url = match config.platform_url.as_deref().filter(|u| !u.is_empty()) {
            Some(u) if u.starts_with("http://") || u.starts_with("https://") => Some(u.to_string()),
            Some(u) => {
                return Err(StartError::Config(format!(
                    "--platform-url: expected an http(s) URL, got {u:?}"
                )))
            }
            None => None,
        };
        let secrets = match &config.secrets_key_file {
            Some(path) => {
                if let Some(mode) = crate::secrets::keyfile::readable_by_others(path) {
                    tracing::warn!(file = %path.display(), mode = format!("{mode:o}"), "secrets: the key file can be read by others than its owner; chmod 0600 it");
                }
                Secrets::from_file(path).map_err(|e| StartError::Secrets(e.to_string()))?
            }
            None => Secrets::none(),
        };
        if let Some(newest) = secrets.newest_key_id() {
            tracing::info!(keys = ?secrets.key_ids(), %newest, "secrets: stored secrets are sealed under the newest key");
        }
        let store = Store::connect(
            &config.db,
            StoreOptions {
                readers: config.readers,
                wal_limit_bytes: config.wal_limit_mb * 1024 * 1024,
                reset_leases: true,
                disk_reserve_bytes: config.disk_reserve_mb * 1024 * 1024,
                pg_writers: usize::from(config.pg_writers),
                node_name: config.node_name.clone(),
                secrets,
                check_secrets: true,
            },
        )?;
        tracing::info!(db = %config.db, "store opened and migrated");
        let flows = load_flows(&config.flows_dir)?;
        let command_policy = RetryPolicy {
            delays: command_schedule,
            repeat_last_for: Some(Duration::from_secs(3600)),
        };
        let webhook_policy = RetryPolicy {
            delays: webhook_schedule,
            repeat_last_for: None,
        };
        let listener = TcpListener::bind(&config.bind).map_err(|source| StartError::Bind {
            addr: config.bind.clone(),
            source,
        })?;
        let public_url = match &config.public_url {
            Some(u) => u.clone(),
            None => {
                let addr = listener.local_addr()?;
                if addr.ip().is_unspecified() {
                    tracing::warn!(%addr, "no --public-url: the platform dialects' callbacks name this unspecified address; set --public-url to the URL platforms reach confab at");
                }
                format!("http://{addr}")
            }
        };
        let settings = EngineSettings {
            platform_url,
            public_url,
            kick_grace_seconds: config.kick_grace as i64,
            dial_limit: usize::try_from(config.dial_limit).unwrap_or(usize::MAX),
            idle_timeout_seconds: config.idle_timeout as i64,
            command_first_delay_micros: command_policy.first_delay_micros(),
            webhook_first_delay_micros: webhook_policy.first_delay_micros(),
            allow_private_targets: config.webhook_allow_private,
            page_bytes: config.page_bytes,
            readers: config.readers.max(1),
        };
        let engine = Engine::new(store, clock, flows, settings);
        let platform_key = match config.platform_secret.as_deref().filter(|s| !s.is_empty()) {
            Some(secret) => Some(
                crate::domain::signature::secret_key(secret)
                    .map_err(|e| StartError::Config(format!("--platform-secret: {e}")))?,
            ),
            None => {
                tracing::warn!(
                    "no --platform-secret configured: unsigned platform events are accepted"
                );
                None
            }
        };
        let delivery = DeliverySettings {
            platform_key: platform_key.clone(),
            command_policy,
            webhook_policy,
            allow_private: config.webhook_allow_private,
            lease: Duration::from_secs(config.outbox_lease),
            node_name: config.node_name.clone(),
        };
        Ok(App {
            engine,
            delivery,
            platform_key,
            listener,
            config,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, std::io::Error> {
        self.listener.local_addr()
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Builds the actix server on the bound listener. Kept out of `run` so no builder value
    /// (they are not `Send`) lives across an await and `run` can be spawned on any runtime.
    fn server(self) -> Result<(actix_web::dev::Server, Engine), StartError> {
        let state = web::Data::new(AppState {
            engine: self.engine.clone(),
            admin_token: self.config.admin_token.clone().filter(|t| !t.is_empty()),
            platform_key: self.platform_key.clone(),
            customer_limit: Limiter::new(self.config.rate_limit),
            body_limit: Limiter::per_second(self.config.body_rate_limit_mb * 1024.0 * 1024.0),
            auth_failure_limit: Limiter::new(self.config.auth_failure_limit),
            beep_url: self.config.beep_url.clone(),
            send_timeout: Duration::from_secs(self.config.send_timeout),
        });
        let metrics = self.engine.metrics();
        let mut server = HttpServer::new(move || {
            let metrics = metrics.clone();
            actix_web::App::new()
                .app_data(state.clone())
                .wrap_fn(move |req, srv| {
                    use actix_web::dev::Service;
                    let metrics = metrics.clone();
                    let method = req.method().clone();
                    let route = req.match_pattern();
                    let started = std::time::Instant::now();
                    let fut = srv.call(req);
                    async move {
                        let res = fut.await?;
                        let route = route.unwrap_or_else(|| "unmatched".to_string());
                        metrics.request(method.as_str(), &route, res.status().as_u16());
                        metrics.request_time(&route, started);
                        Ok(res)
                    }
                })
                .configure(http::routes)
        })
        .on_connect(http::connection::remember_socket)
        .disable_signals()
        // Slow clients: the request head must arrive within 5 s, idle keep-alive connections
        // close after 30 s; bodies have their own deadline (`http::input`).
        .client_request_timeout(Duration::from_secs(5))
        .keep_alive(Duration::from_secs(30))
        .shutdown_timeout(30);
        if let Some(w) = self.config.workers {
            server = server.workers(w.max(1));
        }
        Ok((server.listen(self.listener)?.run(), self.engine))
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests finish,
    /// and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), StartError> {
        let flows_dir = self.config.flows_dir.clone();
        let delivery = self.delivery.clone();
        let (server, engine) = self.server()?;
        let (outbox_wake, deadline_wake) = engine.wakers();
        let dispatcher = Arc::new(Dispatcher::new(
            engine.outbox_view(),
            engine.clock(),
            delivery,
            outbox_wake,
            engine.metrics(),
        ));
        let streams = engine.clone();
        let background = [
            tokio::spawn(watch_flows(engine.clone(), flows_dir)),
            tokio::spawn(dispatcher.clone().run()),
            tokio::spawn(scheduler::run(
                engine.clone(),
                engine.deadline_view(),
                deadline_wake,
            )),
            tokio::spawn(housekeeping(engine)),
        ];
        let handle = server.handle();
        let serving = tokio::spawn(server);
        shutdown.await;
        tracing::info!("shutting down: finishing in-flight requests");
        // Open console streams would otherwise keep the graceful stop waiting.
        streams.close_streams();
        handle.stop(true).await;
        // Background work is cut off only after the last request is answered; whatever it had
        // not finished is on disk and resumes at the next start.
        dispatcher.stop();
        for task in background {
            task.abort();
        }
        match serving.await {
            Ok(r) => r?,
            Err(e) => tracing::error!(error = %e, "server task failed"),
        }
        Ok(())
    }
}

/// Prunes history past its retention, once at start and then every ten minutes.
async fn housekeeping(engine: Engine) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        match engine.prune_history().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "pruned history past its retention"),
            Err(e) => tracing::warn!(error = %e, "pruning history failed; will retry"),
        }
    }
}

/// Loads the flows directory at start: a bad file stops start-up; a missing directory is an
/// empty set (logged), so `confab serve` works anywhere.
fn load_flows(dir: &Path) -> Result<FlowSet, StartError> {
    if !dir.exists() {
        tracing::warn!(dir = %dir.display(), "flows directory does not exist; no flows loaded");
        return Ok(FlowSet::default());
    }
    let set = FlowSet::load_dir(dir).map_err(|problems| {
        StartError::Flows(
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;
    tracing::info!(dir = %dir.display(), flows = set.flows.len(), "flows loaded");
    Ok(set)
}

/// Reloads the flows on SIGHUP and whenever the directory's files change (polled each
/// second). A bad reload keeps the last good set and logs why.
async fn watch_flows(engine: Engine, dir: PathBuf) {
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let fingerprint_of =
        |dir: PathBuf| tokio::task::spawn_blocking(move || flows::fingerprint(&dir));
    let mut last = fingerprint_of(dir.clone()).await.unwrap_or_default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        #[cfg(unix)]
        let forced = match hangup.as_mut() {
            Some(h) => tokio::select! {
                _ = h.recv() => true,
                _ = tick.tick() => false,
            },
            None => {
                tick.tick().await;
                false
            }
        };
        #[cfg(not(unix))]
        let forced = {
            tick.tick().await;
            false
        };
        let now = fingerprint_of(dir.clone()).await.unwrap_or_default();
        if !forced && now == last {
            continue;
        }
        last = now;
        let d = dir.clone();
        match tokio::task::spawn_blocking(move || FlowSet::load_dir(&d)).await {
            Ok(Ok(set)) => {
                tracing::info!(flows = set.flows.len(), "flows reloaded");
                engine.set_flows(set);
                engine.set_flow_problems(Vec::new());
            }
            Ok(Err(problems)) => {
                for p in &problems {
                    tracing::error!(problem = %p, "flows reload failed; keeping the last good set");
                }
                engine.set_flow_problems(problems.iter().map(ToString::to_string).collect());
            }
            Err(e) => tracing::error!(error = %e, "flows reload task failed"),
        }
    }
}
