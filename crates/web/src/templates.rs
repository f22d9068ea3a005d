//! Page rendering. Templates are embedded in the binary (self-contained release), autoescaped
//! (`.html`), and receive the typed page models of `pages`; they make no decisions.
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use minijinja::Environment;
use serde::Serialize;

use crate::error::WebError;
use crate::pages::Page;
use crate::state::AppState;

const TEMPLATES: [(&str, &str); 14] = [
    (
        "passkey_add.html",
        include_str!("../../../templates/passkey_add.html"),
    ),
    ("base.html", include_str!("../../../templates/base.html")),
    (
        "macros.html",
        include_str!("../../../templates/macros.html"),
    ),
    ("login.html", include_str!("../../../templates/login.html")),
    (
        "consent.html",
        include_str!("../../../templates/consent.html"),
    ),
    (
        "logout.html",
        include_str!("../../../templates/logout.html"),
    ),
    (
        "logged_out.html",
        include_str!("../../../templates/logged_out.html"),
    ),
    ("error.html", include_str!("../../../templates/error.html")),
    (
        "login_mfa.html",
        include_str!("../../../templates/login_mfa.html"),
    ),
    (
        "enroll_totp.html",
        include_str!("../../../templates/enroll_totp.html"),
    ),
    (
        "backup_codes.html",
        include_str!("../../../templates/backup_codes.html"),
    ),
    (
        "account.html",
        include_str!("../../../templates/account.html"),
    ),
    (
        "form_post.html",
        include_str!("../../../templates/form_post.html"),
    ),
    ("leave.html", include_str!("../../../templates/leave.html")),
];

pub struct Templates {
    env: Environment<'static>,
    product_name: String,
}

/// What the header shows about the signed-in user.
#[derive(Debug, Clone, Serialize)]
pub struct CurrentUser {
    pub username: String,
    pub display_name: String,
}

impl CurrentUser {
    pub fn of(user: &lanyard_core::model::User) -> Self {
        Self {
            display_name: user.name.clone().unwrap_or_else(|| user.username.clone()),
            username: user.username.clone(),
        }
    }
}

impl Templates {
    pub fn new(product_name: &str) -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        for (name, src) in TEMPLATES {
            env.add_template(name, src)?;
        }
        Ok(Self {
            env,
            product_name: product_name.to_string(),
        })
    }

    /// Render a page model with the variables every page gets (product name, title, CSRF
    /// token, the signed-in user for the header).
    pub fn render<P: Page>(
        &self,
        page: &P,
        csrf: &str,
        user: Option<&CurrentUser>,
    ) -> Result<String, WebError> {
        let ctx = Context {
            product_name: &self.product_name,
            page_title: page.title(),
            csrf_token: csrf,
            current_user: user,
            page,
        };
        let name = P::TEMPLATE;
        let tmpl = self
            .env
            .get_template(name)
            .map_err(|e| WebError::Internal(format!("template {name}: {e}")))?;
        tmpl.render(minijinja::value::Serde(&ctx))
            .map_err(|e| WebError::Internal(format!("template {name}: {e:#}")))
    }

    pub fn page<P: Page>(
        &self,
        status: StatusCode,
        page: &P,
        csrf: &str,
        user: Option<&CurrentUser>,
    ) -> Result<Response, WebError> {
        let body = self.render(page, csrf, user)?;
        Ok((status, Html(body)).into_response())
    }
}

/// What every template sees: the shared variables, and the page model's fields at the top level.
#[derive(Serialize)]
struct Context<'a, P> {
    product_name: &'a str,
    page_title: &'a str,
    csrf_token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    current_user: Option<&'a CurrentUser>,
    #[serde(flatten)]
    page: &'a P,
}

/// Marker for an error page the `render_error_pages` middleware will fill in; errors are raised
/// far from the state that knows how to render them.
#[derive(Debug, Clone)]
struct ErrorPage {
    title: String,
    message: String,
}

pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let mut res = status.into_response();
    res.extensions_mut().insert(ErrorPage {
        title: title.to_string(),
        message: message.to_string(),
    });
    res
}

pub async fn render_error_pages(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let Some(page) = res.extensions().get::<ErrorPage>().cloned() else {
        return res;
    };
    let status = res.status();
    let model = crate::pages::ErrorPage {
        title: page.title.clone(),
        message: page.message.clone(),
        status: status.as_u16(),
    };
    match s.templates.render(&model, "", None) {
        Ok(body) => {
            let mut out = (status, Html(body)).into_response();
            out.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            out
        }
        Err(e) => {
            tracing::error!(error = ?e, "cannot render the error page");
            (status, format!("{}\n\n{}\n", page.title, page.message)).into_response()
        }
    }
}
