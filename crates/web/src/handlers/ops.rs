//! Operations endpoints and static assets.
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lanyard_core::secret::ct_eq;

use crate::error::WebError;
use crate::input::bearer_header;
use crate::sessions::Browser;
use crate::state::AppState;

/// Alive: the process answers.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready: the database answers.
pub async fn readyz(State(s): State<AppState>) -> Response {
    match s.provider.ready().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

/// `/metrics` on the public listener: only with `[metrics] token`, to that bearer token (the
/// numbers describe the service's users and load; they are not for everyone).
pub async fn public_metrics(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let Some(expected) = &s.config.metrics_token else {
        return crate::router::not_found().await;
    };
    let presented = bearer_header(&headers).unwrap_or("");
    if ct_eq(presented.as_bytes(), expected.expose().as_bytes()) {
        return metrics(State(s)).await;
    }
    let mut res = StatusCode::UNAUTHORIZED.into_response();
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"metrics\""),
    );
    res
}

/// Prometheus text format; on the `[metrics] listen` listener without a token.
pub async fn metrics(State(s): State<AppState>) -> Response {
    let mut res = s.metrics.render(&s).await.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    res
}

/// Extends the rolling idle timeout of an active session (204), or says there is none (401).
pub async fn keepalive(State(s): State<AppState>, browser: Browser) -> Result<Response, WebError> {
    match browser
        .auth(s.provider.now(), s.config.absolute_lifetime)
        .await?
    {
        Some(_) => {
            browser.touch(s.provider.now()).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        None => Ok(StatusCode::UNAUTHORIZED.into_response()),
    }
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    res
}

pub async fn css() -> Response {
    asset(
        include_str!("../../static/lanyard.css"),
        "text/css; charset=utf-8",
    )
}

pub async fn passkeys_js() -> Response {
    asset(
        include_str!("../../static/passkeys.js"),
        "text/javascript; charset=utf-8",
    )
}

pub async fn form_post_js() -> Response {
    asset(
        include_str!("../../static/form_post.js"),
        "text/javascript; charset=utf-8",
    )
}
