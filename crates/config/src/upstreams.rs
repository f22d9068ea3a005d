//! `[[upstreams]]`: other OpenID providers users may sign in through (DESIGN §4), turned into
//! `lanyard_core::federation::Upstream`. Presets derive the issuer for Auth0 and Okta.
use std::collections::HashMap;

use lanyard_core::federation::{
    ClaimMapping, LinkBy, Upstream, UpstreamKind, auth0_issuer, okta_issuer,
};
use lanyard_core::secret::Secret;

use crate::raw::{RawClaimMapping, RawUpstream};
use crate::uri;
use crate::validate::Validator;

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
        let kind = match self.take(&at("kind"), raw.kind).as_deref() {
            None | Some("oidc") => UpstreamKind::Oidc,
            Some("auth0") => UpstreamKind::Auth0,
            Some("okta") => UpstreamKind::Okta,
            Some(other) => {
                self.problems.push(
                    at("kind"),
                    format!("unknown kind {other:?}; allowed: oidc, auth0, okta"),
                );
                UpstreamKind::Oidc
            }
        };
        let issuer_field = self.take(&at("issuer"), raw.issuer);
        let domain = self.take(&at("domain"), raw.domain);
        let org_url = self.take(&at("org_url"), raw.org_url);
        let server = self.take(&at("authorization_server_id"), raw.authorization_server_id);
        let (issuer, issuer_key) = match kind {
            UpstreamKind::Oidc => {
                for (key, set) in [("domain", domain.is_some()), ("org_url", org_url.is_some())] {
                    if set {
                        self.problems
                            .push(at(key), "only for kind = \"auth0\" or \"okta\"");
                    }
                }
                if issuer_field.is_none() {
                    self.problems
                        .push(at("issuer"), "required for kind = \"oidc\"");
                }
                (issuer_field, "issuer")
            }
            UpstreamKind::Auth0 => {
                if issuer_field.is_some() {
                    self.problems
                        .push(at("issuer"), "not used with kind = \"auth0\": set domain");
                }
                match domain {
                    Some(d) if valid_host(&d) => (Some(auth0_issuer(&d)), "domain"),
                    Some(d) => {
                        self.problems.push(
                            at("domain"),
                            format!("{d:?} is not a host name like \"example.eu.auth0.com\""),
                        );
                        (None, "domain")
                    }
                    None => {
                        self.problems.push(
                            at("domain"),
                            "required for kind = \"auth0\" (your tenant, e.g. \"example.eu.auth0.com\")",
                        );
                        (None, "domain")
                    }
                }
            }
            UpstreamKind::Okta => {
                if issuer_field.is_some() {
                    self.problems
                        .push(at("issuer"), "not used with kind = \"okta\": set org_url");
                }
                if server.as_deref().is_some_and(|s| !valid_slug_any_case(s)) {
                    self.problems.push(
                        at("authorization_server_id"),
                        "must be an id like \"default\" or \"aus1a2b3c4\"",
                    );
                }
                match org_url {
                    Some(o) => (Some(okta_issuer(&o, server.as_deref())), "org_url"),
                    None => {
                        self.problems.push(
                            at("org_url"),
                            "required for kind = \"okta\" (e.g. \"https://dev-123.okta.com\")",
                        );
                        (None, "org_url")
                    }
                }
            }
        };
        let issuer = issuer.and_then(|i| match uri::check_upstream_issuer(&i) {
            Ok(()) => Some(i),
            Err(m) => {
                self.problems.push(at(issuer_key), m);
                None
            }
        });
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
        let link_by = match self.take(&at("link_by"), raw.link_by).as_deref() {
            None | Some("none") => LinkBy::None,
            Some("verified_email") => LinkBy::VerifiedEmail,
            Some(other) => {
                self.problems.push(
                    at("link_by"),
                    format!("unknown value {other:?}; allowed: none, verified_email"),
                );
                LinkBy::None
            }
        };
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
