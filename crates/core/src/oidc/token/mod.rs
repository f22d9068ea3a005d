//! The token endpoint (RFC 6749 3.2, OIDC Core 3.1.3), one file per grant, and the endpoints
//! that read its output: userinfo (OIDC Core 5.3), introspection (RFC 7662), revocation
//! (RFC 7009); plus back-channel logout tokens. `issue.rs` builds every token response.
mod authorization_code;
mod client_credentials;
mod introspect;
mod issue;
mod logout_token;
mod refresh_token;
mod revoke;
mod userinfo;

use serde::Serialize;

use crate::model::Client;
use crate::oidc::error::{ErrorKind, OAuthError, ProviderResult};
use crate::oidc::params::Params;
use crate::provider::Provider;

pub use issue::at_hash;
pub use userinfo::{BearerError, UserinfoResponse};

/// RFC 6749 5.1 successful response.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub scope: String,
}

impl Provider {
    /// RFC 6749 3.2 / 5.2: one grant per `grant_type`, after the client authenticated.
    pub async fn token(&self, client: &Client, params: &Params) -> ProviderResult<TokenResponse> {
        if let Some(msg) = params.first_malformed() {
            return Err(OAuthError::invalid_request(msg).into());
        }
        match params.get("grant_type") {
            None => Err(OAuthError::invalid_request("grant_type is required").into()),
            Some("authorization_code") => self.grant_code(client, params).await,
            Some("refresh_token") => self.grant_refresh(client, params).await,
            Some("client_credentials") => self.grant_client_credentials(client, params).await,
            Some(_) => Err(OAuthError::new(
                ErrorKind::UnsupportedGrantType,
                "unsupported grant_type",
            )
            .into()),
        }
    }
}
