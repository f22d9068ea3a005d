//! The client credentials grant (RFC 6749 4.4): confidential clients acting on their own
//! behalf. Issuing writes nothing: the access token is self-contained, and revoking it puts its
//! `jti` on the revocation list (`revoke.rs`) that introspection checks.
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
        // Not stored: the token stands on its own (RFC 9068), revocable by its jti.
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
