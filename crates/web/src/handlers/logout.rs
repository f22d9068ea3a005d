//! RP-Initiated Logout 1.0 (`end_session_endpoint`).
//!
//! With a valid `id_token_hint` for the signed-in user, logout happens at once; without one, the
//! user confirms (so a third-party page cannot log them out). `post_logout_redirect_uri` is
//! honoured only on an exact match with the client's registered list (section 3), and `state`
//! is echoed back.
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use lanyard_core::model::Client;
use serde_json::json;

use super::{see_other, with_query};
use crate::error::WebError;
use crate::input::Input;
use crate::sessions::{AfterLogout, Browser};
use crate::state::AppState;

pub async fn logout(
    State(s): State<AppState>,
    browser: Browser,
    input: Input,
) -> Result<Response, WebError> {
    let p = &input.params;
    if let Some(msg) = p.first_malformed() {
        return Err(WebError::bad_request(msg));
    }
    let hint = match p.get("id_token_hint") {
        Some(h) => Some(s.provider.verify_id_token_hint(h).ok_or_else(|| {
            WebError::bad_request(
                "The sign-out request carries an id_token_hint that this provider did not issue.",
            )
        })?),
        None => None,
    };
    let client_id = match (
        hint.as_ref().map(|h| h.client_id.as_str()),
        p.get("client_id"),
    ) {
        (Some(a), Some(b)) if a != b => {
            return Err(WebError::bad_request(
                "The client_id does not match the id_token_hint.",
            ));
        }
        (Some(a), _) | (None, Some(a)) => Some(a.to_string()),
        (None, None) => None,
    };
    let client: Option<Client> = match &client_id {
        Some(id) => s
            .provider
            .store
            .get_client(id)
            .await
            .map_err(|e| WebError::from_provider_page(e.into()))?,
        None => None,
    };
    let redirect = match p.get("post_logout_redirect_uri") {
        Some(uri) => match &client {
            Some(c) if c.post_logout_redirect_uris.iter().any(|r| r == uri) => {
                Some(uri.to_string())
            }
            Some(_) => {
                return Err(WebError::bad_request(
                    "The post_logout_redirect_uri is not registered for this application.",
                ));
            }
            None => {
                return Err(WebError::bad_request(
                    "A post_logout_redirect_uri needs an id_token_hint or client_id to identify the application.",
                ));
            }
        },
        None => None,
    };
    let auth = browser
        .auth(s.provider.now(), s.config.absolute_lifetime)
        .await?;
    let hint_matches = match (&hint, &auth) {
        (Some(h), Some(a)) => {
            h.sub == a.user_id.to_string()
                || client
                    .as_ref()
                    .is_some_and(|c| h.sub == s.provider.subject(c, a.user_id))
        }
        _ => false,
    };
    let confirmed = input.method == Method::POST && p.get("confirm") == Some("yes");
    if confirmed {
        browser.check_csrf(p.get("csrf_token")).await?;
    }
    if auth.is_some() && !hint_matches && !confirmed {
        if input.method == Method::POST && p.get("confirm") == Some("no") {
            return Ok(see_other("/account"));
        }
        let mut hidden = Vec::new();
        for key in [
            "id_token_hint",
            "post_logout_redirect_uri",
            "state",
            "client_id",
        ] {
            if let Some(v) = p.get(key) {
                hidden.push(json!({ "name": key, "value": v }));
            }
        }
        let ctx = json!({
            "client": client.as_ref().map(|c| json!({ "name": c.name, "client_id": c.client_id })),
            "action": "/logout",
            "hidden": hidden,
        });
        let csrf = browser.csrf_token().await?;
        let user = super::current_user(&s, auth.as_ref()).await?;
        return s.templates.page(
            StatusCode::OK,
            "logout.html",
            "Sign out",
            &csrf,
            user.as_ref(),
            ctx,
        );
    }
    let mut upstream_logout = None;
    if let Some(a) = &auth {
        if let Some(up) = &a.upstream {
            upstream_logout = super::federation::upstream_logout_url(&s, &browser, up).await?;
        }
        // OIDC Back-Channel Logout: tell every client this session signed in to.
        notify_backchannel(&s, a).await;
        browser.logout().await?;
        s.provider
            .audit(
                "logout",
                Some(a.user_id),
                client_id.as_deref(),
                None,
                json!({ "initiated_by": if hint.is_some() { "rp" } else { "user" } }),
            )
            .await
            .map_err(WebError::from_provider_page)?;
    }
    let target = redirect.map(|uri| {
        let params: Vec<(String, String)> = p
            .get("state")
            .map(|st| vec![("state".to_string(), st.to_string())])
            .unwrap_or_default();
        with_query(&uri, &params)
    });
    // A self-registered client's address is shown before the browser goes there (RFC 9700
    // 4.11.2), as for authorization errors.
    let target = target.map(|url| AfterLogout {
        url,
        confirm: client.as_ref().is_some_and(Client::is_self_registered),
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

/// Where a finished logout goes: the validated target (directly, or after showing it), or the
/// signed-out page.
pub(crate) fn leave_after_logout(
    s: &AppState,
    target: Option<AfterLogout>,
) -> Result<Response, WebError> {
    match target {
        Some(t) if !t.confirm => Ok(see_other(&t.url)),
        other => signed_out_page(s, other.map(|t| t.url)),
    }
}

/// The page a user sees once signed out, with a link to the application when there is one.
fn signed_out_page(s: &AppState, return_to: Option<String>) -> Result<Response, WebError> {
    let return_host = return_to.as_deref().map(super::authorize::host_of);
    let ctx = json!({
        "message": "You have been signed out.",
        "return_url": return_to,
        "return_host": return_host,
    });
    s.templates.page(
        StatusCode::OK,
        "logged_out.html",
        "Signed out",
        "",
        None,
        ctx,
    )
}

/// OIDC Back-Channel Logout: tell every client the ended session signed in to. A failure here
/// must not keep the user signed in: it is logged and the logout goes on.
pub(crate) async fn notify_backchannel(s: &AppState, auth: &lanyard_core::authn::Authenticated) {
    match s.provider.logout_tokens(auth.user_id, &auth.sid).await {
        Ok(deliveries) => s.backchannel.send(deliveries),
        Err(e) => tracing::warn!(error = %e, "back-channel logout tokens not built"),
    }
}
