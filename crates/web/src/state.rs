//! Shared application state handed to every handler.
use std::sync::Arc;

use lanyard_core::Provider;

use crate::metrics::Metrics;
use crate::templates::Templates;

/// Web-facing settings, derived from the config file.
#[derive(Debug, Clone)]
pub struct WebConfig {
    pub product_name: String,
    /// Final cookie name (`__Host-` prefixed on https issuers).
    pub cookie_name: String,
    /// Secure cookies (https issuer).
    pub secure_cookies: bool,
    /// Rolling idle timeout of browser sessions.
    pub idle_timeout: chrono::Duration,
    /// Absolute lifetime of a login, whatever the activity.
    pub absolute_lifetime: chrono::Duration,
    /// How long a pending sign-in (authorization request waiting for login/consent) lives.
    pub flow_lifetime: chrono::Duration,
    /// `Cache-Control: max-age` for discovery and JWKS.
    pub jwks_max_age: chrono::Duration,
    /// Dynamic client registration.
    pub registration: Registration,
    /// `[metrics] token`: opens `/metrics` on the public listener to this bearer token.
    pub metrics_token: Option<lanyard_core::secret::Secret<String>>,
}

/// Who may use `/register` (RFC 7591).
#[derive(Debug, Clone)]
pub enum Registration {
    Off,
    Open,
    /// An initial access token is required.
    Token(lanyard_core::secret::Secret<String>),
}

#[derive(Clone)]
pub struct AppState {
    pub provider: Arc<Provider>,
    pub templates: Arc<Templates>,
    pub config: Arc<WebConfig>,
    pub metrics: Arc<Metrics>,
    /// Token endpoint budget per client (`[rate_limits]`).
    pub token_limiter: Arc<crate::ratelimit::RateLimiter>,
    /// Upstream providers' discovery cache and HTTP client.
    pub upstreams: Arc<crate::upstream::Upstreams>,
    /// Back-channel logout deliveries.
    pub backchannel: Arc<crate::backchannel::Notifier>,
    /// Browser sessions, in the database (DESIGN §6).
    pub sessions: crate::session_store::DbSessionStore,
    /// Registrations per client address.
    pub registration_limiter: Arc<crate::ratelimit::RateLimiter>,
}
