//! Pages of the authorization and logout endpoints: consent, the interstitial before leaving
//! for a self-registered client, the form-post response, and signing out.
use lanyard_core::model::Client;
use lanyard_core::oidc::scopes;
use serde::Serialize;

use super::{ClientRef, Field, Page};
use crate::templates::CurrentUser;

/// OIDC Core 3.1.2.4: which app asks, for what, on whose behalf.
#[derive(Serialize)]
pub struct ConsentPage {
    pub client: ConsentClient,
    pub scopes: Vec<ScopeView>,
    pub user: Option<CurrentUser>,
    pub flow: String,
    pub action: &'static str,
}

#[derive(Serialize)]
pub struct ConsentClient {
    pub name: String,
    pub client_id: String,
    pub logo_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
    /// Self-registered: the page says nobody vetted it.
    pub registered: bool,
}

#[derive(Serialize)]
pub struct ScopeView {
    pub name: String,
    pub title: &'static str,
    pub description: &'static str,
}

impl ConsentPage {
    pub fn new(client: &Client, needed: &[String], user: Option<CurrentUser>, flow: &str) -> Self {
        Self {
            client: ConsentClient {
                name: client.name.clone(),
                client_id: client.client_id.clone(),
                logo_uri: client.logo_uri.clone(),
                policy_uri: client.policy_uri.clone(),
                tos_uri: client.tos_uri.clone(),
                registered: client.is_self_registered(),
            },
            scopes: needed
                .iter()
                .filter_map(|name| {
                    let (title, description) = scopes::describe(name)?;
                    Some(ScopeView {
                        name: name.clone(),
                        title,
                        description,
                    })
                })
                .collect(),
            user,
            flow: flow.to_string(),
            action: "/consent",
        }
    }
}

impl Page for ConsentPage {
    const TEMPLATE: &'static str = "consent.html";
    fn title(&self) -> &str {
        "Allow access"
    }
}

/// An error for a self-registered client's redirect URI, shown before the browser goes there
/// (RFC 9700 4.11.2).
#[derive(Serialize)]
pub struct LeavePage {
    pub reason: String,
    pub host: String,
    pub url: String,
    pub form_post: bool,
    pub params: Vec<Field>,
}

impl Page for LeavePage {
    const TEMPLATE: &'static str = "leave.html";
    fn title(&self) -> &str {
        "Leaving"
    }
}

/// OAuth 2.0 Form Post Response Mode: the auto-submitting form.
#[derive(Serialize)]
pub struct FormPostPage {
    pub redirect_uri: String,
    pub params: Vec<Field>,
}

impl Page for FormPostPage {
    const TEMPLATE: &'static str = "form_post.html";
    fn title(&self) -> &str {
        "Continuing"
    }
}

/// RP-Initiated Logout without a hint naming the user: they confirm.
#[derive(Serialize)]
pub struct LogoutPage {
    pub client: Option<ClientRef>,
    pub action: &'static str,
    /// The request's parameters, carried through the confirmation.
    pub hidden: Vec<Field>,
}

impl Page for LogoutPage {
    const TEMPLATE: &'static str = "logout.html";
    fn title(&self) -> &str {
        "Sign out"
    }
}

#[derive(Serialize)]
pub struct LoggedOutPage {
    pub message: &'static str,
    pub return_url: Option<String>,
    pub return_host: Option<String>,
}

impl Page for LoggedOutPage {
    const TEMPLATE: &'static str = "logged_out.html";
    fn title(&self) -> &str {
        "Signed out"
    }
}
