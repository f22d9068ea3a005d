//! Upstream federation (DESIGN §4): what an upstream is, how its claims map onto a local user,
//! and the linking rules. The HTTP side (discovery, the code exchange, ID token validation) is
//! in lanyard-web on the `openidconnect` crate; this module decides what a validated upstream
//! login means locally: `linking` (which local user it is), `login` (what it authenticates).
mod linking;
mod login;

pub use linking::{AccountLink, LinkOutcome, Refusal, Unlink};
pub use login::check_upstream_claims;
use serde_json::{Map, Value};

use crate::provider::Provider;
use crate::secret::Secret;

/// RFC 8176 has no value for "signed in at another provider"; DESIGN §2 uses `fed`.
pub const AMR_FED: &str = "fed";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamKind {
    Oidc,
    Auth0,
    Okta,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkBy {
    /// Never link to an existing account by email.
    None,
    /// Link when the upstream says the email is verified and exactly one user has it.
    VerifiedEmail,
}

/// Which upstream claims fill which local fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMapping {
    pub subject: String,
    pub username: String,
    pub email: String,
    pub email_verified: String,
    pub name: String,
    /// `None`: groups are not taken from the upstream.
    pub groups: Option<String>,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        Self {
            subject: "sub".into(),
            username: "preferred_username".into(),
            email: "email".into(),
            email_verified: "email_verified".into(),
            name: "name".into(),
            groups: None,
        }
    }
}

/// One `[[upstreams]]` entry, validated.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// Slug used in URLs (`/federation/{name}/callback`) and as the identity key.
    pub name: String,
    pub display_name: String,
    pub kind: UpstreamKind,
    /// The issuer exactly as the upstream's discovery document states it.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret<String>,
    pub scopes: Vec<String>,
    pub mapping: ClaimMapping,
    pub link_by: LinkBy,
    /// Create a local user on the first login of an unknown identity.
    pub jit: bool,
    /// Upstream `amr` values or `acr` values that count as a second factor locally.
    pub trust_upstream_mfa: Vec<String>,
    /// RP-initiated logout at Lanyard continues to the upstream's end_session_endpoint.
    pub logout_upstream: bool,
}

/// Auth0's issuer for a tenant domain: `https://{domain}/` — with the trailing slash, which
/// Auth0 puts in `iss` and which ID token validation compares exactly.
pub fn auth0_issuer(domain: &str) -> String {
    let d = domain
        .trim()
        .trim_start_matches("https://")
        .trim_end_matches('/');
    format!("https://{d}/")
}

/// Okta's issuer: the org authorization server is the org URL itself; a custom one (such as
/// `default`) is `{org}/oauth2/{id}`. Neither has a trailing slash.
pub fn okta_issuer(org_url: &str, authorization_server_id: Option<&str>) -> String {
    let org = org_url.trim().trim_end_matches('/');
    match authorization_server_id {
        Some(id) => format!("{org}/oauth2/{id}"),
        None => org.to_string(),
    }
}

/// What an upstream login says about the person, after mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamProfile {
    pub subject: String,
    pub username: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub groups: Vec<String>,
    pub amr: Vec<String>,
    pub acr: Option<String>,
    /// The upstream's `auth_time` (from the verified ID token), if it sent one.
    pub auth_time: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("the upstream's answer has no {0:?} claim")]
    Missing(String),
    #[error("the upstream's {0:?} claim has an unexpected type")]
    WrongType(String),
}

fn string_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<String>, MappingError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(_) => Err(MappingError::WrongType(name.to_string())),
    }
}

/// Map validated ID token claims (merged with userinfo, ID token winning) onto a profile.
/// `email_verified` may be a boolean or the strings "true"/"false" (some providers send those).
pub fn map_claims(
    mapping: &ClaimMapping,
    claims: &Map<String, Value>,
) -> Result<UpstreamProfile, MappingError> {
    let subject = string_claim(claims, &mapping.subject)?
        .ok_or_else(|| MappingError::Missing(mapping.subject.clone()))?;
    let email_verified = match claims.get(&mapping.email_verified) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s == "true" => true,
        Some(Value::String(s)) if s == "false" => false,
        Some(_) => return Err(MappingError::WrongType(mapping.email_verified.clone())),
    };
    let groups = match &mapping.groups {
        None => Vec::new(),
        Some(name) => match claims.get(name) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            Some(_) => return Err(MappingError::WrongType(name.clone())),
        },
    };
    let list = |name: &str| -> Vec<String> {
        claims
            .get(name)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(UpstreamProfile {
        subject,
        username: string_claim(claims, &mapping.username)?,
        email: string_claim(claims, &mapping.email)?,
        email_verified,
        name: string_claim(claims, &mapping.name)?,
        groups,
        amr: list("amr"),
        acr: claims
            .get("acr")
            .and_then(Value::as_str)
            .map(str::to_string),
        auth_time: claims.get("auth_time").and_then(Value::as_i64),
    })
}

impl Provider {
    pub fn upstream(&self, name: &str) -> Option<&Upstream> {
        self.config.upstreams.iter().find(|u| u.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn presets_derive_the_issuer() {
        assert_eq!(
            auth0_issuer("example.eu.auth0.com"),
            "https://example.eu.auth0.com/"
        );
        assert_eq!(
            auth0_issuer("https://example.auth0.com/"),
            "https://example.auth0.com/"
        );
        assert_eq!(
            okta_issuer("https://dev-1.okta.com/", Some("default")),
            "https://dev-1.okta.com/oauth2/default"
        );
        assert_eq!(
            okta_issuer("https://dev-1.okta.com", None),
            "https://dev-1.okta.com"
        );
    }

    #[test]
    fn claims_map_with_defaults_and_custom_names() {
        let claims = json!({
            "sub": "abc", "preferred_username": "Ada", "email": "ada@example.com",
            "email_verified": "true", "name": "Ada L", "roles": ["admins", 3], "amr": ["pwd", "mfa"],
        });
        let m = ClaimMapping {
            groups: Some("roles".into()),
            ..ClaimMapping::default()
        };
        let p = map_claims(&m, claims.as_object().unwrap()).unwrap();
        assert_eq!(p.subject, "abc");
        assert!(p.email_verified);
        assert_eq!(p.groups, vec!["admins"]);
        assert_eq!(p.amr, vec!["pwd", "mfa"]);
        let bad = json!({ "sub": 5 });
        assert_eq!(
            map_claims(&m, bad.as_object().unwrap()),
            Err(MappingError::WrongType("sub".into()))
        );
        assert_eq!(
            map_claims(&m, json!({}).as_object().unwrap()),
            Err(MappingError::Missing("sub".into()))
        );
    }
}
