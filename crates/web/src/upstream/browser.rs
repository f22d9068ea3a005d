//! The browser's side of an upstream login: sending it to the upstream with the login's secrets
//! sealed in its session, and reading the upstream's answer at our callback (RFC 6749 4.1.2) —
//! bound to a login this browser started (state, single use, within the timeout), an error the
//! upstream reported, or a code exchanged for a verified ID token and the profile it maps to.
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Duration;
use lanyard_core::federation::{Upstream, UpstreamProfile, map_claims};
use lanyard_core::oidc::params::Params;
use serde_json::{Value, json};

use super::FedError;
use crate::error::WebError;
use crate::journey::see_other;
use crate::sessions::{Browser, PendingUpstream};
use crate::state::AppState;

/// How long the user may spend at the upstream.
pub const UPSTREAM_LOGIN_TIMEOUT: Duration = Duration::minutes(10);

fn sealed_context(upstream: &str) -> String {
    format!("upstream-login:{upstream}")
}

/// A verified answer.
pub struct Answer {
    pub pending: PendingUpstream,
    pub profile: UpstreamProfile,
    pub id_token: String,
}

/// Why an answer was refused: the audit reason, the status, and the words for the user (in
/// general terms: details go to the log, never secrets).
#[derive(Debug)]
pub struct Failure {
    pub reason: String,
    pub status: StatusCode,
    pub message: String,
}

impl Failure {
    fn new(reason: impl Into<String>, status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            status,
            message: message.into(),
        }
    }
}

/// Send the browser to `up` to sign in. `link_user`: linking from the account page.
pub async fn begin(
    s: &AppState,
    browser: &Browser,
    up: &Upstream,
    flow: Option<String>,
    link_user: Option<uuid::Uuid>,
    extra: &[(&'static str, String)],
) -> Result<Result<Response, Failure>, WebError> {
    let started = match s.upstreams.start(up, extra).await {
        Ok(st) => st,
        Err(e) => {
            tracing::warn!(upstream = %up.name, error = %e, "cannot start an upstream login");
            let message = format!(
                "{} cannot be reached right now. Try again in a few minutes, or sign in with your username and password.",
                up.display_name
            );
            return Ok(Err(Failure::new(
                "unavailable",
                StatusCode::BAD_GATEWAY,
                message,
            )));
        }
    };
    let secrets = json!({ "nonce": started.nonce, "verifier": started.verifier }).to_string();
    let pending = PendingUpstream {
        upstream: up.name.clone(),
        state: started.state,
        sealed: s
            .provider
            .seal(&sealed_context(&up.name), secrets.as_bytes()),
        flow,
        link_user,
        created_at: s.provider.now(),
    };
    browser.push_upstream(pending).await?;
    Ok(Ok(see_other(&started.url)))
}

/// Read and verify the upstream's answer.
pub async fn read_answer(
    s: &AppState,
    browser: &Browser,
    up: &Upstream,
    p: &Params,
) -> Result<Result<Answer, Failure>, WebError> {
    let pending = match take_pending(s, browser, up, p).await? {
        Ok(pending) => pending,
        Err(f) => return Ok(Err(f)),
    };
    // RFC 6749 4.1.2.1: the upstream refused or failed.
    if let Some(error) = p.get("error") {
        return Ok(Err(upstream_error(up, error)));
    }
    let Some(code) = p.get("code") else {
        let message = format!("{} answered without a sign-in code.", up.display_name);
        return Ok(Err(Failure::new(
            "no_code",
            StatusCode::BAD_REQUEST,
            message,
        )));
    };
    let (nonce, verifier) = unseal_secrets(s, up, &pending)?;
    Ok(exchange(s, up, code, &verifier, &nonce)
        .await
        .map(|(profile, id_token)| Answer {
            pending,
            profile,
            id_token,
        }))
}

/// The state binds the answer to a login started in this browser; single use, and in time.
async fn take_pending(
    s: &AppState,
    browser: &Browser,
    up: &Upstream,
    p: &Params,
) -> Result<Result<PendingUpstream, Failure>, WebError> {
    let pending = match p.get("state") {
        Some(state) => browser.take_upstream(&up.name, state).await?,
        None => None,
    };
    let Some(pending) = pending else {
        let message = "This answer does not belong to a sign-in started in this browser, or was already used. Start again from the sign-in page.";
        return Ok(Err(Failure::new("state", StatusCode::BAD_REQUEST, message)));
    };
    if s.provider.now() > pending.created_at + UPSTREAM_LOGIN_TIMEOUT {
        let message = "The sign-in took too long. Start again from the sign-in page.";
        return Ok(Err(Failure::new(
            "expired",
            StatusCode::BAD_REQUEST,
            message,
        )));
    }
    Ok(Ok(pending))
}

/// An error the upstream answered with; only registered codes are repeated to the user.
fn upstream_error(up: &Upstream, error: &str) -> Failure {
    let known = matches!(
        error,
        "access_denied"
            | "login_required"
            | "consent_required"
            | "interaction_required"
            | "temporarily_unavailable"
            | "server_error"
    );
    let message = if error == "access_denied" {
        format!(
            "{} did not sign you in (access denied). You can try again, or sign in with your username and password.",
            up.display_name
        )
    } else {
        let shown = if known { error } else { "an error" };
        format!(
            "{} answered with {shown}. Try again later, or sign in with your username and password.",
            up.display_name
        )
    };
    let reason = format!("upstream_error:{}", if known { error } else { "other" });
    Failure::new(reason, StatusCode::BAD_REQUEST, message)
}

/// The nonce and PKCE verifier sealed in the session when the login began.
fn unseal_secrets(
    s: &AppState,
    up: &Upstream,
    pending: &PendingUpstream,
) -> Result<(String, String), WebError> {
    let secrets: Option<Value> = s
        .provider
        .unseal(&sealed_context(&up.name), &pending.sealed)
        .and_then(|b| serde_json::from_slice(&b).ok());
    let read = |key: &str| Some(secrets.as_ref()?.get(key)?.as_str()?.to_string());
    match (read("nonce"), read("verifier")) {
        (Some(nonce), Some(verifier)) => Ok((nonce, verifier)),
        _ => Err(WebError::Internal(
            "cannot read the pending upstream login".into(),
        )),
    }
}

/// Exchange the code, verify the ID token, and map its claims to a profile.
async fn exchange(
    s: &AppState,
    up: &Upstream,
    code: &str,
    verifier: &str,
    nonce: &str,
) -> Result<(UpstreamProfile, String), Failure> {
    let need: Vec<&str> = [
        Some(up.mapping.email.as_str()),
        up.mapping.groups.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let now = s.provider.now();
    let (claims, id_token) = s
        .upstreams
        .finish(up, code, verifier, nonce, &need, now)
        .await
        .map_err(|e| {
            let (reason, status) = match &e {
                FedError::Unavailable(_) => ("unavailable", StatusCode::BAD_GATEWAY),
                FedError::Invalid(_) => ("invalid_response", StatusCode::BAD_GATEWAY),
            };
            tracing::warn!(upstream = %up.name, error = %e, "upstream login failed");
            let message = format!(
                "The answer from {} could not be verified, so you were not signed in. Try again later, or sign in with your username and password.",
                up.display_name
            );
            Failure::new(reason, status, message)
        })?;
    let profile = map_claims(&up.mapping, &claims).map_err(|e| {
        let message = format!(
            "{} did not share what this service needs: {e}.",
            up.display_name
        );
        Failure::new("claims", StatusCode::BAD_GATEWAY, message)
    })?;
    Ok((profile, id_token))
}
