//! Which local user an upstream login is (DESIGN §4): a known identity, a link by verified
//! email that the local owner confirms, a user created just in time, or a refusal saying what to
//! do. Also linking and unlinking from the account page.
use serde_json::json;
use uuid::Uuid;

use super::{LinkBy, Upstream, UpstreamProfile};
use crate::model::{FederatedIdentity, User};
use crate::oidc::error::ProviderResult;
use crate::provider::Provider;
use crate::secret::random_token;
use crate::store::StoreError;
use crate::types::normalize_username;

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

/// The identity record of an upstream login for `user_id`.
fn new_identity(
    upstream: &Upstream,
    profile: &UpstreamProfile,
    user_id: Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> FederatedIdentity {
    FederatedIdentity {
        upstream: upstream.name.clone(),
        subject: profile.subject.clone(),
        user_id,
        email: profile.email.clone(),
        created_at: now,
        last_login_at: now,
    }
}

/// Why an unknown identity gets no account, when it does not: an unverified address under
/// `link_by = "verified_email"`, no JIT, no email for JIT, or an address a local account has.
fn refusal(upstream: &Upstream, profile: &UpstreamProfile, matches: &[User]) -> Option<Refusal> {
    if upstream.link_by == LinkBy::VerifiedEmail
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
    }
}

/// Linking an identity to an account that is signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountLink {
    Linked,
    AlreadyLinked,
    /// The identity belongs to another account here.
    LinkedElsewhere,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unlink {
    Unlinked,
    NotLinked,
    /// The only way this user (who has no password) can sign in.
    LastWayToSignIn,
}

impl Provider {
    /// Apply the linking rules (DESIGN §4) to a validated upstream login, in order: a known
    /// identity; a link by verified email (to be confirmed by the local owner); a refusal; a
    /// user created just in time.
    pub async fn resolve_upstream_login(
        &self,
        upstream: &Upstream,
        profile: &UpstreamProfile,
        ip: Option<&str>,
    ) -> ProviderResult<LinkOutcome> {
        if let Some(identity) = self
            .store
            .get_identity(&upstream.name, &profile.subject)
            .await?
        {
            return self.known_identity(upstream, profile, &identity, ip).await;
        }
        // Local users with the upstream's address: looked up once, for linking and for JIT.
        let matches = match &profile.email {
            Some(email) => self.store.find_users_by_email(email).await?,
            None => Vec::new(),
        };
        if let Some(outcome) = self.link_by_email(upstream, profile, &matches, ip).await? {
            return Ok(outcome);
        }
        if let Some(r) = refusal(upstream, profile, &matches) {
            return self.refuse(upstream, None, r, ip).await;
        }
        self.create_jit_user(upstream, profile, ip).await
    }

    async fn refuse(
        &self,
        upstream: &Upstream,
        user: Option<Uuid>,
        r: Refusal,
        ip: Option<&str>,
    ) -> ProviderResult<LinkOutcome> {
        let detail = json!({ "upstream": upstream.name, "reason": r.reason() });
        self.audit("federation_refused", user, None, ip, detail)
            .await?;
        Ok(LinkOutcome::Refused(r))
    }

    /// An identity linked before: its user, unless disabled or gone.
    async fn known_identity(
        &self,
        upstream: &Upstream,
        profile: &UpstreamProfile,
        identity: &FederatedIdentity,
        ip: Option<&str>,
    ) -> ProviderResult<LinkOutcome> {
        let email = profile.email.as_deref();
        self.store
            .touch_identity(&upstream.name, &profile.subject, email, self.now())
            .await?;
        match self.store.get_user(identity.user_id).await? {
            Some(u) if !u.disabled => Ok(LinkOutcome::Known(u)),
            Some(u) => {
                self.refuse(upstream, Some(u.id), Refusal::Disabled, ip)
                    .await
            }
            None => self.refuse(upstream, None, Refusal::NoAccount, ip).await,
        }
    }

    /// `link_by = "verified_email"`: only an unambiguous match whose own address is verified
    /// here too, and only proposed, for the local owner to confirm by signing in.
    async fn link_by_email(
        &self,
        upstream: &Upstream,
        profile: &UpstreamProfile,
        matches: &[User],
        ip: Option<&str>,
    ) -> ProviderResult<Option<LinkOutcome>> {
        if upstream.link_by != LinkBy::VerifiedEmail || !profile.email_verified {
            return Ok(None);
        }
        let [user] = matches else { return Ok(None) };
        if !user.email_verified {
            return Ok(None);
        }
        let refusal = if user.disabled {
            Refusal::Disabled
        } else if user.password_hash.is_none() {
            Refusal::CannotConfirmLink
        } else {
            return Ok(Some(LinkOutcome::ConfirmLink(user.clone())));
        };
        Ok(Some(
            self.refuse(upstream, Some(user.id), refusal, ip).await?,
        ))
    }

    /// JIT provisioning: a new user with the upstream's profile, under the first free username.
    async fn create_jit_user(
        &self,
        upstream: &Upstream,
        profile: &UpstreamProfile,
        ip: Option<&str>,
    ) -> ProviderResult<LinkOutcome> {
        let now = self.now();
        for username in username_candidates(profile, &upstream.name) {
            let mut user = User::new(&username, now);
            user.email = profile.email.clone();
            // Trust the upstream's verification only for its own claim about this address.
            user.email_verified = profile.email.is_some() && profile.email_verified;
            user.name = profile.name.clone();
            let identity = new_identity(upstream, profile, user.id, now);
            match self.store.create_user_with_identity(&user, &identity).await {
                Ok(()) => {
                    for g in profile
                        .groups
                        .iter()
                        .filter(|g| crate::authn::valid_group_name(g))
                    {
                        self.store.add_to_group(user.id, g).await?;
                    }
                    let detail = json!({ "upstream": upstream.name, "by": "jit", "username": user.username });
                    self.audit("user_created", Some(user.id), None, ip, detail)
                        .await?;
                    return Ok(LinkOutcome::Created(user));
                }
                // Taken username, or the identity was linked by a concurrent login.
                Err(StoreError::Conflict(_)) => {
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
        self.refuse(upstream, None, Refusal::NoAccount, ip).await
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
        let profile = UpstreamProfile {
            subject: subject.to_string(),
            email: email.map(str::to_string),
            ..UpstreamProfile::default()
        };
        let linked = self.link_to(user_id, upstream, &profile, ip, "verified_email_confirmed");
        Ok(linked.await? == AccountLink::Linked)
    }

    /// Link an upstream identity to the signed-in user (the account page, after a fresh login
    /// at the upstream).
    pub async fn link_from_account(
        &self,
        user_id: Uuid,
        upstream: &Upstream,
        profile: &UpstreamProfile,
        ip: Option<&str>,
    ) -> ProviderResult<AccountLink> {
        self.link_to(user_id, upstream, profile, ip, "user").await
    }

    async fn link_to(
        &self,
        user_id: Uuid,
        upstream: &Upstream,
        profile: &UpstreamProfile,
        ip: Option<&str>,
        by: &str,
    ) -> ProviderResult<AccountLink> {
        if let Some(existing) = self
            .store
            .get_identity(&upstream.name, &profile.subject)
            .await?
        {
            return Ok(if existing.user_id == user_id {
                AccountLink::AlreadyLinked
            } else {
                AccountLink::LinkedElsewhere
            });
        }
        let identity = new_identity(upstream, profile, user_id, self.now());
        match self.store.link_identity(&identity).await {
            Ok(()) => {}
            // Linked meanwhile, by a concurrent request.
            Err(StoreError::Conflict(_)) => return Ok(AccountLink::LinkedElsewhere),
            Err(e) => return Err(e.into()),
        }
        let detail = json!({ "upstream": upstream.name, "by": by });
        self.audit("identity_linked", Some(user_id), None, ip, detail)
            .await?;
        Ok(AccountLink::Linked)
    }

    /// Unlink an identity from the account page; never the last way a user without a password
    /// can sign in (an identity at an upstream that is still configured).
    pub async fn unlink_identity(
        &self,
        user: &User,
        upstream: &str,
        subject: &str,
        ip: Option<&str>,
    ) -> ProviderResult<Unlink> {
        let identities = self.store.list_identities(user.id).await?;
        let usable = identities
            .iter()
            .filter(|i| self.upstream(&i.upstream).is_some())
            .count();
        let removing_usable = self.upstream(upstream).is_some();
        if user.password_hash.is_none() && removing_usable && usable <= 1 {
            return Ok(Unlink::LastWayToSignIn);
        }
        if !self
            .store
            .unlink_identity(user.id, upstream, subject)
            .await?
        {
            return Ok(Unlink::NotLinked);
        }
        self.audit(
            "identity_unlinked",
            Some(user.id),
            None,
            ip,
            json!({ "upstream": upstream }),
        )
        .await?;
        Ok(Unlink::Unlinked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
