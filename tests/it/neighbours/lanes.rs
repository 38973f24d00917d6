//! Noisy neighbours: see mod.rs.
