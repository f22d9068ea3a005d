//! The account page's passkeys: add (after the password or a current code), rename, remove
//! (after the password or a current code). Adding, renaming or removing one ends the user's
//! other sessions, as a TOTP change does.
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use lanyard_core::authn::passkeys::PasskeyFailure;
use uuid::Uuid;

use crate::error::WebError;
use crate::extract::{CsrfForm, SignedIn};
use crate::input::ClientIp;
use crate::journey::{proof_check, reauthenticate, see_other};
use crate::pages::{PasskeyAddPage, passkey_add_page};
use crate::sessions::Browser;
use crate::state::AppState;

fn failure_text(f: PasskeyFailure) -> &'static str {
    match f {
        PasskeyFailure::Unavailable => "Passkeys are not available on this server.",
        PasskeyFailure::Expired => "That took too long. Try again.",
        PasskeyFailure::AlreadyRegistered => "That passkey is already registered.",
        PasskeyFailure::NotVerified => {
            "Your device did not check it's you (PIN, fingerprint or face). Try again and confirm on the device."
        }
        PasskeyFailure::Rejected | PasskeyFailure::Unknown | PasskeyFailure::CounterRegression => {
            "Your browser's answer could not be verified. Try again."
        }
    }
}

/// A new ceremony for `user`, kept in the session, and the page that runs it.
async fn fresh_page(
    s: &AppState,
    browser: &Browser,
    user: &lanyard_core::model::User,
    error: Option<&'static str>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let (options, pending) = match s.provider.start_passkey_registration(user).await? {
        Ok(started) => started,
        Err(_) => return Ok(see_other("/account?error=passkeys_off#passkeys")),
    };
    browser.set_pending_passkey(&pending).await?;
    let page = PasskeyAddPage {
        account: &user.username,
        options,
        has_password: user.password_hash.is_some(),
        has_codes: s.provider.totp_enabled(user.id).await?,
        error,
    };
    passkey_add_page(s, browser, &page, status).await
}

/// GET /account/passkeys/new
pub async fn add_form(
    State(s): State<AppState>,
    browser: Browser,
    SignedIn { user, .. }: SignedIn,
) -> Result<Response, WebError> {
    fresh_page(&s, &browser, &user, None, StatusCode::OK).await
}

/// POST /account/passkeys: the browser's answer, the name and the password or a code.
pub async fn add_submit(
    State(s): State<AppState>,
    browser: Browser,
    ClientIp(ip): ClientIp,
    SignedIn { user, .. }: SignedIn,
    CsrfForm(input): CsrfForm,
) -> Result<Response, WebError> {
    let Some(pending) = browser.take_pending_passkey().await? else {
        return Ok(see_other("/account/passkeys/new"));
    };
    if let Err(message) = proof_check(&s, &user, &input, ip.as_deref()).await? {
        return fresh_page(&s, &browser, &user, Some(message), StatusCode::UNAUTHORIZED).await;
    }
    let credential = input.params.get("credential").unwrap_or("");
    if credential.is_empty() {
        let message = "Create the passkey with your browser first (this needs JavaScript).";
        return fresh_page(&s, &browser, &user, Some(message), StatusCode::BAD_REQUEST).await;
    }
    let name = input.params.get("name");
    match s
        .provider
        .finish_passkey_registration(&user, pending, credential, name, ip.as_deref())
        .await?
    {
        Ok(_) => {
            browser
                .end_other_sessions(&s.provider, user.id, "passkey_added")
                .await?;
            Ok(see_other("/account?notice=passkey_added#passkeys"))
        }
        Err(f) => {
            fresh_page(
                &s,
                &browser,
                &user,
                Some(failure_text(f)),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
    }
}

fn passkey_id(input: &crate::input::Input) -> Option<Uuid> {
    input
        .params
        .get("passkey")
        .and_then(|v| Uuid::parse_str(v).ok())
}

/// POST /account/passkeys/rename
pub async fn rename(
    State(s): State<AppState>,
    browser: Browser,
    ClientIp(ip): ClientIp,
    SignedIn { user, .. }: SignedIn,
    CsrfForm(input): CsrfForm,
) -> Result<Response, WebError> {
    let name = input.params.get("name").unwrap_or("");
    let renamed = match passkey_id(&input) {
        Some(id) => {
            s.provider
                .rename_passkey(&user, id, name, ip.as_deref())
                .await?
        }
        None => false,
    };
    if !renamed {
        return Ok(see_other("/account?error=passkey_name#passkeys"));
    }
    // Like every change to a sign-in method, a rename signs out the user's other browsers: one
    // that was not theirs learns nothing new, and the user sees the change took effect.
    browser
        .end_other_sessions(&s.provider, user.id, "passkey_renamed")
        .await?;
    Ok(see_other("/account?notice=passkey_renamed#passkeys"))
}

/// POST /account/passkeys/remove, after re-authentication.
pub async fn remove(
    State(s): State<AppState>,
    browser: Browser,
    ClientIp(ip): ClientIp,
    SignedIn { user, .. }: SignedIn,
    CsrfForm(input): CsrfForm,
) -> Result<Response, WebError> {
    if let Some(back) = reauthenticate(&s, &user, &input, ip.as_deref(), "passkeys").await? {
        return Ok(back);
    }
    let Some(id) = passkey_id(&input) else {
        return Ok(see_other("/account#passkeys"));
    };
    match s.provider.remove_passkey(&user, id, ip.as_deref()).await? {
        Ok(true) => {
            browser
                .end_other_sessions(&s.provider, user.id, "passkey_removed")
                .await?;
            Ok(see_other("/account?notice=passkey_removed#passkeys"))
        }
        Ok(false) => Ok(see_other("/account#passkeys")),
        Err(_) => Ok(see_other("/account?error=last_factor#passkeys")),
    }
}
