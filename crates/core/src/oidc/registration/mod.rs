//! Dynamic client registration (RFC 7591) and client read (RFC 7592 2.1).
//!
//! Registered clients are confidential `client_secret_basic`/`client_secret_post` clients or
//! public ones (`none`, PKCE required), code flow only; they are never `trusted` (users always
//! see the consent page, with the client's logo, policy and terms). Only hashes of the client
//! secret and the registration access token are stored.
mod metadata;

use serde_json::{Value, json};

pub use metadata::{Pairwise, client_from_metadata};

use crate::model::{AuthMethod, Client};
use crate::oidc::error::ProviderResult;
use crate::oidc::scopes;
use crate::provider::Provider;
use crate::secret::{b64url, ct_eq, hash_token, random_token};

/// RFC 7591 3.2.2 error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationError {
    /// `invalid_redirect_uri` or `invalid_client_metadata`.
    pub error: &'static str,
    pub description: String,
}

pub(crate) fn metadata_error(description: impl Into<String>) -> RegistrationError {
    RegistrationError {
        error: "invalid_client_metadata",
        description: description.into(),
    }
}

pub(crate) fn redirect_error(description: impl Into<String>) -> RegistrationError {
    RegistrationError {
        error: "invalid_redirect_uri",
        description: description.into(),
    }
}

/// A successful registration: the client and the two secrets shown once.
#[derive(Debug)]
pub struct Registered {
    pub client: Client,
    pub client_secret: Option<String>,
    pub registration_access_token: String,
}

fn client_secret_context(client_id: &str) -> String {
    format!("client-secret:{client_id}")
}

impl Provider {
    /// The secret of a `client_secret_jwt` client, decrypted to verify its HMAC.
    pub fn client_secret_for_jwt(&self, client: &Client) -> Option<Vec<u8>> {
        let sealed = client.secret_enc.as_ref()?;
        self.unseal(&client_secret_context(&client.client_id), sealed)
    }

    /// OIDC Core 8.1: the `sector_identifier_uri` document of a registration asking for
    /// pairwise subjects, fetched (through the fetch port) for `client_from_metadata` to check.
    async fn sector_document(&self, meta: &Value) -> Option<Result<Vec<String>, String>> {
        if meta.get("subject_type").and_then(Value::as_str) != Some("pairwise") {
            return None;
        }
        let uri = meta.get("sector_identifier_uri").and_then(Value::as_str)?;
        Some(match self.fetch.text(uri).await {
            Ok(text) => serde_json::from_str::<Vec<String>>(&text)
                .map_err(|_| "the document is not a JSON array of URIs".to_string()),
            Err(e) => Err(e),
        })
    }

    /// Register a client (RFC 7591 3). The outer error is infrastructure.
    pub async fn register_client(
        &self,
        meta: &Value,
        ip: Option<&str>,
    ) -> ProviderResult<Result<Registered, RegistrationError>> {
        let client_id = format!("dyn-{}", &random_token()[..22]);
        let pairwise = Pairwise {
            supported: self.config.pairwise_salt.is_some(),
            sector_document: self.sector_document(meta).await,
        };
        let mut client =
            match client_from_metadata(meta, client_id, &self.config.algorithms, &pairwise) {
                Ok(c) => c,
                Err(e) => return Ok(Err(e)),
            };
        let client_secret = (!client.is_public()
            && client.auth_method != AuthMethod::PrivateKeyJwt)
            .then(random_token);
        client.secret_hash = client_secret.as_deref().map(hash_token);
        if client.auth_method == AuthMethod::ClientSecretJwt
            && let Some(secret) = &client_secret
        {
            client.secret_enc =
                Some(self.seal(&client_secret_context(&client.client_id), secret.as_bytes()));
        }
        let rat = random_token();
        client.registration_token_hash = Some(b64url(&hash_token(&rat)));
        self.store.upsert_client(&client).await?;
        self.audit(
            "client_registered",
            None,
            Some(&client.client_id),
            ip,
            json!({ "redirect_uris": client.redirect_uris, "auth_method": client.auth_method.as_str() }),
        )
        .await?;
        Ok(Ok(Registered {
            client,
            client_secret,
            registration_access_token: rat,
        }))
    }

    /// RFC 7592 2.1: the client, when `token` is its registration access token. That token is
    /// a client credential: the same failure budget as client authentication applies
    /// (`ProviderError::Throttled`).
    pub async fn registered_client(
        &self,
        client_id: &str,
        token: &str,
        ip: Option<&str>,
    ) -> ProviderResult<Option<Client>> {
        let gate = match self.client_gate(client_id, ip).await? {
            Ok(gate) => gate,
            Err(until) => {
                return Err(crate::oidc::error::ProviderError::throttled(
                    until,
                    self.now(),
                ));
            }
        };
        let client = self.store.get_client(client_id).await?;
        let presented = b64url(&hash_token(token));
        let valid = client.as_ref().is_some_and(|c| {
            c.registration_token_hash
                .as_deref()
                .is_some_and(|h| ct_eq(h.as_bytes(), presented.as_bytes()))
        });
        if !valid {
            self.client_auth_failed(gate, ip).await?;
            return Ok(None);
        }
        Ok(client)
    }
}

/// The client's metadata as registration responses show it (RFC 7591 3.2.1).
pub fn metadata_json(client: &Client, registration_client_uri: &str) -> Value {
    let mut m = json!({
        "client_id": client.client_id,
        "client_name": client.name,
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "grant_types": client.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "response_types": ["code"],
        "token_endpoint_auth_method": client.auth_method.as_str(),
        "scope": scopes::join(&client.scopes),
        "id_token_signed_response_alg": client.id_token_alg.as_str(),
        "subject_type": if client.pairwise_sector.is_some() { "pairwise" } else { "public" },
        "registration_client_uri": registration_client_uri,
    });
    if let Some(o) = m.as_object_mut() {
        for (k, v) in [
            ("logo_uri", &client.logo_uri),
            ("policy_uri", &client.policy_uri),
            ("tos_uri", &client.tos_uri),
            ("jwks_uri", &client.jwks_uri),
            ("backchannel_logout_uri", &client.backchannel_logout_uri),
        ] {
            if let Some(v) = v {
                o.insert(k.into(), v.clone().into());
            }
        }
        if let Some(j) = &client.jwks {
            o.insert("jwks".into(), j.clone());
        }
        if let Some(a) = client.userinfo_signed_response_alg {
            o.insert("userinfo_signed_response_alg".into(), a.as_str().into());
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{GrantType, SigningAlg};

    fn reg(v: Value) -> Result<Client, RegistrationError> {
        client_from_metadata(&v, "c".into(), &SigningAlg::ALL, &Pairwise::default())
    }

    #[test]
    fn a_web_client_registers_with_defaults() {
        let c =
            reg(json!({ "redirect_uris": ["https://app.example.com/cb"], "client_name": "App" }))
                .unwrap();
        assert_eq!(c.auth_method, AuthMethod::ClientSecretBasic);
        assert_eq!(c.grant_types, vec![GrantType::AuthorizationCode]);
        assert!(!c.trusted);
        assert_eq!(c.name, "App");
        assert_eq!(c.managed_by, crate::model::ManagedBy::Registration);
    }

    #[test]
    fn bad_metadata_gets_the_rfc_7591_error() {
        let cases = [
            (
                json!({ "redirect_uris": ["https://a.example/cb#frag"] }),
                "invalid_redirect_uri",
            ),
            (
                json!({ "redirect_uris": ["http://a.example/cb"] }),
                "invalid_redirect_uri",
            ),
            (json!({}), "invalid_redirect_uri"),
            (
                json!({ "redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "tls_client_auth" }),
                "invalid_client_metadata",
            ),
            (
                json!({ "redirect_uris": ["https://a.example/cb"], "jwks_uri": "https://a.example/jwks", "jwks": { "keys": [] } }),
                "invalid_client_metadata",
            ),
            (
                json!({ "redirect_uris": ["https://a.example/cb"], "response_types": ["token"] }),
                "invalid_client_metadata",
            ),
            (
                json!({ "redirect_uris": ["https://a.example/cb"], "logo_uri": "javascript:alert(1)" }),
                "invalid_client_metadata",
            ),
            (
                json!({ "redirect_uris": "https://a.example/cb" }),
                "invalid_client_metadata",
            ),
            (json!([1, 2]), "invalid_client_metadata"),
        ];
        for (meta, error) in cases {
            assert_eq!(reg(meta.clone()).unwrap_err().error, error, "{meta}");
        }
    }
}
