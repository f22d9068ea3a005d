//! The account page: profile, password, connected apps and active sessions.
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use lanyard_core::model::ProfileUpdate;
use lanyard_core::secret::{Secret, b64url_decode};
use lanyard_core::self_service::{PasswordChangeFailure, ProfileProblem};
use lanyard_core::types::PasswordProblem;

use crate::error::WebError;
use crate::extract::{CsrfForm, SignedIn};
use crate::input::{ClientIp, Input};
use crate::journey::see_other;
use crate::pages::{AccountContext, AccountPage, Notice, session_auth};
use crate::sessions::Browser;
use crate::state::AppState;
use crate::templates::CurrentUser;

pub async fn page(
    State(s): State<AppState>,
    browser: Browser,
    SignedIn { auth, user }: SignedIn,
    Query(notice): Query<Notice>,
) -> Result<Response, WebError> {
    let overview = s.provider.account_overview(&user).await?;
    let current = browser.id_hash();
    let upstreams = s.provider.config().upstreams.iter();
    let cx = AccountContext {
        user: &user,
        auth: &auth,
        current_session: current.as_deref(),
        upstreams: upstreams
            .map(|u| (u.name.clone(), u.display_name.clone()))
            .collect(),
        notice: &notice,
    };
    let page = AccountPage::new(overview, cx);
    let csrf = browser.csrf_token().await?;
    let header = CurrentUser::of(&user);
    s.templates
        .page(StatusCode::OK, &page, &csrf, Some(&header))
}

/// A trimmed text field, at most `max` characters; empty is none.
fn field(input: &Input, key: &str, max: usize) -> Option<String> {
    input
        .params
        .get(key)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| v.chars().take(max).collect())
}

pub async fn profile(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    SignedIn { user, .. }: SignedIn,
    CsrfForm(input): CsrfForm,
) -> Result<Response, WebError> {
    let update = ProfileUpdate {
        name: field(&input, "name", 256),
        given_name: field(&input, "given_name", 256),
        family_name: field(&input, "family_name", 256),
        email: field(&input, "email", 256),
        phone_number: field(&input, "phone_number", 256),
        address: field(&input, "address", 1024),
    };
    Ok(
        match s
            .provider
            .update_profile(&user, &update, ip.as_deref())
            .await?
        {
            Ok(()) => see_other("/account?notice=profile"),
            Err(ProfileProblem::Email) => see_other("/account?error=email"),
        },
    )
}

/// Changing the password needs the current one; it ends the user's other sessions and revokes
/// their grants (DESIGN §1).
pub async fn password(
    State(s): State<AppState>,
    browser: Browser,
    ClientIp(ip): ClientIp,
    SignedIn { user, .. }: SignedIn,
    CsrfForm(input): CsrfForm,
) -> Result<Response, WebError> {
    let p = &input.params;
    let current = Secret::new(p.get("current_password").unwrap_or("").to_string());
    let new = p.get("new_password").unwrap_or("").to_string();
    let confirm = p.get("confirm_password").unwrap_or("");
    let keep = browser.id_hash();
    let changed = s
        .provider
        .change_password(&user, current, new, confirm, keep.as_deref(), ip.as_deref())
        .await?;
    let error = match changed {
        Ok(ended) => {
            browser.restamp(ended.epoch).await?;
            return Ok(see_other("/account?notice=password"));
        }
        Err(PasswordChangeFailure::Mismatch) => "mismatch",
        Err(PasswordChangeFailure::Policy(PasswordProblem::TooShort)) => "weak",
        Err(PasswordChangeFailure::Policy(PasswordProblem::TooLong)) => "too_long",
        Err(PasswordChangeFailure::WrongCurrent) => "wrong_password",
        Err(PasswordChangeFailure::Throttled) => "throttled",
    };
    Ok(see_other(&format!("/account?error={error}")))
}

pub async fn revoke_consent(
    State(s): State<AppState>,
    SignedIn { user, .. }: SignedIn,
    CsrfForm(input): CsrfForm,
) -> Result<Response, WebError> {
    let client_id = input
        .params
        .get("client_id")
        .ok_or_else(|| WebError::bad_request("Which application? (client_id is missing)"))?;
    s.provider.revoke_consent(&user, client_id).await?;
    Ok(see_other("/account?notice=consent"))
}

/// Sign one of the user's sessions out; its clients hear of it by back-channel logout.
pub async fn end_session(
    State(s): State<AppState>,
    SignedIn { user, .. }: SignedIn,
    CsrfForm(input): CsrfForm,
) -> Result<Response, WebError> {
    let target = input
        .params
        .get("session")
        .and_then(b64url_decode)
        .ok_or_else(|| WebError::bad_request("Which session? (session is missing)"))?;
    if let Some(session) = s.provider.user_session(&user, &target).await? {
        let auth = session_auth(&session);
        let deliveries = s
            .provider
            .end_user_session(&user, &session, auth.as_ref())
            .await?;
        s.backchannel.send(deliveries);
    }
    Ok(see_other("/account?notice=session"))
}
