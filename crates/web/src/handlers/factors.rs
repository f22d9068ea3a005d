//! The account page's second factors (DESIGN §3): add an authenticator app, regenerate backup
//! codes, turn TOTP off. Each change needs proof of the password or a current code, and ends the
//! user's other sessions.
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use lanyard_core::authn::{ACR_MFA, Authenticated, EnrollFailure, PendingTotp, mfa_amr};
use lanyard_core::model::User;

use crate::error::WebError;
use crate::extract::{CsrfForm, SignedIn};
use crate::input::ClientIp;
use crate::journey::{password_check, reauthenticate, see_other};
use crate::pages::{EnrollPage, backup_codes_page, enroll_page, enroll_retry, pending_totp_for};
use crate::sessions::Browser;
use crate::state::AppState;

const ACTION: &str = "/account/mfa/totp";

fn account_enroll_page<'a>(user: &'a User, totp: &'a PendingTotp) -> EnrollPage<'a> {
    EnrollPage {
        user,
        pending: totp,
        action: ACTION,
        flow: None,
        required: false,
        needs_password: true,
        error: None,
        status: StatusCode::OK,
    }
}

/// GET /account/mfa/totp: start adding an authenticator app.
pub async fn enroll_form(
    State(s): State<AppState>,
    browser: Browser,
    SignedIn { user, .. }: SignedIn,
) -> Result<Response, WebError> {
    if s.provider.totp_enabled(user.id).await? {
        return Ok(see_other("/account#security"));
    }
    let totp = pending_totp_for(&s, &browser, &user).await?;
    enroll_page(&s, &browser, account_enroll_page(&user, &totp)).await
}

/// POST /account/mfa/totp: confirm the authenticator from the account page.
pub async fn enroll_submit(
    State(s): State<AppState>,
    browser: Browser,
    ClientIp(ip): ClientIp,
    SignedIn { auth, user }: SignedIn,
    CsrfForm(input): CsrfForm,
) -> Result<Response, WebError> {
    let pending = browser.pending_totp().await?;
    let Some(totp) = pending.filter(|p| p.user_id == user.id) else {
        return Ok(see_other(ACTION));
    };
    if let Err(message) = password_check(&s, &user, &input, ip.as_deref()).await? {
        let page = EnrollPage {
            error: Some(message),
            status: StatusCode::UNAUTHORIZED,
            ..account_enroll_page(&user, &totp)
        };
        return enroll_page(&s, &browser, page).await;
    }
    let code = input.params.get("code").unwrap_or("").trim();
    let codes = match s.provider.confirm_totp(&user, &totp, code).await? {
        Ok(codes) => codes,
        Err(EnrollFailure::AlreadyEnabled) => {
            browser.clear_pending_totp().await?;
            return Ok(see_other("/account?notice=mfa_on#security"));
        }
        Err(failure) => {
            let (message, totp) = enroll_retry(&s, &browser, &user, totp, failure).await?;
            let page = EnrollPage {
                error: Some(message),
                status: StatusCode::BAD_REQUEST,
                ..account_enroll_page(&user, &totp)
            };
            return enroll_page(&s, &browser, page).await;
        }
    };
    browser.clear_pending_totp().await?;
    // This session has now shown both factors: the password at login and a current code.
    let upgraded = Authenticated {
        amr: mfa_amr(&auth.amr),
        acr: ACR_MFA.into(),
        ..auth
    };
    browser.elevate(&upgraded).await?;
    browser
        .end_other_sessions(&s.provider, user.id, "mfa_enrolled")
        .await?;
    let heading = "Two-step verification is on";
    backup_codes_page(&s, &browser, &codes, "/account#security", heading).await
}

/// POST /account/mfa/backup-codes: a new set, after re-authentication.
pub async fn regenerate_codes(
    State(s): State<AppState>,
    browser: Browser,
    ClientIp(ip): ClientIp,
    SignedIn { user, .. }: SignedIn,
    CsrfForm(input): CsrfForm,
) -> Result<Response, WebError> {
    if !s.provider.totp_enabled(user.id).await? {
        return Ok(see_other("/account#security"));
    }
    if let Some(back) = reauthenticate(&s, &user, &input, ip.as_deref(), "security").await? {
        return Ok(back);
    }
    let codes = s.provider.regenerate_backup_codes(user.id).await?;
    browser
        .end_other_sessions(&s.provider, user.id, "backup_codes_regenerated")
        .await?;
    backup_codes_page(
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
    SignedIn { user, .. }: SignedIn,
    CsrfForm(input): CsrfForm,
) -> Result<Response, WebError> {
    if let Some(back) = reauthenticate(&s, &user, &input, ip.as_deref(), "security").await? {
        return Ok(back);
    }
    if s.provider.disable_totp(user.id).await? {
        browser
            .end_other_sessions(&s.provider, user.id, "mfa_disabled")
            .await?;
    }
    Ok(see_other("/account?notice=mfa_off#security"))
}
