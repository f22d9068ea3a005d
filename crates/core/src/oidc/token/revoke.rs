//! Token revocation (RFC 7009).
use serde_json::{Value, json};
use uuid::Uuid;

use crate::model::Client;
use crate::oidc::error::{OAuthError, ProviderResult};
use crate::oidc::params::Params;
use crate::provider::Provider;
use crate::secret::hash_token;

impl Provider {
    /// RFC 7009 2.1. Revoking either token revokes the grant, and with it every token issued
    /// under it. Unknown tokens and tokens of other clients are answered with success and left
    /// alone (2.2: invalid tokens do not cause an error).
    pub async fn revoke(&self, client: &Client, params: &Params) -> ProviderResult<()> {
        let token = params
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        let now = self.now();
        let grant_id = if let Some(rt) = self.store.find_refresh(&hash_token(token)).await? {
            Some(rt.grant_id)
        } else {
            self.keys
                .verify(token)
                .filter(|(c, typ, _)| {
                    typ.as_deref() == Some("at+jwt")
                        && c.get("iss").and_then(Value::as_str) == Some(&self.config.issuer)
                })
                .and_then(|(c, _, _)| {
                    c.get("gid")
                        .and_then(Value::as_str)
                        .and_then(|g| Uuid::parse_str(g).ok())
                })
        };
        let Some(grant_id) = grant_id else {
            return Ok(());
        };
        let Some(grant) = self.store.get_grant(grant_id).await? else {
            return Ok(());
        };
        if grant.client_id != client.client_id {
            tracing::warn!(client_id = %client.client_id, "revocation of another client's token ignored");
            return Ok(());
        }
        if self.store.revoke_grant(grant_id, now).await? {
            self.audit(
                "token_revoked",
                grant.user_id,
                Some(&client.client_id),
                None,
                json!({ "grant": grant_id }),
            )
            .await?;
        }
        Ok(())
    }
}
