//! `Settings`: the validated, frozen configuration the rest of Lanyard is built from. Every value
//! here has passed its checks; consumers do not re-validate.
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use lanyard_core::ProviderConfig;
use lanyard_core::authn::MfaPolicy;
use lanyard_core::authn::password::Argon2Params;
use lanyard_core::authn::throttle::ThrottlePolicy;
use lanyard_core::model::{Client, SigningAlg};
use lanyard_core::secret::Secret;
use serde::Deserialize;
use url::Url;

#[derive(Debug, Clone)]
pub struct Settings {
    /// `https`, or `http` only on localhost / 127.0.0.1 / [::1]; no query, fragment or user info.
    /// Use `issuer_str()` for the `iss` value.
    pub issuer: Url,
    pub listen: SocketAddr,
    pub database: DatabaseSettings,
    pub encryption: EncryptionSettings,
    pub sessions: SessionSettings,
    pub tokens: TokenSettings,
    pub passwords: PasswordSettings,
    pub signing: SigningSettings,
    pub oauth: OAuthSettings,
    pub mfa: MfaSettings,
    pub webauthn: WebauthnSettings,
    /// `[email]`; `None`: no mail is sent, and the pages say to ask an administrator.
    pub email: Option<crate::email::EmailSettings>,
    pub signup: crate::email::SignupSettings,
    pub lockout: LockoutSettings,
    pub rate_limits: RateLimitSettings,
    pub registration: RegistrationSettings,
    pub audit: AuditSettings,
    pub metrics: MetricsSettings,
    pub ui: UiSettings,
    pub logging: LoggingSettings,
    /// Clients declared in the file (`managed_by = "config"`), to be reconciled into the store.
    pub clients: Vec<Client>,
    /// `[[upstreams]]`: providers users may sign in through.
    pub upstreams: Vec<lanyard_core::federation::Upstream>,
}

impl Settings {
    /// The issuer identifier as it appears in `iss` and discovery: no trailing slash.
    pub fn issuer_str(&self) -> String {
        self.issuer.as_str().trim_end_matches('/').to_string()
    }

    /// Whether the issuer is served over https (cookies get `Secure` and the `__Host-` prefix).
    pub fn is_https(&self) -> bool {
        self.issuer.scheme() == "https"
    }

    /// The protocol settings `lanyard_core::Provider` takes.
    pub fn provider_config(&self) -> ProviderConfig {
        ProviderConfig {
            issuer: self.issuer_str(),
            code_lifetime: chrono_duration(self.tokens.code_lifetime),
            access_token_lifetime: chrono_duration(self.tokens.access_token_lifetime),
            id_token_lifetime: chrono_duration(self.tokens.id_token_lifetime),
            refresh_token_lifetime: chrono_duration(self.tokens.refresh_token_lifetime),
            refresh_reuse_grace: chrono_duration(self.tokens.refresh_reuse_grace),
            login_step_timeout: chrono_duration(self.sessions.login_flow_timeout),
            algorithms: self.signing.algorithms.clone(),
            require_pkce_for_all: self.oauth.require_pkce_for_all,
            mfa: MfaPolicy {
                require_for_all: self.mfa.require_for_all,
                require_for_groups: self.mfa.require_for_groups.clone(),
                totp_issuer: self.mfa.totp_issuer.clone(),
            },
            throttle: ThrottlePolicy {
                max_failures: self.lockout.max_failures,
                window: chrono_duration(self.lockout.window),
                base_delay: chrono_duration(self.lockout.base_delay),
                max_delay: chrono_duration(self.lockout.max_delay),
                ip_max_failures: self.lockout.ip_max_failures,
                client_max_failures: self.lockout.client_max_failures,
                client_ip_max_failures: self.lockout.client_ip_max_failures,
            },
            upstreams: self.upstreams.clone(),
            registration_enabled: self.registration != RegistrationSettings::Off,
            allow_unsigned_request_objects: self.oauth.allow_unsigned_request_objects,
            pairwise_salt: self.oauth.pairwise_salt.clone(),
            webauthn: match &self.webauthn {
                WebauthnSettings::On {
                    rp_id,
                    rp_name,
                    origins,
                } => Some(lanyard_core::authn::passkeys::PasskeyConfig {
                    rp_id: rp_id.clone(),
                    rp_name: rp_name.clone(),
                    origins: origins.clone(),
                }),
                WebauthnSettings::Off { .. } => None,
            },
            mail: self.email.is_some(),
        }
    }
}

/// `std` to `chrono` duration. Config durations are capped far below chrono's range.
pub fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[derive(Clone)]
pub struct DatabaseSettings {
    /// `sqlite://...` or `postgres://...`; may carry a password, so `Debug` masks it.
    pub url: String,
    pub max_connections: u32,
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redact_url_password(&self.url))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

fn redact_url_password(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            if url.set_password(Some("redacted")).is_ok() {
                url.to_string()
            } else {
                "[redacted]".to_string()
            }
        }
        Ok(_) => raw.to_string(),
        // Not a URL we understand: it might contain anything.
        Err(_) => "[redacted]".to_string(),
    }
}

/// The AES-256-GCM key for data encrypted at rest (TOTP seeds, signing keys), with its id, plus
/// retired keys still needed to decrypt older rows.
#[derive(Clone)]
pub struct EncryptionSettings {
    pub key_id: String,
    /// Exactly 32 bytes.
    pub key: Secret<Vec<u8>>,
    /// `(key_id, 32-byte key)` pairs; decrypt only. `Debug` prints only the ids.
    pub old_keys: Vec<(String, Vec<u8>)>,
}

impl fmt::Debug for EncryptionSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let old: Vec<(&str, Secret<()>)> = self
            .old_keys
            .iter()
            .map(|(id, _)| (id.as_str(), Secret::new(())))
            .collect();
        f.debug_struct("EncryptionSettings")
            .field("key_id", &self.key_id)
            .field("key", &self.key)
            .field("old_keys", &old)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSettings {
    /// Base name; the web layer adds `__Host-` on https issuers.
    pub cookie_name: String,
    /// Rolling: extended by activity and by the keep-alive endpoint.
    pub idle_timeout: Duration,
    /// Hard limit after login, whatever the activity.
    pub absolute_lifetime: Duration,
    /// How long a login flow may take after its password step.
    pub login_flow_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSettings {
    /// At most 60 s (RFC 6749 4.1.2 recommends 10 minutes at most; OIDC practice is shorter).
    pub code_lifetime: Duration,
    pub access_token_lifetime: Duration,
    pub id_token_lifetime: Duration,
    pub refresh_token_lifetime: Duration,
    /// A rotated refresh token presented again within this long gets the same successor
    /// instead of revoking the grant (two parallel refreshes). Zero: reuse always revokes.
    pub refresh_reuse_grace: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordSettings {
    pub argon2: Argon2Params,
    /// Password hashes computed at once; `0` in the file means the number of CPUs.
    pub max_concurrent_hashes: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningSettings {
    /// Always contains RS256 (OIDC Core 15.1); order as written, duplicates removed.
    pub algorithms: Vec<SigningAlg>,
    /// `Cache-Control: max-age` of the JWKS and discovery documents.
    pub jwks_max_age: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthSettings {
    /// PKCE for confidential clients too (public clients always need it).
    pub require_pkce_for_all: bool,
    /// Fetch client-named URLs (`jwks_uri`, `request_uri`) on private and loopback addresses.
    pub fetch_private_addresses: bool,
    /// Accept request objects with `alg` none (RFC 9101 allows refusing them).
    pub allow_unsigned_request_objects: bool,
    /// Salt for pairwise subject identifiers; pairwise subjects are offered only with one.
    pub pairwise_salt: Option<Secret<String>>,
}

/// `[mfa]`: who must use a second factor (clients add `require_mfa`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaSettings {
    pub require_for_all: bool,
    pub require_for_groups: Vec<String>,
    pub totp_issuer: String,
}

/// `[lockout]`: throttling after failed sign-in attempts (DESIGN §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockoutSettings {
    pub max_failures: u64,
    pub window: Duration,
    pub base_delay: Duration,
    pub max_delay: Duration,
    pub ip_max_failures: u64,
    /// Failed client authentications (token, introspection, revocation, registration read)
    /// per client id, and per address across client ids.
    pub client_max_failures: u64,
    pub client_ip_max_failures: u64,
}

/// `[registration]`: dynamic client registration (RFC 7591).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationSettings {
    Off,
    /// Anyone may register a client.
    Open,
    /// Registration needs this initial access token (RFC 7591 3).
    Token(Secret<String>),
}

/// `[audit]`: how long security events are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSettings {
    /// Events older than this are purged by the background job.
    pub retention: Duration,
}

/// `[metrics]`: where Prometheus metrics are served. Not on the public listener unless a bearer
/// token protects them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSettings {
    /// A separate listener for `/metrics` (plus `/healthz` and `/readyz`), e.g. on a private
    /// interface; no token needed there.
    pub listen: Option<SocketAddr>,
    /// `Authorization: Bearer <token>` opens `/metrics` on the public listener.
    pub token: Option<Secret<String>>,
}

/// `[rate_limits]`: per-client request budgets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// Token endpoint requests per client per minute, per replica; 0 turns the limit off.
    pub token_requests_per_minute: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiSettings {
    pub product_name: String,
}

/// `[webauthn]`: where passkeys are valid (WebAuthn L3 5.1.4: the relying-party id is a domain,
/// and every origin must be it or one of its subdomains).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebauthnSettings {
    On {
        /// Default: the issuer's host.
        rp_id: String,
        /// Shown by the browser's passkey dialog. Default: `[ui] product_name`.
        rp_name: String,
        /// Default: the issuer's origin.
        origins: Vec<Url>,
    },
    /// Passkeys cannot work with this issuer; the reason is for `config check` and the pages.
    Off { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggingSettings {
    pub format: LogFormat,
    /// A `tracing` filter directive such as `info` or `lanyard=debug,sqlx=warn`.
    pub level: String,
    /// One `info` line per request (method, route template, status, latency, request id).
    pub access: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Json => "json",
        }
    }
}
