//! Dynamic client registration (RFC 7591) and client read (RFC 7592 2.1).
//!
//! Registered clients are confidential `client_secret_basic`/`client_secret_post` clients or
//! public ones (`none`, PKCE required), code flow only; they are never `trusted` (users always
//! see the consent page, with the client's logo, policy and terms). Only hashes of the client
//! secret and the registration access token are stored.
use serde_json::{Map, Value, json};

use crate::model::{AuthMethod, Client, GrantType, SigningAlg};
use crate::oidc::error::ProviderResult;
use crate::oidc::scopes;
use crate::oidc::uris::check_redirect_uri;
use crate::provider::Provider;
use crate::secret::{b64url, ct_eq, hash_token, random_token};

/// RFC 7591 3.2.2 error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationError {
    /// `invalid_redirect_uri` or `invalid_client_metadata`.
    pub error: &'static str,
    pub description: String,
}

fn metadata_error(description: impl Into<String>) -> RegistrationError {
    RegistrationError {
        error: "invalid_client_metadata",
        description: description.into(),
    }
}

fn redirect_error(description: impl Into<String>) -> RegistrationError {
    RegistrationError {
        error: "invalid_redirect_uri",
        description: description.into(),
    }
}

fn same_origin(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

/// A successful registration: the client and the two secrets shown once.
#[derive(Debug)]
pub struct Registered {
    pub client: Client,
    pub client_secret: Option<String>,
    pub registration_access_token: String,
}

fn opt_string(m: &Map<String, Value>, key: &str) -> Result<Option<String>, RegistrationError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= 2048 => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(metadata_error(format!("{key} is too long"))),
        Some(_) => Err(metadata_error(format!("{key} must be a string"))),
    }
}

fn string_list(
    m: &Map<String, Value>,
    key: &str,
) -> Result<Option<Vec<String>>, RegistrationError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) if items.len() <= 32 => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| metadata_error(format!("{key} must be an array of strings")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(metadata_error(format!(
            "{key} must be an array of at most 32 strings"
        ))),
    }
}

/// A URL shown to users or fetched later: https, or http on a loopback host.
fn web_url(m: &Map<String, Value>, key: &str) -> Result<Option<String>, RegistrationError> {
    let Some(u) = opt_string(m, key)? else {
        return Ok(None);
    };
    check_redirect_uri(&u, false).map_err(|e| metadata_error(format!("{key} {e}")))?;
    Ok(Some(u))
}

/// Pairwise subjects at registration (OIDC Core 8.1): whether they are offered, and the
/// `sector_identifier_uri` document (a JSON array of redirect URIs) the web layer fetched.
#[derive(Debug, Clone, Default)]
pub struct Pairwise {
    pub supported: bool,
    pub sector_document: Option<Result<Vec<String>, String>>,
}

/// Validate registration metadata into a client (RFC 7591 2, 3.2.2).
pub fn client_from_metadata(
    meta: &Value,
    client_id: String,
    algorithms: &[SigningAlg],
    pairwise: &Pairwise,
) -> Result<Client, RegistrationError> {
    let m = meta
        .as_object()
        .ok_or_else(|| metadata_error("the request body must be a JSON object"))?;
    let auth_method = match opt_string(m, "token_endpoint_auth_method")?.as_deref() {
        None | Some("client_secret_basic") => AuthMethod::ClientSecretBasic,
        Some("client_secret_post") => AuthMethod::ClientSecretPost,
        Some("none") => AuthMethod::None,
        Some("private_key_jwt") => AuthMethod::PrivateKeyJwt,
        Some("client_secret_jwt") => AuthMethod::ClientSecretJwt,
        Some(other) => {
            return Err(metadata_error(format!(
                "token_endpoint_auth_method {other:?} is not supported; use client_secret_basic, client_secret_post, client_secret_jwt, private_key_jwt or none"
            )));
        }
    };
    let public = auth_method == AuthMethod::None;
    let mut grant_types = Vec::new();
    for g in string_list(m, "grant_types")?.unwrap_or_else(|| vec!["authorization_code".into()]) {
        let grant = match g.as_str() {
            "authorization_code" => GrantType::AuthorizationCode,
            "refresh_token" => GrantType::RefreshToken,
            // Self-registered clients get the code flow only: a stranger must not obtain access
            // tokens that resource servers trusting this issuer would accept.
            other => {
                return Err(metadata_error(format!(
                    "grant type {other:?} is not supported"
                )));
            }
        };
        if !grant_types.contains(&grant) {
            grant_types.push(grant);
        }
    }
    for rt in string_list(m, "response_types")?.unwrap_or_else(|| vec!["code".into()]) {
        if rt != "code" {
            return Err(metadata_error(format!(
                "response type {rt:?} is not supported (code flow only)"
            )));
        }
    }
    let redirect_uris = string_list(m, "redirect_uris")?.unwrap_or_default();
    if redirect_uris.is_empty() && grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(redirect_error(
            "redirect_uris is required for the authorization_code grant",
        ));
    }
    for uri in &redirect_uris {
        check_redirect_uri(uri, public).map_err(|e| redirect_error(format!("{uri:?} {e}")))?;
    }
    let post_logout_redirect_uris =
        string_list(m, "post_logout_redirect_uris")?.unwrap_or_default();
    for uri in &post_logout_redirect_uris {
        check_redirect_uri(uri, public).map_err(|e| redirect_error(format!("{uri:?} {e}")))?;
    }
    let scopes = match opt_string(m, "scope")? {
        Some(s) => {
            let list = scopes::parse(&s);
            if let Some(bad) = list
                .iter()
                .find(|s| !scopes::SUPPORTED.contains(&s.as_str()))
            {
                return Err(metadata_error(format!("scope {bad:?} is not supported")));
            }
            list
        }
        None => vec!["openid".into(), "profile".into(), "email".into()],
    };
    let id_token_alg = match opt_string(m, "id_token_signed_response_alg")? {
        None => SigningAlg::RS256,
        Some(a) => match SigningAlg::parse(&a) {
            Some(alg) if algorithms.contains(&alg) => alg,
            _ => {
                return Err(metadata_error(format!(
                    "id_token_signed_response_alg {a:?} is not supported"
                )));
            }
        },
    };
    let userinfo_signed_response_alg = match opt_string(m, "userinfo_signed_response_alg")? {
        None => None,
        Some(a) => match SigningAlg::parse(&a) {
            Some(alg) if algorithms.contains(&alg) => Some(alg),
            _ => {
                return Err(metadata_error(format!(
                    "userinfo_signed_response_alg {a:?} is not supported"
                )));
            }
        },
    };
    let sector_uri = web_url(m, "sector_identifier_uri")?;
    let pairwise_sector = match opt_string(m, "subject_type")?.as_deref() {
        None | Some("public") => None,
        Some("pairwise") => {
            if !pairwise.supported {
                return Err(metadata_error(
                    "pairwise subjects are not offered by this provider",
                ));
            }
            Some(sector_identifier(
                sector_uri.as_deref(),
                &redirect_uris,
                pairwise,
            )?)
        }
        Some(other) => {
            return Err(metadata_error(format!(
                "subject_type {other:?} is not supported"
            )));
        }
    };
    let jwks_uri = web_url(m, "jwks_uri")?;
    let backchannel_logout_uri = web_url(m, "backchannel_logout_uri")?;
    // Back-Channel Logout 1.0 2.2: same scheme, host and port as a registered redirect URI,
    // so a registration cannot aim logout POSTs at another host.
    if let Some(bcl) = &backchannel_logout_uri
        && !redirect_uris.iter().any(|r| same_origin(r, bcl))
    {
        return Err(metadata_error(
            "backchannel_logout_uri must have the scheme, host and port of a redirect URI",
        ));
    }
    let jwks = match m.get("jwks") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(o)) if o.get("keys").is_some_and(Value::is_array) => Some(v.clone()),
        Some(_) => return Err(metadata_error("jwks must be a JWK Set ({\"keys\": [...]})")),
    };
    // RFC 7591 2: jwks and jwks_uri MUST NOT both be present.
    if jwks.is_some() && jwks_uri.is_some() {
        return Err(metadata_error("use jwks or jwks_uri, not both"));
    }
    if auth_method == AuthMethod::PrivateKeyJwt && jwks.is_none() && jwks_uri.is_none() {
        return Err(metadata_error("private_key_jwt needs jwks or jwks_uri"));
    }
    let name = opt_string(m, "client_name")?
        .map(|n| n.trim().chars().take(100).collect::<String>())
        .filter(|n| !n.is_empty());
    Ok(Client {
        name: name.unwrap_or_else(|| client_id.clone()),
        client_id,
        secret_hash: None,
        redirect_uris,
        post_logout_redirect_uris,
        grant_types,
        auth_method,
        scopes,
        trusted: false,
        id_token_alg,
        require_pkce: false,
        require_mfa: false,
        backchannel_logout_uri,
        backchannel_logout_session_required: m
            .get("backchannel_logout_session_required")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        logo_uri: web_url(m, "logo_uri")?,
        policy_uri: web_url(m, "policy_uri")?,
        tos_uri: web_url(m, "tos_uri")?,
        jwks,
        jwks_uri,
        userinfo_signed_response_alg,
        pairwise_sector,
        secret_enc: None,
        registration_token_hash: None,
        managed_by: "registration".into(),
    })
}

/// OIDC Core 8.1: the host of `sector_identifier_uri`, whose document must list every
/// redirect URI; without one, the single host all redirect URIs share.
fn sector_identifier(
    sector_uri: Option<&str>,
    redirect_uris: &[String],
    pairwise: &Pairwise,
) -> Result<String, RegistrationError> {
    let host = |u: &str| {
        url::Url::parse(u)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
    };
    match sector_uri {
        Some(uri) => {
            let listed = match &pairwise.sector_document {
                Some(Ok(list)) => list,
                Some(Err(e)) => {
                    return Err(metadata_error(format!(
                        "sector_identifier_uri could not be used: {e}"
                    )));
                }
                None => return Err(metadata_error("sector_identifier_uri was not fetched")),
            };
            if let Some(missing) = redirect_uris.iter().find(|r| !listed.contains(r)) {
                return Err(metadata_error(format!(
                    "the sector_identifier_uri document does not list {missing:?}"
                )));
            }
            host(uri).ok_or_else(|| metadata_error("sector_identifier_uri has no host"))
        }
        None => {
            let hosts: Vec<String> = redirect_uris.iter().filter_map(|u| host(u)).collect();
            match hosts.first() {
                Some(h) if hosts.iter().all(|x| x == h) => Ok(h.clone()),
                _ => Err(metadata_error(
                    "pairwise redirect URIs on several hosts need a sector_identifier_uri",
                )),
            }
        }
    }
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
        assert_eq!(c.managed_by, "registration");
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
