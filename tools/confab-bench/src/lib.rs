//! The benchmark and crash-test tools of confab: a workspace member of its own, so building or
//! installing confab never compiles them.

pub mod busy;
pub mod ceiling;
pub mod cluster;
pub mod crash;
pub mod history;
pub mod latency;
pub mod load;
pub mod neighbours;
pub mod pin;
pub mod scenario_table;
pub mod scenarios;
pub mod support;
pub mod usage;
pub mod watch;
