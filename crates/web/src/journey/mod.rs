//! The browser's journey through a sign-in, shared by every browser handler: load the pending
//! authorization request ("flow"), decide and take its next step, finish a login, the second
//! step's address, and who is signed in. Handlers call these and never each other.
mod answer;
mod reauth;
mod sign_out;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lanyard_core::authn::{Authenticated, NextFactor, PendingLogin};
use lanyard_core::model::Client;
use lanyard_core::oidc::authorize::{AuthorizeRequest, Decision};
use lanyard_core::oidc::error::{ErrorKind, OAuthError};
use lanyard_core::oidc::params::with_query;
use serde_json::json;

pub use answer::{host_of, respond_error, respond_to_client};
pub use reauth::{password_check, proof_check, reauthenticate};
pub use sign_out::{leave_after_logout, sign_out};

use crate::error::WebError;
use crate::input::Input;
use crate::sessions::{Browser, Flow, describe_device};
use crate::state::AppState;
use crate::templates::CurrentUser;

/// 303 See Other: after a POST the browser follows with a GET (RFC 9700 4.12). Registered
/// redirect URIs cannot contain what a header cannot carry; should an older row hold one, the
/// user gets a page saying so rather than a 500.
pub fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => {
            let mut res = StatusCode::SEE_OTHER.into_response();
            res.headers_mut().insert(header::LOCATION, v);
            res
        }
        Err(_) => WebError::page(
            StatusCode::BAD_REQUEST,
            "This address can't be opened",
            "The address to continue to is not valid, so you were not sent there.",
        )
        .into_response(),
    }
}

/// A pending sign-in with its validated request and client.
pub struct LoadedFlow {
    pub flow: Flow,
    pub request: AuthorizeRequest,
    pub client: Client,
}

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
    let request = flow.request.clone().ok_or_else(WebError::flow_expired)?;
    let client = s
        .provider
        .client(&request.client_id)
        .await?
        .ok_or_else(WebError::flow_expired)?;
    Ok(LoadedFlow {
        flow,
        request,
        client,
    })
}

/// The flow a form names, if it names one (an empty id is none: a sign-in without an app).
pub async fn optional_flow(
    s: &AppState,
    browser: &Browser,
    id: Option<&str>,
) -> Result<Option<LoadedFlow>, WebError> {
    match id.filter(|f| !f.is_empty()) {
        Some(id) => Ok(Some(load_flow(s, browser, Some(id)).await?)),
        None => Ok(None),
    }
}

/// The sign-in page, continuing `flow` if there is one.
pub fn login_url(flow: Option<&str>) -> String {
    match flow {
        Some(f) => with_query("/login", &[("flow".into(), f.into())]),
        None => "/login".into(),
    }
}

/// Where the second step of a login happens.
pub fn second_step_url(next: NextFactor, flow: Option<&str>) -> String {
    let path = match next {
        NextFactor::SecondFactor => "/login/mfa",
        NextFactor::Enroll => "/login/enroll",
    };
    match flow {
        Some(f) => with_query(path, &[("flow".into(), f.into())]),
        None => path.to_string(),
    }
}

/// The first factor is done and a second step follows: keep it in the session, go there.
pub async fn to_second_step(
    browser: &Browser,
    pending: &PendingLogin,
    flow: Option<&str>,
) -> Result<Response, WebError> {
    browser.begin_second_step(pending).await?;
    Ok(see_other(&second_step_url(pending.next, flow)))
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
        .await?;
    match (decision, auth) {
        (Decision::Login, _) => to_login(s, browser, &flow).await,
        (Decision::StepUp, Some(auth)) => {
            let pending = s.provider.step_up(&auth).await?;
            browser.put_flow(&flow).await?;
            to_second_step(browser, &pending, Some(&flow.id)).await
        }
        (Decision::Consent, _) => {
            browser.put_flow(&flow).await?;
            let query = [("flow".into(), flow.id.clone())];
            Ok(see_other(&with_query("/consent", &query)))
        }
        (Decision::Error(kind), _) => {
            browser.remove_flow(&flow.id).await?;
            let err = OAuthError::new(kind, interaction_message(kind));
            // prompt=none: no page was shown in this flow.
            Ok(respond_error(s, &req.target, &err, false))
        }
        (Decision::Issue, Some(auth)) => {
            browser.remove_flow(&flow.id).await?;
            let params = s.provider.issue_code(req, &auth).await?;
            s.metrics.event("authorization", "code_issued");
            Ok(respond_to_client(s, &req.target, params))
        }
        (Decision::StepUp | Decision::Issue, None) => Err(WebError::Internal(
            "a signed-in step was decided without a session".into(),
        )),
    }
}

/// To the sign-in page. A browser without a session gets nothing stored for a request that may
/// never show a page (a bot, a prefetch): the validated request travels sealed in the URL, and
/// the sign-in page keeps it once it is shown.
async fn to_login(s: &AppState, browser: &Browser, flow: &Flow) -> Result<Response, WebError> {
    if browser.is_new().await? {
        let query = [("resume".into(), flow.seal(&s.provider))];
        return Ok(see_other(&with_query("/login", &query)));
    }
    browser.put_flow(flow).await?;
    Ok(see_other(&login_url(Some(&flow.id))))
}

fn interaction_message(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::LoginRequired => "the user must log in",
        ErrorKind::ConsentRequired => "the user must consent",
        _ => "user interaction is required",
    }
}

/// Every factor is done: a logged-in session, an audit entry, then back to the application (or
/// to the account page when the user came to sign in directly).
pub async fn finish_login(
    s: &AppState,
    browser: &Browser,
    auth: &Authenticated,
    flow: Option<LoadedFlow>,
    input: &Input,
    ip: Option<&str>,
) -> Result<Response, WebError> {
    let client_id = flow.as_ref().map(|f| f.request.client_id.as_str());
    record_login(s, browser, auth, client_id, input, ip).await?;
    match flow {
        Some(LoadedFlow {
            mut flow, client, ..
        }) => {
            flow.fresh_login = true;
            proceed(s, browser, flow, &client).await
        }
        None => Ok(see_other("/account")),
    }
}

/// The session side of a completed login: a new session id holding `auth`, the device, a
/// metric and the audit entry.
pub async fn record_login(
    s: &AppState,
    browser: &Browser,
    auth: &Authenticated,
    client_id: Option<&str>,
    input: &Input,
    ip: Option<&str>,
) -> Result<(), WebError> {
    let user_agent = input
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    browser.login(auth, describe_device(user_agent)).await?;
    // An upstream identity proposed for this account by verified email is linked now that its
    // owner signed in here; a sign-in to another account drops the proposal.
    if let Some(link) = browser.take_pending_link(s.provider.now()).await?
        && link.user_id == auth.user_id
        && let Some(up) = s.provider.upstream(&link.upstream)
    {
        let email = link.email.as_deref();
        s.provider
            .confirm_link(auth.user_id, up, &link.subject, email, ip)
            .await?;
    }
    s.metrics.login("success", "");
    let detail = json!({ "amr": auth.amr, "acr": auth.acr, "upstream": auth.upstream });
    s.provider
        .audit("login_succeeded", Some(auth.user_id), client_id, ip, detail)
        .await?;
    Ok(())
}

/// The header's view of the signed-in user.
pub async fn current_user(
    s: &AppState,
    auth: Option<&Authenticated>,
) -> Result<Option<CurrentUser>, WebError> {
    let Some(auth) = auth else { return Ok(None) };
    let user = s.provider.active_user(auth.user_id).await?;
    Ok(user.map(|u| CurrentUser::of(&u)))
}

/// The header's view of whoever is signed in to this browser.
pub async fn browser_user(
    s: &AppState,
    browser: &Browser,
) -> Result<Option<CurrentUser>, WebError> {
    let auth = browser
        .auth(s.provider.now(), s.config.absolute_lifetime)
        .await?;
    current_user(s, auth.as_ref()).await
}
