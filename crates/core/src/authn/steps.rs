//! The steps of a sign-in after the first factor (DESIGN §3): who must use a second factor,
//! what comes after the password, step-up of an existing session, and the authentication a
//! completed second step produces.
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{ACR_MFA, Authenticated, LoginStep, NextFactor, PendingLogin, mfa_amr_with};
use crate::model::{Client, User};
use crate::oidc::error::ProviderResult;
use crate::provider::Provider;
use crate::secret::random_token;

/// Who must use a second factor (config `[mfa]`, plus each client's `require_mfa`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MfaPolicy {
    pub require_for_all: bool,
    pub require_for_groups: Vec<String>,
    /// The issuer name authenticator apps show next to the account.
    pub totp_issuer: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MfaStatus {
    pub totp_enabled: bool,
    pub totp_enrolled_at: Option<DateTime<Utc>>,
    pub backup_codes_remaining: u64,
}

impl Provider {
    pub async fn totp_enabled(&self, user_id: Uuid) -> ProviderResult<bool> {
        Ok(self.store.get_totp(user_id).await?.is_some())
    }

    /// The user has a second factor to sign in with: an authenticator app, or a passkey
    /// (while passkeys are on).
    pub async fn has_second_factor(&self, user_id: Uuid) -> ProviderResult<bool> {
        Ok(self.store.get_totp(user_id).await?.is_some()
            || (self.passkeys_available() && !self.store.list_passkeys(user_id).await?.is_empty()))
    }

    pub async fn mfa_status(&self, user_id: Uuid) -> ProviderResult<MfaStatus> {
        let totp = self.store.get_totp(user_id).await?;
        Ok(MfaStatus {
            totp_enabled: totp.is_some(),
            totp_enrolled_at: totp.map(|t| t.created_at),
            backup_codes_remaining: self.store.backup_codes_remaining(user_id).await?,
        })
    }

    /// Whether a second factor is required for this user signing in to this client: everyone,
    /// a group the user is in, the client, or the client asking for the MFA level in
    /// `acr_values` (step-up).
    pub async fn mfa_required(
        &self,
        user_id: Uuid,
        client: Option<&Client>,
        acr_values: &[String],
    ) -> ProviderResult<bool> {
        let policy = &self.config.mfa;
        // OIDC Core 3.1.2.1: acr_values lists acceptable levels. Asking for the MFA level
        // only (not also the password level) makes it a requirement: step-up.
        let asks_mfa_only = acr_values.iter().any(|a| a == ACR_MFA)
            && !acr_values.iter().any(|a| a == crate::authn::ACR_PWD);
        if policy.require_for_all || client.is_some_and(|c| c.require_mfa) || asks_mfa_only {
            return Ok(true);
        }
        if policy.require_for_groups.is_empty() {
            return Ok(false);
        }
        let groups = self.store.user_groups(user_id).await?;
        Ok(groups.iter().any(|g| policy.require_for_groups.contains(g)))
    }

    /// After a correct password: done, or which second step comes next.
    pub async fn after_password(
        &self,
        user: &User,
        client: Option<&Client>,
        acr_values: &[String],
    ) -> ProviderResult<LoginStep> {
        let next = if self.has_second_factor(user.id).await? {
            NextFactor::SecondFactor
        } else if self.mfa_required(user.id, client, acr_values).await? {
            NextFactor::Enroll
        } else {
            self.clear_user_failures(&user.username).await?;
            return Ok(LoginStep::Done(self.authenticated(user)));
        };
        let now = self.now();
        Ok(LoginStep::Pending(PendingLogin {
            user_id: user.id,
            next,
            started_at: now,
            expires_at: now + self.config.login_step_timeout,
            epoch: user.session_epoch,
            step_up: None,
            fresh: true,
        }))
    }

    /// An existing password-only session must add a second factor (step-up).
    pub async fn step_up(&self, auth: &Authenticated) -> ProviderResult<PendingLogin> {
        let next = if self.has_second_factor(auth.user_id).await? {
            NextFactor::SecondFactor
        } else {
            NextFactor::Enroll
        };
        let now = self.now();
        Ok(PendingLogin {
            user_id: auth.user_id,
            next,
            started_at: now,
            expires_at: now + self.config.login_step_timeout,
            epoch: auth.epoch,
            step_up: Some(auth.clone()),
            fresh: false,
        })
    }

    /// The authentication a completed second step produces. A step-up keeps the session's sid.
    pub fn complete_mfa(&self, pending: &PendingLogin) -> Authenticated {
        self.complete_mfa_with(pending, "otp")
    }

    /// `complete_mfa` with the second factor's RFC 8176 method.
    pub fn complete_mfa_with(&self, pending: &PendingLogin, method: &str) -> Authenticated {
        let (sid, first, upstream) = match &pending.step_up {
            Some(a) => (a.sid.clone(), a.amr.clone(), a.upstream.clone()),
            None => (random_token(), vec!["pwd".to_string()], None),
        };
        let now = self.now();
        Authenticated {
            user_id: pending.user_id,
            sid,
            auth_time: now,
            login_at: now,
            epoch: pending.epoch,
            amr: mfa_amr_with(&first, method),
            acr: ACR_MFA.into(),
            upstream,
        }
    }
}
