//! TOTP enrollment and the factor changes that follow it: confirming a new secret (which
//! issues backup codes), regenerating backup codes and turning TOTP off (DESIGN §3).
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{backup, totp};
use crate::model::{TotpCredential, User};
use crate::oidc::error::{ProviderError, ProviderResult};
use crate::provider::Provider;
use crate::secret::Secret;
use crate::store::StoreError;

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

pub(crate) fn totp_aad(user_id: Uuid) -> Vec<u8> {
    [b"totp:".as_slice(), user_id.as_bytes()].concat()
}

fn pending_aad(user_id: Uuid) -> Vec<u8> {
    [b"pending-totp:".as_slice(), user_id.as_bytes()].concat()
}

impl Provider {
    pub(crate) fn decrypt_totp(&self, cred: &TotpCredential) -> ProviderResult<Vec<u8>> {
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
}
