//! `/authorize` (RFC 6749 4.1.1, OIDC Core 3.1.2) and the consent page (OIDC Core 3.1.2.4).
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lanyard_core::model::Client;
use lanyard_core::oidc::authorize::decide::needed_scopes;
use lanyard_core::oidc::authorize::{
    AuthorizeError, AuthorizeRequest, Decision, RedirectTarget, ResponseMode,
};
use lanyard_core::oidc::error::{ErrorKind, OAuthError};
use lanyard_core::oidc::params::Params;
use lanyard_core::oidc::scopes;
use serde::Deserialize;
use serde_json::json;

use super::{current_user, see_other, with_query};
use crate::error::WebError;
use crate::input::Input;
use crate::sessions::{Browser, Flow};
use crate::state::AppState;

pub async fn authorize(
    State(s): State<AppState>,
    browser: Browser,
    input: Input,
) -> Result<Response, WebError> {
    let params = match request_object(&s, &input.params).await? {
        Ok(Some(merged)) => merged,
        Ok(None) => input.params,
        Err(response) => return Ok(response),
    };
    let validated = s
        .provider
        .validate_authorize(&params)
        .await
        .map_err(WebError::from_provider_page)?;
    match validated {
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

/// OIDC Core 6 / RFC 9101: replace the query by a request object's parameters (`request`, or
/// `request_uri` fetched here with the SSRF protections of `fetch.rs`). `Ok(None)`: there is
/// none. Errors go to the client when the query's redirect URI is valid for it, otherwise to a
/// page (RFC 6749 4.1.2.1).
async fn request_object(
    s: &AppState,
    params: &Params,
) -> Result<Result<Option<Params>, Response>, WebError> {
    let (by_value, by_reference) = (params.get("request"), params.get("request_uri"));
    if by_value.is_none() && by_reference.is_none() {
        return Ok(Ok(None));
    }
    let client = match params.get("client_id") {
        Some(id) => s
            .provider
            .store
            .get_client(id)
            .await
            .map_err(|e| WebError::from_provider_page(e.into()))?,
        None => None,
    };
    let target =
        match lanyard_core::oidc::authorize::request::redirect_target(params, client.as_ref()) {
            Ok(t) => t,
            Err(AuthorizeError::Page(message)) => {
                return Err(WebError::page(
                    StatusCode::BAD_REQUEST,
                    "This sign-in request can't be completed",
                    message,
                ));
            }
            Err(AuthorizeError::Redirect(target, err)) => {
                return Ok(Err(respond_error(s, &target, &err, false)));
            }
        };
    let Some(client) = client else {
        return Err(WebError::page(
            StatusCode::BAD_REQUEST,
            "This sign-in request can't be completed",
            "Unknown application.",
        ));
    };
    let fail = |kind: ErrorKind, description: &'static str| {
        respond_error(s, &target, &OAuthError::new(kind, description), false)
    };
    let object = match (by_value, by_reference) {
        (Some(_), Some(_)) => {
            return Ok(Err(fail(
                ErrorKind::InvalidRequest,
                "use request or request_uri, not both",
            )));
        }
        (Some(v), None) => v.to_string(),
        (None, Some(uri)) => match s.fetcher.get_text(uri).await {
            Ok(text) => text.trim().to_string(),
            Err(e) => {
                tracing::info!(client_id = %client.client_id, error = %e, "request_uri not fetched");
                return Ok(Err(fail(
                    ErrorKind::InvalidRequestUri,
                    "the request_uri could not be fetched",
                )));
            }
        },
        (None, None) => return Ok(Ok(None)),
    };
    let jwks = match (&client.jwks, &client.jwks_uri) {
        (Some(j), _) => Some(j.clone()),
        (None, Some(uri)) => s.fetcher.jwks(uri).await.ok(),
        (None, None) => None,
    };
    match lanyard_core::oidc::request_object::resolve(
        params,
        &object,
        &client,
        jwks.as_ref(),
        &s.provider.config.issuer,
        s.provider.config.allow_unsigned_request_objects,
        s.provider.now(),
    ) {
        Ok(merged) => Ok(Ok(Some(merged))),
        Err(e) => Ok(Err(respond_error(s, &target, &e, false))),
    }
}

/// Decide the next step for a flow and take it: send the user to log in or consent, or answer
/// the client with a code or an error.
pub async fn proceed(
    s: &AppState,
    browser: &Browser,
    flow: Flow,
    client: &Client,
) -> Result<Response, WebError> {
    let Some(req) = flow.request.as_ref() else {
        return Ok(see_other("/account"));
    };
    let auth = browser
        .auth(s.provider.now(), s.config.absolute_lifetime)
        .await?;
    let decision = s
        .provider
        .decide(req, client, auth.as_ref(), flow.fresh_login, flow.consented)
        .await
        .map_err(WebError::from_provider_page)?;
    match (decision, auth) {
        (Decision::Login, _) if browser.is_new().await? => {
            // No session yet: store nothing for a request that may never show a page (a bot,
            // a prefetch). The validated request travels sealed to the sign-in page, which
            // keeps it once it is shown.
            Ok(see_other(&with_query(
                "/login",
                &[("resume".into(), flow.seal(&s.provider))],
            )))
        }
        (Decision::Login, _) => {
            browser.put_flow(&flow).await?;
            Ok(see_other(&with_query(
                "/login",
                &[("flow".into(), flow.id.clone())],
            )))
        }
        (Decision::StepUp, Some(auth)) => {
            let pending = s
                .provider
                .step_up(&auth)
                .await
                .map_err(WebError::from_provider_page)?;
            browser.put_flow(&flow).await?;
            browser.begin_second_step(&pending).await?;
            Ok(see_other(&super::mfa::second_step_url(
                pending.next,
                Some(&flow.id),
            )))
        }
        (Decision::StepUp, None) => Err(WebError::Internal(
            "step-up decided without a session".into(),
        )),
        (Decision::Consent, _) => {
            browser.put_flow(&flow).await?;
            Ok(see_other(&with_query(
                "/consent",
                &[("flow".into(), flow.id.clone())],
            )))
        }
        (Decision::Error(kind), _) => {
            browser.remove_flow(&flow.id).await?;
            let err = OAuthError::new(kind, interaction_message(kind));
            // prompt=none: no page was shown in this flow.
            Ok(respond_error(s, &req.target, &err, false))
        }
        (Decision::Issue, Some(auth)) => {
            browser.remove_flow(&flow.id).await?;
            let params = s
                .provider
                .issue_code(req, &auth)
                .await
                .map_err(WebError::from_provider_page)?;
            s.metrics.event("authorization", "code_issued");
            Ok(respond_to_client(s, &req.target, params))
        }
        (Decision::Issue, None) => {
            Err(WebError::Internal("issue decided without a session".into()))
        }
    }
}

fn interaction_message(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::LoginRequired => "the user must log in",
        ErrorKind::ConsentRequired => "the user must consent",
        _ => "user interaction is required",
    }
}

/// Send an error to a validated redirect URI (RFC 6749 4.1.2.1). When the redirect URI belongs
/// to a self-registered client and the user has not acted on a page of ours, the error is shown
/// first, with a link to the destination (RFC 9700 4.11.2: no open redirector).
pub fn respond_error(
    s: &AppState,
    target: &RedirectTarget,
    err: &OAuthError,
    user_acted: bool,
) -> Response {
    let params = s.provider.error_params(target, err);
    if !target.confirm_before(user_acted) {
        return respond_to_client(s, target, params);
    }
    let form_post = target.response_mode == ResponseMode::FormPost;
    let url = if form_post {
        target.redirect_uri.clone()
    } else {
        with_query(&target.redirect_uri, &params)
    };
    let fields: Vec<_> = params
        .iter()
        .map(|(k, v)| json!({ "name": k, "value": v }))
        .collect();
    let ctx = json!({
        "reason": err.description,
        "host": host_of(&target.redirect_uri),
        "url": url,
        "form_post": form_post,
        "params": fields,
    });
    s.templates
        .page(
            StatusCode::BAD_REQUEST,
            "leave.html",
            "Leaving",
            "",
            None,
            ctx,
        )
        .unwrap_or_else(IntoResponse::into_response)
}

/// The host a user is about to be sent to, as they would read it in the address bar.
pub fn host_of(uri: &str) -> String {
    url::Url::parse(uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| uri.to_string())
}

/// Send the authorization response to a validated redirect URI: as query parameters, or as an
/// auto-submitting form (OAuth 2.0 Form Post Response Mode).
pub fn respond_to_client(
    s: &AppState,
    target: &RedirectTarget,
    params: Vec<(String, String)>,
) -> Response {
    match target.response_mode {
        ResponseMode::Query => see_other(&with_query(&target.redirect_uri, &params)),
        ResponseMode::FormPost => {
            let fields: Vec<_> = params
                .iter()
                .map(|(k, v)| json!({ "name": k, "value": v }))
                .collect();
            let ctx = json!({ "redirect_uri": target.redirect_uri, "params": fields });
            match s.templates.page(
                StatusCode::OK,
                "form_post.html",
                "Continuing",
                "",
                None,
                ctx,
            ) {
                Ok(mut res) => {
                    res.headers_mut()
                        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                    res
                }
                Err(e) => e.into_response(),
            }
        }
    }
}

#[derive(Deserialize)]
pub struct FlowQuery {
    flow: Option<String>,
}

/// A pending sign-in with its validated request and client.
pub type LoadedFlow = (Flow, AuthorizeRequest, Client);

/// Load the flow named in a request, or explain that it expired.
pub async fn load_flow(
    s: &AppState,
    browser: &Browser,
    id: Option<&str>,
) -> Result<LoadedFlow, WebError> {
    let id = id.ok_or_else(WebError::flow_expired)?;
    let flow = browser
        .flow(id, s.provider.now(), s.config.flow_lifetime)
        .await?
        .ok_or_else(WebError::flow_expired)?;
    let req = flow.request.clone().ok_or_else(WebError::flow_expired)?;
    let client = s
        .provider
        .store
        .get_client(&req.client_id)
        .await
        .map_err(|e| WebError::from_provider_page(e.into()))?
        .ok_or_else(WebError::flow_expired)?;
    Ok((flow, req, client))
}

pub async fn consent_page(
    State(s): State<AppState>,
    browser: Browser,
    Query(q): Query<FlowQuery>,
) -> Result<Response, WebError> {
    let (flow, req, client) = load_flow(&s, &browser, q.flow.as_deref()).await?;
    let Some(auth) = browser
        .auth(s.provider.now(), s.config.absolute_lifetime)
        .await?
    else {
        return proceed(&s, &browser, flow, &client).await;
    };
    let user = current_user(&s, Some(&auth)).await?;
    let scopes: Vec<_> = needed_scopes(&req)
        .iter()
        .filter_map(|sc| scopes::describe(sc).map(|(title, description)| json!({ "name": sc, "title": title, "description": description })))
        .collect();
    let ctx = json!({
        "client": {
            "name": client.name, "client_id": client.client_id,
            "logo_uri": client.logo_uri, "policy_uri": client.policy_uri, "tos_uri": client.tos_uri,
            "registered": client.managed_by == "registration",
        },
        "scopes": scopes,
        "user": user,
        "flow": flow.id,
        "action": "/consent",
    });
    let csrf = browser.csrf_token().await?;
    s.templates.page(
        StatusCode::OK,
        "consent.html",
        "Allow access",
        &csrf,
        user.as_ref(),
        ctx,
    )
}

pub async fn consent_submit(
    State(s): State<AppState>,
    browser: Browser,
    input: Input,
) -> Result<Response, WebError> {
    browser.check_csrf(input.params.get("csrf_token")).await?;
    let (mut flow, req, client) = load_flow(&s, &browser, input.params.get("flow")).await?;
    let Some(auth) = browser
        .auth(s.provider.now(), s.config.absolute_lifetime)
        .await?
    else {
        return proceed(&s, &browser, flow, &client).await;
    };
    match input.params.get("decision") {
        Some("allow") => {
            s.provider
                .record_consent(auth.user_id, &req)
                .await
                .map_err(WebError::from_provider_page)?;
            flow.consented = true;
            proceed(&s, &browser, flow, &client).await
        }
        Some("deny") => {
            browser.remove_flow(&flow.id).await?;
            let err = OAuthError::new(ErrorKind::AccessDenied, "the user declined");
            // The user chose this on our consent page, which names the application.
            Ok(respond_error(&s, &req.target, &err, true))
        }
        _ => Err(WebError::bad_request("Choose Allow or Cancel.")),
    }
}
