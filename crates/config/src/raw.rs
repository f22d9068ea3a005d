//! `RawConfig`: the file as written (after environment overrides), before any rule is checked.
//!
//! Unknown keys are found with `serde_ignored` rather than `deny_unknown_fields`, which stops at
//! the first one: every ignored path becomes a problem. Each section is deserialized on its own
//! and every leaf is `Lenient`, so a type error in one value is reported with its key path and
//! does not hide the problems in the rest of the file.
use std::fmt::Write as _;

use lanyard_core::model::AuthMethod;
use serde::de::{self, DeserializeOwned};
use serde::{Deserialize, Deserializer};
use toml::{Table, Value};

use crate::error::Problems;
use crate::settings::LogFormat;

/// A leaf value that keeps its type error instead of failing the document.
#[derive(Debug, Clone)]
pub(crate) enum Lenient<T> {
    Ok(T),
    Invalid(String),
}

impl<T: DeserializeOwned> Lenient<T> {
    fn from_value(value: Value) -> Self {
        match T::deserialize(value) {
            Ok(v) => Self::Ok(v),
            Err(e) => Self::Invalid(e.message().trim_end().to_string()),
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::from_value(Value::deserialize(d)?))
    }
}

/// An optional leaf: `None` when the key is absent.
pub(crate) type Field<T> = Option<Lenient<T>>;

/// A duration as written (`"60s"`, `"10m"`, `"12h"`, `"30d"`); parsed in `validate`.
#[derive(Debug, Clone)]
pub(crate) struct DurationText(pub String);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = DurationText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a duration string such as \"60s\", \"10m\", \"12h\" or \"30d\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationText, E> {
                Ok(DurationText(v.to_string()))
            }
        }
        d.deserialize_str(V)
    }
}

/// Top level of the file. Sections stay `Value`s here and are deserialized one by one.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Document {
    issuer: Field<String>,
    listen: Field<String>,
    database: Option<Value>,
    encryption: Option<Value>,
    sessions: Option<Value>,
    tokens: Option<Value>,
    passwords: Option<Value>,
    signing: Option<Value>,
    oauth: Option<Value>,
    mfa: Option<Value>,
    webauthn: Option<Value>,
    email: Option<Value>,
    signup: Option<Value>,
    lockout: Option<Value>,
    rate_limits: Option<Value>,
    registration: Option<Value>,
    audit: Option<Value>,
    metrics: Option<Value>,
    ui: Option<Value>,
    logging: Option<Value>,
    clients: Option<Value>,
    upstreams: Option<Value>,
}

/// Secret-bearing fields are kept as raw `Value`s (see `secret_ref`); these types are never
/// `Debug`-printed.
#[derive(Default)]
pub(crate) struct RawConfig {
    pub issuer: Field<String>,
    pub listen: Field<String>,
    pub database: RawDatabase,
    pub encryption: RawEncryption,
    pub sessions: RawSessions,
    pub tokens: RawTokens,
    pub passwords: RawPasswords,
    pub signing: RawSigning,
    pub oauth: RawOAuth,
    pub mfa: RawMfa,
    pub webauthn: RawWebauthn,
    /// `None` when the file has no `[email]`: e-mail is off.
    pub email: Option<crate::email::RawEmail>,
    pub signup: crate::email::RawSignup,
    pub lockout: RawLockout,
    pub rate_limits: RawRateLimits,
    pub registration: RawRegistration,
    pub audit: RawAudit,
    pub metrics: RawMetrics,
    pub ui: RawUi,
    pub logging: RawLogging,
    /// With their index in the file, for key paths; entries that are not tables are left out.
    pub clients: Vec<(usize, RawClient)>,
    pub upstreams: Vec<(usize, RawUpstream)>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawDatabase {
    pub url: Option<Value>,
    pub max_connections: Field<u32>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawEncryption {
    pub key_id: Field<String>,
    pub key: Option<Value>,
    pub old_keys: Option<Vec<RawOldKey>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawOldKey {
    pub key_id: Field<String>,
    pub key: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawSessions {
    pub cookie_name: Field<String>,
    pub idle_timeout: Field<DurationText>,
    pub absolute_lifetime: Field<DurationText>,
    pub login_flow_timeout: Field<DurationText>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawTokens {
    pub code_lifetime: Field<DurationText>,
    pub access_token_lifetime: Field<DurationText>,
    pub id_token_lifetime: Field<DurationText>,
    pub refresh_token_lifetime: Field<DurationText>,
    pub refresh_reuse_grace: Field<DurationText>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawPasswords {
    pub argon2_memory_kib: Field<u32>,
    pub argon2_iterations: Field<u32>,
    pub argon2_parallelism: Field<u32>,
    pub max_concurrent_hashes: Field<usize>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawSigning {
    pub algorithms: Field<Vec<String>>,
    pub jwks_max_age: Field<DurationText>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawOAuth {
    pub require_pkce_for_all: Field<bool>,
    pub fetch_private_addresses: Field<bool>,
    pub allow_unsigned_request_objects: Field<bool>,
    pub pairwise_salt: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawMfa {
    pub require_for_all: Field<bool>,
    pub require_for_groups: Field<Vec<String>>,
    pub totp_issuer: Field<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawWebauthn {
    pub rp_id: Field<String>,
    pub rp_name: Field<String>,
    pub origins: Field<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawLockout {
    pub max_failures: Field<u64>,
    pub window: Field<DurationText>,
    pub base_delay: Field<DurationText>,
    pub max_delay: Field<DurationText>,
    pub ip_max_failures: Field<u64>,
    pub client_max_failures: Field<u64>,
    pub client_ip_max_failures: Field<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawAudit {
    pub retention: Field<DurationText>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawMetrics {
    pub listen: Field<String>,
    /// A secret reference.
    pub token: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawRateLimits {
    pub token_requests_per_minute: Field<u32>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawRegistration {
    pub mode: Field<String>,
    pub initial_access_token: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawUi {
    pub product_name: Field<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawLogging {
    pub format: Field<LogFormat>,
    pub level: Field<String>,
    pub access: Field<bool>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawClient {
    pub client_id: Field<String>,
    pub name: Field<String>,
    pub secret: Option<Value>,
    pub secret_sha256: Field<String>,
    pub redirect_uris: Field<Vec<String>>,
    pub post_logout_redirect_uris: Field<Vec<String>>,
    pub grant_types: Field<Vec<String>>,
    pub auth_method: Field<AuthMethod>,
    pub scopes: Field<Vec<String>>,
    pub trusted: Field<bool>,
    pub id_token_signed_response_alg: Field<String>,
    pub require_pkce: Field<bool>,
    pub require_mfa: Field<bool>,
    pub backchannel_logout_uri: Field<String>,
    pub backchannel_logout_session_required: Field<bool>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawUpstream {
    pub name: Field<String>,
    pub display_name: Field<String>,
    pub kind: Field<String>,
    pub issuer: Field<String>,
    pub domain: Field<String>,
    pub org_url: Field<String>,
    pub authorization_server_id: Field<String>,
    pub client_id: Field<String>,
    pub client_secret: Option<Value>,
    pub scopes: Field<Vec<String>>,
    pub claims: Option<RawClaimMapping>,
    pub link_by: Field<String>,
    pub jit: Field<bool>,
    pub trust_upstream_mfa: Field<Vec<String>>,
    pub logout_upstream: Field<bool>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawClaimMapping {
    pub subject: Field<String>,
    pub username: Field<String>,
    pub email: Field<String>,
    pub email_verified: Field<String>,
    pub name: Field<String>,
    pub groups: Field<String>,
}

/// Split the document into its sections, reporting unknown keys and misshapen sections.
pub(crate) fn parse(table: Table, problems: &mut Problems) -> RawConfig {
    let doc: Document = deserialize(Value::Table(table), "", problems).unwrap_or_default();
    RawConfig {
        issuer: doc.issuer,
        listen: doc.listen,
        database: section(doc.database, "database", problems),
        encryption: section(doc.encryption, "encryption", problems),
        sessions: section(doc.sessions, "sessions", problems),
        tokens: section(doc.tokens, "tokens", problems),
        passwords: section(doc.passwords, "passwords", problems),
        signing: section(doc.signing, "signing", problems),
        oauth: section(doc.oauth, "oauth", problems),
        mfa: section(doc.mfa, "mfa", problems),
        webauthn: section(doc.webauthn, "webauthn", problems),
        email: doc.email.map(|v| section(Some(v), "email", problems)),
        signup: section(doc.signup, "signup", problems),
        lockout: section(doc.lockout, "lockout", problems),
        rate_limits: section(doc.rate_limits, "rate_limits", problems),
        registration: section(doc.registration, "registration", problems),
        audit: section(doc.audit, "audit", problems),
        metrics: section(doc.metrics, "metrics", problems),
        ui: section(doc.ui, "ui", problems),
        logging: section(doc.logging, "logging", problems),
        clients: array_of_tables(doc.clients, "clients", problems),
        upstreams: array_of_tables(doc.upstreams, "upstreams", problems),
    }
}

fn section<T: DeserializeOwned + Default>(
    value: Option<Value>,
    path: &str,
    problems: &mut Problems,
) -> T {
    match value {
        None => T::default(),
        Some(v @ Value::Table(_)) => deserialize(v, path, problems).unwrap_or_default(),
        Some(_) => {
            problems.push(path, format!("must be a table ([{path}])"));
            T::default()
        }
    }
}

fn array_of_tables<T: DeserializeOwned>(
    value: Option<Value>,
    name: &str,
    problems: &mut Problems,
) -> Vec<(usize, T)> {
    let items = match value {
        None => return Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => {
            problems.push(name, format!("must be an array of tables ([[{name}]])"));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let path = format!("{name}[{i}]");
        if !item.is_table() {
            problems.push(path, "must be a table");
            continue;
        }
        if let Some(client) = deserialize(item, &path, problems) {
            out.push((i, client));
        }
    }
    out
}

/// Deserialize with `serde_ignored`, turning each ignored key into "`path`: unknown key".
fn deserialize<T: DeserializeOwned>(
    value: Value,
    path: &str,
    problems: &mut Problems,
) -> Option<T> {
    let mut unknown = Vec::new();
    let result = serde_ignored::deserialize(value, |p| unknown.push(render(path, &p)));
    for key in unknown {
        problems.push(key, "unknown key");
    }
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            problems.push(
                if path.is_empty() { "config" } else { path },
                e.message().trim_end(),
            );
            None
        }
    }
}

/// `prefix` + `clients.0.redirect_uri` in the house style: `clients[0].redirect_uri`.
fn render(prefix: &str, path: &serde_ignored::Path<'_>) -> String {
    fn walk(path: &serde_ignored::Path<'_>, out: &mut String) {
        use serde_ignored::Path as P;
        match path {
            P::Root => {}
            P::Seq { parent, index } => {
                walk(parent, out);
                let _ = write!(out, "[{index}]");
            }
            P::Map { parent, key } => {
                walk(parent, out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
                walk(parent, out)
            }
        }
    }
    let mut out = prefix.to_string();
    walk(path, &mut out);
    out
}
