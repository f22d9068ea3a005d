//! Token-style JSON endpoints: `/token`, `/userinfo`, `/introspect`, `/revoke`.
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use lanyard_core::model::Client;
use lanyard_core::oidc::error::{OAuthError, ProviderError};
use lanyard_core::oidc::token::{BearerError, UserinfoResponse};

use crate::error::{JsonError, WebError, no_store, too_many_json};
use crate::input::{ClientIp, Input, bearer_header, client_credentials};
use crate::state::AppState;

/// Client authentication (RFC 6749 2.3) with the credentials the request carries.
async fn authenticated_client(
    s: &AppState,
    input: &Input,
    ip: Option<&str>,
) -> Result<Client, JsonError> {
    let creds = client_credentials(&input.headers, &input.params).map_err(WebError::OAuth)?;
    match s.provider.authenticate_client(&creds, ip).await {
        Err(ProviderError::Throttled { retry_after }) => {
            s.metrics.event("client_auth", "throttled");
            Err(WebError::TooManyRequests(retry_after).into())
        }
        other => Ok(other?),
    }
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
    let res = s.provider.token(&client, &input.params).await;
    let error = match &res {
        Ok(_) => "",
        Err(ProviderError::OAuth(e)) => e.kind.as_str(),
        Err(ProviderError::Busy { .. } | ProviderError::Store(_)) => "temporarily_unavailable",
        Err(_) => "server_error",
    };
    let grant_type = input.params.get("grant_type").unwrap_or("");
    s.metrics.token(grant_type, error);
    Ok(no_store(Json(res?).into_response()))
}

/// RFC 6750 2.1 (header) or 2.2 (form body); the query form (2.3) is not accepted.
fn bearer_token(
    method: &Method,
    headers: &HeaderMap,
    body_token: Option<&str>,
) -> Result<Option<String>, WebError> {
    let header_token = bearer_header(headers).map(str::to_string);
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
