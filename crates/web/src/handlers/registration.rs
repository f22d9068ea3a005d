//! `/register`: dynamic client registration (RFC 7591) and client read (RFC 7592 2.1).
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lanyard_core::oidc::registration::metadata_json;
use lanyard_core::secret::ct_eq;
use serde_json::{Value, json};

use super::token::no_store;
use crate::error::WebError;
use crate::input::ClientIp;
use crate::state::{AppState, Registration};

fn error(status: StatusCode, error: &str, description: &str) -> Response {
    no_store(
        (
            status,
            Json(json!({ "error": error, "error_description": description })),
        )
            .into_response(),
    )
}

/// RFC 6750 2.1 bearer token from the Authorization header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn invalid_token() -> Response {
    let mut res = error(
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "a valid access token is required",
    );
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    res
}

/// POST /register (RFC 7591 3.1).
pub async fn register(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if matches!(s.config.registration, Registration::Off) {
        return StatusCode::NOT_FOUND.into_response();
    }
    // Open registration is a public form: a budget per client address.
    let key = format!("register:{}", ip.as_deref().unwrap_or("unknown"));
    if s.registration_limiter
        .check(&key, std::time::Instant::now())
        .is_err()
    {
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "temporarily_unavailable",
            "too many registrations from this address; try again later",
        );
    }
    // RFC 7591 3.2.2: an oversized document is bad metadata (the route allows up to 256 KB so
    // that this answer, not a bare 413, is what such a client sees).
    if body.len() > crate::input::MAX_BODY {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            "the registration document is too large",
        );
    }
    match &s.config.registration {
        Registration::Off | Registration::Open => {}
        // RFC 7591 3: an initial access token protects the endpoint.
        Registration::Token(expected) => match bearer(&headers) {
            Some(t) if ct_eq(t.as_bytes(), expected.expose().as_bytes()) => {}
            _ => return invalid_token(),
        },
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        });
    if !is_json {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            "the request body must be application/json",
        );
    }
    let Ok(meta) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            "the request body is not valid JSON",
        );
    };
    // OIDC Core 8.1: the sector document is fetched here (SSRF-checked), validated in core.
    let pairwise = meta.get("subject_type").and_then(Value::as_str) == Some("pairwise");
    let sector_document = match meta
        .get("sector_identifier_uri")
        .and_then(Value::as_str)
        .filter(|_| pairwise)
    {
        Some(uri) => Some(match s.fetcher.get_text(uri).await {
            Ok(text) => serde_json::from_str::<Vec<String>>(&text)
                .map_err(|_| "the document is not a JSON array of URIs".to_string()),
            Err(e) => Err(e),
        }),
        None => None,
    };
    match s
        .provider
        .register_client(&meta, sector_document, ip.as_deref())
        .await
    {
        Ok(Ok(reg)) => {
            let uri = format!(
                "{}/register/{}",
                s.provider.config.issuer, reg.client.client_id
            );
            let mut body = metadata_json(&reg.client, &uri);
            if let Some(o) = body.as_object_mut() {
                o.insert(
                    "client_id_issued_at".into(),
                    s.provider.now().timestamp().into(),
                );
                if let Some(secret) = reg.client_secret {
                    o.insert("client_secret".into(), secret.into());
                    // RFC 7591 3.2.1: 0 means the secret does not expire.
                    o.insert("client_secret_expires_at".into(), 0.into());
                }
                o.insert(
                    "registration_access_token".into(),
                    reg.registration_access_token.into(),
                );
            }
            no_store((StatusCode::CREATED, Json(body)).into_response())
        }
        Ok(Err(e)) => error(StatusCode::BAD_REQUEST, e.error, &e.description),
        Err(e) => crate::error::JsonError::from(e).into_response(),
    }
}

/// GET /register/{client_id} (RFC 7592 2.1) with the registration access token.
pub async fn read(
    State(s): State<AppState>,
    Path(client_id): Path<String>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> Response {
    if matches!(s.config.registration, Registration::Off) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Some(token) = bearer(&headers) else {
        return invalid_token();
    };
    // The registration access token is a client credential: the same failure budget applies.
    let gate = match s.provider.client_gate(&client_id, ip.as_deref()).await {
        Ok(Ok(gate)) => gate,
        Ok(Err(until)) => {
            return crate::error::JsonError::from(WebError::too_many_until(
                until,
                s.provider.now(),
            ))
            .into_response();
        }
        Err(e) => return crate::error::JsonError::from(e).into_response(),
    };
    match s.provider.registered_client(&client_id, token).await {
        Ok(Some(client)) => {
            let uri = format!("{}/register/{}", s.provider.config.issuer, client.client_id);
            no_store(Json(metadata_json(&client, &uri)).into_response())
        }
        // RFC 7592 2.1: an unknown client or a wrong token is 401 invalid_token alike.
        Ok(None) => match s.provider.client_auth_failed(gate, ip.as_deref()).await {
            Ok(()) => invalid_token(),
            Err(e) => crate::error::JsonError::from(e).into_response(),
        },
        Err(e) => crate::error::JsonError::from(e).into_response(),
    }
}
