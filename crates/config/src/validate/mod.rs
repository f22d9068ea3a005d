//! `validate()`: `RawConfig` -> `Settings`, collecting every problem with its key path. Absent
//! values take their defaults; a bad value records a problem and the default stands in for it so
//! the checks that depend on it still run. One method per section of the file, in `sections.rs`.
mod sections;
mod security;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use crate::encryption::KeyFile;
use crate::error::Problems;
use crate::raw::{DurationText, Field, Lenient, RawConfig};
use crate::secret_ref::Sources;

use crate::settings::Settings;
use crate::{duration, secret_ref, uri};

pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub(crate) const DEFAULT_DATABASE_URL: &str = "sqlite://data/lanyard.db";
pub(crate) const MINUTE: u64 = 60;
pub(crate) const HOUR: u64 = 3600;
pub(crate) const DAY: u64 = 86_400;

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
        // Sections in file order, so problems are reported in the order a reader meets them.
        let listen = self.listen(raw.listen);
        let database = self.database(raw.database);
        let encryption = self.encryption(raw.encryption);
        let sessions = self.sessions(raw.sessions);
        let tokens = self.tokens(raw.tokens);
        let passwords = self.passwords(raw.passwords);
        let signing = self.signing(raw.signing);
        let oauth = self.oauth(raw.oauth);
        let mfa = self.mfa(raw.mfa, issuer.as_ref());
        let lockout = self.lockout(raw.lockout);
        let rate_limits = self.rate_limits(raw.rate_limits);
        let registration = self.registration(raw.registration);
        let audit = self.audit(raw.audit);
        let metrics = self.metrics(raw.metrics);
        let ui = self.ui(raw.ui);
        let webauthn = self.webauthn(raw.webauthn, issuer.as_ref(), &ui.product_name);
        let email = self.email(raw.email);
        let signup = self.signup(raw.signup, email.is_some());
        let logging = self.logging(raw.logging);
        let clients = self.clients(raw.clients, &signing.algorithms);
        let upstreams = self.upstreams(raw.upstreams);
        Some(Settings {
            issuer: issuer?,
            listen: listen?,
            database,
            encryption,
            sessions,
            tokens,
            passwords,
            signing,
            oauth,
            mfa,
            webauthn,
            email,
            signup,
            lockout,
            rate_limits,
            registration,
            audit,
            metrics,
            ui,
            logging,
            clients,
            upstreams,
        })
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
    pub(crate) fn duration(
        &mut self,
        path: &str,
        field: Field<DurationText>,
        default: u64,
        max: u64,
    ) -> Duration {
        self.duration_with(duration::parse, path, field, default, max)
    }

    pub(crate) fn duration_with(
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
}

pub use lanyard_core::authn::valid_group_name;
