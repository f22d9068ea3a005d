//! "Log in with <upstream>" (DESIGN §4): the redirect to the upstream, its callback, linking
//! from the account page, and the return from an upstream logout. The answer's verification is
//! `upstream::browser`; which local account it is, is core's (`federation::linking`).
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use lanyard_core::authn::LoginStep;
use lanyard_core::federation::{AccountLink, LinkOutcome, Unlink, Upstream};
use serde::Deserialize;
use serde_json::json;

use crate::error::WebError;
use crate::extract::{CsrfForm, SignedIn};
use crate::input::{ClientIp, Input};
use crate::journey::{
    finish_login, leave_after_logout, load_flow, login_url, optional_flow, reauthenticate,
    see_other, to_second_step,
};
use crate::sessions::{Browser, PendingLink};
use crate::state::AppState;
use crate::upstream::browser::{Answer, Failure, UPSTREAM_LOGIN_TIMEOUT, begin, read_answer};

fn upstream_or_404<'a>(s: &'a AppState, name: &str) -> Result<&'a Upstream, WebError> {
    s.provider.upstream(name).ok_or_else(|| {
        WebError::page(
            StatusCode::NOT_FOUND,
            "Unknown sign-in provider",
            "This service has no sign-in provider by that name.",
        )
    })
}

/// Audit an upstream failure and build its page.
async fn fail(s: &AppState, up: &Upstream, ip: Option<&str>, f: Failure) -> WebError {
    let detail = json!({ "upstream": up.name, "reason": f.reason });
    if let Err(e) = s
        .provider
        .audit("federation_failed", None, None, ip, detail)
        .await
    {
        return e.into();
    }
    s.metrics.event("federation", "failure");
    let title = format!("Signing in with {} didn't work", up.display_name);
    WebError::page(f.status, title, f.message)
}

#[derive(Deserialize)]
pub struct StartQuery {
    flow: Option<String>,
}

/// GET /federation/{name}/start: send the browser to the upstream to sign in.
pub async fn start(
    State(s): State<AppState>,
    browser: Browser,
    ClientIp(ip): ClientIp,
    Path(name): Path<String>,
    Query(q): Query<StartQuery>,
) -> Result<Response, WebError> {
    let up = upstream_or_404(&s, &name)?;
    let flow = q.flow.filter(|f| !f.is_empty());
    let mut extra = Vec::new();
    if let Some(id) = flow.as_deref() {
        let req = load_flow(&s, &browser, Some(id)).await?.request;
        // A relying party that wants a fresh login gets one at the upstream too.
        if req.prompt.login || req.max_age.is_some() {
            extra.push(("prompt", "login".to_string()));
        }
        if let Some(m) = req.max_age {
            extra.push(("max_age", m.to_string()));
        }
    }
    match begin(&s, &browser, up, flow, None, &extra).await? {
        Ok(redirect) => Ok(redirect),
        Err(f) => Err(fail(&s, up, ip.as_deref(), f).await),
    }
}

/// POST /account/identities/link: link an upstream identity to the signed-in user. It needs
/// the CSRF token and the password or a current code (a lasting way into the account is being
/// added), and the upstream is asked for a fresh login, so whoever is signed in there now is
/// who gets linked knowingly.
pub async fn link_start(
    State(s): State<AppState>,
    browser: Browser,
    ClientIp(ip): ClientIp,
    SignedIn { user, .. }: SignedIn,
    CsrfForm(input): CsrfForm,
) -> Result<Response, WebError> {
    let ip = ip.as_deref();
    let up = upstream_or_404(&s, input.params.get("upstream").unwrap_or(""))?;
    if let Some(back) = reauthenticate(&s, &user, &input, ip, "identities").await? {
        return Ok(back);
    }
    let fresh = [
        ("prompt", "login".to_string()),
        ("max_age", "0".to_string()),
    ];
    match begin(&s, &browser, up, None, Some(user.id), &fresh).await? {
        Ok(redirect) => Ok(redirect),
        Err(f) => Err(fail(&s, up, ip, f).await),
    }
}

/// GET /federation/{name}/callback: the upstream's authorization response.
pub async fn callback(
    State(s): State<AppState>,
    browser: Browser,
    ClientIp(ip): ClientIp,
    Path(name): Path<String>,
    input: Input,
) -> Result<Response, WebError> {
    let up = upstream_or_404(&s, &name)?;
    let ip = ip.as_deref();
    let answer = match read_answer(&s, &browser, up, &input.params).await? {
        Ok(a) => a,
        Err(f) => return Err(fail(&s, up, ip, f).await),
    };
    if let Some(user_id) = answer.pending.link_user {
        return link(&s, &browser, up, user_id, &answer, ip).await;
    }
    // Kept (sealed) for the id_token_hint of an upstream logout; some upstreams require it.
    if up.logout_upstream {
        browser
            .set_upstream_id_token(&s.provider, &answer.id_token)
            .await?;
    }
    sign_in(&s, &browser, up, answer, &input, ip).await
}

/// Sign in the local account the upstream identity belongs to (or propose a link, or refuse).
async fn sign_in(
    s: &AppState,
    browser: &Browser,
    up: &Upstream,
    answer: Answer,
    input: &Input,
    ip: Option<&str>,
) -> Result<Response, WebError> {
    let Answer {
        pending, profile, ..
    } = answer;
    let flow_id = pending.flow.as_deref();
    let user = match s.provider.resolve_upstream_login(up, &profile, ip).await? {
        LinkOutcome::Known(u) | LinkOutcome::Created(u) => u,
        LinkOutcome::ConfirmLink(u) => {
            // The owner of the matching account confirms by signing in to it here; the link is
            // made then (`journey::record_login`), and the original request continues.
            let link = PendingLink {
                upstream: up.name.clone(),
                subject: profile.subject.clone(),
                email: profile.email.clone(),
                user_id: u.id,
                username: u.username.clone(),
                expires_at: s.provider.now() + UPSTREAM_LOGIN_TIMEOUT,
            };
            browser.set_pending_link(&link).await?;
            s.metrics.event("federation", "confirm_link");
            return Ok(see_other(&login_url(flow_id)));
        }
        LinkOutcome::Refused(r) => {
            s.metrics.event("federation", "refused");
            let title = format!("No account for this {} sign-in", up.display_name);
            return Err(WebError::page(StatusCode::FORBIDDEN, title, r.message()));
        }
    };
    let flow = optional_flow(s, browser, flow_id).await?;
    let (client, acr_values) = match &flow {
        Some(f) => (Some(&f.client), f.request.acr_values.as_slice()),
        None => (None, &[][..]),
    };
    let step = s
        .provider
        .after_upstream(&user, up, &profile, client, acr_values);
    match step.await? {
        LoginStep::Done(auth) => {
            s.metrics.event("federation", "success");
            finish_login(s, browser, &auth, flow, input, ip).await
        }
        // The local second factor completes this login (DESIGN §4).
        LoginStep::Pending(next) => to_second_step(browser, &next, flow_id).await,
    }
}

/// Link an upstream identity to the signed-in user (account page).
async fn link(
    s: &AppState,
    browser: &Browser,
    up: &Upstream,
    user_id: uuid::Uuid,
    answer: &Answer,
    ip: Option<&str>,
) -> Result<Response, WebError> {
    let signed_in = browser
        .auth(s.provider.now(), s.config.absolute_lifetime)
        .await?;
    let refuse = |reason: &str, status, message: String| Failure {
        reason: reason.into(),
        status,
        message,
    };
    let failure = if signed_in.map(|a| a.user_id) != Some(user_id) {
        let message = "You are no longer signed in as the account that started linking. Sign in and try again.";
        refuse(
            "link_session_changed",
            StatusCode::BAD_REQUEST,
            message.into(),
        )
    } else {
        match s
            .provider
            .link_from_account(user_id, up, &answer.profile, ip)
            .await?
        {
            AccountLink::Linked => return Ok(see_other("/account?notice=linked#identities")),
            AccountLink::AlreadyLinked => {
                return Ok(see_other("/account?notice=already_linked#identities"));
            }
            AccountLink::LinkedElsewhere => {
                let message = format!(
                    "This {} identity is already linked to another account here.",
                    up.display_name
                );
                refuse("linked_elsewhere", StatusCode::CONFLICT, message)
            }
        }
    };
    Err(fail(s, up, ip, failure).await)
}

/// POST /account/identities/unlink: never the user's last way to sign in.
pub async fn unlink(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    SignedIn { user, .. }: SignedIn,
    CsrfForm(input): CsrfForm,
) -> Result<Response, WebError> {
    let (Some(upstream), Some(subject)) =
        (input.params.get("upstream"), input.params.get("subject"))
    else {
        return Err(WebError::bad_request(
            "Which identity? (upstream and subject are required)",
        ));
    };
    let unlinked = s
        .provider
        .unlink_identity(&user, upstream, subject, ip.as_deref());
    Ok(match unlinked.await? {
        Unlink::LastWayToSignIn => see_other("/account?error=last_login_method#identities"),
        Unlink::Unlinked | Unlink::NotLinked => see_other("/account?notice=unlinked#identities"),
    })
}

/// GET /federation/{name}/logged-out: back from the upstream's logout.
pub async fn logged_out(
    State(s): State<AppState>,
    browser: Browser,
    Path(_name): Path<String>,
) -> Result<Response, WebError> {
    let next = browser.take_after_logout().await?;
    leave_after_logout(&s, next)
}
