//! The login page: the password step. A second step, when one follows, is in `second_step.rs`.
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use lanyard_core::authn::{LoginFailure, LoginStep};
use lanyard_core::secret::Secret;
use serde::Deserialize;

use crate::error::WebError;
use crate::extract::CsrfForm;
use crate::input::ClientIp;
use crate::journey::{finish_login, load_flow, optional_flow, to_second_step};
use crate::pages::login_page;
use crate::sessions::{Browser, Flow};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct LoginQuery {
    flow: Option<String>,
    /// A sealed flow from `/authorize` for a browser that had no session yet.
    resume: Option<String>,
}

pub async fn page(
    State(s): State<AppState>,
    browser: Browser,
    Query(mut q): Query<LoginQuery>,
) -> Result<Response, WebError> {
    if let Some(sealed) = q.resume.as_deref() {
        // The page is shown now, so the pending sign-in is kept from here on.
        let flow = Flow::unseal(&s.provider, sealed, s.config.flow_lifetime)
            .ok_or_else(WebError::flow_expired)?;
        browser.put_flow(&flow).await?;
        q.flow = Some(flow.id);
    }
    let hint = match q.flow.as_deref() {
        Some(id) => load_flow(&s, &browser, Some(id)).await?.request.login_hint,
        None => None,
    };
    let hint = hint.unwrap_or_default();
    login_page(&s, &browser, q.flow.as_deref(), &hint, None, StatusCode::OK).await
}

pub async fn submit(
    State(s): State<AppState>,
    browser: Browser,
    ClientIp(ip): ClientIp,
    CsrfForm(input): CsrfForm,
) -> Result<Response, WebError> {
    let flow_id = input.params.get("flow");
    let flow = optional_flow(&s, &browser, flow_id).await?;
    let username = input.params.get("username").unwrap_or("");
    let password = Secret::new(input.params.get("password").unwrap_or("").to_string());
    if username.is_empty() || password.expose().is_empty() {
        let message = Some("Enter your username and password.");
        return login_page(
            &s,
            &browser,
            flow_id,
            username,
            message,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let user = match s
        .provider
        .login_password(username, password, ip.as_deref())
        .await
        .inspect_err(|e| s.metrics.login_error(e))?
    {
        Ok(u) => u,
        Err(failure) => {
            s.metrics.login("failure", failure.reason());
            let status = match failure {
                LoginFailure::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::UNAUTHORIZED,
            };
            let message = failure.message();
            return login_page(&s, &browser, flow_id, username, Some(&message), status).await;
        }
    };
    let (client, acr_values) = match &flow {
        Some(f) => (Some(&f.client), f.request.acr_values.as_slice()),
        None => (None, &[][..]),
    };
    match s.provider.after_password(&user, client, acr_values).await? {
        LoginStep::Done(auth) => {
            finish_login(&s, &browser, &auth, flow, &input, ip.as_deref()).await
        }
        LoginStep::Pending(pending) => to_second_step(&browser, &pending, flow_id).await,
    }
}

/// POST /login/passkey: a passwordless sign-in with a discoverable passkey (the button, or the
/// username field's autofill).
pub async fn passkey(
    State(s): State<AppState>,
    browser: Browser,
    ClientIp(ip): ClientIp,
    CsrfForm(input): CsrfForm,
) -> Result<Response, WebError> {
    let flow_id = input.params.get("flow");
    let flow = optional_flow(&s, &browser, flow_id).await?;
    let credential = input.params.get("credential").unwrap_or("");
    let result = match browser.take_pending_assertion().await? {
        Some(assertion) => s
            .provider
            .passwordless_login(assertion, credential, ip.as_deref())
            .await
            .inspect_err(|e| s.metrics.login_error(e))?,
        None => Err(LoginFailure::BadPasskey),
    };
    match result {
        Ok(auth) => finish_login(&s, &browser, &auth, flow, &input, ip.as_deref()).await,
        Err(failure) => {
            s.metrics.login("failure", failure.reason());
            let status = match failure {
                LoginFailure::Disabled => StatusCode::FORBIDDEN,
                LoginFailure::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::UNAUTHORIZED,
            };
            let message = failure.message();
            login_page(&s, &browser, flow_id, "", Some(&message), status).await
        }
    }
}
