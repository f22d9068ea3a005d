//! The refresh token grant (RFC 6749 6), with rotation, reuse detection (RFC 9700 4.14.2) and
//! the optional reuse grace period.
use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::TokenResponse;
use super::issue::{Exchange, Issuance};
use crate::model::{Client, Grant, Redeemed, RefreshToken};
use crate::oidc::error::{ErrorKind, OAuthError, ProviderResult};
use crate::oidc::scopes;
use crate::provider::Provider;
use crate::secret::{hash_token, random_token, sha256};

impl Provider {
    /// RFC 6749 6, with rotation and reuse detection (RFC 9700 4.14.2).
    pub(super) async fn grant_refresh(
        &self,
        client: &Client,
        token: &str,
        scope: Option<&str>,
    ) -> ProviderResult<TokenResponse> {
        let now = self.now();
        let (rt, grant) = self.presented_refresh(client, token).await?;
        if rt.used_at.is_some() {
            return self
                .rotated_refresh(client, &grant, &rt, token, scope, now)
                .await;
        }
        if !grant.is_active(now) || rt.expires_at <= now {
            return Err(invalid_refresh().into());
        }
        let scopes = refresh_scopes(&grant, scope)?;
        let user = self.grant_user(client, &grant).await?;
        let Some(new_token) = self.rotate(token, &grant, now).await? else {
            // A parallel refresh of the same token rotated it first.
            let (rt, _) = self.presented_refresh(client, token).await?;
            return self
                .rotated_refresh(client, &grant, &rt, token, scope, now)
                .await;
        };
        self.issue(
            Issuance {
                client,
                grant: &grant,
                user: user.as_ref(),
                scopes: &scopes,
                refresh_token: Some(new_token),
                exchange: Exchange::Refresh,
            },
            now,
        )
    }

    /// The presented refresh token and its grant. RFC 6749 6: the token must have been issued
    /// to this client; it is not consumed when it was not.
    async fn presented_refresh(
        &self,
        client: &Client,
        token: &str,
    ) -> ProviderResult<(RefreshToken, Grant)> {
        let rt = self
            .store
            .find_refresh(&hash_token(token))
            .await?
            .ok_or_else(invalid_refresh)?;
        let grant = self
            .store
            .get_grant(rt.grant_id)
            .await?
            .ok_or_else(invalid_refresh)?;
        if grant.client_id != client.client_id {
            return Err(invalid_refresh().into());
        }
        Ok((rt, grant))
    }

    /// Rotate `token` into a new one, atomically; `None` when a parallel refresh rotated it
    /// first. With a reuse grace period, the successor is sealed on the old row for retries.
    async fn rotate(
        &self,
        token: &str,
        grant: &Grant,
        now: DateTime<Utc>,
    ) -> ProviderResult<Option<String>> {
        let new_token = random_token();
        let new = RefreshToken {
            token_hash: hash_token(&new_token),
            grant_id: grant.id,
            created_at: now,
            expires_at: grant.expires_at,
            used_at: None,
            successor_enc: None,
        };
        let successor_enc = (!self.config.refresh_reuse_grace.is_zero())
            .then(|| successor_cipher(token).encrypt(new_token.as_bytes(), grant.id.as_bytes()));
        match self
            .store
            .rotate_refresh(&hash_token(token), &new, successor_enc.as_deref(), now)
            .await?
        {
            Redeemed::Fresh(()) => Ok(Some(new_token)),
            Redeemed::AlreadyUsed(_) => Ok(None),
            Redeemed::NotFound => Err(invalid_refresh().into()),
        }
    }

    /// A refresh token that was already rotated out. Within `[tokens] refresh_reuse_grace` of
    /// its rotation (two parallel refreshes, or a retry after a lost response) it answers with
    /// the same successor it was rotated into, as long as that one is unused; otherwise it is
    /// reuse, and the grant is revoked (RFC 9700 4.14.2).
    async fn rotated_refresh(
        &self,
        client: &Client,
        grant: &Grant,
        rt: &RefreshToken,
        token: &str,
        scope: Option<&str>,
        now: DateTime<Utc>,
    ) -> ProviderResult<TokenResponse> {
        let in_grace = rt
            .used_at
            .and_then(|used| used.checked_add_signed(self.config.refresh_reuse_grace))
            .is_some_and(|end| end > now);
        let successor = rt
            .successor_enc
            .as_deref()
            .filter(|_| in_grace)
            .and_then(|sealed| {
                successor_cipher(token)
                    .decrypt(sealed, grant.id.as_bytes())
                    .ok()
            })
            .and_then(|plain| String::from_utf8(plain).ok());
        if let Some(successor) = successor
            && let Some(next) = self.store.find_refresh(&hash_token(&successor)).await?
            && next.used_at.is_none()
            && next.expires_at > now
            && grant.is_active(now)
        {
            let scopes = refresh_scopes(grant, scope)?;
            let user = self.grant_user(client, grant).await?;
            return self.issue(
                Issuance {
                    client,
                    grant,
                    user: user.as_ref(),
                    scopes: &scopes,
                    refresh_token: Some(successor),
                    exchange: Exchange::Refresh,
                },
                now,
            );
        }
        Err(self.refresh_reuse(client, grant.id, now).await)
    }

    async fn refresh_reuse(
        &self,
        client: &Client,
        grant_id: Uuid,
        now: DateTime<Utc>,
    ) -> crate::oidc::error::ProviderError {
        if let Err(e) = self.revoke_grant(grant_id, now).await {
            return e.into();
        }
        if let Err(e) = self
            .audit(
                "refresh_token_reuse",
                None,
                Some(&client.client_id),
                None,
                json!({ "grant": grant_id }),
            )
            .await
        {
            return e;
        }
        OAuthError::invalid_grant("refresh token was already used; the grant has been revoked")
            .into()
    }
}

fn invalid_refresh() -> OAuthError {
    OAuthError::invalid_grant("refresh token is invalid or expired")
}

/// RFC 6749 6: a refresh may ask for fewer scopes than were granted, never more.
fn refresh_scopes(grant: &Grant, scope: Option<&str>) -> Result<Vec<String>, OAuthError> {
    match scope {
        None => Ok(grant.scopes.clone()),
        Some(raw) => {
            let asked = scopes::parse(raw);
            if asked.iter().any(|s| !scopes::has(&grant.scopes, s)) {
                return Err(OAuthError::new(
                    ErrorKind::InvalidScope,
                    "scope exceeds what was granted",
                ));
            }
            Ok(asked)
        }
    }
}

/// The key a rotated refresh token's successor is sealed under: derived from the rotated token
/// itself (a 256-bit random value), so only whoever holds that token can read its successor,
/// and the database alone (which keeps only SHA-256 of tokens) cannot.
fn successor_cipher(token: &str) -> crate::crypto::Cipher {
    let mut material = b"lanyard refresh successor\0".to_vec();
    material.extend_from_slice(token.as_bytes());
    let key = sha256(&material);
    // A 32-byte key is always accepted.
    #[allow(clippy::expect_used)]
    crate::crypto::Cipher::new("rt", &key, &[]).expect("32-byte key")
}
