//! Token-style JSON endpoints: `/token`, `/userinfo`, `/introspect`, `/revoke`.
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use lanyard_core::oidc::client_auth;
use lanyard_core::oidc::client_auth::ClientCredentials;
use lanyard_core::oidc::error::{ErrorKind, OAuthError};
use lanyard_core::oidc::token::{BearerError, UserinfoResponse};

use crate::error::{JsonError, WebError, too_many_json};
use crate::input::{ClientIp, Input, client_credentials};
use crate::state::AppState;

pub(crate) fn no_store(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

async fn authenticated_client(
    s: &AppState,
    input: &Input,
    ip: Option<&str>,
) -> Result<lanyard_core::model::Client, JsonError> {
    let creds = client_credentials(&input.headers, &input.params).map_err(WebError::OAuth)?;
    authenticate(s, &creds, ip).await
}

/// Client authentication for the token-style endpoints, behind the failure budget of the
/// client id and the address (`Provider::client_gate`): checked before the credentials are,
/// and every failed authentication counted, on every replica.
async fn authenticate(
    s: &AppState,
    creds: &ClientCredentials,
    ip: Option<&str>,
) -> Result<lanyard_core::model::Client, JsonError> {
    let gate = match s.provider.client_gate(creds.client_id(), ip).await? {
        Ok(gate) => gate,
        Err(until) => {
            s.metrics.event("client_auth", "throttled");
            return Err(WebError::too_many_until(until, s.provider.now()).into());
        }
    };
    match verify_client(s, creds).await {
        Err(JsonError(WebError::OAuth(e))) if e.kind == ErrorKind::InvalidClient => {
            s.provider.client_auth_failed(gate, ip).await?;
            Err(WebError::OAuth(e).into())
        }
        other => other,
    }
}

/// The credentials themselves. `private_key_jwt` is checked here, where the client's
/// `jwks_uri` can be fetched; the secret methods in core.
async fn verify_client(
    s: &AppState,
    creds: &ClientCredentials,
) -> Result<lanyard_core::model::Client, JsonError> {
    let ClientCredentials::Assertion {
        client_id,
        assertion,
    } = creds
    else {
        return Ok(s.provider.authenticate_client(creds).await?);
    };
    let invalid = || JsonError::from(WebError::OAuth(OAuthError::invalid_client()));
    let client = s
        .provider
        .store
        .get_client(client_id)
        .await
        .map_err(|e| JsonError::from(lanyard_core::oidc::error::ProviderError::from(e)))?
        .filter(|c| {
            matches!(
                c.auth_method,
                lanyard_core::model::AuthMethod::PrivateKeyJwt
                    | lanyard_core::model::AuthMethod::ClientSecretJwt
            )
        })
        .ok_or_else(invalid)?;
    let issuer = &s.provider.config.issuer;
    // RFC 7523 3: aud is the token endpoint; OIDC Core 9 also allows the issuer.
    let audiences = [format!("{issuer}/token"), issuer.clone()];
    let now = s.provider.now();
    let verify = |jwks: &serde_json::Value| {
        client_auth::verify_assertion(
            assertion,
            &client,
            client_auth::AssertionKey::Jwks(jwks),
            &audiences,
            now,
        )
    };
    let secret = s.provider.client_secret_for_jwt(&client);
    let verified = match (&client.jwks, &client.jwks_uri) {
        _ if client.auth_method == lanyard_core::model::AuthMethod::ClientSecretJwt => {
            let secret = secret.ok_or_else(invalid)?;
            client_auth::verify_assertion(
                assertion,
                &client,
                client_auth::AssertionKey::Secret(&secret),
                &audiences,
                now,
            )
            .map_err(|_| invalid())?
        }
        (Some(jwks), _) => verify(jwks).map_err(|_| invalid())?,
        (None, Some(uri)) => {
            let jwks = s.fetcher.jwks(uri).await.map_err(|_| invalid())?;
            match verify(&jwks) {
                Ok(v) => v,
                // The client may have rotated its keys: when the signature is what failed, fetch
                // once more (at most once a minute per URI).
                Err(_)
                    if lanyard_core::oidc::jws::verify(assertion, &jwks).is_none()
                        && s.fetcher.forget(uri) =>
                {
                    let jwks = s.fetcher.jwks(uri).await.map_err(|_| invalid())?;
                    verify(&jwks).map_err(|_| invalid())?
                }
                Err(_) => return Err(invalid()),
            }
        }
        (None, None) => return Err(invalid()),
    };
    // RFC 7523 3 (7): a jti is accepted once.
    let fresh = s
        .provider
        .store
        .remember_assertion(
            &client.client_id,
            &lanyard_core::secret::sha256(verified.jti.as_bytes()),
            verified.expires_at,
        )
        .await
        .map_err(|e| JsonError::from(lanyard_core::oidc::error::ProviderError::from(e)))?;
    if !fresh {
        return Err(invalid());
    }
    Ok(client)
}

/// RFC 6749 3.2. POST only, form-encoded, responses never cached (5.1).
pub async fn token(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    input: Input,
) -> Result<Response, JsonError> {
    let client = authenticated_client(&s, &input, ip.as_deref()).await?;
    if let Err(wait) = s
        .token_limiter
        .check(&client.client_id, std::time::Instant::now())
    {
        s.metrics.event("token", "rate_limited");
        return Ok(too_many_json(wait));
    }
    let grant = input.params.get("grant_type").unwrap_or("").to_string();
    let res = s.provider.token(&client, &input.params).await;
    s.metrics
        .event("token", if res.is_ok() { grant.as_str() } else { "error" });
    Ok(no_store(Json(res?).into_response()))
}

/// RFC 6750 2.1 (header) or 2.2 (form body); the query form (2.3) is not accepted.
fn bearer_token(
    method: &Method,
    headers: &HeaderMap,
    body_token: Option<&str>,
) -> Result<Option<String>, WebError> {
    let header_token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim().to_string())
        });
    match (header_token, body_token) {
        (Some(_), Some(_)) => Err(WebError::OAuth(OAuthError::invalid_request(
            "use one way of sending the access token",
        ))),
        (Some(t), None) => Ok(Some(t)),
        (None, Some(t)) if method == Method::POST => Ok(Some(t.to_string())),
        _ => Ok(None),
    }
}

pub async fn userinfo(State(s): State<AppState>, input: Input) -> Result<Response, JsonError> {
    let token = bearer_token(
        &input.method,
        &input.headers,
        input.params.get("access_token"),
    )?;
    let Some(token) = token else {
        // RFC 6750 3.1: no credentials → 401 with a bare challenge.
        let mut res = axum::http::StatusCode::UNAUTHORIZED.into_response();
        res.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return Ok(res);
    };
    match s.provider.userinfo_response(&token).await {
        Ok(UserinfoResponse::Json(claims)) => Ok(no_store(Json(claims).into_response())),
        Ok(UserinfoResponse::Jwt(jwt)) => {
            let mut res = jwt.into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jwt"),
            );
            Ok(no_store(res))
        }
        Err(BearerError::Unavailable) => Err(WebError::Unavailable("userinfo".into()).into()),
        Err(e) => Err(WebError::Bearer(e).into()),
    }
}

/// RFC 7662.
pub async fn introspect(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    input: Input,
) -> Result<Response, JsonError> {
    let client = authenticated_client(&s, &input, ip.as_deref()).await?;
    let body = s.provider.introspect(&client, &input.params).await?;
    Ok(no_store(Json(body).into_response()))
}

/// RFC 7009: 200 with an empty body whether or not the token was known.
pub async fn revoke(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    input: Input,
) -> Result<Response, JsonError> {
    let client = authenticated_client(&s, &input, ip.as_deref()).await?;
    s.provider.revoke(&client, &input.params).await?;
    Ok(no_store(axum::http::StatusCode::OK.into_response()))
}
