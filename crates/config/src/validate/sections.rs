//! One method per section of the config file: defaults, bounds, and the checks that relate
//! values within the section.
use std::net::SocketAddr;

use lanyard_core::model::SigningAlg;
use lanyard_core::secret::Secret;

use super::{DAY, DEFAULT_DATABASE_URL, DEFAULT_LISTEN, HOUR, MINUTE, Validator};
use crate::duration;
use crate::raw::*;
use crate::settings::*;

impl Validator<'_> {
    pub(super) fn listen(&mut self, raw: Field<String>) -> Option<SocketAddr> {
        let listen = self
            .take("listen", raw)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        listen
            .parse::<SocketAddr>()
            .map_err(|_| {
                self.problems.push(
                    "listen",
                    "must be an IP address and port, like \"127.0.0.1:8080\" or \"[::]:8080\"",
                )
            })
            .ok()
    }

    pub(super) fn oauth(&mut self, raw: RawOAuth) -> OAuthSettings {
        OAuthSettings {
            require_pkce_for_all: self
                .take("oauth.require_pkce_for_all", raw.require_pkce_for_all)
                .unwrap_or(false),
            fetch_private_addresses: self
                .take("oauth.fetch_private_addresses", raw.fetch_private_addresses)
                .unwrap_or(false),
            allow_unsigned_request_objects: self
                .take(
                    "oauth.allow_unsigned_request_objects",
                    raw.allow_unsigned_request_objects,
                )
                .unwrap_or(false),
            pairwise_salt: raw.pairwise_salt.and_then(|v| {
                let salt = self.secret_string("oauth.pairwise_salt", v)?;
                if salt.len() < 16 {
                    self.problems
                        .push("oauth.pairwise_salt", "must be at least 16 characters");
                    return None;
                }
                Some(Secret::new(salt))
            }),
        }
    }

    pub(super) fn rate_limits(&mut self, raw: RawRateLimits) -> RateLimitSettings {
        RateLimitSettings {
            token_requests_per_minute: self
                .take(
                    "rate_limits.token_requests_per_minute",
                    raw.token_requests_per_minute,
                )
                .unwrap_or(600),
        }
    }

    pub(super) fn registration(&mut self, raw: RawRegistration) -> RegistrationSettings {
        match self.take("registration.mode", raw.mode).as_deref() {
            None | Some("off") => RegistrationSettings::Off,
            Some("open") => RegistrationSettings::Open,
            Some("token") => match raw.initial_access_token {
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
        }
    }

    pub(super) fn audit(&mut self, raw: RawAudit) -> AuditSettings {
        AuditSettings {
            retention: self.duration_with(
                duration::parse,
                "audit.retention",
                raw.retention,
                90 * DAY,
                3650 * DAY,
            ),
        }
    }

    pub(super) fn ui(&mut self, raw: RawUi) -> UiSettings {
        let product_name = self
            .take("ui.product_name", raw.product_name)
            .unwrap_or_else(|| "Lanyard".into());
        if product_name.trim().is_empty() {
            self.problems.push("ui.product_name", "must not be empty");
        }
        UiSettings { product_name }
    }

    pub(super) fn metrics(&mut self, raw: crate::raw::RawMetrics) -> MetricsSettings {
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

    pub(super) fn database(&mut self, raw: crate::raw::RawDatabase) -> DatabaseSettings {
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

    pub(super) fn sessions(&mut self, raw: RawSessions) -> SessionSettings {
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

    pub(super) fn tokens(&mut self, raw: RawTokens) -> TokenSettings {
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

    pub(super) fn signing(&mut self, raw: RawSigning) -> SigningSettings {
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

    pub(super) fn logging(&mut self, raw: RawLogging) -> LoggingSettings {
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
        let access = self.take("logging.access", raw.access).unwrap_or(true);
        LoggingSettings {
            format,
            level,
            access,
        }
    }
}
