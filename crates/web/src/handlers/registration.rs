//! `/register`: dynamic client registration (RFC 7591) and client read (RFC 7592 2.1).
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lanyard_core::oidc::registration::{Registered, metadata_json};
use lanyard_core::secret::ct_eq;
use serde_json::Value;

use crate::error::{JsonError, invalid_token_json, json_error, no_store};
use crate::input::{ClientIp, bearer_header};
use crate::state::{AppState, Registration};

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
    let meta = match admit(&s, ip.as_deref(), &headers).and_then(|()| metadata(&headers, &body)) {
        Ok(meta) => meta,
        Err(refusal) => return refusal.response(),
    };
    match s.provider.register_client(&meta, ip.as_deref()).await {
        Ok(Ok(reg)) => created(&s, reg),
        Ok(Err(e)) => json_error(StatusCode::BAD_REQUEST, e.error, &e.description),
        Err(e) => JsonError::from(e).into_response(),
    }
}

/// Who may register: a budget per client address (open registration is a public form), and
/// the initial access token when one is configured (RFC 7591 3).
fn admit(s: &AppState, ip: Option<&str>, headers: &HeaderMap) -> Result<(), Refusal> {
    let key = format!("register:{}", ip.unwrap_or("unknown"));
    if s.registration_limiter
        .check(&key, std::time::Instant::now())
        .is_err()
    {
        return Err(Refusal::Error(
            StatusCode::TOO_MANY_REQUESTS,
            "temporarily_unavailable",
            "too many registrations from this address; try again later",
        ));
    }
    match &s.config.registration {
        Registration::Token(expected) => match bearer_header(headers) {
            Some(t) if ct_eq(t.as_bytes(), expected.expose().as_bytes()) => Ok(()),
            _ => Err(Refusal::InvalidToken),
        },
        Registration::Off | Registration::Open => Ok(()),
    }
}

/// A registration refused before core saw it.
enum Refusal {
    Error(StatusCode, &'static str, &'static str),
    /// RFC 6750 3.1: the initial access token is missing or wrong.
    InvalidToken,
}

impl Refusal {
    fn response(self) -> Response {
        match self {
            Self::Error(status, error, description) => json_error(status, error, description),
            Self::InvalidToken => invalid_token_json(),
        }
    }
}

/// The registration document: JSON, and not oversized (RFC 7591 3.2.2: that is bad metadata;
/// the route allows up to 256 KB so that this answer, not a bare 413, is what a client sees).
fn metadata(headers: &HeaderMap, body: &Bytes) -> Result<Value, Refusal> {
    let bad = |description| {
        Refusal::Error(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            description,
        )
    };
    if body.len() > crate::input::MAX_BODY {
        return Err(bad("the registration document is too large"));
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(bad("the request body must be application/json"));
    }
    serde_json::from_slice::<Value>(body).map_err(|_| bad("the request body is not valid JSON"))
}

/// RFC 7591 3.2.1: the client's metadata with its credentials, shown this once.
fn created(s: &AppState, reg: Registered) -> Response {
    let uri = format!("{}/register/{}", s.provider.issuer(), reg.client.client_id);
    let mut body = metadata_json(&reg.client, &uri);
    if let Some(o) = body.as_object_mut() {
        let issued_at = s.provider.now().timestamp();
        o.insert("client_id_issued_at".into(), issued_at.into());
        if let Some(secret) = reg.client_secret {
            o.insert("client_secret".into(), secret.into());
            // 0 means the secret does not expire.
            o.insert("client_secret_expires_at".into(), 0.into());
        }
        let token = reg.registration_access_token;
        o.insert("registration_access_token".into(), token.into());
    }
    no_store((StatusCode::CREATED, Json(body)).into_response())
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
    let Some(token) = bearer_header(&headers) else {
        return invalid_token_json();
    };
    // The registration access token is a client credential: core applies the same failure
    // budget as to client authentication.
    match s
        .provider
        .registered_client(&client_id, token, ip.as_deref())
        .await
    {
        Ok(Some(client)) => {
            let uri = format!("{}/register/{}", s.provider.issuer(), client.client_id);
            no_store(Json(metadata_json(&client, &uri)).into_response())
        }
        // RFC 7592 2.1: an unknown client or a wrong token is 401 invalid_token alike.
        Ok(None) => invalid_token_json(),
        Err(e) => JsonError::from(e).into_response(),
    }
}
