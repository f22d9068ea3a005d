//! HTTP handlers. Each extracts input, calls one `Provider` operation and maps the result.
pub mod account;
pub mod authorize;
pub mod federation;
pub mod login;
pub mod logout;
pub mod mfa;
pub mod ops;
pub mod registration;
pub mod token;
pub mod wellknown;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lanyard_core::authn::Authenticated;

use crate::error::WebError;
use crate::state::AppState;
use crate::templates::CurrentUser;

/// 303 See Other: after a POST the browser follows with a GET (RFC 9700 4.12). Registered
/// redirect URIs cannot contain what a header cannot carry; should an older row hold one, the
/// user gets a page saying so rather than a 500.
pub fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => {
            let mut res = StatusCode::SEE_OTHER.into_response();
            res.headers_mut().insert(header::LOCATION, v);
            res
        }
        Err(_) => WebError::page(
            StatusCode::BAD_REQUEST,
            "This address can't be opened",
            "The address to continue to is not valid, so you were not sent there.",
        )
        .into_response(),
    }
}

/// `base` with `params` appended to its query (form-urlencoded).
pub fn with_query(base: &str, params: &[(String, String)]) -> String {
    let encoded = serde_urlencoded::to_string(params).unwrap_or_default();
    if encoded.is_empty() {
        return base.to_string();
    }
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{encoded}")
}

/// The header's view of the signed-in user.
pub async fn current_user(
    s: &AppState,
    auth: Option<&Authenticated>,
) -> Result<Option<CurrentUser>, WebError> {
    let Some(auth) = auth else { return Ok(None) };
    let user = s
        .provider
        .store
        .get_user(auth.user_id)
        .await
        .map_err(|e| WebError::from_provider_page(e.into()))?;
    Ok(user.map(|u| CurrentUser {
        display_name: u.name.clone().unwrap_or_else(|| u.username.clone()),
        username: u.username,
    }))
}
