//! Page models: one typed struct per template, holding exactly what the page shows. Handlers
//! build them (or call the builders here); templates only lay them out.
mod account;
mod authorize;
mod passkeys;
mod sign_in;

use chrono::{DateTime, Utc};
use lanyard_core::model::Client;
use serde::Serialize;

pub use account::{AccountContext, AccountPage, Notice, session_auth};
pub use authorize::{ConsentPage, FormPostPage, LeavePage, LoggedOutPage, LogoutPage};
pub use passkeys::{PasskeyAddPage, passkey_add_page};
pub use sign_in::{
    CodePage, EnrollPage, backup_codes_page, code_page, enroll_page, enroll_retry, login_page,
    pending_totp_for,
};

/// A page model and the template that renders it.
pub trait Page: Serialize {
    const TEMPLATE: &'static str;
    /// The document title.
    fn title(&self) -> &str;
}

/// The error page (filled in by `templates::render_error_pages`).
#[derive(Serialize)]
pub struct ErrorPage {
    pub title: String,
    pub message: String,
    pub status: u16,
}

impl Page for ErrorPage {
    const TEMPLATE: &'static str = "error.html";
    fn title(&self) -> &str {
        &self.title
    }
}

/// A hidden form field (or a parameter shown with its value).
#[derive(Debug, Clone, Serialize)]
pub struct Field {
    pub name: String,
    pub value: String,
}

impl Field {
    pub fn list(params: Vec<(String, String)>) -> Vec<Self> {
        params
            .into_iter()
            .map(|(name, value)| Self { name, value })
            .collect()
    }
}

/// The application a page is about.
#[derive(Debug, Clone, Serialize)]
pub struct ClientRef {
    pub name: String,
    pub client_id: String,
}

impl ClientRef {
    pub fn of(client: &Client) -> Self {
        Self {
            name: client.name.clone(),
            client_id: client.client_id.clone(),
        }
    }
}

/// Times as pages show them.
pub fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}
