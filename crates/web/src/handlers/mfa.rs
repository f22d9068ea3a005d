//! The second step of a login (TOTP or backup code), enrollment when a policy requires a factor
//! the user does not have yet, and the account page's factor management (DESIGN §3).
//!
//! The pending state after the password step lives server-side in the session (see
//! `Browser::begin_second_step`); these handlers refuse to run without it, and it expires.
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use lanyard_core::authn::mfa::{EnrollFailure, PendingTotp};
use lanyard_core::authn::{ACR_MFA, LoginFailure, NextFactor, PendingLogin, Proof, mfa_amr};
use lanyard_core::model::User;
use lanyard_core::secret::Secret;
use serde::Deserialize;
use serde_json::{Value, json};

use super::authorize::{load_flow, proceed};
use super::login::finish_login;
use super::{current_user, see_other, with_query};
use crate::error::WebError;
use crate::input::{ClientIp, Input};
use crate::sessions::Browser;
use crate::state::AppState;

/// Where the second step of a login happens.
pub fn second_step_url(next: NextFactor, flow: Option<&str>) -> String {
    let path = match next {
        NextFactor::SecondFactor => "/login/mfa",
        NextFactor::Enroll => "/login/enroll",
    };
    match flow {
        Some(f) => with_query(path, &[("flow".into(), f.into())]),
        None => path.to_string(),
    }
}

fn login_url(flow: Option<&str>) -> String {
    match flow {
        Some(f) => with_query("/login", &[("flow".into(), f.into())]),
        None => "/login".into(),
    }
}

fn provider_err(e: lanyard_core::oidc::error::ProviderError) -> WebError {
    WebError::from_provider_page(e)
}

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

/// The application name for a flow, if the login belongs to one.
async fn flow_client(
    s: &AppState,
    browser: &Browser,
    flow: Option<&str>,
) -> Result<Value, WebError> {
    Ok(match flow {
        Some(id) => {
            let (_, _, client) = load_flow(s, browser, Some(id)).await?;
            json!({ "name": client.name, "client_id": client.client_id })
        }
        None => Value::Null,
    })
}

async fn pending_user(s: &AppState, pending: &PendingLogin) -> Result<Option<User>, WebError> {
    let user = s
        .provider
        .store
        .get_user(pending.user_id)
        .await
        .map_err(|e| provider_err(e.into()))?;
    Ok(user.filter(|u| !u.disabled))
}

struct CodePage<'a> {
    flow: Option<&'a str>,
    backup: bool,
    step_up: bool,
    error: Option<String>,
    status: StatusCode,
}

async fn render_code_page(
    s: &AppState,
    browser: &Browser,
    p: CodePage<'_>,
) -> Result<Response, WebError> {
    let client = flow_client(s, browser, p.flow).await?;
    let ctx = json!({
        "client": client,
        "flow": p.flow.unwrap_or(""),
        "backup": p.backup,
        "step_up": p.step_up,
        "error": p.error,
        "action": "/login/mfa",
        "switch_url": with_query(
            "/login/mfa",
            &[
                ("flow".to_string(), p.flow.unwrap_or("").to_string()),
                ("method".to_string(), if p.backup { "totp" } else { "backup" }.to_string()),
            ],
        ),
        "restart_url": login_url(p.flow),
    });
    let csrf = browser.csrf_token().await?;
    s.templates.page(
        p.status,
        "login_mfa.html",
        "Two-step verification",
        &csrf,
        None,
        ctx,
    )
}

/// GET /login/mfa: the code form.
pub async fn code_page(
    State(s): State<AppState>,
    browser: Browser,
    Query(q): Query<StepQuery>,
) -> Result<Response, WebError> {
    let flow = q.flow.as_deref().filter(|f| !f.is_empty());
    let Some(pending) = browser.pending(s.provider.now()).await? else {
        return Ok(see_other(&login_url(flow)));
    };
    if pending.next == NextFactor::Enroll {
        return Ok(see_other(&second_step_url(pending.next, flow)));
    }
    let page = CodePage {
        flow,
        backup: q.method.as_deref() == Some("backup"),
        step_up: pending.step_up.is_some(),
        error: None,
        status: StatusCode::OK,
    };
    render_code_page(&s, &browser, page).await
}

/// POST /login/mfa: check the code; on success the login is complete.
pub async fn code_submit(
    State(s): State<AppState>,
    browser: Browser,
    ClientIp(ip): ClientIp,
    input: Input,
) -> Result<Response, WebError> {
    browser.check_csrf(input.params.get("csrf_token")).await?;
    let flow_id = input.params.get("flow").filter(|f| !f.is_empty());
    let backup = input.params.get("method") == Some("backup");
    let Some(pending) = browser.pending(s.provider.now()).await? else {
        return Err(step_expired());
    };
    if pending.next != NextFactor::SecondFactor {
        return Err(step_expired());
    }
    let flow = match flow_id {
        Some(id) => Some(load_flow(&s, &browser, Some(id)).await?),
        None => None,
    };
    let code = Secret::new(input.params.get("code").unwrap_or("").trim().to_string());
    let page = |error: String, status| CodePage {
        flow: flow_id,
        backup,
        step_up: pending.step_up.is_some(),
        error: Some(error),
        status,
    };
    if code.expose().is_empty() {
        let message = if backup {
            "Enter one of your backup codes."
        } else {
            "Enter the 6-digit code from your authenticator app."
        };
        return render_code_page(&s, &browser, page(message.into(), StatusCode::BAD_REQUEST)).await;
    }
    let outcome = s
        .provider
        .verify_second_factor(&pending, &code, ip.as_deref())
        .await
        .map_err(provider_err)?;
    match outcome {
        Ok(auth) => finish_login(&s, &browser, &auth, flow, &input, ip.as_deref()).await,
        Err(failure) => {
            s.metrics.event("login", "failure");
            render_code_page(
                &s,
                &browser,
                page(failure.message(), failure_status(failure)),
            )
            .await
        }
    }
}

// ---- enrollment ---------------------------------------------------------------------------------

/// The pending TOTP secret for `user`, or a new one (also when the old one expired or belongs
/// to someone else who used this browser).
async fn pending_totp_for(
    s: &AppState,
    browser: &Browser,
    user: &User,
) -> Result<PendingTotp, WebError> {
    if let Some(p) = browser.pending_totp().await?
        && p.user_id == user.id
        && !s.provider.pending_totp_expired(&p)
    {
        return Ok(p);
    }
    let p = s.provider.new_pending_totp(user.id);
    browser.set_pending_totp(&p).await?;
    Ok(p)
}

struct EnrollPage<'a> {
    user: &'a User,
    pending: &'a PendingTotp,
    action: &'a str,
    flow: Option<&'a str>,
    /// Reached from a login that a policy stopped: the user cannot skip it.
    required: bool,
    /// The password must be entered with the code: no password was typed just before (account
    /// page, or a step-up of an older session), and whoever holds a session cookie must not be
    /// able to lock the owner out with their own authenticator.
    needs_password: bool,
    error: Option<&'a str>,
    status: StatusCode,
}

async fn render_enroll(
    s: &AppState,
    browser: &Browser,
    p: EnrollPage<'_>,
) -> Result<Response, WebError> {
    let enrollment = s
        .provider
        .totp_enrollment(p.user, p.pending)
        .map_err(provider_err)?;
    let client = flow_client(s, browser, p.flow).await?;
    let ctx = json!({
        "enrollment": enrollment,
        "account": p.user.username,
        "issuer": s.provider.config.mfa.totp_issuer,
        "action": p.action,
        "flow": p.flow.unwrap_or(""),
        "client": client,
        "required": p.required,
        "needs_password": p.needs_password,
        "error": p.error,
        "restart_url": login_url(p.flow),
    });
    let csrf = browser.csrf_token().await?;
    let user = if p.required {
        None
    } else {
        let auth = browser
            .auth(s.provider.now(), s.config.absolute_lifetime)
            .await?;
        current_user(s, auth.as_ref()).await?
    };
    s.templates.page(
        p.status,
        "enroll_totp.html",
        "Set up an authenticator app",
        &csrf,
        user.as_ref(),
        ctx,
    )
}

/// The backup codes, shown once (DESIGN §3), with a plain-text download.
async fn render_codes(
    s: &AppState,
    browser: &Browser,
    codes: &[String],
    continue_url: &str,
    heading: &str,
) -> Result<Response, WebError> {
    let text = format!(
        "{} backup codes\r\nEach code works once.\r\n\r\n{}\r\n",
        s.provider.config.mfa.totp_issuer,
        codes.join("\r\n")
    );
    let download = format!("data:text/plain;charset=utf-8,{}", percent_encode(&text));
    let ctx = json!({
        "codes": codes,
        "download_url": download,
        "text": text,
        "continue_url": continue_url,
        "heading": heading,
    });
    let csrf = browser.csrf_token().await?;
    let auth = browser
        .auth(s.provider.now(), s.config.absolute_lifetime)
        .await?;
    let user = current_user(s, auth.as_ref()).await?;
    s.templates.page(
        StatusCode::OK,
        "backup_codes.html",
        "Save your backup codes",
        &csrf,
        user.as_ref(),
        ctx,
    )
}

/// RFC 3986 percent-encoding of everything but unreserved characters (for a data: URL).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// GET /login/enroll: a policy requires a second factor and the user has none yet.
pub async fn enroll_page(
    State(s): State<AppState>,
    browser: Browser,
    Query(q): Query<StepQuery>,
) -> Result<Response, WebError> {
    let flow = q.flow.as_deref().filter(|f| !f.is_empty());
    let Some(pending) = browser.pending(s.provider.now()).await? else {
        return Ok(see_other(&login_url(flow)));
    };
    if pending.next != NextFactor::Enroll {
        return Ok(see_other(&second_step_url(pending.next, flow)));
    }
    let Some(user) = pending_user(&s, &pending).await? else {
        return Err(step_expired());
    };
    let totp = pending_totp_for(&s, &browser, &user).await?;
    let page = EnrollPage {
        user: &user,
        pending: &totp,
        action: "/login/enroll",
        flow,
        required: true,
        needs_password: !pending.fresh,
        error: None,
        status: StatusCode::OK,
    };
    render_enroll(&s, &browser, page).await
}

/// POST /login/enroll: confirm the new authenticator; the login completes with MFA.
pub async fn enroll_submit(
    State(s): State<AppState>,
    browser: Browser,
    ClientIp(ip): ClientIp,
    input: Input,
) -> Result<Response, WebError> {
    browser.check_csrf(input.params.get("csrf_token")).await?;
    let flow_id = input.params.get("flow").filter(|f| !f.is_empty());
    let Some(mut pending) = browser.pending(s.provider.now()).await? else {
        return Err(step_expired());
    };
    if pending.next != NextFactor::Enroll {
        return Err(step_expired());
    }
    let Some(user) = pending_user(&s, &pending).await? else {
        return Err(step_expired());
    };
    let flow = match flow_id {
        Some(id) => Some(load_flow(&s, &browser, Some(id)).await?),
        None => None,
    };
    let Some(totp) = browser.pending_totp().await? else {
        return Ok(see_other(&second_step_url(NextFactor::Enroll, flow_id)));
    };
    let code = input.params.get("code").unwrap_or("").trim().to_string();
    if !pending.fresh
        && let Err(message) = password_check(&s, &user, &input, ip.as_deref()).await?
    {
        let page = EnrollPage {
            user: &user,
            pending: &totp,
            action: "/login/enroll",
            flow: flow_id,
            required: true,
            needs_password: true,
            error: Some(message),
            status: StatusCode::UNAUTHORIZED,
        };
        return render_enroll(&s, &browser, page).await;
    }
    let result = s
        .provider
        .confirm_totp(&user, &totp, &code)
        .await
        .map_err(provider_err)?;
    let codes = match result {
        Ok(codes) => codes,
        Err(EnrollFailure::AlreadyEnabled) => {
            // A double submission: the first one enabled TOTP; sign in with a code instead.
            pending.next = NextFactor::SecondFactor;
            browser.begin_second_step(&pending).await?;
            return Ok(see_other(&second_step_url(pending.next, flow_id)));
        }
        Err(failure) => {
            let (message, fresh) = enroll_error(failure);
            let totp = if fresh {
                pending_totp_for(&s, &browser, &user).await?
            } else {
                totp
            };
            let page = EnrollPage {
                user: &user,
                pending: &totp,
                action: "/login/enroll",
                flow: flow_id,
                required: true,
                needs_password: !pending.fresh,
                error: Some(message),
                status: StatusCode::BAD_REQUEST,
            };
            return render_enroll(&s, &browser, page).await;
        }
    };
    let auth = s.provider.complete_mfa(&pending);
    // Log in now, but show the backup codes before returning to the application.
    super::login::record_login(&s, &browser, &auth, None, &input, ip.as_deref()).await?;
    browser
        .end_other_sessions(&s.provider, user.id, "mfa_enrolled")
        .await?;
    let continue_url = match flow {
        Some((mut flow, _, _)) => {
            flow.fresh_login = true;
            browser.put_flow(&flow).await?;
            with_query("/login/continue", &[("flow".into(), flow.id.clone())])
        }
        None => "/account".into(),
    };
    render_codes(
        &s,
        &browser,
        &codes,
        &continue_url,
        "Two-step verification is on",
    )
    .await
}

fn enroll_error(f: EnrollFailure) -> (&'static str, bool) {
    match f {
        EnrollFailure::Expired => (
            "That setup expired. Add this new key to your app, then enter the code it shows.",
            true,
        ),
        _ => (
            "That code does not match. Check that your phone's clock is right and enter the current code.",
            false,
        ),
    }
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
    let (flow, _, client) = load_flow(&s, &browser, q.flow.as_deref()).await?;
    proceed(&s, &browser, flow, &client).await
}

// ---- account page ---------------------------------------------------------------------------------

/// GET /account/mfa/totp: start adding an authenticator app.
pub async fn account_enroll_page(
    State(s): State<AppState>,
    browser: Browser,
) -> Result<Response, WebError> {
    let (_, user) = match super::account::signed_in(&s, &browser).await? {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    if s.provider
        .totp_enabled(user.id)
        .await
        .map_err(provider_err)?
    {
        return Ok(see_other("/account#security"));
    }
    let totp = pending_totp_for(&s, &browser, &user).await?;
    let page = EnrollPage {
        user: &user,
        pending: &totp,
        action: "/account/mfa/totp",
        flow: None,
        required: false,
        needs_password: true,
        error: None,
        status: StatusCode::OK,
    };
    render_enroll(&s, &browser, page).await
}

/// POST /account/mfa/totp: confirm the authenticator from the account page.
pub async fn account_enroll_submit(
    State(s): State<AppState>,
    browser: Browser,
    ClientIp(ip): ClientIp,
    input: Input,
) -> Result<Response, WebError> {
    browser.check_csrf(input.params.get("csrf_token")).await?;
    let (auth, user) = match super::account::signed_in(&s, &browser).await? {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    let Some(totp) = browser
        .pending_totp()
        .await?
        .filter(|p| p.user_id == user.id)
    else {
        return Ok(see_other("/account/mfa/totp"));
    };
    let code = input.params.get("code").unwrap_or("").trim().to_string();
    if let Err(message) = password_check(&s, &user, &input, ip.as_deref()).await? {
        let page = EnrollPage {
            user: &user,
            pending: &totp,
            action: "/account/mfa/totp",
            flow: None,
            required: false,
            needs_password: true,
            error: Some(message),
            status: StatusCode::UNAUTHORIZED,
        };
        return render_enroll(&s, &browser, page).await;
    }
    let codes = match s
        .provider
        .confirm_totp(&user, &totp, &code)
        .await
        .map_err(provider_err)?
    {
        Ok(codes) => codes,
        Err(EnrollFailure::AlreadyEnabled) => {
            browser.clear_pending_totp().await?;
            return Ok(see_other("/account?notice=mfa_on#security"));
        }
        Err(failure) => {
            let (message, fresh) = enroll_error(failure);
            let totp = if fresh {
                pending_totp_for(&s, &browser, &user).await?
            } else {
                totp
            };
            let page = EnrollPage {
                user: &user,
                pending: &totp,
                action: "/account/mfa/totp",
                flow: None,
                required: false,
                needs_password: true,
                error: Some(message),
                status: StatusCode::BAD_REQUEST,
            };
            return render_enroll(&s, &browser, page).await;
        }
    };
    browser.clear_pending_totp().await?;
    // This session has now shown both factors: the password at login and a current code.
    let upgraded = lanyard_core::authn::Authenticated {
        amr: mfa_amr(&auth.amr),
        acr: ACR_MFA.into(),
        ..auth
    };
    browser.elevate(&upgraded).await?;
    browser
        .end_other_sessions(&s.provider, user.id, "mfa_enrolled")
        .await?;
    render_codes(
        &s,
        &browser,
        &codes,
        "/account#security",
        "Two-step verification is on",
    )
    .await
}

/// The password typed with an enrollment confirmation (counts toward throttling when wrong).
async fn password_check(
    s: &AppState,
    user: &User,
    input: &Input,
    ip: Option<&str>,
) -> Result<Result<(), &'static str>, WebError> {
    let Some(password) = input.params.get("password").filter(|p| !p.is_empty()) else {
        return Ok(Err("Enter your password to confirm it's you."));
    };
    let proof = Proof::Password(Secret::new(password.to_string()));
    Ok(
        match s
            .provider
            .verify_proof(user, proof, ip)
            .await
            .map_err(provider_err)?
        {
            Ok(()) => Ok(()),
            Err(LoginFailure::Throttled(_)) => {
                Err("Too many failed attempts. Wait a few minutes, then try again.")
            }
            Err(_) => Err("That password is not correct."),
        },
    )
}

/// The proof a sensitive change needs: the password, or a current TOTP or backup code.
fn proof(input: &Input) -> Option<Proof> {
    let password = input.params.get("password").filter(|p| !p.is_empty());
    let code = input
        .params
        .get("code")
        .map(str::trim)
        .filter(|c| !c.is_empty());
    match (password, code) {
        (Some(p), _) => Some(Proof::Password(Secret::new(p.to_string()))),
        (None, Some(c)) => Some(Proof::Code(Secret::new(c.to_string()))),
        (None, None) => None,
    }
}

/// Check the proof; on failure, the redirect back to the account page that explains it.
async fn reauthenticate(
    s: &AppState,
    user: &User,
    input: &Input,
    ip: Option<&str>,
) -> Result<Result<(), Response>, WebError> {
    reauthenticate_to(s, user, input, ip, "security").await
}

/// `reauthenticate` for a form in another account-page section (`#section`).
pub(crate) async fn reauthenticate_to(
    s: &AppState,
    user: &User,
    input: &Input,
    ip: Option<&str>,
    section: &str,
) -> Result<Result<(), Response>, WebError> {
    let Some(proof) = proof(input) else {
        return Ok(Err(see_other(&format!(
            "/account?error=reauth_missing#{section}"
        ))));
    };
    match s
        .provider
        .verify_proof(user, proof, ip)
        .await
        .map_err(provider_err)?
    {
        Ok(()) => Ok(Ok(())),
        Err(LoginFailure::Throttled(_)) => Ok(Err(see_other(&format!(
            "/account?error=mfa_throttled#{section}"
        )))),
        Err(_) => Ok(Err(see_other(&format!("/account?error=reauth#{section}")))),
    }
}

/// POST /account/mfa/backup-codes: a new set, after re-authentication.
pub async fn regenerate_codes(
    State(s): State<AppState>,
    browser: Browser,
    ClientIp(ip): ClientIp,
    input: Input,
) -> Result<Response, WebError> {
    browser.check_csrf(input.params.get("csrf_token")).await?;
    let (_, user) = match super::account::signed_in(&s, &browser).await? {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    if !s
        .provider
        .totp_enabled(user.id)
        .await
        .map_err(provider_err)?
    {
        return Ok(see_other("/account#security"));
    }
    if let Err(r) = reauthenticate(&s, &user, &input, ip.as_deref()).await? {
        return Ok(r);
    }
    let codes = s
        .provider
        .regenerate_backup_codes(user.id)
        .await
        .map_err(provider_err)?;
    browser
        .end_other_sessions(&s.provider, user.id, "backup_codes_regenerated")
        .await?;
    render_codes(
        &s,
        &browser,
        &codes,
        "/account#security",
        "New backup codes",
    )
    .await
}

/// POST /account/mfa/disable: turn TOTP off, after re-authentication.
pub async fn disable(
    State(s): State<AppState>,
    browser: Browser,
    ClientIp(ip): ClientIp,
    input: Input,
) -> Result<Response, WebError> {
    browser.check_csrf(input.params.get("csrf_token")).await?;
    let (_, user) = match super::account::signed_in(&s, &browser).await? {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    if let Err(r) = reauthenticate(&s, &user, &input, ip.as_deref()).await? {
        return Ok(r);
    }
    if s.provider
        .disable_totp(user.id)
        .await
        .map_err(provider_err)?
    {
        browser
            .end_other_sessions(&s.provider, user.id, "mfa_disabled")
            .await?;
    }
    Ok(see_other("/account?notice=mfa_off#security"))
}
