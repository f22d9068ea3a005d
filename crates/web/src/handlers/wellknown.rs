//! Discovery and JWKS: prebuilt bytes with a cache lifetime (DESIGN §9).
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

fn json_bytes(bytes: std::sync::Arc<[u8]>, max_age: i64) -> Response {
    let mut res = axum::body::Body::from(bytes.to_vec()).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    res
}

pub async fn discovery(State(s): State<AppState>) -> Response {
    json_bytes(s.provider.discovery(), s.config.jwks_max_age.num_seconds())
}

pub async fn jwks(State(s): State<AppState>) -> Response {
    json_bytes(s.provider.jwks(), s.config.jwks_max_age.num_seconds())
}
