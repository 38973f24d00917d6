//! The integration tests, one binary: each module was once its own test binary. One binary
//! links once instead of eleven times and shares one support module. Run a group with
//! `cargo test --test it api::`, one test with its full name.

mod support;

mod api;
mod bounds;
mod cli;
mod console;
mod contract;
mod dialect_tools;
mod events;
mod faults;
mod fuzz;
mod jambonz;
mod lifecycle;
mod multinode;
mod neighbours;
mod nodes;
mod operations;
mod restart;
mod scenarios;
mod simulations;
mod twiml;
mod webhooks;
mod xml_api;
