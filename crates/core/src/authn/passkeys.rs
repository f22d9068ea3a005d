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
    PublicKeyCredential, RegisterPublicKeyCredential, Webauthn, WebauthnBuilder, WebauthnError,
};

use crate::model::{PasskeyCredential, PasskeyUse, User};
use crate::oidc::error::{ProviderError, ProviderResult};
use crate::provider::Provider;
use crate::store::StoreError;

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

    fn from_webauthn(e: &WebauthnError) -> Self {
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
fn parse(stored: &PasskeyCredential) -> ProviderResult<Passkey> {
    serde_json::from_str(&stored.credential)
        .map_err(|e| ProviderError::Internal(format!("stored passkey does not parse: {e}")))
}

fn to_json<T: Serialize>(value: &T) -> ProviderResult<String> {
    serde_json::to_string(value).map_err(|e| ProviderError::Internal(e.to_string()))
}

/// The authenticator model (AAGUID) in a registration's attestation object: `authData` starts
/// with rpIdHash (32), flags (1), signCount (4), then, with the AT flag (0x40), the AAGUID (16)
/// (WebAuthn L3 6.1, 6.5.1). Attestation is `none`, so it is unsigned: a default name only.
/// All zeroes (the authenticator would not say) is `None`.
pub fn aaguid(attestation_object: &[u8]) -> Option<Uuid> {
    // The CBOR map's text key "authData", then its byte-string header (one or two length bytes).
    const KEY: &[u8] = b"\x68authData";
    let at = attestation_object
        .windows(KEY.len())
        .position(|w| w == KEY)?
        + KEY.len();
    let rest = attestation_object.get(at..)?;
    let data = match rest.first()? {
        0x58 => rest.get(2..)?,
        0x59 => rest.get(3..)?,
        h if (0x40..0x58).contains(h) => rest.get(1..)?,
        _ => return None,
    };
    if data.get(32)? & 0x40 == 0 {
        return None;
    }
    let id = Uuid::from_slice(data.get(37..53)?).ok()?;
    (!id.is_nil()).then_some(id)
}

/// A name for a passkey from its authenticator's AAGUID, for the providers users meet most
/// (from the passkey-authenticator-aaguids community list).
pub fn model_name(aaguid: Uuid) -> Option<&'static str> {
    Some(match aaguid.as_u128() {
        0xea9b8d66_4d01_1d21_3ce4_b6b48cb575d4 => "Google Password Manager",
        0xadce0002_35bc_c60a_648b_0b25f1f05503 => "Chrome on Mac",
        0xfbfc3007_154e_4ecc_8c0b_6e020557d7bd => "iCloud Keychain",
        0x08987058_cadc_4b81_b6e1_30de50dcbe96
        | 0x9ddd1817_af5a_4672_a2b9_3e3dd95000a9
        | 0x6028b017_b1d4_4c02_b4b3_afcdafc96bb2 => "Windows Hello",
        0xbada5566_a7aa_401f_bd96_45619a55120d => "1Password",
        0xd548826e_79b4_db40_a3d8_11116f7e8349 => "Bitwarden",
        0xcb69481e_8ff7_4039_93ec_0a2729a154a8 | 0xee882879_721c_4913_9775_3dfcce97072a => {
            "YubiKey 5"
        }
        _ => return None,
    })
}

/// `swk` or `hwk`, see [`PasskeyAssertion::method`].
pub fn passkey_method(backup_eligible: bool) -> &'static str {
    if backup_eligible { "swk" } else { "hwk" }
}

impl Provider {
    pub fn passkeys_available(&self) -> bool {
        self.webauthn.is_some()
    }

    fn webauthn(&self) -> Result<&Webauthn, PasskeyFailure> {
        self.webauthn.as_deref().ok_or(PasskeyFailure::Unavailable)
    }

    fn ceremony_expired(&self, created_at: DateTime<Utc>) -> bool {
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

    /// Options for `navigator.credentials.get()` naming the user's passkeys, for the second
    /// step of a login; `None` when the user has none (or passkeys are off).
    pub async fn start_passkey_second_factor(
        &self,
        user_id: Uuid,
    ) -> ProviderResult<Option<(serde_json::Value, PendingPasskeyAssertion)>> {
        let Ok(webauthn) = self.webauthn() else {
            return Ok(None);
        };
        let stored = self.store.list_passkeys(user_id).await?;
        if stored.is_empty() {
            return Ok(None);
        }
        let keys = stored
            .iter()
            .map(parse)
            .collect::<ProviderResult<Vec<_>>>()?;
        let (options, state) = webauthn
            .start_passkey_authentication(&keys)
            .map_err(|e| ProviderError::Internal(format!("passkey authentication: {e}")))?;
        let options =
            serde_json::to_value(&options).map_err(|e| ProviderError::Internal(e.to_string()))?;
        Ok(Some((
            options,
            PendingPasskeyAssertion::SecondFactor {
                user_id,
                state,
                created_at: self.now(),
            },
        )))
    }

    /// Options for a passwordless sign-in with a discoverable credential (the "Sign in with a
    /// passkey" button, or the username field's autofill when `mediation` is kept).
    pub fn start_passwordless(
        &self,
    ) -> ProviderResult<Result<(serde_json::Value, PendingPasskeyAssertion), PasskeyFailure>> {
        let webauthn = match self.webauthn() {
            Ok(w) => w,
            Err(f) => return Ok(Err(f)),
        };
        let (options, state) = webauthn
            .start_discoverable_authentication()
            .map_err(|e| ProviderError::Internal(format!("passkey sign-in: {e}")))?;
        let options =
            serde_json::to_value(&options).map_err(|e| ProviderError::Internal(e.to_string()))?;
        Ok(Ok((
            options,
            PendingPasskeyAssertion::Passwordless {
                state,
                created_at: self.now(),
            },
        )))
    }

    /// Verifies an assertion (`response`, the credential as JSON) against the pending
    /// ceremony, records the new counter and returns whose it was. A counter that did not move
    /// forward is refused and audited (WebAuthn L3 6.1.1). Passkey ceremonies always require
    /// user verification, so a passwordless success is multi-factor by itself.
    pub async fn finish_passkey_assertion(
        &self,
        pending: PendingPasskeyAssertion,
        response: &str,
        ip: Option<&str>,
    ) -> ProviderResult<Result<PasskeyAssertion, PasskeyFailure>> {
        let webauthn = match self.webauthn() {
            Ok(w) => w,
            Err(f) => return Ok(Err(f)),
        };
        let Ok(answer) = serde_json::from_str::<PublicKeyCredential>(response) else {
            return Ok(Err(PasskeyFailure::Rejected));
        };
        let Some(stored) = self.store.passkey_by_credential_id(&answer.raw_id).await? else {
            return Ok(Err(PasskeyFailure::Unknown));
        };
        let result = match pending {
            PendingPasskeyAssertion::SecondFactor {
                user_id,
                state,
                created_at,
            } => {
                if self.ceremony_expired(created_at) {
                    return Ok(Err(PasskeyFailure::Expired));
                }
                if stored.user_id != user_id {
                    return Ok(Err(PasskeyFailure::Unknown));
                }
                webauthn.finish_passkey_authentication(&answer, &state)
            }
            PendingPasskeyAssertion::Passwordless { state, created_at } => {
                if self.ceremony_expired(created_at) {
                    return Ok(Err(PasskeyFailure::Expired));
                }
                // The user handle the authenticator returned must be this credential's owner's.
                let owner = match webauthn.identify_discoverable_authentication(&answer) {
                    Ok((handle, _)) => self.store.user_by_webauthn_handle(handle).await?,
                    Err(_) => None,
                };
                if owner != Some(stored.user_id) {
                    return Ok(Err(PasskeyFailure::Unknown));
                }
                let key = parse(&stored)?;
                webauthn.finish_discoverable_authentication_v2(&answer, state, &key)
            }
        };
        let result = match result {
            Ok(r) => r,
            Err(e) => {
                let failure = PasskeyFailure::from_webauthn(&e);
                self.passkey_refused(&stored, failure, ip).await?;
                return Ok(Err(failure));
            }
        };
        let mut key = parse(&stored)?;
        key.update_credential(&result);
        let recorded = self
            .store
            .record_passkey_use(&PasskeyUse {
                id: stored.id,
                credential: to_json(&key)?,
                counter: i64::from(result.counter()),
                backup_state: result.backup_state(),
                at: self.now(),
            })
            .await?;
        if !recorded {
            // A concurrent assertion with the same counter got there first.
            let failure = PasskeyFailure::CounterRegression;
            self.passkey_refused(&stored, failure, ip).await?;
            return Ok(Err(failure));
        }
        self.audit(
            "passkey_used",
            Some(stored.user_id),
            None,
            ip,
            json!({"passkey": stored.id, "name": stored.name}),
        )
        .await?;
        Ok(Ok(PasskeyAssertion {
            user_id: stored.user_id,
            passkey_id: stored.id,
            method: passkey_method(result.backup_eligible()),
        }))
    }

    async fn passkey_refused(
        &self,
        stored: &PasskeyCredential,
        failure: PasskeyFailure,
        ip: Option<&str>,
    ) -> ProviderResult<()> {
        if failure == PasskeyFailure::CounterRegression {
            tracing::warn!(passkey = %stored.id, "passkey signature counter went back: possible clone");
        }
        self.audit(
            "passkey_refused",
            Some(stored.user_id),
            None,
            ip,
            json!({"passkey": stored.id, "reason": failure.reason()}),
        )
        .await
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

impl Provider {
    /// A whole sign-in with a discoverable passkey: the assertion names its user (through the
    /// random user handle), and passkeys always require user verification, so the result is
    /// multi-factor by itself (RFC 8176: the key, `user` presence and verification, `mfa`). A
    /// disabled account is refused like at the password step.
    pub async fn passwordless_login(
        &self,
        assertion: PendingPasskeyAssertion,
        response: &str,
        ip: Option<&str>,
    ) -> ProviderResult<Result<crate::authn::Authenticated, crate::authn::LoginFailure>> {
        use crate::authn::LoginFailure;
        if !matches!(assertion, PendingPasskeyAssertion::Passwordless { .. }) {
            return Ok(Err(LoginFailure::BadPasskey));
        }
        let verified = match self
            .finish_passkey_assertion(assertion, response, ip)
            .await?
        {
            Ok(v) => v,
            Err(_) => return Ok(Err(LoginFailure::BadPasskey)),
        };
        let user = match self.store.get_user(verified.user_id).await? {
            Some(u) if !u.disabled => u,
            Some(_) => return Ok(Err(LoginFailure::Disabled)),
            None => return Ok(Err(LoginFailure::BadPasskey)),
        };
        self.clear_user_failures(&user.username).await?;
        let first = self.authenticated(&user);
        Ok(Ok(crate::authn::Authenticated {
            amr: vec![verified.method.into(), "user".into(), "mfa".into()],
            acr: crate::authn::ACR_MFA.into(),
            ..first
        }))
    }
}

/// The passkey is the user's last second factor, which a policy requires: it stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastFactor;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn attestation(aaguid: [u8; 16], flags: u8) -> Vec<u8> {
        let mut auth = vec![7u8; 32];
        auth.push(flags);
        auth.extend([0, 0, 0, 1]);
        auth.extend(aaguid);
        auth.extend([0, 2, 9, 9]);
        let mut att = vec![0xa3, 0x63];
        att.extend(b"fmt");
        att.extend([0x64]);
        att.extend(b"none");
        att.extend([0x67]);
        att.extend(b"attStmt");
        att.push(0xa0);
        att.push(0x68);
        att.extend(b"authData");
        att.extend([0x58, auth.len() as u8]);
        att.extend(auth);
        att
    }

    #[test]
    fn the_model_is_read_from_the_attestation_object() {
        let hello = Uuid::from_u128(0x08987058_cadc_4b81_b6e1_30de50dcbe96);
        let got = aaguid(&attestation(*hello.as_bytes(), 0x45)).unwrap();
        assert_eq!(got, hello);
        assert_eq!(model_name(got), Some("Windows Hello"));
        assert_eq!(
            aaguid(&attestation([0; 16], 0x45)),
            None,
            "zeroes: not said"
        );
        assert_eq!(
            aaguid(&attestation(*hello.as_bytes(), 0x05)),
            None,
            "no attested credential data"
        );
        assert_eq!(aaguid(b"\xa0"), None);
        assert_eq!(aaguid(&attestation(*hello.as_bytes(), 0x45)[..50]), None);
        assert_eq!(model_name(Uuid::new_v4()), None);
    }
}
