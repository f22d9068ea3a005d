//! What a signed-in user does to their own account (the account page): read what the page
//! shows, edit the profile, change the password, revoke an application's access, sign a session
//! out. Factors are in `authn`, upstream identities in `federation`.
use serde_json::json;
use uuid::Uuid;

use crate::accounts::{Actor, Ended};
use crate::authn::MfaStatus;
use crate::authn::{Authenticated, LoginFailure, Proof};
use crate::model::{
    AuditEvent, AuditFilter, Consent, FederatedIdentity, ProfileUpdate, SessionRecord, User,
};
use crate::oidc::error::ProviderResult;
use crate::provider::Provider;
use crate::secret::Secret;
use crate::types::{NewPassword, PasswordProblem};

/// A consent with the name of the application it was given to.
#[derive(Debug, Clone)]
pub struct ConsentView {
    pub consent: Consent,
    pub client_name: String,
}

/// A linked identity with its upstream's display name.
#[derive(Debug, Clone)]
pub struct IdentityView {
    pub identity: FederatedIdentity,
    pub display_name: String,
}

/// Everything the account page shows about a user, besides the profile itself.
#[derive(Debug, Clone)]
pub struct AccountOverview {
    pub consents: Vec<ConsentView>,
    /// The user's sessions (including logins half-way through); their data is the web layer's.
    pub sessions: Vec<SessionRecord>,
    pub mfa: MfaStatus,
    /// A policy requires this user to have a second factor.
    pub mfa_required: bool,
    /// The latest security events, newest first.
    pub events: Vec<AuditEvent>,
    pub identities: Vec<IdentityView>,
    /// The user's passkeys, oldest first.
    pub passkeys: Vec<crate::model::PasskeyCredential>,
    /// `[webauthn]` allows passkeys here.
    pub passkeys_available: bool,
}

/// Why a password change was refused; nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordChangeFailure {
    Mismatch,
    Policy(PasswordProblem),
    WrongCurrent,
    Throttled,
}

/// Why a profile edit was refused; nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileProblem {
    Email,
}

impl Provider {
    /// The user behind a session, unless they were disabled or deleted since.
    pub async fn active_user(&self, id: Uuid) -> ProviderResult<Option<User>> {
        Ok(self.store.get_user(id).await?.filter(|u| !u.disabled))
    }

    pub async fn account_overview(&self, user: &User) -> ProviderResult<AccountOverview> {
        let mut consents = Vec::new();
        for consent in self.store.list_consents(user.id).await? {
            let client_name = match self.client(&consent.client_id).await? {
                Some(c) => c.name,
                None => consent.client_id.clone(),
            };
            consents.push(ConsentView {
                consent,
                client_name,
            });
        }
        let filter = AuditFilter {
            user_id: Some(user.id),
            limit: 10,
            ..AuditFilter::default()
        };
        let identities = self
            .store
            .list_identities(user.id)
            .await?
            .into_iter()
            .map(|identity| IdentityView {
                display_name: self
                    .upstream(&identity.upstream)
                    .map_or_else(|| identity.upstream.clone(), |u| u.display_name.clone()),
                identity,
            })
            .collect();
        Ok(AccountOverview {
            consents,
            sessions: self.store.sessions_for_user(user.id, self.now()).await?,
            mfa: self.mfa_status(user.id).await?,
            mfa_required: self.mfa_required(user.id, None, &[]).await?,
            events: self.store.list_audit(&filter).await?,
            identities,
            passkeys: self.store.list_passkeys(user.id).await?,
            passkeys_available: self.passkeys_available(),
        })
    }

    /// Save the profile fields the account page edits. A changed email is no longer verified.
    pub async fn update_profile(
        &self,
        user: &User,
        update: &ProfileUpdate,
        ip: Option<&str>,
    ) -> ProviderResult<Result<(), ProfileProblem>> {
        if update
            .email
            .as_deref()
            .is_some_and(|e| !e.contains('@') || e.contains(char::is_whitespace))
        {
            return Ok(Err(ProfileProblem::Email));
        }
        let updated = self.store.update_profile(user.id, update, self.now()).await;
        self.accounts.forget_cached();
        updated?;
        let email_changed = update.email != user.email;
        self.audit(
            "profile_changed",
            Some(user.id),
            None,
            ip,
            json!({ "email_changed": email_changed }),
        )
        .await?;
        Ok(Ok(()))
    }

    /// Change the password: the current one is needed (a wrong one counts toward throttling),
    /// the new one must meet the policy and be typed twice. Every other session ends and every
    /// grant is revoked; `keep` (this session) moves to the new epoch.
    pub async fn change_password(
        &self,
        user: &User,
        current: Secret<String>,
        new: String,
        confirm: &str,
        keep: Option<&[u8]>,
        ip: Option<&str>,
    ) -> ProviderResult<Result<Ended, PasswordChangeFailure>> {
        if confirm != new {
            return Ok(Err(PasswordChangeFailure::Mismatch));
        }
        let new = match NewPassword::parse(new) {
            Ok(p) => p,
            Err(problem) => return Ok(Err(PasswordChangeFailure::Policy(problem))),
        };
        match self
            .verify_proof(user, Proof::Password(current), ip)
            .await?
        {
            Ok(()) => {}
            Err(LoginFailure::Throttled(_)) => return Ok(Err(PasswordChangeFailure::Throttled)),
            Err(_) => return Ok(Err(PasswordChangeFailure::WrongCurrent)),
        }
        let ended = self
            .accounts
            .set_password(user, new, keep, Actor::User, ip)
            .await?;
        Ok(Ok(ended))
    }

    /// Forget the user's consent to a client (the next request asks again). False when there was
    /// none.
    pub async fn revoke_consent(&self, user: &User, client_id: &str) -> ProviderResult<bool> {
        if !self.store.delete_consent(user.id, client_id).await? {
            return Ok(false);
        }
        self.audit(
            "consent_revoked",
            Some(user.id),
            Some(client_id),
            None,
            json!({}),
        )
        .await?;
        Ok(true)
    }

    /// One of the user's own sessions, by its stored key.
    pub async fn user_session(
        &self,
        user: &User,
        id_hash: &[u8],
    ) -> ProviderResult<Option<SessionRecord>> {
        Ok(self
            .store
            .sessions_for_user(user.id, self.now())
            .await?
            .into_iter()
            .find(|r| r.id_hash == id_hash))
    }

    /// Sign one of the user's sessions out ("sign out that session"). The clients it signed in
    /// to hear of it by back-channel logout: returns the deliveries.
    pub async fn end_user_session(
        &self,
        user: &User,
        session: &SessionRecord,
        auth: Option<&Authenticated>,
    ) -> ProviderResult<Vec<(String, String)>> {
        let deliveries = match auth {
            Some(a) => self.logout_tokens(a.user_id, &a.sid).await?,
            None => Vec::new(),
        };
        self.store.session_delete(&session.id_hash).await?;
        self.audit("session_ended", Some(user.id), None, None, json!({}))
            .await?;
        Ok(deliveries)
    }
}
