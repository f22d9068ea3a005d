//! Passkeys and security keys (WebAuthn, through webauthn-rs): registering one, and checking an
//! assertion as a second factor or, for a discoverable credential, as a whole sign-in.
//!
//! Every ceremony is two calls: `start_*` returns the options for the browser's
//! `navigator.credentials` call and a pending state that the caller keeps in the server-side
//! session (never in the browser), and `finish_*` takes that state once, with the browser's
//! answer. webauthn-rs checks the challenge, origin, rp id hash and flags; the store checks that
//! the signature counter moved forward, atomically.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use url::Url;
use uuid::Uuid;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    RegisterPublicKeyCredential, Webauthn, WebauthnBuilder, WebauthnError,
};

use crate::model::{PasskeyCredential, User};
use crate::oidc::error::{ProviderError, ProviderResult};
use crate::provider::Provider;
use crate::store::StoreError;

pub use super::aaguid::{aaguid, model_name};

/// `[webauthn]`, validated by the config crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyConfig {
    pub rp_id: String,
    pub rp_name: String,
    pub origins: Vec<Url>,
}

/// The verifier for `config`; `None` (with the reason logged) if webauthn-rs refuses it, which
/// the config checks are meant to rule out.
pub(crate) fn verifier(config: &PasskeyConfig) -> Option<Webauthn> {
    let first = config.origins.first()?;
    let mut builder = WebauthnBuilder::new(&config.rp_id, first)
        .map_err(|e| tracing::error!(error = %e, "passkeys are off: [webauthn] is not usable"))
        .ok()?
        .rp_name(&config.rp_name);
    for origin in &config.origins[1..] {
        builder = builder.append_allowed_origin(origin);
    }
    builder.build().ok()
}

/// A registration in progress: kept in the server-side session between the two calls.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingPasskeyRegistration {
    pub user_id: Uuid,
    state: PasskeyRegistration,
    pub created_at: DateTime<Utc>,
}

/// An assertion in progress: for a known user (second factor) or for whoever answers
/// (passwordless, discoverable credentials).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum PendingPasskeyAssertion {
    SecondFactor {
        user_id: Uuid,
        state: PasskeyAuthentication,
        created_at: DateTime<Utc>,
    },
    Passwordless {
        state: DiscoverableAuthentication,
        created_at: DateTime<Utc>,
    },
}

/// Why a ceremony did not succeed. The pages show one message per kind; none says which check
/// of the signature failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyFailure {
    /// Passkeys are off (`[webauthn]` cannot work with this issuer).
    Unavailable,
    /// The ceremony is older than the login step allows, or was already used.
    Expired,
    /// The browser's answer did not verify (wrong origin, challenge, signature, ...).
    Rejected,
    /// The credential is not registered (or not to this user).
    Unknown,
    /// The signature counter did not move forward: a cloned authenticator or a replay.
    CounterRegression,
    /// This credential is already registered.
    AlreadyRegistered,
    /// The user gave no user verification (PIN or biometrics), which passkeys require.
    NotVerified,
}

impl PasskeyFailure {
    pub fn reason(self) -> &'static str {
        match self {
            Self::Unavailable => "passkeys_unavailable",
            Self::Expired => "expired",
            Self::Rejected => "rejected",
            Self::Unknown => "unknown_credential",
            Self::CounterRegression => "counter_regression",
            Self::AlreadyRegistered => "already_registered",
            Self::NotVerified => "not_verified",
        }
    }

    pub(super) fn from_webauthn(e: &WebauthnError) -> Self {
        match e {
            WebauthnError::UserNotVerified => Self::NotVerified,
            WebauthnError::CredentialPossibleCompromise => Self::CounterRegression,
            WebauthnError::CredentialNotFound | WebauthnError::InvalidUserUniqueId => Self::Unknown,
            // webauthn-rs reports a credential from the exclude list this way.
            WebauthnError::CredentialAlteredAlgFromRequest => Self::AlreadyRegistered,
            _ => Self::Rejected,
        }
    }
}

/// A verified assertion: whose, with which credential, and its RFC 8176 method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyAssertion {
    pub user_id: Uuid,
    pub passkey_id: Uuid,
    /// `swk` for a credential that may be synced to other devices (backup eligible), else `hwk`
    /// (RFC 8176 2: proof of possession of a software- or hardware-secured key).
    pub method: &'static str,
}

/// The verifier's record of a stored passkey.
pub(super) fn parse(stored: &PasskeyCredential) -> ProviderResult<Passkey> {
    serde_json::from_str(&stored.credential)
        .map_err(|e| ProviderError::Internal(format!("stored passkey does not parse: {e}")))
}

pub(super) fn to_json<T: Serialize>(value: &T) -> ProviderResult<String> {
    serde_json::to_string(value).map_err(|e| ProviderError::Internal(e.to_string()))
}

/// `swk` or `hwk`, see [`PasskeyAssertion::method`].
pub fn passkey_method(backup_eligible: bool) -> &'static str {
    if backup_eligible { "swk" } else { "hwk" }
}

impl Provider {
    pub fn passkeys_available(&self) -> bool {
        self.webauthn.is_some()
    }

    pub(super) fn webauthn(&self) -> Result<&Webauthn, PasskeyFailure> {
        self.webauthn.as_deref().ok_or(PasskeyFailure::Unavailable)
    }

    pub(super) fn ceremony_expired(&self, created_at: DateTime<Utc>) -> bool {
        self.now() >= created_at + self.config.login_step_timeout
    }

    pub async fn list_passkeys(&self, user_id: Uuid) -> ProviderResult<Vec<PasskeyCredential>> {
        Ok(self.store.list_passkeys(user_id).await?)
    }

    /// Options for `navigator.credentials.create()` (as JSON) and the state to keep. The
    /// user's existing credentials are excluded; a discoverable credential (resident key) is
    /// preferred so the passkey can also sign in without a password; attestation is `none`.
    pub async fn start_passkey_registration(
        &self,
        user: &User,
    ) -> ProviderResult<Result<(serde_json::Value, PendingPasskeyRegistration), PasskeyFailure>>
    {
        let webauthn = match self.webauthn() {
            Ok(w) => w,
            Err(f) => return Ok(Err(f)),
        };
        // WebAuthn L3 14.6.1: the user handle is random, not the user id or the username.
        let handle = self.store.webauthn_handle(user.id, Uuid::new_v4()).await?;
        let existing = self.store.list_passkeys(user.id).await?;
        let exclude: Vec<Vec<u8>> = existing.iter().map(|p| p.credential_id.clone()).collect();
        let display = user.name.as_deref().unwrap_or(&user.username);
        let (mut options, state) = webauthn
            .start_passkey_registration(handle, &user.username, display, Some(exclude))
            .map_err(|e| ProviderError::Internal(format!("passkey registration: {e}")))?;
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.resident_key = Some(webauthn_rs_proto::ResidentKeyRequirement::Preferred);
            selection.require_resident_key = false;
        }
        let options =
            serde_json::to_value(&options).map_err(|e| ProviderError::Internal(e.to_string()))?;
        Ok(Ok((
            options,
            PendingPasskeyRegistration {
                user_id: user.id,
                state,
                created_at: self.now(),
            },
        )))
    }

    /// Verifies the browser's answer (`response`, the credential as JSON) and stores the new
    /// passkey under `name` (default "Passkey"). Audited; other sessions end, as for a TOTP
    /// change.
    pub async fn finish_passkey_registration(
        &self,
        user: &User,
        pending: PendingPasskeyRegistration,
        response: &str,
        name: Option<&str>,
        ip: Option<&str>,
    ) -> ProviderResult<Result<PasskeyCredential, PasskeyFailure>> {
        let webauthn = match self.webauthn() {
            Ok(w) => w,
            Err(f) => return Ok(Err(f)),
        };
        if pending.user_id != user.id || self.ceremony_expired(pending.created_at) {
            return Ok(Err(PasskeyFailure::Expired));
        }
        let Ok(answer) = serde_json::from_str::<RegisterPublicKeyCredential>(response) else {
            return Ok(Err(PasskeyFailure::Rejected));
        };
        let passkey = match webauthn.finish_passkey_registration(&answer, &pending.state) {
            Ok(p) => p,
            Err(e) => {
                let failure = PasskeyFailure::from_webauthn(&e);
                self.audit(
                    "passkey_refused",
                    Some(user.id),
                    None,
                    ip,
                    json!({"step": "register", "reason": failure.reason()}),
                )
                .await?;
                return Ok(Err(failure));
            }
        };
        let cred: webauthn_rs::prelude::Credential = passkey.clone().into();
        let model = aaguid(&answer.response.attestation_object);
        // The user's name, else the authenticator's model when known, else "Passkey".
        let name = name
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| n.chars().take(64).collect::<String>())
            .or_else(|| model.and_then(model_name).map(str::to_string))
            .unwrap_or_else(|| "Passkey".into());
        let record = PasskeyCredential {
            id: Uuid::now_v7(),
            user_id: user.id,
            credential_id: cred.cred_id.clone(),
            name,
            credential: to_json(&passkey)?,
            counter: i64::from(cred.counter),
            backup_eligible: cred.backup_eligible,
            backup_state: cred.backup_state,
            aaguid: model,
            // As the store keeps it (microseconds), so the record returned is the one stored.
            created_at: chrono::SubsecRound::trunc_subsecs(self.now(), 6),
            last_used_at: None,
        };
        match self.store.add_passkey(&record).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Ok(Err(PasskeyFailure::AlreadyRegistered)),
            Err(e) => return Err(e.into()),
        }
        self.audit(
            "passkey_added",
            Some(user.id),
            None,
            ip,
            json!({"passkey": record.id, "name": record.name, "synced": record.backup_state}),
        )
        .await?;
        Ok(Ok(record))
    }

    /// Renames one of the user's passkeys; false when the user has no such passkey.
    pub async fn rename_passkey(
        &self,
        user: &User,
        id: Uuid,
        name: &str,
        ip: Option<&str>,
    ) -> ProviderResult<bool> {
        let name: String = name.trim().chars().take(64).collect();
        if name.is_empty() || !self.store.rename_passkey(user.id, id, &name).await? {
            return Ok(false);
        }
        self.audit(
            "passkey_renamed",
            Some(user.id),
            None,
            ip,
            json!({"passkey": id, "name": name}),
        )
        .await?;
        Ok(true)
    }

    /// Removes one of the user's passkeys (after re-authentication). Refused when it is the
    /// user's last second factor and a policy requires one; `Ok(false)` when there is no such
    /// passkey.
    pub async fn remove_passkey(
        &self,
        user: &User,
        id: Uuid,
        ip: Option<&str>,
    ) -> ProviderResult<Result<bool, LastFactor>> {
        let passkeys = self.store.list_passkeys(user.id).await?;
        let Some(passkey) = passkeys.iter().find(|p| p.id == id) else {
            return Ok(Ok(false));
        };
        let others = passkeys.len() > 1 || self.totp_enabled(user.id).await?;
        if !others && self.mfa_required(user.id, None, &[]).await? {
            return Ok(Err(LastFactor));
        }
        if !self.store.delete_passkey(user.id, id).await? {
            return Ok(Ok(false));
        }
        self.audit(
            "passkey_removed",
            Some(user.id),
            None,
            ip,
            json!({"passkey": id, "name": passkey.name}),
        )
        .await?;
        Ok(Ok(true))
    }
}

/// The passkey is the user's last second factor, which a policy requires: it stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastFactor;
