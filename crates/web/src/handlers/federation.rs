//! "Log in with <upstream>" (DESIGN §4): the redirect to the upstream, its callback, linking
//! from the account page, and the return from an upstream logout.
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use lanyard_core::authn::LoginStep;
use lanyard_core::federation::{LinkOutcome, Upstream, map_claims};
use serde::Deserialize;
use serde_json::{Value, json};

use super::authorize::load_flow;
use super::login::finish_login;
use super::mfa::second_step_url;
use super::{see_other, with_query};
use crate::error::WebError;
use crate::federation::FedError;
use crate::input::{ClientIp, Input};
use crate::sessions::{Browser, PendingLink, PendingUpstream};
use crate::state::AppState;

/// How long the user may spend at the upstream.
const UPSTREAM_LOGIN_TIMEOUT: chrono::Duration = chrono::Duration::minutes(10);

const UPSTREAM_ID_TOKEN: &str = "upstream-id-token";

fn sealed_context(upstream: &str) -> String {
    format!("upstream-login:{upstream}")
}

fn provider_err(e: lanyard_core::oidc::error::ProviderError) -> WebError {
    WebError::from_provider_page(e)
}

fn upstream_or_404<'a>(s: &'a AppState, name: &str) -> Result<&'a Upstream, WebError> {
    s.provider.upstream(name).ok_or_else(|| {
        WebError::page(
            StatusCode::NOT_FOUND,
            "Unknown sign-in provider",
            "This service has no sign-in provider by that name.",
        )
    })
}

/// Audit an upstream failure and build its page. Messages say what went wrong in general
/// terms; details go to the audit log, never secrets.
async fn fail(
    s: &AppState,
    up: &Upstream,
    ip: Option<&str>,
    reason: &str,
    status: StatusCode,
    message: String,
) -> WebError {
    let audited = s
        .provider
        .audit(
            "federation_failed",
            None,
            None,
            ip,
            json!({ "upstream": up.name, "reason": reason }),
        )
        .await;
    if let Err(e) = audited {
        return provider_err(e);
    }
    s.metrics.event("federation", "failure");
    WebError::page(
        status,
        format!("Signing in with {} didn't work", up.display_name),
        message,
    )
}

#[derive(Deserialize)]
pub struct StartQuery {
    flow: Option<String>,
}

/// GET /federation/{name}/start: send the browser to the upstream to sign in.
pub async fn start(
    State(s): State<AppState>,
    browser: Browser,
    ClientIp(ip): ClientIp,
    Path(name): Path<String>,
    Query(q): Query<StartQuery>,
) -> Result<Response, WebError> {
    let up = upstream_or_404(&s, &name)?;
    let flow = q.flow.filter(|f| !f.is_empty());
    let mut extra = Vec::new();
    if let Some(id) = flow.as_deref() {
        let (_, req, _) = load_flow(&s, &browser, Some(id)).await?;
        // A relying party that wants a fresh login gets one at the upstream too.
        if req.prompt.login || req.max_age.is_some() {
            extra.push(("prompt", "login".to_string()));
        }
        if let Some(m) = req.max_age {
            extra.push(("max_age", m.to_string()));
        }
    }
    begin(&s, &browser, up, flow, None, &extra, ip.as_deref()).await
}

/// POST /account/identities/link: link an upstream identity to the signed-in user. It needs
/// the CSRF token and the password or a current code (a lasting way into the account is being
/// added), and the upstream is asked for a fresh login, so whoever is signed in there now is
/// who gets linked knowingly.
pub async fn link_start(
    State(s): State<AppState>,
    browser: Browser,
    ClientIp(ip): ClientIp,
    input: Input,
) -> Result<Response, WebError> {
    browser.check_csrf(input.params.get("csrf_token")).await?;
    let (_, user) = match super::account::signed_in(&s, &browser).await? {
        Ok(v) => v,
        Err(redirect) => return Ok(redirect),
    };
    let up = upstream_or_404(&s, input.params.get("upstream").unwrap_or(""))?;
    if let Err(r) =
        super::mfa::reauthenticate_to(&s, &user, &input, ip.as_deref(), "identities").await?
    {
        return Ok(r);
    }
    let extra = [
        ("prompt", "login".to_string()),
        ("max_age", "0".to_string()),
    ];
    begin(&s, &browser, up, None, Some(user.id), &extra, ip.as_deref()).await
}

async fn begin(
    s: &AppState,
    browser: &Browser,
    up: &Upstream,
    flow: Option<String>,
    link_user: Option<uuid::Uuid>,
    extra: &[(&'static str, String)],
    ip: Option<&str>,
) -> Result<Response, WebError> {
    let started = match s.upstreams.start(up, extra).await {
        Ok(st) => st,
        Err(e) => {
            tracing::warn!(upstream = %up.name, error = %e, "cannot start an upstream login");
            return Err(fail(
                s,
                up,
                ip,
                "unavailable",
                StatusCode::BAD_GATEWAY,
                format!(
                    "{} cannot be reached right now. Try again in a few minutes, or sign in with your username and password.",
                    up.display_name
                ),
            )
            .await);
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
    Ok(see_other(&started.url))
}

/// GET /federation/{name}/callback: the upstream's authorization response.
pub async fn callback(
    State(s): State<AppState>,
    browser: Browser,
    ClientIp(ip): ClientIp,
    Path(name): Path<String>,
    input: Input,
) -> Result<Response, WebError> {
    let up = upstream_or_404(&s, &name)?;
    let ip = ip.as_deref();
    let p = &input.params;
    // The state binds this response to a login started in this browser; single use.
    let pending = match p.get("state") {
        Some(state) => browser.take_upstream(&up.name, state).await?,
        None => None,
    };
    let Some(pending) = pending else {
        return Err(fail(
            &s,
            up,
            ip,
            "state",
            StatusCode::BAD_REQUEST,
            "This answer does not belong to a sign-in started in this browser, or was already used. Start again from the sign-in page.".into(),
        )
        .await);
    };
    if s.provider.now() > pending.created_at + UPSTREAM_LOGIN_TIMEOUT {
        return Err(fail(
            &s,
            up,
            ip,
            "expired",
            StatusCode::BAD_REQUEST,
            "The sign-in took too long. Start again from the sign-in page.".into(),
        )
        .await);
    }
    // RFC 6749 4.1.2.1: the upstream refused or failed.
    if let Some(error) = p.get("error") {
        let known = matches!(
            error,
            "access_denied"
                | "login_required"
                | "consent_required"
                | "interaction_required"
                | "temporarily_unavailable"
                | "server_error"
        );
        let shown = if known { error } else { "an error" };
        let message = if error == "access_denied" {
            format!(
                "{} did not sign you in (access denied). You can try again, or sign in with your username and password.",
                up.display_name
            )
        } else {
            format!(
                "{} answered with {shown}. Try again later, or sign in with your username and password.",
                up.display_name
            )
        };
        return Err(fail(
            &s,
            up,
            ip,
            &format!("upstream_error:{}", if known { error } else { "other" }),
            StatusCode::BAD_REQUEST,
            message,
        )
        .await);
    }
    let Some(code) = p.get("code").filter(|c| !c.is_empty()) else {
        return Err(fail(
            &s,
            up,
            ip,
            "no_code",
            StatusCode::BAD_REQUEST,
            format!("{} answered without a sign-in code.", up.display_name),
        )
        .await);
    };
    let secrets: Option<Value> = s
        .provider
        .unseal(&sealed_context(&up.name), &pending.sealed)
        .and_then(|b| serde_json::from_slice(&b).ok());
    let (Some(nonce), Some(verifier)) = (
        secrets.as_ref().and_then(|v| v["nonce"].as_str()),
        secrets.as_ref().and_then(|v| v["verifier"].as_str()),
    ) else {
        return Err(WebError::Internal(
            "cannot read the pending upstream login".into(),
        ));
    };
    let need: Vec<&str> = [
        Some(up.mapping.email.as_str()),
        up.mapping.groups.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let (claims, upstream_id_token) = match s
        .upstreams
        .finish(up, code, verifier, nonce, &need)
        .await
    {
        Ok(c) => c,
        Err(e) => {
            let (reason, status) = match &e {
                FedError::Unavailable(_) => ("unavailable", StatusCode::BAD_GATEWAY),
                FedError::Invalid(_) => ("invalid_response", StatusCode::BAD_GATEWAY),
            };
            tracing::warn!(upstream = %up.name, error = %e, "upstream login failed");
            return Err(fail(&s, up, ip, reason, status, format!("The answer from {} could not be verified, so you were not signed in. Try again later, or sign in with your username and password.", up.display_name)).await);
        }
    };
    let profile = match map_claims(&up.mapping, &claims) {
        Ok(p) => p,
        Err(e) => {
            return Err(fail(
                &s,
                up,
                ip,
                "claims",
                StatusCode::BAD_GATEWAY,
                format!(
                    "{} did not share what this service needs: {e}.",
                    up.display_name
                ),
            )
            .await);
        }
    };

    if let Some(user_id) = pending.link_user {
        return link(&s, &browser, up, user_id, &profile, ip).await;
    }
    // Kept (sealed) for the id_token_hint of an upstream logout; some upstreams require it.
    if up.logout_upstream {
        browser
            .set_upstream_id_token(
                s.provider
                    .seal(UPSTREAM_ID_TOKEN, upstream_id_token.as_bytes()),
            )
            .await?;
    }

    let outcome = s
        .provider
        .resolve_upstream_login(up, &profile, ip)
        .await
        .map_err(provider_err)?;
    let user = match outcome {
        LinkOutcome::Known(u) | LinkOutcome::Created(u) => u,
        LinkOutcome::ConfirmLink(u) => {
            // The owner of the matching account confirms by signing in to it here; the link is
            // made then (`login::record_login`), and the original request continues.
            let link = PendingLink {
                upstream: up.name.clone(),
                subject: profile.subject.clone(),
                email: profile.email.clone(),
                user_id: u.id,
                username: u.username.clone(),
                expires_at: s.provider.now() + UPSTREAM_LOGIN_TIMEOUT,
            };
            browser.set_pending_link(&link).await?;
            s.metrics.event("federation", "confirm_link");
            let login = match pending.flow.as_deref() {
                Some(f) => with_query("/login", &[("flow".into(), f.into())]),
                None => "/login".into(),
            };
            return Ok(see_other(&login));
        }
        LinkOutcome::Refused(r) => {
            s.metrics.event("federation", "refused");
            return Err(WebError::page(
                StatusCode::FORBIDDEN,
                format!("No account for this {} sign-in", up.display_name),
                r.message(),
            ));
        }
    };
    let flow = match pending.flow.as_deref() {
        Some(id) => Some(load_flow(&s, &browser, Some(id)).await?),
        None => None,
    };
    let (client, acr_values) = match &flow {
        Some((_, req, client)) => (Some(client), req.acr_values.as_slice()),
        None => (None, &[][..]),
    };
    let step = s
        .provider
        .after_upstream(&user, up, &profile, client, acr_values)
        .await
        .map_err(provider_err)?;
    match step {
        LoginStep::Done(auth) => {
            s.metrics.event("federation", "success");
            finish_login(&s, &browser, &auth, flow, &input, ip).await
        }
        LoginStep::Pending(next) => {
            // The local second factor completes this login (DESIGN §4).
            browser.begin_second_step(&next).await?;
            Ok(see_other(&second_step_url(
                next.next,
                pending.flow.as_deref(),
            )))
        }
    }
}

/// Link an upstream identity to the signed-in user (account page).
async fn link(
    s: &AppState,
    browser: &Browser,
    up: &Upstream,
    user_id: uuid::Uuid,
    profile: &lanyard_core::federation::UpstreamProfile,
    ip: Option<&str>,
) -> Result<Response, WebError> {
    let signed_in = browser
        .auth(s.provider.now(), s.config.absolute_lifetime)
        .await?;
    if signed_in.map(|a| a.user_id) != Some(user_id) {
        return Err(fail(
            s,
            up,
            ip,
            "link_session_changed",
            StatusCode::BAD_REQUEST,
            "You are no longer signed in as the account that started linking. Sign in and try again.".into(),
        )
        .await);
    }
    let store = &s.provider.store;
    if let Some(existing) = store
        .get_identity(&up.name, &profile.subject)
        .await
        .map_err(|e| provider_err(e.into()))?
    {
        if existing.user_id == user_id {
            return Ok(see_other("/account?notice=already_linked#identities"));
        }
        return Err(fail(
            s,
            up,
            ip,
            "linked_elsewhere",
            StatusCode::CONFLICT,
            format!(
                "This {} identity is already linked to another account here.",
                up.display_name
            ),
        )
        .await);
    }
    let now = s.provider.now();
    let identity = lanyard_core::model::FederatedIdentity {
        upstream: up.name.clone(),
        subject: profile.subject.clone(),
        user_id,
        email: profile.email.clone(),
        created_at: now,
        last_login_at: now,
    };
    store
        .link_identity(&identity)
        .await
        .map_err(|e| provider_err(e.into()))?;
    s.provider
        .audit(
            "identity_linked",
            Some(user_id),
            None,
            ip,
            json!({ "upstream": up.name, "by": "user" }),
        )
        .await
        .map_err(provider_err)?;
    Ok(see_other("/account?notice=linked#identities"))
}

/// POST /account/identities/unlink: never the user's last way to sign in.
pub async fn unlink(
    State(s): State<AppState>,
    browser: Browser,
    ClientIp(ip): ClientIp,
    input: Input,
) -> Result<Response, WebError> {
    browser.check_csrf(input.params.get("csrf_token")).await?;
    let (_, user) = match super::account::signed_in(&s, &browser).await? {
        Ok(v) => v,
        Err(redirect) => return Ok(redirect),
    };
    let store = &s.provider.store;
    let (Some(upstream), Some(subject)) =
        (input.params.get("upstream"), input.params.get("subject"))
    else {
        return Err(WebError::bad_request(
            "Which identity? (upstream and subject are required)",
        ));
    };
    let identities = store
        .list_identities(user.id)
        .await
        .map_err(|e| provider_err(e.into()))?;
    // Only identities at configured upstreams can still be used to sign in.
    let usable = identities
        .iter()
        .filter(|i| s.provider.upstream(&i.upstream).is_some())
        .count();
    let removing_usable = s.provider.upstream(upstream).is_some();
    if user.password_hash.is_none() && removing_usable && usable <= 1 {
        return Ok(see_other("/account?error=last_login_method#identities"));
    }
    if store
        .unlink_identity(user.id, upstream, subject)
        .await
        .map_err(|e| provider_err(e.into()))?
    {
        s.provider
            .audit(
                "identity_unlinked",
                Some(user.id),
                None,
                ip.as_deref(),
                json!({ "upstream": upstream }),
            )
            .await
            .map_err(provider_err)?;
    }
    Ok(see_other("/account?notice=unlinked#identities"))
}

/// Where RP-initiated logout continues when the session came from an upstream with
/// `logout_upstream`: the upstream's end_session_endpoint, then back here.
pub async fn upstream_logout_url(
    s: &AppState,
    browser: &Browser,
    upstream: &str,
) -> Result<Option<String>, WebError> {
    let Some(up) = s.provider.upstream(upstream).filter(|u| u.logout_upstream) else {
        return Ok(None);
    };
    let Some(endpoint) = s.upstreams.end_session_endpoint(up).await else {
        return Ok(None);
    };
    let back = format!(
        "{}/federation/{}/logged-out",
        s.provider.config.issuer, up.name
    );
    let mut params = vec![
        ("client_id".to_string(), up.client_id.clone()),
        ("post_logout_redirect_uri".to_string(), back),
    ];
    if let Some(hint) = browser
        .upstream_id_token()
        .await?
        .and_then(|sealed| s.provider.unseal(UPSTREAM_ID_TOKEN, &sealed))
        .and_then(|b| String::from_utf8(b).ok())
    {
        params.push(("id_token_hint".to_string(), hint));
    }
    Ok(Some(with_query(&endpoint, &params)))
}

/// GET /federation/{name}/logged-out: back from the upstream's logout.
pub async fn logged_out(
    State(s): State<AppState>,
    browser: Browser,
    Path(_name): Path<String>,
) -> Result<Response, WebError> {
    let next = browser.take_after_logout().await?;
    super::logout::leave_after_logout(&s, next)
}
