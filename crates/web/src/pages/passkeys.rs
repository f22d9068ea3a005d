//! The page that adds a passkey.
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use super::Page;
use crate::error::WebError;
use crate::journey::browser_user;
use crate::sessions::Browser;
use crate::state::AppState;

#[derive(Serialize)]
pub struct PasskeyAddPage<'a> {
    /// The username, for password managers.
    pub account: &'a str,
    /// `navigator.credentials.create()` options, read by `static/passkeys.js`.
    pub options: serde_json::Value,
    /// Which proofs the user can give: the password, a code from an authenticator app.
    pub has_password: bool,
    pub has_codes: bool,
    pub error: Option<&'static str>,
}

impl Page for PasskeyAddPage<'_> {
    const TEMPLATE: &'static str = "passkey_add.html";
    fn title(&self) -> &str {
        "Add a passkey"
    }
}

pub async fn passkey_add_page(
    s: &AppState,
    browser: &Browser,
    page: &PasskeyAddPage<'_>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let csrf = browser.csrf_token().await?;
    let user = browser_user(s, browser).await?;
    s.templates.page(status, page, &csrf, user.as_ref())
}
