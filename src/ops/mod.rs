//! What an operator sees and what protects the service: the `/metrics` series and the rate
//! limits.

pub mod metrics;
pub mod ratelimit;
