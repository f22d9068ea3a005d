//! `[[upstreams]]`: other OpenID providers users may sign in through (DESIGN §4), turned into
//! `lanyard_core::federation::Upstream`. Presets derive the issuer for Auth0 and Okta.
use std::collections::HashMap;

use lanyard_core::federation::{
    ClaimMapping, LinkBy, Upstream, UpstreamKind, auth0_issuer, okta_issuer,
};
use lanyard_core::secret::Secret;

use crate::raw::{Field, RawClaimMapping, RawUpstream};
use crate::uri;
use crate::validate::Validator;

/// The fields an upstream's issuer comes from, by kind.
struct Preset {
    issuer: Option<String>,
    domain: Option<String>,
    org_url: Option<String>,
    server: Option<String>,
}

impl Validator<'_> {
    pub(crate) fn upstreams(&mut self, raw: Vec<(usize, RawUpstream)>) -> Vec<Upstream> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut out = Vec::new();
        for (i, raw) in raw {
            let path = format!("upstreams[{i}]");
            let Some(up) = self.upstream(&path, raw) else {
                continue;
            };
            if let Some(first) = seen.get(&up.name) {
                let message = format!("duplicate name {:?} (also upstreams[{first}])", up.name);
                self.problems.push(format!("{path}.name"), message);
                continue;
            }
            seen.insert(up.name.clone(), i);
            out.push(up);
        }
        out
    }

    fn upstream(&mut self, path: &str, raw: RawUpstream) -> Option<Upstream> {
        let at = |key: &str| format!("{path}.{key}");
        let name = self.required(
            &at("name"),
            raw.name,
            "required (a slug used in URLs, e.g. \"okta\")",
        );
        if name.as_deref().is_some_and(|n| !valid_slug(n)) {
            self.problems
                .push(at("name"), "must be 1-32 characters of a-z 0-9 -");
        }
        let kind = self.upstream_kind(&at("kind"), raw.kind);
        let preset = Preset {
            issuer: self.take(&at("issuer"), raw.issuer),
            domain: self.take(&at("domain"), raw.domain),
            org_url: self.take(&at("org_url"), raw.org_url),
            server: self.take(&at("authorization_server_id"), raw.authorization_server_id),
        };
        let issuer = self.upstream_issuer(path, kind, preset);
        let client_id = self.required(&at("client_id"), raw.client_id, "required");
        let client_secret = match raw.client_secret {
            Some(v) => self.secret_string(&at("client_secret"), v),
            None => {
                self.problems.push(
                    at("client_secret"),
                    "required (a string, { env = \"NAME\" } or { file = \"path\" })",
                );
                None
            }
        };
        let scopes = self
            .take(&at("scopes"), raw.scopes)
            .unwrap_or_else(|| vec!["openid".into(), "profile".into(), "email".into()]);
        if !scopes.iter().any(|s| s == "openid") {
            self.problems.push(at("scopes"), "must include \"openid\"");
        }
        let mapping = self.mapping(&at("claims"), raw.claims.unwrap_or_default());
        let link_by = self.link_by(&at("link_by"), raw.link_by);
        let jit = self.take(&at("jit"), raw.jit).unwrap_or(false);
        let trust_upstream_mfa = self
            .take(&at("trust_upstream_mfa"), raw.trust_upstream_mfa)
            .unwrap_or_default();
        let logout_upstream = self
            .take(&at("logout_upstream"), raw.logout_upstream)
            .unwrap_or(false);
        let display_name = self.take(&at("display_name"), raw.display_name);
        let name = name?;
        Some(Upstream {
            display_name: display_name.unwrap_or_else(|| name.clone()),
            name,
            kind,
            issuer: issuer?,
            client_id: client_id?,
            client_secret: Secret::new(client_secret?),
            scopes,
            mapping,
            link_by,
            jit,
            trust_upstream_mfa,
            logout_upstream,
        })
    }

    fn upstream_kind(&mut self, path: &str, raw: Field<String>) -> UpstreamKind {
        match self.take(path, raw).as_deref() {
            None | Some("oidc") => UpstreamKind::Oidc,
            Some("auth0") => UpstreamKind::Auth0,
            Some("okta") => UpstreamKind::Okta,
            Some(other) => {
                self.problems.push(
                    path,
                    format!("unknown kind {other:?}; allowed: oidc, auth0, okta"),
                );
                UpstreamKind::Oidc
            }
        }
    }

    /// The issuer: given (`kind = "oidc"`) or derived from the preset's fields, then checked.
    fn upstream_issuer(&mut self, path: &str, kind: UpstreamKind, p: Preset) -> Option<String> {
        let at = |key: &str| format!("{path}.{key}");
        let (issuer, key) = match kind {
            UpstreamKind::Oidc => (self.oidc_issuer(path, p), "issuer"),
            UpstreamKind::Auth0 => (self.auth0_issuer(path, p), "domain"),
            UpstreamKind::Okta => (self.okta_issuer(path, p), "org_url"),
        };
        issuer.and_then(|i| match uri::check_upstream_issuer(&i) {
            Ok(()) => Some(i),
            Err(m) => {
                self.problems.push(at(key), m);
                None
            }
        })
    }

    fn oidc_issuer(&mut self, path: &str, p: Preset) -> Option<String> {
        for (key, set) in [
            ("domain", p.domain.is_some()),
            ("org_url", p.org_url.is_some()),
        ] {
            if set {
                self.problems.push(
                    format!("{path}.{key}"),
                    "only for kind = \"auth0\" or \"okta\"",
                );
            }
        }
        if p.issuer.is_none() {
            self.problems
                .push(format!("{path}.issuer"), "required for kind = \"oidc\"");
        }
        p.issuer
    }

    fn auth0_issuer(&mut self, path: &str, p: Preset) -> Option<String> {
        if p.issuer.is_some() {
            self.problems.push(
                format!("{path}.issuer"),
                "not used with kind = \"auth0\": set domain",
            );
        }
        let at = format!("{path}.domain");
        match p.domain {
            Some(d) if valid_host(&d) => Some(auth0_issuer(&d)),
            Some(d) => {
                let message = format!("{d:?} is not a host name like \"example.eu.auth0.com\"");
                self.problems.push(at, message);
                None
            }
            None => {
                self.problems.push(
                    at,
                    "required for kind = \"auth0\" (your tenant, e.g. \"example.eu.auth0.com\")",
                );
                None
            }
        }
    }

    fn okta_issuer(&mut self, path: &str, p: Preset) -> Option<String> {
        if p.issuer.is_some() {
            self.problems.push(
                format!("{path}.issuer"),
                "not used with kind = \"okta\": set org_url",
            );
        }
        if p.server.as_deref().is_some_and(|s| !valid_slug_any_case(s)) {
            self.problems.push(
                format!("{path}.authorization_server_id"),
                "must be an id like \"default\" or \"aus1a2b3c4\"",
            );
        }
        let Some(org_url) = p.org_url else {
            self.problems.push(
                format!("{path}.org_url"),
                "required for kind = \"okta\" (e.g. \"https://dev-123.okta.com\")",
            );
            return None;
        };
        Some(okta_issuer(&org_url, p.server.as_deref()))
    }

    fn link_by(&mut self, path: &str, raw: Field<String>) -> LinkBy {
        match self.take(path, raw).as_deref() {
            None | Some("none") => LinkBy::None,
            Some("verified_email") => LinkBy::VerifiedEmail,
            Some(other) => {
                self.problems.push(
                    path,
                    format!("unknown value {other:?}; allowed: none, verified_email"),
                );
                LinkBy::None
            }
        }
    }

    fn mapping(&mut self, path: &str, raw: RawClaimMapping) -> ClaimMapping {
        let d = ClaimMapping::default();
        let mut take = |key: &str, field, default: String| {
            let v = self
                .take(&format!("{path}.{key}"), field)
                .unwrap_or(default);
            if v.trim().is_empty() {
                self.problems
                    .push(format!("{path}.{key}"), "must name a claim");
            }
            v
        };
        let subject = take("subject", raw.subject, d.subject);
        let username = take("username", raw.username, d.username);
        let email = take("email", raw.email, d.email);
        let email_verified = take("email_verified", raw.email_verified, d.email_verified);
        let name = take("name", raw.name, d.name);
        let groups = self.take(&format!("{path}.groups"), raw.groups);
        ClaimMapping {
            subject,
            username,
            email,
            email_verified,
            name,
            groups,
        }
    }
}

fn valid_slug(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn valid_slug_any_case(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn valid_host(s: &str) -> bool {
    let h = s
        .trim()
        .trim_start_matches("https://")
        .trim_end_matches('/');
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').count() >= 2
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}
