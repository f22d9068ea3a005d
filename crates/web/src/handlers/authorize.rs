//! `/authorize` (RFC 6749 4.1.1, OIDC Core 3.1.2) and the consent page (OIDC Core 3.1.2.4).
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use lanyard_core::oidc::authorize::AuthorizeError;
use lanyard_core::oidc::authorize::decide::needed_scopes;
use lanyard_core::oidc::error::{ErrorKind, OAuthError};
use serde::Deserialize;

use crate::error::WebError;
use crate::extract::CsrfForm;
use crate::input::Input;
use crate::journey::{LoadedFlow, current_user, load_flow, proceed, respond_error};
use crate::pages::ConsentPage;
use crate::sessions::{Browser, Flow};
use crate::state::AppState;

pub async fn authorize(
    State(s): State<AppState>,
    browser: Browser,
    input: Input,
) -> Result<Response, WebError> {
    match s.provider.validate_authorize(&input.params).await? {
        Err(AuthorizeError::Page(message)) => Err(WebError::page(
            StatusCode::BAD_REQUEST,
            "This sign-in request can't be completed",
            message,
        )),
        Err(AuthorizeError::Redirect(target, err)) => Ok(respond_error(&s, &target, &err, false)),
        Ok((req, client)) => {
            let flow = Flow::new(Some(req), s.provider.now());
            proceed(&s, &browser, flow, &client).await
        }
    }
}

#[derive(Deserialize)]
pub struct FlowQuery {
    flow: Option<String>,
}

pub async fn consent_page(
    State(s): State<AppState>,
    browser: Browser,
    Query(q): Query<FlowQuery>,
) -> Result<Response, WebError> {
    let LoadedFlow {
        flow,
        request,
        client,
    } = load_flow(&s, &browser, q.flow.as_deref()).await?;
    let now = s.provider.now();
    let Some(auth) = browser.auth(now, s.config.absolute_lifetime).await? else {
        return proceed(&s, &browser, flow, &client).await;
    };
    let user = current_user(&s, Some(&auth)).await?;
    let page = ConsentPage::new(&client, &needed_scopes(&request), user.clone(), &flow.id);
    let csrf = browser.csrf_token().await?;
    s.templates
        .page(StatusCode::OK, &page, &csrf, user.as_ref())
}

pub async fn consent_submit(
    State(s): State<AppState>,
    browser: Browser,
    CsrfForm(input): CsrfForm,
) -> Result<Response, WebError> {
    let LoadedFlow {
        mut flow,
        request,
        client,
    } = load_flow(&s, &browser, input.params.get("flow")).await?;
    let now = s.provider.now();
    let Some(auth) = browser.auth(now, s.config.absolute_lifetime).await? else {
        return proceed(&s, &browser, flow, &client).await;
    };
    match input.params.get("decision") {
        Some("allow") => {
            s.provider.record_consent(auth.user_id, &request).await?;
            flow.consented = true;
            proceed(&s, &browser, flow, &client).await
        }
        Some("deny") => {
            browser.remove_flow(&flow.id).await?;
            let err = OAuthError::new(ErrorKind::AccessDenied, "the user declined");
            // The user chose this on our consent page, which names the application.
            Ok(respond_error(&s, &request.target, &err, true))
        }
        _ => Err(WebError::bad_request("Choose Allow or Cancel.")),
    }
}
