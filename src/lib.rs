//! confab: a conference call-flow engine. Platforms post call events, confab answers with the
//! actions each call must perform, keeps conferences in SQLite and notifies customers.

pub mod actions;
pub mod app;
pub mod cli;
pub mod config;
pub mod deadline;
pub mod domain;
pub mod engine;
pub mod http;
pub mod metrics;
pub mod outbox;
pub mod ratelimit;
pub mod store;
pub mod xml;

pub use app::App;
pub use config::Config;
