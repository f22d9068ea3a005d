//! Checking a passkey assertion: as the second step of a login (the user's own credentials),
//! or as a whole passwordless sign-in (a discoverable credential names its user).
use serde_json::json;
use uuid::Uuid;
use webauthn_rs::prelude::PublicKeyCredential;

use super::passkeys::{
    PasskeyAssertion, PasskeyFailure, PendingPasskeyAssertion, parse, passkey_method, to_json,
};
use crate::model::{PasskeyCredential, PasskeyUse};
use crate::oidc::error::{ProviderError, ProviderResult};
use crate::provider::Provider;

impl Provider {
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
        let attempt = match self.begin_address_attempt(ip).await? {
            Ok(a) => a,
            Err(until) => {
                self.attempt_refused(None, ip, "passkey").await?;
                return Ok(Err(LoginFailure::Throttled(until)));
            }
        };
        let verified = match self
            .finish_passkey_assertion(assertion, response, ip)
            .await?
        {
            Ok(v) => {
                self.attempt_succeeded(attempt).await?;
                v
            }
            Err(f) => {
                // The owner, when the credential was known, is in the `passkey_refused` entry.
                self.attempt_failed(attempt, None, ip, "passkey", f.reason())
                    .await?;
                return Ok(Err(LoginFailure::BadPasskey));
            }
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
