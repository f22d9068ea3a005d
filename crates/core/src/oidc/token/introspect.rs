//! Token introspection (RFC 7662).
use serde_json::{Value, json};

use super::userinfo::BearerError;
use crate::model::Client;
use crate::oidc::error::{OAuthError, ProviderResult};
use crate::oidc::params::Params;
use crate::oidc::scopes;
use crate::provider::Provider;
use crate::secret::hash_token;

/// Access token claims an introspection answer repeats (RFC 7662 2.2).
const ACCESS_TOKEN_MEMBERS: [&str; 9] = [
    "scope",
    "client_id",
    "sub",
    "exp",
    "iat",
    "iss",
    "aud",
    "jti",
    "sid",
];

impl Provider {
    /// RFC 7662 2.2. Only confidential clients may introspect (2.1: prevent token scanning).
    pub async fn introspect(&self, client: &Client, params: &Params) -> ProviderResult<Value> {
        if client.is_public() {
            return Err(OAuthError::invalid_client().into());
        }
        let token = params
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        match self.check_access_token(token).await {
            Ok((claims, _)) => {
                let mut out = json!({ "active": true, "token_type": "Bearer" });
                for k in ACCESS_TOKEN_MEMBERS {
                    if let Some(v) = claims.get(k) {
                        out[k] = v.clone();
                    }
                }
                return Ok(out);
            }
            Err(BearerError::Unavailable) => {
                return Err(crate::store::StoreError::Unavailable("introspection".into()).into());
            }
            Err(_) => {}
        }
        Ok(self
            .introspect_refresh(token)
            .await?
            .unwrap_or_else(|| json!({ "active": false })))
    }

    /// A refresh token that is unused, unexpired and of an active grant, described.
    async fn introspect_refresh(&self, token: &str) -> ProviderResult<Option<Value>> {
        let now = self.now();
        let Some(rt) = self.store.find_refresh(&hash_token(token)).await? else {
            return Ok(None);
        };
        let Some(g) = self.store.get_grant(rt.grant_id).await? else {
            return Ok(None);
        };
        if rt.used_at.is_some() || rt.expires_at <= now || !g.is_active(now) {
            return Ok(None);
        }
        let mut out = json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": scopes::join(&g.scopes),
            "client_id": g.client_id,
            "exp": rt.expires_at.timestamp(),
            "iat": rt.created_at.timestamp(),
            "iss": self.config.issuer,
        });
        if let Some(u) = g.user_id {
            // The sub the token's own client sees (pairwise clients get theirs).
            let owner = self.client(&g.client_id).await?;
            out["sub"] = match &owner {
                Some(c) => self.subject(c, u),
                None => u.to_string(),
            }
            .into();
        }
        Ok(Some(out))
    }
}
