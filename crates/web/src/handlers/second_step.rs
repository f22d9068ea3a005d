//! The second step of a login: a TOTP or backup code, or enrolling an authenticator when a
//! policy requires a factor the user does not have yet (DESIGN §3).
//!
//! The pending state after the password step lives server-side in the session (see
//! `Browser::begin_second_step`); these handlers refuse to run without it, and it expires.
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use lanyard_core::authn::{EnrollFailure, LoginFailure, NextFactor, PendingLogin};
use lanyard_core::model::User;
use lanyard_core::oidc::params::with_query;
use lanyard_core::secret::Secret;
use serde::Deserialize;

use crate::error::WebError;
use crate::extract::CsrfForm;
use crate::input::ClientIp;
use crate::journey::{
    LoadedFlow, finish_login, load_flow, login_url, optional_flow, password_check, proceed,
    record_login, second_step_url, see_other, to_second_step,
};
use crate::pages::{
    CodePage, EnrollPage, backup_codes_page, code_page, enroll_page, enroll_retry, pending_totp_for,
};
use crate::sessions::Browser;
use crate::state::AppState;

/// A second-step POST with no password step behind it in this session, or one that expired.
fn step_expired() -> WebError {
    WebError::page(
        StatusCode::BAD_REQUEST,
        "Sign in again",
        "Your sign-in step expired or was not started in this browser. Enter your username and password again.",
    )
}

fn failure_status(f: LoginFailure) -> StatusCode {
    match f {
        LoginFailure::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
        LoginFailure::Disabled => StatusCode::FORBIDDEN,
        _ => StatusCode::UNAUTHORIZED,
    }
}

#[derive(Deserialize)]
pub struct StepQuery {
    flow: Option<String>,
    method: Option<String>,
}

/// The pending login of this browser at step `next`, or the "sign in again" page.
async fn pending_step(
    s: &AppState,
    browser: &Browser,
    next: NextFactor,
) -> Result<PendingLogin, WebError> {
    browser
        .pending(s.provider.now())
        .await?
        .filter(|p| p.next == next)
        .ok_or_else(step_expired)
}

/// The pending login of this browser at step `next`, with its (still enabled) user.
async fn pending_at(
    s: &AppState,
    browser: &Browser,
    next: NextFactor,
) -> Result<(PendingLogin, User), WebError> {
    let pending = pending_step(s, browser, next).await?;
    let user = s
        .provider
        .active_user(pending.user_id)
        .await?
        .ok_or_else(step_expired)?;
    Ok((pending, user))
}

/// A second-step page is shown for the pending login at that step; a browser without one
/// goes to sign in, one at the other step goes there.
enum StepPage {
    Show(PendingLogin),
    Elsewhere(Response),
}

async fn step_page(
    s: &AppState,
    browser: &Browser,
    flow: Option<&str>,
    step: NextFactor,
) -> Result<StepPage, WebError> {
    let Some(pending) = browser.pending(s.provider.now()).await? else {
        return Ok(StepPage::Elsewhere(see_other(&login_url(flow))));
    };
    if pending.next != step {
        let elsewhere = second_step_url(pending.next, flow);
        return Ok(StepPage::Elsewhere(see_other(&elsewhere)));
    }
    Ok(StepPage::Show(pending))
}

/// GET /login/mfa: the code form.
pub async fn code_form(
    State(s): State<AppState>,
    browser: Browser,
    Query(q): Query<StepQuery>,
) -> Result<Response, WebError> {
    let flow = q.flow.as_deref().filter(|f| !f.is_empty());
    let pending = match step_page(&s, &browser, flow, NextFactor::SecondFactor).await? {
        StepPage::Show(pending) => pending,
        StepPage::Elsewhere(redirect) => return Ok(redirect),
    };
    let page = CodePage {
        user_id: pending.user_id,
        flow,
        backup: q.method.as_deref() == Some("backup"),
        step_up: pending.step_up.is_some(),
        error: None,
        status: StatusCode::OK,
    };
    code_page(&s, &browser, page).await
}

/// POST /login/mfa: check the code; on success the login is complete.
pub async fn code_submit(
    State(s): State<AppState>,
    browser: Browser,
    ClientIp(ip): ClientIp,
    CsrfForm(input): CsrfForm,
) -> Result<Response, WebError> {
    let flow_id = input.params.get("flow");
    let backup = input.params.get("method") == Some("backup");
    let pending = pending_step(&s, &browser, NextFactor::SecondFactor).await?;
    let flow = optional_flow(&s, &browser, flow_id).await?;
    let code = Secret::new(input.params.get("code").unwrap_or("").trim().to_string());
    let retry = |error: String, status| CodePage {
        user_id: pending.user_id,
        flow: flow_id,
        backup,
        step_up: pending.step_up.is_some(),
        error: Some(error),
        status,
    };
    if code.expose().is_empty() {
        let message = match backup {
            true => "Enter one of your backup codes.",
            false => "Enter the 6-digit code from your authenticator app.",
        };
        return code_page(&s, &browser, retry(message.into(), StatusCode::BAD_REQUEST)).await;
    }
    match s
        .provider
        .verify_second_factor(&pending, &code, ip.as_deref())
        .await
        .inspect_err(|e| s.metrics.login_error(e))?
    {
        Ok(auth) => finish_login(&s, &browser, &auth, flow, &input, ip.as_deref()).await,
        Err(failure) => {
            s.metrics.login("failure", failure.reason());
            let page = retry(failure.message(), failure_status(failure));
            code_page(&s, &browser, page).await
        }
    }
}

/// POST /login/mfa/passkey: the browser's answer to the passkey offered on the code page.
pub async fn passkey_submit(
    State(s): State<AppState>,
    browser: Browser,
    ClientIp(ip): ClientIp,
    CsrfForm(input): CsrfForm,
) -> Result<Response, WebError> {
    let flow_id = input.params.get("flow");
    let pending = pending_step(&s, &browser, NextFactor::SecondFactor).await?;
    let flow = optional_flow(&s, &browser, flow_id).await?;
    let retry = |failure: LoginFailure| CodePage {
        user_id: pending.user_id,
        flow: flow_id,
        backup: false,
        step_up: pending.step_up.is_some(),
        error: Some(failure.message()),
        status: failure_status(failure),
    };
    let credential = input.params.get("credential").unwrap_or("");
    let Some(assertion) = browser.take_pending_assertion().await? else {
        return code_page(&s, &browser, retry(LoginFailure::BadPasskey)).await;
    };
    match s
        .provider
        .verify_passkey_second_factor(&pending, assertion, credential, ip.as_deref())
        .await
        .inspect_err(|e| s.metrics.login_error(e))?
    {
        Ok(auth) => finish_login(&s, &browser, &auth, flow, &input, ip.as_deref()).await,
        Err(failure) => {
            s.metrics.login("failure", failure.reason());
            code_page(&s, &browser, retry(failure)).await
        }
    }
}

/// GET /login/enroll: a policy requires a second factor and the user has none yet.
pub async fn enroll_form(
    State(s): State<AppState>,
    browser: Browser,
    Query(q): Query<StepQuery>,
) -> Result<Response, WebError> {
    let flow = q.flow.as_deref().filter(|f| !f.is_empty());
    if let StepPage::Elsewhere(redirect) = step_page(&s, &browser, flow, NextFactor::Enroll).await?
    {
        return Ok(redirect);
    }
    let (pending, user) = pending_at(&s, &browser, NextFactor::Enroll).await?;
    let totp = pending_totp_for(&s, &browser, &user).await?;
    let page = login_enroll_page(&user, &totp, flow, !pending.fresh);
    enroll_page(&s, &browser, page).await
}

fn login_enroll_page<'a>(
    user: &'a User,
    totp: &'a lanyard_core::authn::PendingTotp,
    flow: Option<&'a str>,
    needs_password: bool,
) -> EnrollPage<'a> {
    EnrollPage {
        user,
        pending: totp,
        action: "/login/enroll",
        flow,
        required: true,
        needs_password,
        error: None,
        status: StatusCode::OK,
    }
}

/// POST /login/enroll: confirm the new authenticator; the login completes with MFA.
pub async fn enroll_submit(
    State(s): State<AppState>,
    browser: Browser,
    ClientIp(ip): ClientIp,
    CsrfForm(input): CsrfForm,
) -> Result<Response, WebError> {
    let flow_id = input.params.get("flow");
    let (mut pending, user) = pending_at(&s, &browser, NextFactor::Enroll).await?;
    let flow = optional_flow(&s, &browser, flow_id).await?;
    let Some(totp) = browser.pending_totp().await? else {
        return Ok(see_other(&second_step_url(NextFactor::Enroll, flow_id)));
    };
    let ip = ip.as_deref();
    if !pending.fresh
        && let Err(message) = password_check(&s, &user, &input, ip).await?
    {
        let page = EnrollPage {
            error: Some(message),
            status: StatusCode::UNAUTHORIZED,
            ..login_enroll_page(&user, &totp, flow_id, true)
        };
        return enroll_page(&s, &browser, page).await;
    }
    let code = input.params.get("code").unwrap_or("").trim();
    let codes = match s.provider.confirm_totp(&user, &totp, code).await? {
        Ok(codes) => codes,
        Err(EnrollFailure::AlreadyEnabled) => {
            // A double submission: the first one enabled TOTP; sign in with a code instead.
            pending.next = NextFactor::SecondFactor;
            return to_second_step(&browser, &pending, flow_id).await;
        }
        Err(failure) => {
            let (message, totp) = enroll_retry(&s, &browser, &user, totp, failure).await?;
            let page = EnrollPage {
                error: Some(message),
                status: StatusCode::BAD_REQUEST,
                ..login_enroll_page(&user, &totp, flow_id, !pending.fresh)
            };
            return enroll_page(&s, &browser, page).await;
        }
    };
    // Log in now, but show the backup codes before returning to the application.
    let auth = s.provider.complete_mfa(&pending);
    record_login(&s, &browser, &auth, None, &input, ip).await?;
    browser
        .end_other_sessions(&s.provider, user.id, "mfa_enrolled")
        .await?;
    let continue_url = continue_after_codes(&browser, flow).await?;
    let heading = "Two-step verification is on";
    backup_codes_page(&s, &browser, &codes, &continue_url, heading).await
}

/// POST /login/enroll/passkey: a policy-forced enrollment answered with a new passkey; the
/// login completes with MFA.
pub async fn enroll_passkey(
    State(s): State<AppState>,
    browser: Browser,
    ClientIp(ip): ClientIp,
    CsrfForm(input): CsrfForm,
) -> Result<Response, WebError> {
    let flow_id = input.params.get("flow");
    let (pending, user) = pending_at(&s, &browser, NextFactor::Enroll).await?;
    let flow = optional_flow(&s, &browser, flow_id).await?;
    let back = see_other(&second_step_url(NextFactor::Enroll, flow_id));
    let Some(registration) = browser.take_pending_passkey().await? else {
        return Ok(back);
    };
    let ip = ip.as_deref();
    if !pending.fresh
        && let Err(message) = password_check(&s, &user, &input, ip).await?
    {
        return enroll_again(&s, &browser, &user, flow_id, &pending, message).await;
    }
    let credential = input.params.get("credential").unwrap_or("");
    let name = input.params.get("name");
    let added = s
        .provider
        .finish_passkey_registration(&user, registration, credential, name, ip)
        .await?;
    let Ok(passkey) = added else {
        let message = "Your browser's answer could not be verified. Try again.";
        return enroll_again(&s, &browser, &user, flow_id, &pending, message).await;
    };
    let method = lanyard_core::authn::passkeys::passkey_method(passkey.backup_eligible);
    let auth = s.provider.complete_mfa_with(&pending, method);
    browser
        .end_other_sessions(&s.provider, user.id, "passkey_added")
        .await?;
    finish_login(&s, &browser, &auth, flow, &input, ip).await
}

/// The forced-enrollment page again, with `message` (and a new passkey ceremony).
async fn enroll_again(
    s: &AppState,
    browser: &Browser,
    user: &User,
    flow: Option<&str>,
    pending: &PendingLogin,
    message: &'static str,
) -> Result<Response, WebError> {
    let totp = pending_totp_for(s, browser, user).await?;
    let page = EnrollPage {
        error: Some(message),
        status: StatusCode::BAD_REQUEST,
        ..login_enroll_page(user, &totp, flow, !pending.fresh)
    };
    enroll_page(s, browser, page).await
}

/// Where the backup codes page continues: the application's flow, now with a fresh login.
async fn continue_after_codes(
    browser: &Browser,
    flow: Option<LoadedFlow>,
) -> Result<String, WebError> {
    let Some(LoadedFlow { mut flow, .. }) = flow else {
        return Ok("/account".into());
    };
    flow.fresh_login = true;
    browser.put_flow(&flow).await?;
    Ok(with_query(
        "/login/continue",
        &[("flow".into(), flow.id.clone())],
    ))
}

#[derive(Deserialize)]
pub struct ContinueQuery {
    flow: Option<String>,
}

/// GET /login/continue: back to the application after the backup codes were shown.
pub async fn continue_flow(
    State(s): State<AppState>,
    browser: Browser,
    Query(q): Query<ContinueQuery>,
) -> Result<Response, WebError> {
    let loaded = load_flow(&s, &browser, q.flow.as_deref()).await?;
    proceed(&s, &browser, loaded.flow, &loaded.client).await
}
