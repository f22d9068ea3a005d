//! The client credentials grant (RFC 6749 4.4): confidential clients acting on their own
//! behalf.
use uuid::Uuid;

use super::TokenResponse;
use super::issue::{Exchange, Issuance};
use crate::model::{Client, Grant};
use crate::oidc::error::{ErrorKind, OAuthError, ProviderResult};
use crate::oidc::scopes;
use crate::provider::Provider;

impl Provider {
    /// RFC 6749 4.4: confidential clients acting on their own behalf.
    pub(super) async fn grant_client_credentials(
        &self,
        client: &Client,
        scope: Option<&str>,
    ) -> ProviderResult<TokenResponse> {
        let asked = scopes::parse(scope.unwrap_or(""));
        if asked
            .iter()
            .any(|s| s == "openid" || s == "offline_access" || !client.allows_scope(s))
        {
            return Err(OAuthError::new(
                ErrorKind::InvalidScope,
                "scope is not allowed for this client",
            )
            .into());
        }
        let now = self.now();
        let grant = Grant {
            id: Uuid::new_v4(),
            client_id: client.client_id.clone(),
            user_id: None,
            scopes: asked.clone(),
            sid: None,
            auth_time: None,
            amr: vec![],
            acr: None,
            nonce: None,
            claims: None,
            created_at: now,
            expires_at: now + self.config.access_token_lifetime,
            revoked_at: None,
        };
        self.store.create_grant(&grant, None).await?;
        self.issue(
            Issuance {
                client,
                grant: &grant,
                user: None,
                scopes: &asked,
                refresh_token: None,
                exchange: Exchange::ClientCredentials,
            },
            now,
        )
    }
}
