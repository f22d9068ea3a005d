//! The sign-in pages: the password form, the second step (a code, or enrolling an authenticator
//! when a policy requires one) and the backup codes shown once after enrollment.
use axum::http::StatusCode;
use axum::response::Response;
use lanyard_core::authn::totp::Enrollment;
use lanyard_core::authn::{EnrollFailure, PendingTotp};
use lanyard_core::model::User;
use lanyard_core::oidc::params::with_query;
use serde::Serialize;

use super::{ClientRef, Page};
use crate::error::WebError;
use crate::journey::{browser_user, load_flow, login_url};
use crate::sessions::Browser;
use crate::state::AppState;

#[derive(Serialize)]
pub struct LoginPage {
    pub client: Option<ClientRef>,
    pub username: String,
    /// An upstream login waiting for this account's owner to confirm the link.
    pub link: Option<LinkNotice>,
    pub error: Option<String>,
    pub flow: String,
    pub action: &'static str,
    pub upstreams: Vec<UpstreamButton>,
    /// Options for a passwordless sign-in (button and username autofill), when passkeys are on.
    pub passkey_options: Option<serde_json::Value>,
}

#[derive(Serialize)]
pub struct LinkNotice {
    pub upstream: String,
}

#[derive(Serialize)]
pub struct UpstreamButton {
    pub name: String,
    pub display_name: String,
    pub url: String,
}

impl Page for LoginPage {
    const TEMPLATE: &'static str = "login.html";
    fn title(&self) -> &str {
        "Sign in"
    }
}

/// The application a sign-in belongs to, if it belongs to one.
async fn flow_client(
    s: &AppState,
    browser: &Browser,
    flow: Option<&str>,
) -> Result<Option<ClientRef>, WebError> {
    Ok(match flow {
        Some(id) => Some(ClientRef::of(
            &load_flow(s, browser, Some(id)).await?.client,
        )),
        None => None,
    })
}

/// The password form, pre-filled with `username` (or the account a pending link belongs to).
pub async fn login_page(
    s: &AppState,
    browser: &Browser,
    flow: Option<&str>,
    username: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let flow_query: Vec<(String, String)> = flow
        .map(|f| vec![("flow".to_string(), f.to_string())])
        .unwrap_or_default();
    let upstreams = s
        .provider
        .config()
        .upstreams
        .iter()
        .map(|u| UpstreamButton {
            name: u.name.clone(),
            display_name: u.display_name.clone(),
            url: with_query(&format!("/federation/{}/start", u.name), &flow_query),
        })
        .collect();
    let link = browser.pending_link(s.provider.now()).await?;
    let username = match (&link, username) {
        (Some(l), "") => l.username.clone(),
        _ => username.to_string(),
    };
    let link = link.map(|l| LinkNotice {
        upstream: s
            .provider
            .upstream(&l.upstream)
            .map_or(l.upstream.clone(), |u| u.display_name.clone()),
    });
    let page = LoginPage {
        client: flow_client(s, browser, flow).await?,
        username,
        link,
        error: error.map(str::to_string),
        flow: flow.unwrap_or("").to_string(),
        action: "/login",
        upstreams,
        passkey_options: match s.provider.start_passwordless()? {
            Ok((options, pending)) => {
                browser.set_pending_assertion(&pending).await?;
                Some(options)
            }
            Err(_) => None,
        },
    };
    let csrf = browser.csrf_token().await?;
    s.templates.page(status, &page, &csrf, None)
}

/// The second step's code form (a TOTP code, or a backup code).
pub struct CodePage<'a> {
    /// Whose login this is: their passkeys are offered first.
    pub user_id: uuid::Uuid,
    pub flow: Option<&'a str>,
    pub backup: bool,
    pub step_up: bool,
    pub error: Option<String>,
    pub status: StatusCode,
}

#[derive(Serialize)]
struct CodeView {
    client: Option<ClientRef>,
    /// `navigator.credentials.get()` options when the user has a passkey.
    passkey_options: Option<serde_json::Value>,
    /// The user has an authenticator app (and so backup codes): the code form is offered.
    codes: bool,
    flow: String,
    backup: bool,
    step_up: bool,
    error: Option<String>,
    action: &'static str,
    switch_url: String,
    restart_url: String,
}

impl Page for CodeView {
    const TEMPLATE: &'static str = "login_mfa.html";
    fn title(&self) -> &str {
        "Two-step verification"
    }
}

pub async fn code_page(
    s: &AppState,
    browser: &Browser,
    p: CodePage<'_>,
) -> Result<Response, WebError> {
    let other_method = if p.backup { "totp" } else { "backup" };
    let switch = [
        ("flow".to_string(), p.flow.unwrap_or("").to_string()),
        ("method".to_string(), other_method.to_string()),
    ];
    // A fresh ceremony for every rendering: the previous challenge is replaced, so it answers
    // at most once.
    let passkey_options = match s.provider.start_passkey_second_factor(p.user_id).await? {
        Some((options, pending)) => {
            browser.set_pending_assertion(&pending).await?;
            Some(options)
        }
        None => None,
    };
    let view = CodeView {
        client: flow_client(s, browser, p.flow).await?,
        passkey_options,
        codes: s.provider.totp_enabled(p.user_id).await?,
        flow: p.flow.unwrap_or("").to_string(),
        backup: p.backup,
        step_up: p.step_up,
        error: p.error,
        action: "/login/mfa",
        switch_url: with_query("/login/mfa", &switch),
        restart_url: login_url(p.flow),
    };
    let csrf = browser.csrf_token().await?;
    s.templates.page(p.status, &view, &csrf, None)
}

/// The pending TOTP secret for `user`, or a new one (also when the old one expired or belongs
/// to someone else who used this browser).
pub async fn pending_totp_for(
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

/// After a failed confirmation: the message, and the secret to show again — a new one when
/// the old one expired.
pub async fn enroll_retry(
    s: &AppState,
    browser: &Browser,
    user: &User,
    totp: PendingTotp,
    failure: EnrollFailure,
) -> Result<(&'static str, PendingTotp), WebError> {
    if failure == EnrollFailure::Expired {
        let message =
            "That setup expired. Add this new key to your app, then enter the code it shows.";
        return Ok((message, pending_totp_for(s, browser, user).await?));
    }
    let message = "That code does not match. Check that your phone's clock is right and enter the current code.";
    Ok((message, totp))
}

/// Adding an authenticator app: the QR code, the key, and the confirmation form.
pub struct EnrollPage<'a> {
    pub user: &'a User,
    pub pending: &'a PendingTotp,
    pub action: &'a str,
    pub flow: Option<&'a str>,
    /// Reached from a login that a policy stopped: the user cannot skip it.
    pub required: bool,
    /// The password must be entered with the code: no password was typed just before (account
    /// page, or a step-up of an older session), and whoever holds a session cookie must not be
    /// able to lock the owner out with their own authenticator.
    pub needs_password: bool,
    pub error: Option<&'a str>,
    pub status: StatusCode,
}

#[derive(Serialize)]
struct EnrollView<'a> {
    enrollment: Enrollment,
    account: &'a str,
    issuer: &'a str,
    action: &'a str,
    flow: &'a str,
    client: Option<ClientRef>,
    required: bool,
    needs_password: bool,
    error: Option<&'a str>,
    restart_url: String,
    /// A policy-forced enrollment may add a passkey instead: its creation options.
    passkey_options: Option<serde_json::Value>,
}

impl Page for EnrollView<'_> {
    const TEMPLATE: &'static str = "enroll_totp.html";
    fn title(&self) -> &str {
        "Set up an authenticator app"
    }
}

pub async fn enroll_page(
    s: &AppState,
    browser: &Browser,
    p: EnrollPage<'_>,
) -> Result<Response, WebError> {
    let view = EnrollView {
        enrollment: s.provider.totp_enrollment(p.user, p.pending)?,
        account: &p.user.username,
        issuer: &s.provider.config().mfa.totp_issuer,
        action: p.action,
        flow: p.flow.unwrap_or(""),
        client: flow_client(s, browser, p.flow).await?,
        required: p.required,
        needs_password: p.needs_password,
        error: p.error,
        restart_url: login_url(p.flow),
        passkey_options: match p.required {
            true => match s.provider.start_passkey_registration(p.user).await? {
                Ok((options, pending)) => {
                    browser.set_pending_passkey(&pending).await?;
                    Some(options)
                }
                Err(_) => None,
            },
            false => None,
        },
    };
    let csrf = browser.csrf_token().await?;
    // A login stopped by policy is not signed in yet: no header user.
    let user = match p.required {
        true => None,
        false => browser_user(s, browser).await?,
    };
    s.templates.page(p.status, &view, &csrf, user.as_ref())
}

#[derive(Serialize)]
struct BackupCodesView<'a> {
    codes: &'a [String],
    download_url: String,
    text: String,
    continue_url: &'a str,
    heading: &'a str,
}

impl Page for BackupCodesView<'_> {
    const TEMPLATE: &'static str = "backup_codes.html";
    fn title(&self) -> &str {
        "Save your backup codes"
    }
}

/// The backup codes, shown once (DESIGN §3), with a plain-text download.
pub async fn backup_codes_page(
    s: &AppState,
    browser: &Browser,
    codes: &[String],
    continue_url: &str,
    heading: &str,
) -> Result<Response, WebError> {
    let text = format!(
        "{} backup codes\r\nEach code works once.\r\n\r\n{}\r\n",
        s.provider.config().mfa.totp_issuer,
        codes.join("\r\n")
    );
    let view = BackupCodesView {
        codes,
        download_url: format!("data:text/plain;charset=utf-8,{}", percent_encode(&text)),
        text,
        continue_url,
        heading,
    };
    let csrf = browser.csrf_token().await?;
    let user = browser_user(s, browser).await?;
    s.templates
        .page(StatusCode::OK, &view, &csrf, user.as_ref())
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
