//! Second factors on the provider: throttling, MFA policy, TOTP enrollment and verification,
//! backup codes, and the security side effects of changing factors (DESIGN §3).
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::throttle::{ip_subject, user_subject};

/// An attempt recorded as failed until judged (see `Provider::begin_attempt`).
#[derive(Debug)]
pub struct Attempt {
    ids: Vec<i64>,
    prior_user_failures: u64,
}
use super::{
    ACR_MFA, Authenticated, LoginFailure, LoginStep, NextFactor, PendingLogin, Proof, backup,
    mfa_amr, totp,
};
use crate::authn::password::Verified;
use crate::crypto::Cipher;
use crate::model::{Client, TotpCredential, User};
use crate::oidc::error::{ProviderError, ProviderResult};
use crate::provider::{Provider, normalize_username};
use crate::secret::{Secret, random_token};
use crate::store::{Store, StoreError};

/// Who must use a second factor (config `[mfa]`, plus each client's `require_mfa`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MfaPolicy {
    pub require_for_all: bool,
    pub require_for_groups: Vec<String>,
    /// The issuer name authenticator apps show next to the account.
    pub totp_issuer: String,
}

/// A TOTP secret generated for enrollment but not confirmed yet. It lives in the server-side
/// session, encrypted like a stored seed, and is never sent to the browser for confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingTotp {
    pub user_id: Uuid,
    pub secret_enc: Vec<u8>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrollFailure {
    /// The pending secret is older than the enrollment timeout; start again.
    Expired,
    BadCode,
    /// TOTP is already on (a double-submitted confirmation): nothing changed.
    AlreadyEnabled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MfaStatus {
    pub totp_enabled: bool,
    pub totp_enrolled_at: Option<DateTime<Utc>>,
    pub backup_codes_remaining: u64,
}

fn totp_aad(user_id: Uuid) -> Vec<u8> {
    [b"totp:".as_slice(), user_id.as_bytes()].concat()
}

fn pending_aad(user_id: Uuid) -> Vec<u8> {
    [b"pending-totp:".as_slice(), user_id.as_bytes()].concat()
}

impl Provider {
    // ---- throttling ---------------------------------------------------------------------------

    pub fn user_subject(&self, username: &str) -> String {
        user_subject(&self.cipher, &normalize_username(username))
    }

    /// Record an attempt for `username` from `ip` *before* judging it, then refuse it if the
    /// failures recorded before it throttle either subject. Recording first means parallel
    /// attempts see each other: a burst cannot slip past the limit between check and record.
    /// A refused attempt is withdrawn (waiting is not failing); the caller withdraws a
    /// successful one with `attempt_succeeded` and keeps a failed one with `attempt_failed`.
    pub(crate) async fn begin_attempt(
        &self,
        username: &str,
        ip: Option<&str>,
    ) -> ProviderResult<Result<Attempt, DateTime<Utc>>> {
        let now = self.now();
        let p = &self.config.throttle;
        let since = now - p.window;
        let mut subjects = vec![(self.user_subject(username), p.max_failures)];
        if let Some(ip) = ip {
            subjects.push((ip_subject(ip), p.ip_max_failures));
        }
        let mut ids = Vec::with_capacity(subjects.len());
        let mut until = None;
        let mut prior_user_failures = 0;
        for (i, (subject, max)) in subjects.iter().enumerate() {
            let id = self.store.record_failure(subject, now).await?;
            ids.push(id);
            let prior = self.store.count_failures(subject, since, Some(id)).await?;
            if i == 0 {
                prior_user_failures = prior.count;
            }
            until = until.max(p.locked_until(prior, *max, now));
        }
        if let Some(until) = until {
            for id in ids {
                self.store.delete_failure(id).await?;
            }
            return Ok(Err(until));
        }
        Ok(Ok(Attempt {
            ids,
            prior_user_failures,
        }))
    }

    /// The attempt succeeded: it is not a failure.
    pub(crate) async fn attempt_succeeded(&self, attempt: Attempt) -> ProviderResult<()> {
        for id in attempt.ids {
            self.store.delete_failure(id).await?;
        }
        Ok(())
    }

    /// The attempt failed: its records stay, it is audited, and the attempt that brings the
    /// account to the limit is audited as a lockout.
    pub(crate) async fn attempt_failed(
        &self,
        attempt: Attempt,
        user_id: Option<Uuid>,
        ip: Option<&str>,
        method: &str,
        reason: &str,
    ) -> ProviderResult<()> {
        self.audit(
            "login_failed",
            user_id,
            None,
            ip,
            json!({ "method": method, "reason": reason }),
        )
        .await?;
        let p = &self.config.throttle;
        if p.max_failures > 0 && attempt.prior_user_failures + 1 == p.max_failures {
            tracing::warn!(user_id = ?user_id, "account throttled after repeated failures");
            self.audit(
                "account_locked",
                user_id,
                None,
                ip,
                json!({ "failures": p.max_failures, "window_secs": p.window.num_seconds() }),
            )
            .await?;
        }
        Ok(())
    }

    /// An attempt refused because the username or address is throttled. Logged, not written to
    /// the audit table: refusals cost an attacker nothing (no hashing), so one row each would let
    /// anyone grow the database at will; the lockout itself was audited when it began.
    pub(crate) async fn attempt_refused(
        &self,
        user_id: Option<Uuid>,
        ip: Option<&str>,
        method: &str,
    ) -> ProviderResult<()> {
        tracing::info!(target: "audit", kind = "login_throttled", user_id = ?user_id, ip, method, "sign-in attempt refused: throttled");
        Ok(())
    }

    // ---- policy -------------------------------------------------------------------------------

    pub async fn totp_enabled(&self, user_id: Uuid) -> ProviderResult<bool> {
        Ok(self.store.get_totp(user_id).await?.is_some())
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
        let next = if self.store.get_totp(user.id).await?.is_some() {
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
        let next = if self.store.get_totp(auth.user_id).await?.is_some() {
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
            amr: mfa_amr(&first),
            acr: ACR_MFA.into(),
            upstream,
        }
    }

    /// A completed sign-in resets the account's counter (not the address's).
    async fn clear_user_failures(&self, username: &str) -> ProviderResult<()> {
        self.store
            .clear_failures(&self.user_subject(username))
            .await?;
        Ok(())
    }

    async fn pending_user(
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

    /// Check a TOTP or backup code for `user`, consuming it.
    async fn check_code(&self, user: &User, code: &str, ip: Option<&str>) -> ProviderResult<bool> {
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
                let verdict = self
                    .passwords
                    .verify(p, user.password_hash.clone())
                    .await
                    .map_err(ProviderError::internal)?;
                (verdict != Verified::No, "pwd")
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

    // ---- enrollment ---------------------------------------------------------------------------

    fn decrypt_totp(&self, cred: &TotpCredential) -> ProviderResult<Vec<u8>> {
        self.cipher
            .decrypt(&cred.secret_enc, &totp_aad(cred.user_id))
            .map_err(|e| ProviderError::Internal(format!("cannot decrypt TOTP secret: {e}")))
    }

    /// A new secret for `user`, to show on the enrollment page.
    pub fn new_pending_totp(&self, user_id: Uuid) -> PendingTotp {
        let secret = totp::generate_secret();
        PendingTotp {
            user_id,
            secret_enc: self.cipher.encrypt(secret.expose(), &pending_aad(user_id)),
            created_at: self.now(),
        }
    }

    pub fn pending_totp_expired(&self, pending: &PendingTotp) -> bool {
        self.now() >= pending.created_at + super::ENROLLMENT_TIMEOUT
    }

    fn pending_secret(
        &self,
        user: &User,
        pending: &PendingTotp,
    ) -> ProviderResult<Secret<Vec<u8>>> {
        if pending.user_id != user.id {
            return Err(ProviderError::Internal(
                "pending TOTP belongs to another user".into(),
            ));
        }
        self.cipher
            .decrypt(&pending.secret_enc, &pending_aad(user.id))
            .map(Secret::new)
            .map_err(|e| ProviderError::Internal(format!("cannot decrypt pending TOTP: {e}")))
    }

    /// QR code, key URI and grouped key for the enrollment page.
    pub fn totp_enrollment(
        &self,
        user: &User,
        pending: &PendingTotp,
    ) -> ProviderResult<totp::Enrollment> {
        let secret = self.pending_secret(user, pending)?;
        totp::enrollment(
            secret.expose(),
            &self.config.mfa.totp_issuer,
            &user.username,
        )
        .ok_or_else(|| ProviderError::Internal("cannot build the TOTP key URI".into()))
    }

    /// Confirm an enrollment with a current code. On success TOTP is on, the code's step is
    /// spent, and the returned backup codes (shown once) replace any old set.
    pub async fn confirm_totp(
        &self,
        user: &User,
        pending: &PendingTotp,
        code: &str,
    ) -> ProviderResult<Result<Vec<String>, EnrollFailure>> {
        if pending.user_id != user.id || self.pending_totp_expired(pending) {
            return Ok(Err(EnrollFailure::Expired));
        }
        let secret = self.pending_secret(user, pending)?;
        let now = self.now();
        let Some(step) = totp::check(secret.expose(), code, now) else {
            return Ok(Err(EnrollFailure::BadCode));
        };
        let (codes, hashes) = backup::generate_hashed(user.id);
        let cred = TotpCredential {
            user_id: user.id,
            secret_enc: self.cipher.encrypt(secret.expose(), &totp_aad(user.id)),
            last_step: Some(step),
            created_at: now,
        };
        match self.store.enable_totp(&cred, &hashes).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Ok(Err(EnrollFailure::AlreadyEnabled)),
            Err(e) => return Err(e.into()),
        }
        self.audit(
            "mfa_enrolled",
            Some(user.id),
            None,
            None,
            json!({ "method": "totp", "backup_codes": codes.len() }),
        )
        .await?;
        Ok(Ok(codes))
    }

    /// A new set of backup codes (after `verify_proof`); the old set stops working.
    pub async fn regenerate_backup_codes(&self, user_id: Uuid) -> ProviderResult<Vec<String>> {
        let (codes, hashes) = backup::generate_hashed(user_id);
        self.store
            .replace_backup_codes(user_id, &hashes, self.now())
            .await?;
        self.audit(
            "backup_codes_regenerated",
            Some(user_id),
            None,
            None,
            json!({ "count": codes.len() }),
        )
        .await?;
        Ok(codes)
    }

    /// Turn TOTP off (after `verify_proof`). Returns false if it was off. (`lanyard user
    /// reset-mfa` is the admin's way, through the store.)
    pub async fn disable_totp(&self, user_id: Uuid) -> ProviderResult<bool> {
        let was_on = self.store.disable_totp(user_id).await?;
        if was_on {
            self.audit(
                "mfa_disabled",
                Some(user_id),
                None,
                None,
                json!({ "method": "totp" }),
            )
            .await?;
        }
        Ok(was_on)
    }

    /// End every session of the user except `keep`, and revoke every grant (so refresh tokens
    /// stop working): after a password or factor change, a stolen session must not survive.
    /// Returns the user's new session epoch, which the kept session must carry from now on.
    pub async fn end_other_sessions(
        &self,
        user_id: Uuid,
        keep: Option<&[u8]>,
        reason: &str,
    ) -> ProviderResult<i64> {
        let ended = self.store.end_user_sessions(user_id, keep).await?;
        let grants = self.store.revoke_user_grants(user_id, self.now()).await?;
        self.audit(
            "sessions_revoked",
            Some(user_id),
            None,
            None,
            json!({
                "reason": reason,
                "sessions": ended.map_or(0, |e| e.ended),
                "grants": grants,
            }),
        )
        .await?;
        Ok(ended.map_or(0, |e| e.epoch))
    }
}

/// `lanyard keys rotate-encryption`: re-encrypt every TOTP secret and signing key under the
/// cipher's primary key (old keys must still be configured to decrypt). Each row is swapped
/// only if it still holds what was read, so a concurrent re-enrollment is never overwritten.
/// Returns how many of each were re-encrypted.
pub async fn reencrypt_all(store: &dyn Store, cipher: &Cipher) -> ProviderResult<(u64, u64)> {
    let mut totps = 0;
    for cred in store.list_totp().await? {
        let aad = totp_aad(cred.user_id);
        let plain = Secret::new(cipher.decrypt(&cred.secret_enc, &aad).map_err(|e| {
            ProviderError::Internal(format!("TOTP secret of {}: {e}", cred.user_id))
        })?);
        if store
            .set_totp_secret(
                cred.user_id,
                &cred.secret_enc,
                &cipher.encrypt(plain.expose(), &aad),
            )
            .await?
        {
            totps += 1;
        }
    }
    let mut keys = 0;
    for key in store.list_signing_keys().await? {
        let aad = key.kid.as_bytes();
        let plain = Secret::new(
            cipher
                .decrypt(&key.private_enc, aad)
                .map_err(|e| ProviderError::Internal(format!("signing key {}: {e}", key.kid)))?,
        );
        if store
            .set_signing_key_private(
                &key.kid,
                &key.private_enc,
                &cipher.encrypt(plain.expose(), aad),
            )
            .await?
        {
            keys += 1;
        }
    }
    Ok((totps, keys))
}
