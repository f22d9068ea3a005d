//! Answering the client at its redirect URI (RFC 6749 4.1.2): as query parameters, or as an
//! auto-submitting form (OAuth 2.0 Form Post Response Mode).
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lanyard_core::oidc::authorize::{RedirectTarget, ResponseMode};
use lanyard_core::oidc::error::OAuthError;
use lanyard_core::oidc::params::with_query;

use super::see_other;
use crate::pages::{Field, FormPostPage, LeavePage};
use crate::state::AppState;

/// Send an error to a validated redirect URI (RFC 6749 4.1.2.1). When the redirect URI belongs
/// to a self-registered client and the user has not acted on a page of ours, the error is shown
/// first, with a link to the destination (RFC 9700 4.11.2: no open redirector).
pub fn respond_error(
    s: &AppState,
    target: &RedirectTarget,
    err: &OAuthError,
    user_acted: bool,
) -> Response {
    let params = s.provider.error_params(target, err);
    if !target.confirm_before(user_acted) {
        return respond_to_client(s, target, params);
    }
    let form_post = target.response_mode == ResponseMode::FormPost;
    let page = LeavePage {
        reason: err.description.to_string(),
        host: host_of(&target.redirect_uri),
        url: if form_post {
            target.redirect_uri.clone()
        } else {
            with_query(&target.redirect_uri, &params)
        },
        form_post,
        params: Field::list(params),
    };
    s.templates
        .page(StatusCode::BAD_REQUEST, &page, "", None)
        .unwrap_or_else(IntoResponse::into_response)
}

/// The host a user is about to be sent to, as they would read it in the address bar.
pub fn host_of(uri: &str) -> String {
    url::Url::parse(uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| uri.to_string())
}

/// Send the authorization response to a validated redirect URI.
pub fn respond_to_client(
    s: &AppState,
    target: &RedirectTarget,
    params: Vec<(String, String)>,
) -> Response {
    match target.response_mode {
        ResponseMode::Query => see_other(&with_query(&target.redirect_uri, &params)),
        ResponseMode::FormPost => {
            let page = FormPostPage {
                redirect_uri: target.redirect_uri.clone(),
                params: Field::list(params),
            };
            match s.templates.page(StatusCode::OK, &page, "", None) {
                Ok(mut res) => {
                    res.headers_mut()
                        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                    res
                }
                Err(e) => e.into_response(),
            }
        }
    }
}
