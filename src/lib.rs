//! confab: a conference call-flow engine. Platforms post call events, confab answers with the
//! actions each call must perform, keeps conferences in SQLite and notifies customers.

pub mod actions;
pub mod app;
pub mod cli;
pub mod config;
pub mod dialects;
pub mod domain;
pub mod engine;
pub mod http;
pub mod ops;
pub mod outbox;
pub mod render;
pub mod scheduler;
pub mod secrets;
pub mod store;

pub use app::App;
pub use config::Config;
