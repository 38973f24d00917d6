//! The integration tests, one binary: each module was once its own test binary. One binary
//! links once instead of eleven times and shares one support module. Run a group with
//! `cargo test --test it api::`, one test with its full name.
//!
//! No test passes without running. A test that needs what this machine may lack is
//! `#[ignore = "<what it needs>"]`: `multinode::` (a PostgreSQL server) and `faults::` (root,
//! to mount a tmpfs). `cargo test` lists them as `ignored, <reason>` in the summary's ignored
//! count; `-- --include-ignored` runs them, and then a missing server or root fails them.
//! Nothing returns early on a backend or machine it does not like: a test about SQLite opens a
//! SQLite file whatever `CONFAB_TEST_BACKEND` says. `.ci/run` runs every test and fails if a
//! test binary reports one ignored.

mod support;

mod api;
mod batches;
mod bounds;
mod cli;
mod console;
mod contract;
mod dial_cancel;
mod dial_out;
mod dialect_tools;
mod events;
mod faults;
mod fuzz;
mod jambonz;
mod lifecycle;
mod live;
mod multinode;
mod neighbours;
mod nodes;
mod operations;
mod pauses;
mod restart;
mod retention;
mod scenarios;
mod secrets;
mod simulations;
mod twiml;
mod usage;
mod webhooks;
mod xml_api;
