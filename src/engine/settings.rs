//! The settings the engine takes from the configuration.

/// Settings the engine needs from the configuration.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Base URL of the platform; commands are not sent without it.
    pub platform_url: Option<String>,
    pub kick_grace_seconds: i64,
    /// Calls one customer may have `dialing` at once (`--dial-limit`).
    pub dial_limit: usize,
    pub idle_timeout_seconds: i64,
    /// Delay before a command's first attempt (the first entry of its retry schedule).
    pub command_first_delay_micros: i64,
    /// Delay before a notification's first attempt.
    pub webhook_first_delay_micros: i64,
    /// Whether webhooks may target private, loopback and link-local addresses.
    pub allow_private_targets: bool,
    /// The byte budget of a list page (`--page-bytes`).
    pub page_bytes: usize,
    /// Store reader threads (`--readers`): a customer's list reads may hold at most half.
    pub readers: usize,
    /// The base URL platforms reach confab at (`--public-url`), for dialect callbacks.
    pub public_url: String,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            platform_url: None,
            kick_grace_seconds: 30,
            dial_limit: 20,
            idle_timeout_seconds: 600,
            command_first_delay_micros: 0,
            webhook_first_delay_micros: 0,
            allow_private_targets: false,
            page_bytes: crate::config::DEFAULT_PAGE_BYTES,
            readers: 2,
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}
