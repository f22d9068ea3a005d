//! `validate()`: `RawConfig` -> `Settings`, collecting every problem with its key path. Absent
//! values take their defaults; a bad value records a problem and the default stands in for it so
//! the checks that depend on it still run.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use lanyard_core::authn::password::Argon2Params;
use lanyard_core::model::SigningAlg;

use crate::encryption::KeyFile;
use crate::error::Problems;
use crate::raw::{
    DurationText, Field, Lenient, RawConfig, RawLockout, RawLogging, RawMfa, RawPasswords,
    RawSessions, RawSigning, RawTokens,
};
use crate::secret_ref::Sources;
use lanyard_core::secret::Secret;

use crate::settings::{
    AuditSettings, DatabaseSettings, LockoutSettings, LoggingSettings, MetricsSettings,
    MfaSettings, OAuthSettings, PasswordSettings, RateLimitSettings, RegistrationSettings,
    SessionSettings, Settings, SigningSettings, TokenSettings, UiSettings,
};
use crate::{duration, secret_ref, uri};

pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub(crate) const DEFAULT_DATABASE_URL: &str = "sqlite://data/lanyard.db";
const MINUTE: u64 = 60;
const HOUR: u64 = 3600;
const DAY: u64 = 86_400;

pub(crate) struct Validator<'a> {
    pub sources: Sources<'a>,
    pub problems: Problems,
    /// A key file to write once the whole configuration has been found valid.
    pub key_file: Option<KeyFile>,
}

impl<'a> Validator<'a> {
    pub(crate) fn new(
        env: &'a HashMap<String, String>,
        base_dir: &'a Path,
        problems: Problems,
    ) -> Self {
        Self {
            sources: Sources { env, base_dir },
            problems,
            key_file: None,
        }
    }

    /// `None` only when a required value (the issuer) is missing or bad; a problem says so.
    pub(crate) fn settings(&mut self, raw: RawConfig) -> Option<Settings> {
        let issuer = self
            .required(
                "issuer",
                raw.issuer,
                "required, e.g. issuer = \"https://id.example.com\"",
            )
            .and_then(|text| {
                uri::check_issuer(&text)
                    .map_err(|m| self.problems.push("issuer", m))
                    .ok()
            });
        let listen = self
            .take("listen", raw.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen = listen.parse::<SocketAddr>().map_err(|_| {
            self.problems.push(
                "listen",
                "must be an IP address and port, like \"127.0.0.1:8080\" or \"[::]:8080\"",
            )
        });
        let database = self.database(raw.database);
        let encryption = self.encryption(raw.encryption);
        let sessions = self.sessions(raw.sessions);
        let tokens = self.tokens(raw.tokens);
        let passwords = self.passwords(raw.passwords);
        let signing = self.signing(raw.signing);
        let oauth = OAuthSettings {
            require_pkce_for_all: self
                .take("oauth.require_pkce_for_all", raw.oauth.require_pkce_for_all)
                .unwrap_or(false),
            fetch_private_addresses: self
                .take(
                    "oauth.fetch_private_addresses",
                    raw.oauth.fetch_private_addresses,
                )
                .unwrap_or(false),
            allow_unsigned_request_objects: self
                .take(
                    "oauth.allow_unsigned_request_objects",
                    raw.oauth.allow_unsigned_request_objects,
                )
                .unwrap_or(false),
            pairwise_salt: raw.oauth.pairwise_salt.and_then(|v| {
                let salt = self.secret_string("oauth.pairwise_salt", v)?;
                if salt.len() < 16 {
                    self.problems
                        .push("oauth.pairwise_salt", "must be at least 16 characters");
                    return None;
                }
                Some(Secret::new(salt))
            }),
        };
        let mfa = self.mfa(raw.mfa, issuer.as_ref());
        let lockout = self.lockout(raw.lockout);
        let rate_limits = RateLimitSettings {
            token_requests_per_minute: self
                .take(
                    "rate_limits.token_requests_per_minute",
                    raw.rate_limits.token_requests_per_minute,
                )
                .unwrap_or(600),
        };
        let registration = match self
            .take("registration.mode", raw.registration.mode)
            .as_deref()
        {
            None | Some("off") => RegistrationSettings::Off,
            Some("open") => RegistrationSettings::Open,
            Some("token") => match raw.registration.initial_access_token {
                Some(v) => self
                    .secret_string("registration.initial_access_token", v)
                    .map(|t| RegistrationSettings::Token(Secret::new(t)))
                    .unwrap_or(RegistrationSettings::Off),
                None => {
                    self.problems.push(
                        "registration.initial_access_token",
                        "required when mode = \"token\"",
                    );
                    RegistrationSettings::Off
                }
            },
            Some(other) => {
                self.problems.push(
                    "registration.mode",
                    format!("unknown mode {other:?}; allowed: off, open, token"),
                );
                RegistrationSettings::Off
            }
        };
        let audit = AuditSettings {
            retention: self.duration_with(
                duration::parse,
                "audit.retention",
                raw.audit.retention,
                90 * DAY,
                3650 * DAY,
            ),
        };
        let metrics = self.metrics(raw.metrics);
        let product_name = self
            .take("ui.product_name", raw.ui.product_name)
            .unwrap_or_else(|| "Lanyard".into());
        if product_name.trim().is_empty() {
            self.problems.push("ui.product_name", "must not be empty");
        }
        let logging = self.logging(raw.logging);
        let clients = self.clients(raw.clients, &signing.algorithms);
        let upstreams = self.upstreams(raw.upstreams);
        Some(Settings {
            issuer: issuer?,
            listen: listen.ok()?,
            database,
            encryption,
            sessions,
            tokens,
            passwords,
            signing,
            oauth,
            mfa,
            lockout,
            rate_limits,
            registration,
            audit,
            metrics,
            ui: UiSettings { product_name },
            logging,
            clients,
            upstreams,
        })
    }

    fn metrics(&mut self, raw: crate::raw::RawMetrics) -> MetricsSettings {
        let listen = self.take("metrics.listen", raw.listen).and_then(|text| {
            text.parse::<SocketAddr>()
                .map_err(|_| {
                    self.problems.push(
                        "metrics.listen",
                        "must be an IP address and port, like \"127.0.0.1:9464\"",
                    )
                })
                .ok()
        });
        let token = raw.token.and_then(|v| {
            let token = self.secret_string("metrics.token", v)?;
            if token.len() < 16 {
                self.problems
                    .push("metrics.token", "must be at least 16 characters");
                return None;
            }
            Some(Secret::new(token))
        });
        MetricsSettings { listen, token }
    }

    /// The value of a leaf if present and well-typed; a type error becomes a problem at `path`.
    pub(crate) fn take<T>(&mut self, path: &str, field: Field<T>) -> Option<T> {
        match field? {
            Lenient::Ok(v) => Some(v),
            Lenient::Invalid(message) => {
                self.problems.push(path, message);
                None
            }
        }
    }

    /// Like `take`, but an absent value is a problem too.
    pub(crate) fn required<T>(&mut self, path: &str, field: Field<T>, message: &str) -> Option<T> {
        if field.is_none() {
            self.problems.push(path, message);
        }
        self.take(path, field)
    }

    /// A positive duration no longer than `max`; `default` when absent or bad.
    fn duration(
        &mut self,
        path: &str,
        field: Field<DurationText>,
        default: u64,
        max: u64,
    ) -> Duration {
        self.duration_with(duration::parse, path, field, default, max)
    }

    fn duration_with(
        &mut self,
        parse: fn(&str) -> Result<Duration, String>,
        path: &str,
        field: Field<DurationText>,
        default: u64,
        max: u64,
    ) -> Duration {
        let default = Duration::from_secs(default);
        let Some(DurationText(text)) = self.take(path, field) else {
            return default;
        };
        match parse(&text) {
            Ok(d) if d.as_secs() > max => {
                let max = duration::render(Duration::from_secs(max));
                self.problems.push(path, format!("must be at most {max}"));
                default
            }
            Ok(d) => d,
            Err(message) => {
                self.problems.push(path, message);
                default
            }
        }
    }

    fn database(&mut self, raw: crate::raw::RawDatabase) -> DatabaseSettings {
        // The URL may carry a password, so it is a secret reference like the others.
        let url = match raw.url {
            None => DEFAULT_DATABASE_URL.to_string(),
            Some(value) => self
                .secret_string("database.url", value)
                .unwrap_or_default(),
        };
        if !(url.is_empty()
            || ["sqlite:", "postgres://", "postgresql://"]
                .iter()
                .any(|p| url.starts_with(p)))
        {
            self.problems.push(
                "database.url",
                "must start with sqlite:, postgres:// or postgresql://",
            );
        }
        let max_connections = self
            .take("database.max_connections", raw.max_connections)
            .unwrap_or(10);
        if max_connections == 0 {
            self.problems
                .push("database.max_connections", "must be at least 1");
        }
        DatabaseSettings {
            url,
            max_connections,
        }
    }

    /// A secret reference that must resolve to a non-empty string.
    pub(crate) fn secret_string(&mut self, path: &str, value: toml::Value) -> Option<String> {
        let secret = secret_ref::parse(value, path, false, &mut self.problems)?;
        match self.sources.resolve(&secret, path, &mut self.problems)? {
            secret_ref::Resolved::Value(v) if v.is_empty() => {
                self.problems.push(path, "must not be empty");
                None
            }
            secret_ref::Resolved::Value(v) => Some(v),
            // Only reachable with create = true, which parse() refused above.
            secret_ref::Resolved::Missing(_) => None,
        }
    }

    fn sessions(&mut self, raw: RawSessions) -> SessionSettings {
        let cookie_name = self
            .take("sessions.cookie_name", raw.cookie_name)
            .unwrap_or_else(|| "lanyard_session".into());
        // RFC 6265 4.1.1 token characters, kept to a safe subset; the prefix is the web layer's job.
        if cookie_name.is_empty()
            || !cookie_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            self.problems.push(
                "sessions.cookie_name",
                "must be non-empty and use only A-Z a-z 0-9 - _ .",
            );
        } else if cookie_name.starts_with("__") {
            self.problems.push(
                "sessions.cookie_name",
                "must not start with __ (the __Host- prefix is added on https)",
            );
        }
        let idle_timeout = self.duration(
            "sessions.idle_timeout",
            raw.idle_timeout,
            30 * MINUTE,
            30 * DAY,
        );
        let absolute_lifetime = self.duration(
            "sessions.absolute_lifetime",
            raw.absolute_lifetime,
            10 * HOUR,
            365 * DAY,
        );
        if idle_timeout > absolute_lifetime {
            self.problems.push(
                "sessions.idle_timeout",
                "must not be longer than sessions.absolute_lifetime",
            );
        }
        let login_flow_timeout = self.duration(
            "sessions.login_flow_timeout",
            raw.login_flow_timeout,
            5 * MINUTE,
            HOUR,
        );
        SessionSettings {
            cookie_name,
            idle_timeout,
            absolute_lifetime,
            login_flow_timeout,
        }
    }

    fn tokens(&mut self, raw: RawTokens) -> TokenSettings {
        TokenSettings {
            // Codes are single-use and redeemed within seconds; a short life limits a stolen one.
            code_lifetime: self.duration("tokens.code_lifetime", raw.code_lifetime, 60, 60),
            // Self-contained JWTs cannot be recalled from resource servers that verify them locally.
            access_token_lifetime: self.duration(
                "tokens.access_token_lifetime",
                raw.access_token_lifetime,
                10 * MINUTE,
                DAY,
            ),
            id_token_lifetime: self.duration(
                "tokens.id_token_lifetime",
                raw.id_token_lifetime,
                10 * MINUTE,
                DAY,
            ),
            refresh_token_lifetime: self.duration(
                "tokens.refresh_token_lifetime",
                raw.refresh_token_lifetime,
                30 * DAY,
                365 * DAY,
            ),
            // Okta's "grace period for token rotation"; Lanyard allows at most ten minutes.
            refresh_reuse_grace: self.duration_with(
                duration::parse_allowing_zero,
                "tokens.refresh_reuse_grace",
                raw.refresh_reuse_grace,
                0,
                10 * MINUTE,
            ),
        }
    }

    fn passwords(&mut self, raw: RawPasswords) -> PasswordSettings {
        let d = Argon2Params::default();
        let argon2 = Argon2Params {
            memory_kib: self
                .take("passwords.argon2_memory_kib", raw.argon2_memory_kib)
                .unwrap_or(d.memory_kib),
            iterations: self
                .take("passwords.argon2_iterations", raw.argon2_iterations)
                .unwrap_or(d.iterations),
            parallelism: self
                .take("passwords.argon2_parallelism", raw.argon2_parallelism)
                .unwrap_or(d.parallelism),
        };
        // The argon2 crate's own limits (RFC 9106 3.1), checked here so the server never starts
        // with parameters it cannot hash with.
        if !(1..=0xFF_FFFF).contains(&argon2.parallelism) {
            self.problems.push(
                "passwords.argon2_parallelism",
                "must be between 1 and 16777215",
            );
        }
        if argon2.iterations == 0 {
            self.problems
                .push("passwords.argon2_iterations", "must be at least 1");
        }
        if u64::from(argon2.memory_kib) < 8 * u64::from(argon2.parallelism.max(1)) {
            self.problems.push(
                "passwords.argon2_memory_kib",
                "must be at least 8 × argon2_parallelism",
            );
        }
        let max = self
            .take("passwords.max_concurrent_hashes", raw.max_concurrent_hashes)
            .unwrap_or(0);
        let max_concurrent_hashes = match max {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        PasswordSettings {
            argon2,
            max_concurrent_hashes,
        }
    }

    fn signing(&mut self, raw: RawSigning) -> SigningSettings {
        let algorithms = match self.take("signing.algorithms", raw.algorithms) {
            None => SigningAlg::ALL.to_vec(),
            Some(names) => {
                let mut algs = Vec::new();
                for (i, name) in names.iter().enumerate() {
                    match SigningAlg::parse(name) {
                        Some(alg) if !algs.contains(&alg) => algs.push(alg),
                        Some(_) => {}
                        None => self.problems.push(
                            format!("signing.algorithms[{i}]"),
                            format!("unknown algorithm {name:?}; allowed: RS256, ES256, EdDSA"),
                        ),
                    }
                }
                if !algs.contains(&SigningAlg::RS256) {
                    // OIDC Core 15.1: RS256 must be supported; every RP can verify it.
                    self.problems.push(
                        "signing.algorithms",
                        "must include RS256 (OpenID Connect Core 15.1)",
                    );
                    algs.insert(0, SigningAlg::RS256);
                }
                algs
            }
        };
        let jwks_max_age = self.duration("signing.jwks_max_age", raw.jwks_max_age, 5 * MINUTE, DAY);
        SigningSettings {
            algorithms,
            jwks_max_age,
        }
    }

    fn logging(&mut self, raw: RawLogging) -> LoggingSettings {
        let format = self.take("logging.format", raw.format).unwrap_or_default();
        let level = self
            .take("logging.level", raw.level)
            .unwrap_or_else(|| "info".into());
        if level.trim().is_empty() {
            self.problems.push(
                "logging.level",
                "must not be empty (e.g. \"info\" or \"lanyard=debug,sqlx=warn\")",
            );
        }
        LoggingSettings { format, level }
    }

    fn mfa(&mut self, raw: RawMfa, issuer: Option<&url::Url>) -> MfaSettings {
        let require_for_all = self
            .take("mfa.require_for_all", raw.require_for_all)
            .unwrap_or(false);
        let groups = self
            .take("mfa.require_for_groups", raw.require_for_groups)
            .unwrap_or_default();
        for (i, g) in groups.iter().enumerate() {
            if !valid_group_name(g) {
                self.problems.push(
                    format!("mfa.require_for_groups[{i}]"),
                    format!("{g:?} is not a group name (1-64 of a-z A-Z 0-9 - _ .)"),
                );
            }
        }
        // Authenticator apps show this next to the account; default: the issuer's host.
        let default_issuer = issuer
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| "Lanyard".into());
        let totp_issuer = self
            .take("mfa.totp_issuer", raw.totp_issuer)
            .unwrap_or(default_issuer);
        if totp_issuer.trim().is_empty() || totp_issuer.contains(':') || totp_issuer.len() > 64 {
            self.problems.push(
                "mfa.totp_issuer",
                "must be 1-64 characters without ':' (it separates issuer and account in the key URI)",
            );
        }
        MfaSettings {
            require_for_all,
            require_for_groups: groups,
            totp_issuer,
        }
    }

    fn lockout(&mut self, raw: RawLockout) -> LockoutSettings {
        let max_failures = self
            .take("lockout.max_failures", raw.max_failures)
            .unwrap_or(5);
        let ip_max_failures = self
            .take("lockout.ip_max_failures", raw.ip_max_failures)
            .unwrap_or(50);
        let client_max_failures = self
            .take("lockout.client_max_failures", raw.client_max_failures)
            .unwrap_or(20);
        let client_ip_max_failures = self
            .take("lockout.client_ip_max_failures", raw.client_ip_max_failures)
            .unwrap_or(100);
        // Failure records are purged after a day, so no window can be longer.
        let window = self.duration("lockout.window", raw.window, 15 * MINUTE, DAY);
        let base_delay = self.duration("lockout.base_delay", raw.base_delay, 30, HOUR);
        let max_delay = self.duration("lockout.max_delay", raw.max_delay, 15 * MINUTE, DAY);
        if max_delay < base_delay {
            self.problems.push(
                "lockout.max_delay",
                "must not be shorter than lockout.base_delay",
            );
        }
        LockoutSettings {
            max_failures,
            window,
            base_delay,
            max_delay,
            ip_max_failures,
            client_max_failures,
            client_ip_max_failures,
        }
    }
}

pub use lanyard_core::authn::valid_group_name;
