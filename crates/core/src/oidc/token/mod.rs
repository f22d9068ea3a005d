//! The token endpoint (RFC 6749 3.2, OIDC Core 3.1.3), one file per grant, and the endpoints
//! that read its output: userinfo (OIDC Core 5.3), introspection (RFC 7662), revocation
//! (RFC 7009); plus back-channel logout tokens. `issue.rs` builds every token response.
mod authorization_code;
mod client_credentials;
mod introspect;
mod issue;
mod logout_token;
mod refresh_token;
mod request;
mod revoke;
mod userinfo;

use serde::Serialize;

use crate::model::Client;
use crate::oidc::error::ProviderResult;
use crate::oidc::params::Params;
use crate::provider::Provider;

use authorization_code::Presented;
pub use issue::at_hash;
pub use request::TokenRequest;
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
        match TokenRequest::parse(client, params)? {
            TokenRequest::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
            } => {
                let presented = Presented {
                    redirect_uri,
                    code_verifier,
                };
                self.grant_code(client, code, presented).await
            }
            TokenRequest::RefreshToken {
                refresh_token,
                scope,
            } => self.grant_refresh(client, refresh_token, scope).await,
            TokenRequest::ClientCredentials { scope } => {
                self.grant_client_credentials(client, scope).await
            }
        }
    }
}
