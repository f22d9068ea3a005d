//! RP-Initiated Logout 1.0 (`end_session_endpoint`). The request's rules are core's
//! (`Provider::end_session_request`); this handler asks the user to confirm when the request
//! does not name them, signs the browser out, and sends it on.
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use lanyard_core::authn::Authenticated;
use lanyard_core::oidc::logout::EndSession;
use lanyard_core::oidc::params::Params;

use crate::error::WebError;
use crate::input::Input;
use crate::journey::{current_user, leave_after_logout, see_other, sign_out};
use crate::pages::{ClientRef, Field, LogoutPage};
use crate::sessions::{AfterLogout, Browser};
use crate::state::AppState;

pub async fn logout(
    State(s): State<AppState>,
    browser: Browser,
    input: Input,
) -> Result<Response, WebError> {
    let p = &input.params;
    let req = s
        .provider
        .end_session_request(p)
        .await?
        .map_err(WebError::bad_request)?;
    let auth = browser
        .auth(s.provider.now(), s.config.absolute_lifetime)
        .await?;
    let post = input.method == Method::POST;
    let confirmed = post && p.get("confirm") == Some("yes");
    if confirmed {
        browser.check_csrf(p.get("csrf_token")).await?;
    }
    if let Some(a) = &auth
        && !confirmed
        && s.provider.logout_needs_confirmation(&req, a)
    {
        if post && p.get("confirm") == Some("no") {
            return Ok(see_other("/account"));
        }
        return confirm_page(&s, &browser, &req, p, a).await;
    }
    let upstream_logout = match &auth {
        Some(a) => sign_out(&s, &browser, a, Some(&req)).await?,
        None => None,
    };
    // A self-registered client's address is shown before the browser goes there (RFC 9700
    // 4.11.2), as for authorization errors.
    let target = req.return_to.map(|url| AfterLogout {
        url,
        confirm: req.confirm_destination,
    });
    // The session came from an upstream with logout_upstream: sign out there too, then come
    // back (/federation/{name}/logged-out) and continue to the validated target.
    if let Some(upstream_url) = upstream_logout {
        if let Some(t) = &target {
            browser.set_after_logout(t).await?;
        }
        return Ok(see_other(&upstream_url));
    }
    leave_after_logout(&s, target)
}

/// "Sign out of <app>?": the request's parameters travel through the confirmation form.
async fn confirm_page(
    s: &AppState,
    browser: &Browser,
    req: &EndSession,
    p: &Params,
    auth: &Authenticated,
) -> Result<Response, WebError> {
    let keys = [
        "id_token_hint",
        "post_logout_redirect_uri",
        "state",
        "client_id",
    ];
    let hidden = keys
        .iter()
        .filter_map(|k| p.get(k).map(|v| (k.to_string(), v.to_string())))
        .collect();
    let page = LogoutPage {
        client: req.client.as_ref().map(ClientRef::of),
        action: "/logout",
        hidden: Field::list(hidden),
    };
    let csrf = browser.csrf_token().await?;
    let user = current_user(s, Some(auth)).await?;
    s.templates
        .page(StatusCode::OK, &page, &csrf, user.as_ref())
}
