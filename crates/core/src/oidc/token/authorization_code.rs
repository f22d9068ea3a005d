//! The authorization code grant (RFC 6749 4.1.3, RFC 7636 4.6, OIDC Core 3.1.3).
use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::TokenResponse;
use super::issue::{Exchange, Issuance};
use crate::model::{AuthCode, Client, Grant, GrantType, Redeemed, RefreshToken};
use crate::oidc::authorize::valid_pkce_value;
use crate::oidc::error::{OAuthError, ProviderResult};
use crate::oidc::scopes;
use crate::provider::Provider;
use crate::secret::{b64url, ct_eq, hash_token, random_token};

impl Provider {
    /// RFC 6749 4.1.3 + RFC 7636 4.6.
    pub(super) async fn grant_code(
        &self,
        client: &Client,
        code: &str,
        presented: Presented<'_>,
    ) -> ProviderResult<TokenResponse> {
        let now = self.now();
        let c = self.redeem_code(client, &presented, code, now).await?;
        let user = self
            .claim_user(client, c.user_id, &c.scopes, c.claims.as_ref())
            .await?;
        let (grant, refresh_token) = self.grant_from_code(client, &c, now).await?;
        self.issue(
            Issuance {
                client,
                grant: &grant,
                user: Some(&user),
                scopes: &grant.scopes,
                refresh_token,
                exchange: Exchange::Code,
            },
            now,
        )
    }

    /// The code, consumed. Who presents it is checked *before* it is consumed: someone who
    /// merely intercepted it (without the client's credentials or the PKCE verifier) can
    /// neither spend it nor, by "replaying" it, revoke the grant it created. A second correct
    /// exchange is the replay that does (RFC 6749 4.1.2).
    async fn redeem_code(
        &self,
        client: &Client,
        presented: &Presented<'_>,
        code: &str,
        now: DateTime<Utc>,
    ) -> ProviderResult<AuthCode> {
        let code_hash = hash_token(code);
        let invalid = || OAuthError::invalid_grant("authorization code is invalid");
        let stored = self
            .store
            .find_code(&code_hash)
            .await?
            .ok_or_else(invalid)?;
        check_presenter(&stored, client, presented)?;
        let c = match self.store.redeem_code(&code_hash, now).await? {
            Redeemed::Fresh(c) => c,
            Redeemed::NotFound => return Err(invalid().into()),
            Redeemed::AlreadyUsed(grant_id) => {
                // RFC 6749 4.1.2: a reused code revokes every token issued from it.
                self.revoke_grant(grant_id, now).await?;
                self.audit(
                    "code_reuse",
                    None,
                    Some(&client.client_id),
                    None,
                    json!({ "grant": grant_id }),
                )
                .await?;
                return Err(
                    OAuthError::invalid_grant("authorization code was already used").into(),
                );
            }
        };
        if c.expires_at <= now {
            return Err(OAuthError::invalid_grant("authorization code has expired").into());
        }
        Ok(c)
    }

    /// The grant a redeemed code creates, with its first refresh token when the client gets
    /// one: confidential clients allowed the grant type, public ones only with `offline_access`.
    async fn grant_from_code(
        &self,
        client: &Client,
        c: &AuthCode,
        now: DateTime<Utc>,
    ) -> ProviderResult<(Grant, Option<String>)> {
        let refresh = client.allows_grant(GrantType::RefreshToken)
            && (!client.is_public() || scopes::has(&c.scopes, "offline_access"));
        let lifetime = if refresh {
            self.config.refresh_token_lifetime
        } else {
            self.config.access_token_lifetime
        };
        let grant = Grant {
            id: c.grant_id,
            client_id: client.client_id.clone(),
            user_id: Some(c.user_id),
            scopes: c.scopes.clone(),
            sid: Some(c.sid.clone()),
            auth_time: Some(c.auth_time),
            amr: c.amr.clone(),
            acr: c.acr.clone(),
            nonce: c.nonce.clone(),
            claims: c.claims.clone(),
            created_at: now,
            expires_at: now + lifetime,
            revoked_at: None,
        };
        let refresh_token = refresh.then(random_token);
        let record = refresh_token.as_ref().map(|t| RefreshToken {
            token_hash: hash_token(t),
            grant_id: grant.id,
            created_at: now,
            expires_at: grant.expires_at,
            used_at: None,
            successor_enc: None,
        });
        self.store.create_grant(&grant, record.as_ref()).await?;
        Ok((grant, refresh_token))
    }
}

/// What the client presents with a code besides its credentials.
#[derive(Debug, Clone, Copy)]
pub(super) struct Presented<'a> {
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
}

/// RFC 6749 4.1.3 and RFC 7636 4.6: the code was issued to this client, for this redirect URI,
/// and the PKCE verifier matches its challenge.
fn check_presenter(c: &AuthCode, client: &Client, p: &Presented<'_>) -> Result<(), OAuthError> {
    if c.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "authorization code was issued to another client",
        ));
    }
    // RFC 6749 4.1.3: redirect_uri must be identical to the one in the authorization request.
    if p.redirect_uri != Some(c.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    // RFC 7636 4.6, and RFC 9700 2.1.1: a verifier without a challenge is refused (downgrade).
    match (&c.code_challenge, p.code_verifier) {
        (None, None) => Ok(()),
        (Some(challenge), Some(verifier)) if valid_pkce_value(verifier) => {
            if ct_eq(
                b64url(&Sha256::digest(verifier.as_bytes())).as_bytes(),
                challenge.as_bytes(),
            ) {
                Ok(())
            } else {
                Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code_challenge",
                ))
            }
        }
        (Some(_), Some(_)) => Err(OAuthError::invalid_grant("code_verifier is malformed")),
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is required")),
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier sent, but the authorization request had no code_challenge",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            b64url(&Sha256::digest(verifier.as_bytes())),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
