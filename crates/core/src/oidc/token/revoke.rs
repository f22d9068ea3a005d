//! Token revocation (RFC 7009).
use chrono::DateTime;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::model::Client;
use crate::oidc::error::{OAuthError, ProviderResult};
use crate::oidc::params::Params;
use crate::provider::Provider;
use crate::secret::{hash_token, sha256};

impl Provider {
    /// RFC 7009 2.1. Revoking either token of a grant revokes the grant, and with it every token
    /// issued under it; a client's own access token (no grant) goes on the revocation list.
    /// Unknown tokens and tokens of other clients are answered with success and left alone
    /// (2.2: invalid tokens do not cause an error).
    pub async fn revoke(&self, client: &Client, params: &Params) -> ProviderResult<()> {
        let token = params
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        if let Some(rt) = self.store.find_refresh(&hash_token(token)).await? {
            return self.revoke_grant_of(client, rt.grant_id).await;
        }
        let Some(claims) = self.own_access_token(token) else {
            return Ok(());
        };
        match claims.get("gid").and_then(Value::as_str) {
            Some(gid) => match Uuid::parse_str(gid) {
                Ok(gid) => self.revoke_grant_of(client, gid).await,
                Err(_) => Ok(()),
            },
            None => self.revoke_client_token(client, &claims).await,
        }
    }

    /// The claims of an access token this provider signed (expired or not).
    fn own_access_token(&self, token: &str) -> Option<Map<String, Value>> {
        let (claims, typ, _) = self.keys.verify(token)?;
        let ours = typ.as_deref() == Some("at+jwt")
            && claims.get("iss").and_then(Value::as_str) == Some(self.config.issuer.as_str());
        ours.then_some(claims)
    }

    async fn revoke_grant_of(&self, client: &Client, grant_id: Uuid) -> ProviderResult<()> {
        let Some(grant) = self.store.get_grant(grant_id).await? else {
            return Ok(());
        };
        if grant.client_id != client.client_id {
            tracing::warn!(client_id = %client.client_id, "revocation of another client's token ignored");
            return Ok(());
        }
        if self.revoke_grant(grant_id, self.now()).await? {
            let detail = json!({ "grant": grant_id });
            self.audit(
                "token_revoked",
                grant.user_id,
                Some(&client.client_id),
                None,
                detail,
            )
            .await?;
        }
        Ok(())
    }

    /// A client_credentials token: its jti is listed until the token would have expired.
    async fn revoke_client_token(
        &self,
        client: &Client,
        claims: &Map<String, Value>,
    ) -> ProviderResult<()> {
        let owner = claims.get("client_id").and_then(Value::as_str);
        let jti = claims.get("jti").and_then(Value::as_str);
        let exp = claims.get("exp").and_then(Value::as_i64);
        let (Some(owner), Some(jti), Some(exp)) = (owner, jti, exp) else {
            return Ok(());
        };
        if owner != client.client_id {
            tracing::warn!(client_id = %client.client_id, "revocation of another client's token ignored");
            return Ok(());
        }
        let expires_at = DateTime::from_timestamp(exp, 0).unwrap_or_else(|| self.now());
        if self
            .store
            .revoke_token(&sha256(jti.as_bytes()), expires_at)
            .await?
        {
            let detail = json!({ "token": "client_credentials" });
            self.audit("token_revoked", None, Some(&client.client_id), None, detail)
                .await?;
        }
        Ok(())
    }
}
