//! Reading request parameters: query strings and form bodies become `Params` (duplicates and
//! oversized values flagged, RFC 6749 3.1), client credentials are read per RFC 6749 2.3.1.
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use base64::Engine;
use lanyard_core::oidc::client_auth::ClientCredentials;
use lanyard_core::oidc::error::OAuthError;
use lanyard_core::oidc::params::Params;
use lanyard_core::secret::Secret;
use std::net::SocketAddr;

use crate::error::WebError;

/// Largest form body accepted anywhere.
pub const MAX_BODY: usize = 64 * 1024;

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

pub fn decode_pairs(raw: &[u8]) -> Result<Vec<(String, String)>, OAuthError> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(raw)
        .map_err(|_| OAuthError::invalid_request("the parameters are not valid form encoding"))
}

/// Parameters from the query (GET) or the form body (POST). A POST body that is not form
/// encoded is an `invalid_request`.
pub struct Input {
    pub params: Params,
    pub method: Method,
    pub headers: HeaderMap,
}

impl<S: Send + Sync> FromRequest<S> for Input {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let method = req.method().clone();
        let headers = req.headers().clone();
        let pairs = if method == Method::POST {
            let has_type = headers.contains_key(header::CONTENT_TYPE);
            if has_type && !is_form(&headers) {
                return Err(WebError::OAuth(OAuthError::invalid_request(
                    "the body must be application/x-www-form-urlencoded",
                )));
            }
            let body = Bytes::from_request(req, state).await.map_err(|_| {
                WebError::OAuth(OAuthError::invalid_request(
                    "the request body is too large or unreadable",
                ))
            })?;
            // A POST without a body (userinfo with the token in the Authorization header,
            // RFC 6750 2.1) has no parameters; a body needs the form content type.
            if !has_type && !body.is_empty() {
                return Err(WebError::OAuth(OAuthError::invalid_request(
                    "the body must be application/x-www-form-urlencoded",
                )));
            }
            decode_pairs(&body).map_err(WebError::OAuth)?
        } else {
            decode_pairs(req.uri().query().unwrap_or("").as_bytes()).map_err(WebError::OAuth)?
        };
        Ok(Self {
            params: Params::from_pairs(pairs),
            method,
            headers,
        })
    }
}

/// RFC 6749 2.3.1: HTTP Basic with the client id and secret form-urlencoded first, or the
/// `client_id`/`client_secret` body parameters — never both; or a signed assertion (RFC 7523).
pub fn client_credentials(
    headers: &HeaderMap,
    params: &Params,
) -> Result<ClientCredentials, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then(|| rest.trim())
        });
    let several =
        || OAuthError::invalid_request("use one client authentication method, not several");
    if params.get("client_assertion_type").is_some() {
        if basic.is_some() || params.get("client_secret").is_some() {
            return Err(several());
        }
        return assertion_credentials(params);
    }
    if let Some(b64) = basic {
        if params.get("client_secret").is_some() {
            return Err(several());
        }
        return basic_credentials(b64, params);
    }
    body_credentials(params)
}

/// RFC 7523 2.2: `client_assertion` of the JWT bearer type; its `sub` names the client.
fn assertion_credentials(params: &Params) -> Result<ClientCredentials, OAuthError> {
    if params.get("client_assertion_type") != Some(lanyard_core::oidc::client_auth::ASSERTION_TYPE)
    {
        return Err(OAuthError::invalid_client());
    }
    let assertion = params
        .get("client_assertion")
        .ok_or_else(|| OAuthError::invalid_request("client_assertion is required"))?;
    let claimed = lanyard_core::oidc::client_auth::claimed_client_id(assertion)
        .ok_or_else(OAuthError::invalid_client)?;
    if params.get("client_id").is_some_and(|id| id != claimed) {
        return Err(OAuthError::invalid_client());
    }
    Ok(ClientCredentials::Assertion {
        client_id: claimed,
        assertion: assertion.to_string(),
    })
}

/// HTTP Basic: `base64(urlencode(id) ":" urlencode(secret))`.
fn basic_credentials(b64: &str, params: &Params) -> Result<ClientCredentials, OAuthError> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| OAuthError::invalid_client())?;
    let decoded = String::from_utf8(decoded).map_err(|_| OAuthError::invalid_client())?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(OAuthError::invalid_client)?;
    let id = url_decode(id).ok_or_else(OAuthError::invalid_client)?;
    let secret = url_decode(secret).ok_or_else(OAuthError::invalid_client)?;
    if params.get("client_id").is_some_and(|body_id| body_id != id) {
        return Err(OAuthError::invalid_request(
            "client_id in the body differs from the Authorization header",
        ));
    }
    Ok(ClientCredentials::Secret {
        client_id: id,
        secret: Secret::new(secret),
    })
}

/// `client_id` and `client_secret` in the body, or a public client's `client_id` alone.
fn body_credentials(params: &Params) -> Result<ClientCredentials, OAuthError> {
    if params.is_duplicated("client_id") || params.is_duplicated("client_secret") {
        return Err(OAuthError::invalid_request(
            "client credentials are included more than once",
        ));
    }
    match (params.get("client_id"), params.get("client_secret")) {
        (Some(id), Some(secret)) => Ok(ClientCredentials::Secret {
            client_id: id.to_string(),
            secret: Secret::new(secret.to_string()),
        }),
        (Some(id), None) => Ok(ClientCredentials::Public {
            client_id: id.to_string(),
        }),
        _ => Err(OAuthError::invalid_client()),
    }
}

/// application/x-www-form-urlencoded decoding of one component ('+' is a space).
fn url_decode(s: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&format!("v={s}")).ok()?;
    Some(pairs.into_iter().next().map(|(_, v)| v).unwrap_or_default())
}

/// RFC 6750 2.1: the bearer token of an `Authorization: Bearer ...` header (the scheme is
/// case-insensitive, RFC 9110 11.1).
pub fn bearer_header(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The client's IP address as seen on the socket.
pub struct ClientIp(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn basic(id: &str, secret: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {v}")).unwrap(),
        );
        h
    }

    #[test]
    fn basic_credentials_are_form_url_decoded() {
        // RFC 6749 2.3.1: "%3A" in the secret is a colon, "+" a space.
        let creds =
            client_credentials(&basic("my%20app", "s%3Aec+ret"), &Params::default()).unwrap();
        match creds {
            ClientCredentials::Secret { client_id, secret } => {
                assert_eq!(client_id, "my app");
                assert_eq!(secret.expose(), "s:ec ret");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn two_methods_at_once_are_refused() {
        let p = Params::from_pairs(vec![("client_secret".into(), "x".into())]);
        assert_eq!(
            client_credentials(&basic("a", "b"), &p)
                .unwrap_err()
                .kind
                .as_str(),
            "invalid_request"
        );
    }

    #[test]
    fn no_credentials_is_invalid_client() {
        assert_eq!(
            client_credentials(&HeaderMap::new(), &Params::default())
                .unwrap_err()
                .kind
                .as_str(),
            "invalid_client"
        );
    }
}
