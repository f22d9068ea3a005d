//! The login page: the password step. A second step, when one follows, is in `mfa.rs`.
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use lanyard_core::authn::{LoginFailure, LoginStep};
use lanyard_core::secret::Secret;
use serde::Deserialize;
use serde_json::json;

use super::authorize::{load_flow, proceed};
use super::see_other;
use crate::error::WebError;
use crate::input::{ClientIp, Input};
use crate::sessions::Browser;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct LoginQuery {
    flow: Option<String>,
    /// A sealed flow from `/authorize` for a browser that had no session yet.
    resume: Option<String>,
}

pub(crate) async fn render(
    s: &AppState,
    browser: &Browser,
    flow: Option<&str>,
    username: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let client = match flow {
        Some(id) => {
            let (_, _, client) = load_flow(s, browser, Some(id)).await?;
            Some(json!({ "name": client.name, "client_id": client.client_id }))
        }
        None => None,
    };
    let upstreams: Vec<_> = s
        .provider
        .config
        .upstreams
        .iter()
        .map(|u| {
            let mut q = Vec::new();
            if let Some(f) = flow {
                q.push(("flow".to_string(), f.to_string()));
            }
            json!({
                "name": u.name,
                "display_name": u.display_name,
                "url": super::with_query(&format!("/federation/{}/start", u.name), &q),
            })
        })
        .collect();
    // An upstream login waiting for this account's owner to confirm the link.
    let link = browser.pending_link(s.provider.now()).await?;
    let username = match (&link, username) {
        (Some(l), "") => l.username.clone(),
        _ => username.to_string(),
    };
    let link = link.map(|l| {
        let upstream = s
            .provider
            .upstream(&l.upstream)
            .map_or(l.upstream.clone(), |u| u.display_name.clone());
        json!({ "upstream": upstream })
    });
    let ctx = json!({
        "client": client,
        "username": username,
        "link": link,
        "error": error,
        "flow": flow.unwrap_or(""),
        "action": "/login",
        "upstreams": upstreams,
    });
    let csrf = browser.csrf_token().await?;
    s.templates
        .page(status, "login.html", "Sign in", &csrf, None, ctx)
}

pub async fn login_page(
    State(s): State<AppState>,
    browser: Browser,
    Query(mut q): Query<LoginQuery>,
) -> Result<Response, WebError> {
    if let Some(sealed) = q.resume.as_deref() {
        // The page is shown now, so the pending sign-in is kept from here on.
        let flow = crate::sessions::Flow::unseal(&s.provider, sealed, s.config.flow_lifetime)
            .ok_or_else(WebError::flow_expired)?;
        browser.put_flow(&flow).await?;
        q.flow = Some(flow.id);
    }
    let hint = match q.flow.as_deref() {
        Some(id) => load_flow(&s, &browser, Some(id))
            .await?
            .1
            .login_hint
            .unwrap_or_default(),
        None => String::new(),
    };
    render(&s, &browser, q.flow.as_deref(), &hint, None, StatusCode::OK).await
}

pub async fn login_submit(
    State(s): State<AppState>,
    browser: Browser,
    ClientIp(ip): ClientIp,
    input: Input,
) -> Result<Response, WebError> {
    browser.check_csrf(input.params.get("csrf_token")).await?;
    let flow_id = input.params.get("flow");
    let flow = match flow_id {
        Some(id) => Some(load_flow(&s, &browser, Some(id)).await?),
        None => None,
    };
    let username = input.params.get("username").unwrap_or("").to_string();
    let password = Secret::new(input.params.get("password").unwrap_or("").to_string());
    if username.is_empty() || password.expose().is_empty() {
        return render(
            &s,
            &browser,
            flow_id,
            &username,
            Some("Enter your username and password."),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let outcome = s
        .provider
        .login_password(&username, password, ip.as_deref())
        .await
        .map_err(WebError::from_provider_page)?;
    let user = match outcome {
        Ok(u) => u,
        Err(failure) => {
            s.metrics.event("login", "failure");
            let status = match failure {
                LoginFailure::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::UNAUTHORIZED,
            };
            return render(
                &s,
                &browser,
                flow_id,
                &username,
                Some(&failure.message()),
                status,
            )
            .await;
        }
    };
    let (client, acr_values) = match &flow {
        Some((_, req, client)) => (Some(client), req.acr_values.as_slice()),
        None => (None, &[][..]),
    };
    let step = s
        .provider
        .after_password(&user, client, acr_values)
        .await
        .map_err(WebError::from_provider_page)?;
    match step {
        LoginStep::Done(auth) => {
            finish_login(&s, &browser, &auth, flow, &input, ip.as_deref()).await
        }
        LoginStep::Pending(pending) => {
            browser.begin_second_step(&pending).await?;
            Ok(see_other(&super::mfa::second_step_url(
                pending.next,
                flow_id,
            )))
        }
    }
}

/// Every factor is done: a logged-in session, an audit entry, then back to the application (or
/// to the account page when the user came to sign in directly).
pub(crate) async fn finish_login(
    s: &AppState,
    browser: &Browser,
    auth: &lanyard_core::authn::Authenticated,
    flow: Option<super::authorize::LoadedFlow>,
    input: &Input,
    ip: Option<&str>,
) -> Result<Response, WebError> {
    let client_id = flow.as_ref().map(|(_, r, _)| r.client_id.as_str());
    record_login(s, browser, auth, client_id, input, ip).await?;
    match flow {
        Some((mut flow, _, client)) => {
            flow.fresh_login = true;
            proceed(s, browser, flow, &client).await
        }
        None => Ok(see_other("/account")),
    }
}

/// The session side of a completed login: a new session id holding `auth`, the device, a
/// metric and the audit entry.
pub(crate) async fn record_login(
    s: &AppState,
    browser: &Browser,
    auth: &lanyard_core::authn::Authenticated,
    client_id: Option<&str>,
    input: &Input,
    ip: Option<&str>,
) -> Result<(), WebError> {
    let user_agent = input
        .headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    browser
        .login(auth, crate::sessions::describe_device(user_agent))
        .await?;
    // An upstream identity proposed for this account by verified email is linked now that its
    // owner signed in here; a sign-in to another account drops the proposal.
    if let Some(link) = browser.take_pending_link(s.provider.now()).await?
        && link.user_id == auth.user_id
        && let Some(up) = s.provider.upstream(&link.upstream)
    {
        s.provider
            .confirm_link(auth.user_id, up, &link.subject, link.email.as_deref(), ip)
            .await
            .map_err(WebError::from_provider_page)?;
    }
    s.metrics.event("login", "success");
    s.provider
        .audit(
            "login_succeeded",
            Some(auth.user_id),
            client_id,
            ip,
            json!({ "amr": auth.amr, "acr": auth.acr, "upstream": auth.upstream }),
        )
        .await
        .map_err(WebError::from_provider_page)
}
