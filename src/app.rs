//! Start-up and shutdown: everything `confab serve` runs, built from a `Config`.

use crate::config::{parse_schedule, Config};
use crate::engine::{Engine, EngineSettings};
use crate::flow::FlowSet;
use crate::http::{self, AppState};
use crate::store::Store;
use crate::timestamp::SystemClock;
use actix_web::{web, HttpServer};
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("flows: {0}")]
    Flows(String),
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
    listener: TcpListener,
    config: Config,
}

impl App {
    pub fn build(config: Config) -> Result<App, StartError> {
        parse_schedule("webhook-retry-schedule", &config.webhook_retry_schedule)
            .map_err(StartError::Config)?;
        parse_schedule("command-retry-schedule", &config.command_retry_schedule)
            .map_err(StartError::Config)?;
        let store = Store::open(&config.db, config.readers)?;
        let flows = FlowSet::default();
        let settings = EngineSettings {
            idle_timeout_seconds: config.idle_timeout as i64,
            kick_grace_seconds: config.kick_grace as i64,
        };
        let engine = Engine::new(store, Arc::new(SystemClock::default()), flows, settings);
        let listener = TcpListener::bind(&config.bind).map_err(|source| StartError::Bind {
            addr: config.bind.clone(),
            source,
        })?;
        if config.platform_secret.is_none() {
            tracing::warn!(
                "no --platform-secret configured: unsigned platform events are accepted"
            );
        }
        Ok(App {
            engine,
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
        });
        let mut server = HttpServer::new(move || {
            actix_web::App::new()
                .app_data(state.clone())
                .configure(http::routes)
        })
        .disable_signals()
        .shutdown_timeout(30);
        if let Some(w) = self.config.workers {
            server = server.workers(w.max(1));
        }
        Ok((server.listen(self.listener)?.run(), self.engine))
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests finish,
    /// and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), StartError> {
        let (server, _engine) = self.server()?;
        let handle = server.handle();
        let serving = tokio::spawn(server);
        shutdown.await;
        tracing::info!("shutting down: finishing in-flight requests");
        handle.stop(true).await;
        match serving.await {
            Ok(r) => r?,
            Err(e) => tracing::error!(error = %e, "server task failed"),
        }
        Ok(())
    }
}
