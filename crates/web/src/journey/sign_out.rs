//! Ending a browser session (RP-Initiated Logout 1.0, or the user's own "sign out"): the
//! back-channel notices, the upstream's logout when the session came from one, and where the
//! browser goes afterwards.
use axum::http::StatusCode;
use axum::response::Response;
use lanyard_core::authn::Authenticated;
use lanyard_core::oidc::logout::EndSession;
use lanyard_core::oidc::params::with_query;

use super::{host_of, see_other};
use crate::error::WebError;
use crate::pages::LoggedOutPage;
use crate::sessions::{AfterLogout, Browser};
use crate::state::AppState;

/// Sign this browser out of `auth`'s session. Every client the session signed in to is told by
/// back-channel logout (a failure there is logged and must not keep the user signed in). Returns
/// the upstream's logout URL when the session came from an upstream with `logout_upstream`.
pub async fn sign_out(
    s: &AppState,
    browser: &Browser,
    auth: &Authenticated,
    req: Option<&EndSession>,
) -> Result<Option<String>, WebError> {
    let upstream_logout = match &auth.upstream {
        Some(up) => upstream_logout_url(s, browser, up).await?,
        None => None,
    };
    match s.provider.session_logged_out(auth, req).await {
        Ok(deliveries) => s.backchannel.send(deliveries),
        Err(e) => tracing::warn!(error = %e, "back-channel logout tokens not built"),
    }
    browser.logout().await?;
    Ok(upstream_logout)
}

/// The upstream's end_session_endpoint with our return address, and the upstream's ID token as
/// `id_token_hint` (some upstreams require it).
async fn upstream_logout_url(
    s: &AppState,
    browser: &Browser,
    upstream: &str,
) -> Result<Option<String>, WebError> {
    let Some(up) = s.provider.upstream(upstream).filter(|u| u.logout_upstream) else {
        return Ok(None);
    };
    let Some(endpoint) = s.upstreams.end_session_endpoint(up).await else {
        return Ok(None);
    };
    let back = format!("{}/federation/{}/logged-out", s.provider.issuer(), up.name);
    let mut params = vec![
        ("client_id".to_string(), up.client_id.clone()),
        ("post_logout_redirect_uri".to_string(), back),
    ];
    if let Some(hint) = browser.upstream_id_token(&s.provider).await? {
        params.push(("id_token_hint".to_string(), hint));
    }
    Ok(Some(with_query(&endpoint, &params)))
}

/// Where a finished logout goes: the validated target (directly, or after showing it), or the
/// signed-out page.
pub fn leave_after_logout(s: &AppState, target: Option<AfterLogout>) -> Result<Response, WebError> {
    if let Some(t) = &target
        && !t.confirm
    {
        return Ok(see_other(&t.url));
    }
    let return_url = target.map(|t| t.url);
    let page = LoggedOutPage {
        message: "You have been signed out.",
        return_host: return_url.as_deref().map(host_of),
        return_url,
    };
    s.templates.page(StatusCode::OK, &page, "", None)
}
