//! Checking a second factor: the second step of a login, and re-authentication before a
//! sensitive account change. Every check counts toward throttling (see `attempts`).
use serde_json::json;

use super::{Authenticated, LoginFailure, PendingLogin, Proof, backup, totp};
use crate::authn::password::Verified;
use crate::model::User;
use crate::oidc::error::ProviderResult;
use crate::provider::Provider;
use crate::secret::Secret;

impl Provider {
    pub(crate) async fn pending_user(
        &self,
        pending: &PendingLogin,
    ) -> ProviderResult<Result<User, LoginFailure>> {
        match self.store.get_user(pending.user_id).await? {
            Some(u) if !u.disabled => Ok(Ok(u)),
            Some(_) => Ok(Err(LoginFailure::Disabled)),
            None => Ok(Err(LoginFailure::BadCredentials)),
        }
    }

    /// The second step of a login: a TOTP code or a backup code. Wrong, reused and malformed
    /// codes count toward throttling like a wrong password.
    pub async fn verify_second_factor(
        &self,
        pending: &PendingLogin,
        code: &Secret<String>,
        ip: Option<&str>,
    ) -> ProviderResult<Result<Authenticated, LoginFailure>> {
        let user = match self.pending_user(pending).await? {
            Ok(u) => u,
            Err(f) => return Ok(Err(f)),
        };
        let method = if totp::parse_code(code.expose()).is_some() {
            "otp"
        } else {
            "backup_code"
        };
        let attempt = match self.begin_attempt(&user.username, ip).await? {
            Ok(a) => a,
            Err(until) => {
                self.attempt_refused(Some(user.id), ip, method).await?;
                return Ok(Err(LoginFailure::Throttled(until)));
            }
        };
        match self.check_code(&user, code.expose(), ip).await? {
            true => {
                self.attempt_succeeded(attempt).await?;
                self.clear_user_failures(&user.username).await?;
                Ok(Ok(self.complete_mfa(pending)))
            }
            false => {
                let failure = LoginFailure::BadCode;
                self.attempt_failed(attempt, Some(user.id), ip, method, failure.reason())
                    .await?;
                Ok(Err(failure))
            }
        }
    }

    /// The second step of a login with a passkey: `assertion` is the ceremony started for this
    /// login, `response` the browser's answer. Counts toward throttling like a code.
    pub async fn verify_passkey_second_factor(
        &self,
        pending: &PendingLogin,
        assertion: super::passkeys::PendingPasskeyAssertion,
        response: &str,
        ip: Option<&str>,
    ) -> ProviderResult<Result<Authenticated, LoginFailure>> {
        let user = match self.pending_user(pending).await? {
            Ok(u) => u,
            Err(f) => return Ok(Err(f)),
        };
        let attempt = match self.begin_attempt(&user.username, ip).await? {
            Ok(a) => a,
            Err(until) => {
                self.attempt_refused(Some(user.id), ip, "passkey").await?;
                return Ok(Err(LoginFailure::Throttled(until)));
            }
        };
        match self
            .finish_passkey_assertion(assertion, response, ip)
            .await?
        {
            Ok(a) if a.user_id == user.id => {
                self.attempt_succeeded(attempt).await?;
                self.clear_user_failures(&user.username).await?;
                Ok(Ok(self.complete_mfa_with(pending, a.method)))
            }
            _ => {
                let failure = LoginFailure::BadPasskey;
                self.attempt_failed(attempt, Some(user.id), ip, "passkey", failure.reason())
                    .await?;
                Ok(Err(failure))
            }
        }
    }

    /// Check a TOTP or backup code for `user`, consuming it.
    pub(crate) async fn check_code(
        &self,
        user: &User,
        code: &str,
        ip: Option<&str>,
    ) -> ProviderResult<bool> {
        let now = self.now();
        if totp::parse_code(code).is_some() {
            let Some(cred) = self.store.get_totp(user.id).await? else {
                return Ok(false);
            };
            let secret = Secret::new(self.decrypt_totp(&cred)?);
            let Some(step) = totp::check(secret.expose(), code, now) else {
                return Ok(false);
            };
            // RFC 6238 5.2: a verified code must not be accepted again.
            if self.store.accept_totp_step(user.id, step).await? {
                return Ok(true);
            }
            return Ok(false);
        }
        let Some(normalised) = backup::parse(code) else {
            return Ok(false);
        };
        let hash = backup::hash(user.id, &normalised);
        match self.store.redeem_backup_code(user.id, &hash, now).await? {
            Some(remaining) => {
                self.audit(
                    "backup_code_used",
                    Some(user.id),
                    None,
                    ip,
                    json!({ "remaining": remaining }),
                )
                .await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Re-authentication for a sensitive account change: the password, or a current TOTP or
    /// backup code. Failures count toward throttling.
    pub async fn verify_proof(
        &self,
        user: &User,
        proof: Proof,
        ip: Option<&str>,
    ) -> ProviderResult<Result<(), LoginFailure>> {
        let attempt = match self.begin_attempt(&user.username, ip).await? {
            Ok(a) => a,
            Err(until) => {
                self.attempt_refused(Some(user.id), ip, "reauthentication")
                    .await?;
                return Ok(Err(LoginFailure::Throttled(until)));
            }
        };
        let (ok, method) = match proof {
            Proof::Password(p) => {
                let stored = user.password_hash.clone();
                match self.accounts.passwords().verify(p, stored).await {
                    Ok(verdict) => (verdict != Verified::No, "pwd"),
                    Err(e) => return self.attempt_abandoned(attempt, e.into()).await,
                }
            }
            Proof::Code(c) => (self.check_code(user, c.expose(), ip).await?, "code"),
        };
        if ok {
            self.attempt_succeeded(attempt).await?;
            Ok(Ok(()))
        } else {
            self.attempt_failed(attempt, Some(user.id), ip, method, "reauthentication")
                .await?;
            Ok(Err(if method == "pwd" {
                LoginFailure::BadCredentials
            } else {
                LoginFailure::BadCode
            }))
        }
    }
}
