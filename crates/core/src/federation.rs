//! Upstream federation (DESIGN §4): what an upstream is, how its claims map onto a local user,
//! and the linking rules. The HTTP side (discovery, the code exchange, ID token validation) is
//! in lanyard-web on the `openidconnect` crate; this module decides what a validated upstream
//! login means locally.
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::authn::{ACR_MFA, ACR_PWD, Authenticated};
use crate::model::{FederatedIdentity, User};
use crate::oidc::error::ProviderResult;
use crate::provider::{Provider, normalize_username};
use crate::secret::{Secret, random_token};
use crate::store::StoreError;

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
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// What an upstream login leads to locally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOutcome {
    /// The identity was linked before.
    Known(User),
    /// First login; the existing user with the same verified email must confirm the link by
    /// signing in locally first (as Keycloak's "first broker login" asks): an address the
    /// upstream calls verified is not proof that the local owner agrees.
    ConfirmLink(User),
    /// First login; a new local user was created (JIT).
    Created(User),
    /// No local account may be used; the reason is shown to the user.
    Refused(Refusal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown identity, no email link possible, JIT off.
    NoAccount,
    /// The linked (or matching) account is disabled.
    Disabled,
    /// JIT needs an email the upstream did not send.
    MissingEmail,
    /// The upstream says the email is not verified, and linking goes by verified email.
    EmailUnverified,
    /// A local account already uses this email: creating a second one would make the address
    /// ambiguous; the owner can link this identity from their account page.
    EmailInUse,
    /// The matching account has no password to confirm a link with.
    CannotConfirmLink,
}

impl Refusal {
    pub fn message(self) -> &'static str {
        match self {
            Self::NoAccount => {
                "There is no account here for this identity. Sign in with your username and password, then link it from your account page, or ask your administrator to create an account."
            }
            Self::Disabled => "This account is disabled. Contact your administrator.",
            Self::MissingEmail => {
                "The provider did not share the email address this service needs to create your account."
            }
            Self::EmailUnverified => {
                "The provider says your email address is not verified, so it can't be matched to an account here. Verify it with the provider and try again."
            }
            Self::EmailInUse => {
                "An account here already uses this email address. Sign in to it with your password, then link this provider from your account page."
            }
            Self::CannotConfirmLink => {
                "An account here already uses this email address. Sign in to it the way you usually do, then link this provider from your account page."
            }
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Self::NoAccount => "no_account",
            Self::Disabled => "disabled",
            Self::MissingEmail => "missing_email",
            Self::EmailUnverified => "email_unverified",
            Self::EmailInUse => "email_in_use",
            Self::CannotConfirmLink => "link_needs_sign_in",
        }
    }
}

/// A username for a JIT user: the upstream's username or the email's local part, reduced to
/// the characters local usernames allow, made unique with a suffix.
fn username_candidates(profile: &UpstreamProfile, upstream: &str) -> Vec<String> {
    let base = profile
        .username
        .clone()
        .or_else(|| {
            profile
                .email
                .as_ref()
                .map(|e| e.split('@').next().unwrap_or("").to_string())
        })
        .unwrap_or_default();
    let mut clean: String = normalize_username(&base)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        .take(48)
        .collect();
    if clean.is_empty() {
        clean = format!("{upstream}-user");
    }
    let mut out = vec![clean.clone()];
    for n in 2..6 {
        out.push(format!("{clean}-{n}"));
    }
    out.push(format!(
        "{clean}-{}",
        &random_token()[..8].to_ascii_lowercase()
    ));
    out
}

impl Provider {
    pub fn upstream(&self, name: &str) -> Option<&Upstream> {
        self.config.upstreams.iter().find(|u| u.name == name)
    }

    /// Apply the linking rules (DESIGN §4) to a validated upstream login.
    pub async fn resolve_upstream_login(
        &self,
        upstream: &Upstream,
        profile: &UpstreamProfile,
        ip: Option<&str>,
    ) -> ProviderResult<LinkOutcome> {
        let now = self.now();
        let audit = |kind: &'static str, user: Option<Uuid>, extra: Value| {
            let mut detail = json!({ "upstream": upstream.name });
            if let (Some(d), Value::Object(e)) = (detail.as_object_mut(), extra) {
                d.extend(e);
            }
            (kind, user, detail)
        };
        if let Some(identity) = self
            .store
            .get_identity(&upstream.name, &profile.subject)
            .await?
        {
            self.store
                .touch_identity(
                    &upstream.name,
                    &profile.subject,
                    profile.email.as_deref(),
                    now,
                )
                .await?;
            return Ok(match self.store.get_user(identity.user_id).await? {
                Some(u) if !u.disabled => LinkOutcome::Known(u),
                Some(u) => {
                    let (k, id, d) = audit(
                        "federation_refused",
                        Some(u.id),
                        json!({ "reason": "disabled" }),
                    );
                    self.audit(k, id, None, ip, d).await?;
                    LinkOutcome::Refused(Refusal::Disabled)
                }
                None => {
                    let (k, id, d) = audit(
                        "federation_refused",
                        None,
                        json!({ "reason": "no_account" }),
                    );
                    self.audit(k, id, None, ip, d).await?;
                    LinkOutcome::Refused(Refusal::NoAccount)
                }
            });
        }
        let identity = |user_id| FederatedIdentity {
            upstream: upstream.name.clone(),
            subject: profile.subject.clone(),
            user_id,
            email: profile.email.clone(),
            created_at: now,
            last_login_at: now,
        };
        // Local users with the upstream's address: looked up once, for linking and for JIT.
        let matches = match &profile.email {
            Some(email) => self.store.find_users_by_email(email).await?,
            None => Vec::new(),
        };
        if upstream.link_by == LinkBy::VerifiedEmail && profile.email_verified {
            // Only an unambiguous match whose own address is verified here too.
            if let [user] = matches.as_slice()
                && user.email_verified
            {
                if user.disabled {
                    let (k, id, d) = audit(
                        "federation_refused",
                        Some(user.id),
                        json!({ "reason": "disabled" }),
                    );
                    self.audit(k, id, None, ip, d).await?;
                    return Ok(LinkOutcome::Refused(Refusal::Disabled));
                }
                if user.password_hash.is_none() {
                    let r = Refusal::CannotConfirmLink;
                    let (k, id, d) = audit(
                        "federation_refused",
                        Some(user.id),
                        json!({ "reason": r.reason() }),
                    );
                    self.audit(k, id, None, ip, d).await?;
                    return Ok(LinkOutcome::Refused(r));
                }
                return Ok(LinkOutcome::ConfirmLink(user.clone()));
            }
        }
        let refusal = if upstream.link_by == LinkBy::VerifiedEmail
            && profile.email.is_some()
            && !profile.email_verified
        {
            Some(Refusal::EmailUnverified)
        } else if !upstream.jit {
            Some(Refusal::NoAccount)
        } else if profile.email.is_none() {
            Some(Refusal::MissingEmail)
        } else if !matches.is_empty() {
            Some(Refusal::EmailInUse)
        } else {
            None
        };
        if let Some(r) = refusal {
            let (k, id, d) = audit("federation_refused", None, json!({ "reason": r.reason() }));
            self.audit(k, id, None, ip, d).await?;
            return Ok(LinkOutcome::Refused(r));
        }
        for username in username_candidates(profile, &upstream.name) {
            let mut user = User::new(&username, now);
            user.email = profile.email.clone();
            // Trust the upstream's verification only for its own claim about this address.
            user.email_verified = profile.email.is_some() && profile.email_verified;
            user.name = profile.name.clone();
            match self
                .store
                .create_user_with_identity(&user, &identity(user.id))
                .await
            {
                Ok(()) => {
                    for g in &profile.groups {
                        if crate::authn::valid_group_name(g) {
                            self.store.add_to_group(user.id, g).await?;
                        }
                    }
                    let (k, id, d) = audit(
                        "user_created",
                        Some(user.id),
                        json!({ "by": "jit", "username": user.username }),
                    );
                    self.audit(k, id, None, ip, d).await?;
                    return Ok(LinkOutcome::Created(user));
                }
                Err(StoreError::Conflict(_)) => {
                    // Taken username, or the identity was linked by a concurrent login.
                    if let Some(existing) = self
                        .store
                        .get_identity(&upstream.name, &profile.subject)
                        .await?
                        && let Some(u) = self.store.get_user(existing.user_id).await?
                    {
                        return Ok(LinkOutcome::Known(u));
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        let (k, id, d) = audit(
            "federation_refused",
            None,
            json!({ "reason": "no_free_username" }),
        );
        self.audit(k, id, None, ip, d).await?;
        Ok(LinkOutcome::Refused(Refusal::NoAccount))
    }

    /// The owner of `user_id` confirmed, by signing in locally, the link an upstream login by
    /// verified email proposed (`LinkOutcome::ConfirmLink`).
    pub async fn confirm_link(
        &self,
        user_id: Uuid,
        upstream: &Upstream,
        subject: &str,
        email: Option<&str>,
        ip: Option<&str>,
    ) -> ProviderResult<bool> {
        let now = self.now();
        let identity = FederatedIdentity {
            upstream: upstream.name.clone(),
            subject: subject.to_string(),
            user_id,
            email: email.map(str::to_string),
            created_at: now,
            last_login_at: now,
        };
        match self.store.link_identity(&identity).await {
            Ok(()) => {}
            // Linked meanwhile (to this user or another): nothing to do.
            Err(StoreError::Conflict(_)) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        self.audit(
            "identity_linked",
            Some(user_id),
            None,
            ip,
            json!({ "upstream": upstream.name, "by": "verified_email_confirmed" }),
        )
        .await?;
        Ok(true)
    }

    /// After a verified upstream login of `user` (DESIGN §4): done, or the local second factor
    /// still to come. A user who has a second factor here completes it unless the upstream's
    /// amr/acr is one `trust_upstream_mfa` lists; so does one whom a policy requires to have
    /// one (enrolling if needed).
    pub async fn after_upstream(
        &self,
        user: &User,
        upstream: &Upstream,
        profile: &UpstreamProfile,
        client: Option<&crate::model::Client>,
        acr_values: &[String],
    ) -> ProviderResult<crate::authn::LoginStep> {
        let (auth, trusted_mfa) = self.upstream_authenticated(user, upstream, profile);
        let local_factor = !trusted_mfa
            && (self.totp_enabled(user.id).await?
                || self.mfa_required(user.id, client, acr_values).await?);
        if !local_factor {
            return Ok(crate::authn::LoginStep::Done(auth));
        }
        let mut next = self.step_up(&auth).await?;
        // The upstream login just happened: an enrollment then needs no password.
        next.fresh = true;
        Ok(crate::authn::LoginStep::Pending(next))
    }

    /// The authentication an upstream login gives, and whether it satisfies local MFA
    /// (`trust_upstream_mfa` lists the upstream amr or acr values that count).
    pub fn upstream_authenticated(
        &self,
        user: &User,
        upstream: &Upstream,
        profile: &UpstreamProfile,
    ) -> (Authenticated, bool) {
        let trusted: Vec<String> = profile
            .amr
            .iter()
            .filter(|m| upstream.trust_upstream_mfa.contains(m))
            .cloned()
            .collect();
        let acr_trusted = profile
            .acr
            .as_ref()
            .is_some_and(|a| upstream.trust_upstream_mfa.contains(a));
        let mfa = !trusted.is_empty() || acr_trusted;
        let mut amr = vec![AMR_FED.to_string()];
        for m in trusted {
            if !amr.contains(&m) {
                amr.push(m);
            }
        }
        if mfa && !amr.iter().any(|m| m == "mfa") {
            amr.push("mfa".into());
        }
        let now = self.now();
        let auth = Authenticated {
            user_id: user.id,
            sid: random_token(),
            // The upstream's auth_time (never in the future) so max_age means what it says; the
            // session's own lifetime counts from now (`login_at`).
            auth_time: profile
                .auth_time
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                .map_or(now, |t| t.min(now)),
            login_at: now,
            epoch: user.session_epoch,
            amr,
            acr: if mfa { ACR_MFA.into() } else { ACR_PWD.into() },
            upstream: Some(upstream.name.clone()),
        };
        (auth, mfa)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn jit_usernames_are_clean_and_unique_candidates() {
        let p = UpstreamProfile {
            subject: "s".into(),
            username: None,
            email: Some("Ada.Lovelace+x@example.com".into()),
            email_verified: true,
            name: None,
            groups: vec![],
            amr: vec![],
            acr: None,
            auth_time: None,
        };
        let c = username_candidates(&p, "okta");
        assert_eq!(c[0], "ada.lovelacex");
        assert_eq!(c[1], "ada.lovelacex-2");
        assert_eq!(c.len(), 6);
    }
}
