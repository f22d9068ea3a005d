//! The account page: profile, password, connected apps and active sessions.
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use lanyard_core::authn::Authenticated;
use lanyard_core::authn::{LoginFailure, Proof};
use lanyard_core::model::{AuditFilter, ProfileUpdate, User};
use lanyard_core::secret::{Secret, b64url, b64url_decode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{see_other, with_query};
use crate::error::WebError;
use crate::input::{ClientIp, Input};
use crate::sessions::{AUTH_KEY, Browser, DEVICE_KEY};
use crate::state::AppState;
use crate::templates::CurrentUser;

const MIN_PASSWORD: usize = 8;
const MAX_PASSWORD: usize = 1024;

fn store_err(e: lanyard_core::store::StoreError) -> WebError {
    WebError::from_provider_page(e.into())
}

/// The signed-in user, or a redirect to the login page.
pub(crate) async fn signed_in(
    s: &AppState,
    browser: &Browser,
) -> Result<Result<(Authenticated, User), Response>, WebError> {
    let Some(auth) = browser
        .auth(s.provider.now(), s.config.absolute_lifetime)
        .await?
    else {
        return Ok(Err(see_other("/login")));
    };
    match s
        .provider
        .store
        .get_user(auth.user_id)
        .await
        .map_err(store_err)?
    {
        Some(u) if !u.disabled => Ok(Ok((auth, u))),
        _ => {
            browser.logout().await?;
            Ok(Err(see_other("/login")))
        }
    }
}

fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

#[derive(Deserialize, Default)]
pub struct Notice {
    notice: Option<String>,
    error: Option<String>,
}

fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "profile" => "Your profile was saved.",
        "password" => "Your password was changed. Your other sessions were signed out.",
        "consent" => "Access for that application was revoked.",
        "session" => "That session was signed out.",
        "wrong_password" => "The current password is incorrect.",
        "mismatch" => "The new passwords do not match.",
        "weak" => "Choose a new password of at least 8 characters.",
        "email" => "That email address does not look right.",
        "mfa_on" => "Two-step verification is on.",
        "linked" => "The sign-in provider was linked to your account.",
        "already_linked" => "That identity was already linked to your account.",
        "unlinked" => "The sign-in provider was unlinked.",
        "last_login_method" => {
            "That is your only way to sign in: set a password or link another provider first."
        }
        "mfa_off" => "Two-step verification is off. Your other sessions were signed out.",
        "reauth" => "That password or code is not correct. Nothing was changed.",
        "reauth_missing" => "Enter your password or a current code to confirm.",
        "throttled" | "mfa_throttled" => {
            "Too many failed attempts. Wait a few minutes, then try again."
        }
        _ => return None,
    })
}

/// The input an error message belongs to, so the page can link them (aria-describedby).
fn error_field(code: &str) -> Option<&'static str> {
    Some(match code {
        "wrong_password" | "throttled" => "current_password",
        "mismatch" => "confirm_password",
        "weak" => "new_password",
        "email" => "email",
        "reauth" | "reauth_missing" | "mfa_throttled" => "security",
        "last_login_method" => "identities",
        _ => return None,
    })
}

pub async fn page(
    State(s): State<AppState>,
    browser: Browser,
    Query(n): Query<Notice>,
) -> Result<Response, WebError> {
    let (auth, user) = match signed_in(&s, &browser).await? {
        Ok(v) => v,
        Err(redirect) => return Ok(redirect),
    };
    let store = &s.provider.store;
    let mut consents = Vec::new();
    for c in store.list_consents(user.id).await.map_err(store_err)? {
        let name = store
            .get_client(&c.client_id)
            .await
            .map_err(store_err)?
            .map(|cl| cl.name)
            .unwrap_or_else(|| c.client_id.clone());
        consents.push(json!({ "client_name": name, "client_id": c.client_id, "scopes": c.scopes, "granted_at": fmt_time(c.granted_at) }));
    }
    let current = browser.id_hash();
    let mut sessions = Vec::new();
    for rec in store
        .sessions_for_user(user.id, s.provider.now())
        .await
        .map_err(store_err)?
    {
        let data: Value = serde_json::from_slice(&rec.data).unwrap_or(Value::Null);
        if data.get(AUTH_KEY).is_none() {
            // A login still at its second step: not a session yet.
            continue;
        }
        let auth_time = data
            .get(AUTH_KEY)
            .and_then(|a| serde_json::from_value::<Authenticated>(a.clone()).ok())
            .map(|a| fmt_time(a.auth_time));
        let seen = data
            .get("seen")
            .and_then(Value::as_i64)
            .and_then(|t| DateTime::from_timestamp(t, 0))
            .map(fmt_time);
        sessions.push(json!({
            "current": current.as_deref() == Some(rec.id_hash.as_slice()),
            "created_at": auth_time,
            "last_seen": seen.or_else(|| auth_time.clone()),
            "id": b64url(&rec.id_hash),
            "user_agent": data.get(DEVICE_KEY).and_then(Value::as_str),
        }));
    }
    let mfa = s
        .provider
        .mfa_status(user.id)
        .await
        .map_err(WebError::from_provider_page)?;
    let mfa_required = s
        .provider
        .mfa_required(user.id, None, &[])
        .await
        .map_err(WebError::from_provider_page)?;
    let events: Vec<Value> = store
        .list_audit(&AuditFilter {
            user_id: Some(user.id),
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .map_err(store_err)?
        .into_iter()
        .map(|e| {
            json!({
                "at": fmt_time(e.at),
                "title": event_title(&e.kind),
                "detail": event_detail(&e.kind, &e.detail),
                "warning": matches!(e.kind.as_str(), "login_failed" | "account_locked"),
            })
        })
        .collect();
    let mut identities = Vec::new();
    for i in store.list_identities(user.id).await.map_err(store_err)? {
        let display_name = s
            .provider
            .upstream(&i.upstream)
            .map(|u| u.display_name.clone())
            .unwrap_or_else(|| i.upstream.clone());
        identities.push(json!({
            "upstream": i.upstream, "display_name": display_name, "subject": i.subject,
            "email": i.email, "last_login_at": fmt_time(i.last_login_at),
        }));
    }
    let upstreams: Vec<Value> = s
        .provider
        .config
        .upstreams
        .iter()
        .map(|u| json!({ "name": u.name, "display_name": u.display_name }))
        .collect();
    let display = user.name.clone().unwrap_or_else(|| user.username.clone());
    let ctx = json!({
        "user": {
            "username": user.username, "display_name": display, "name": user.name,
            "given_name": user.given_name, "family_name": user.family_name,
            "email": user.email, "email_verified": user.email_verified,
            "phone_number": user.phone_number, "address": user.address,
            "created_at": fmt_time(user.created_at),
        },
        "notice": n.notice.as_deref().and_then(notice_text),
        "error": n.error.as_deref().and_then(notice_text),
        "error_field": n.error.as_deref().and_then(error_field),
        "consents": consents,
        "sessions": sessions,
        "auth": { "amr": auth.amr, "mfa": auth.is_mfa() },
        "mfa": {
            "totp_enabled": mfa.totp_enabled,
            "enrolled_at": mfa.totp_enrolled_at.map(fmt_time),
            "backup_codes_remaining": mfa.backup_codes_remaining,
            "required": mfa_required,
        },
        "events": events,
        "identities": identities,
        "upstreams": upstreams,
        "has_password": user.password_hash.is_some(),
    });
    let csrf = browser.csrf_token().await?;
    let cu = CurrentUser {
        username: user.username.clone(),
        display_name: display,
    };
    s.templates.page(
        StatusCode::OK,
        "account.html",
        "Your account",
        &csrf,
        Some(&cu),
        ctx,
    )
}

fn field(input: &Input, key: &str) -> Option<String> {
    input
        .params
        .get(key)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| v.chars().take(256).collect())
}

pub async fn profile(
    State(s): State<AppState>,
    browser: Browser,
    input: Input,
) -> Result<Response, WebError> {
    browser.check_csrf(input.params.get("csrf_token")).await?;
    let (_, user) = match signed_in(&s, &browser).await? {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    let update = ProfileUpdate {
        name: field(&input, "name"),
        given_name: field(&input, "given_name"),
        family_name: field(&input, "family_name"),
        email: field(&input, "email"),
        phone_number: field(&input, "phone_number"),
        address: input
            .params
            .get("address")
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| v.chars().take(1024).collect()),
    };
    if update
        .email
        .as_deref()
        .is_some_and(|e| !e.contains('@') || e.contains(char::is_whitespace))
    {
        return Ok(see_other("/account?error=email"));
    }
    s.provider
        .store
        .update_profile(user.id, &update, s.provider.now())
        .await
        .map_err(store_err)?;
    Ok(see_other("/account?notice=profile"))
}

/// Changing the password needs the current one; it ends the user's other sessions and revokes
/// their grants (DESIGN §1).
pub async fn password(
    State(s): State<AppState>,
    browser: Browser,
    ClientIp(ip): ClientIp,
    input: Input,
) -> Result<Response, WebError> {
    browser.check_csrf(input.params.get("csrf_token")).await?;
    let (_, user) = match signed_in(&s, &browser).await? {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    let current = Secret::new(
        input
            .params
            .get("current_password")
            .unwrap_or("")
            .to_string(),
    );
    let new = input.params.get("new_password").unwrap_or("").to_string();
    if input.params.get("confirm_password") != Some(new.as_str()) {
        return Ok(see_other("/account?error=mismatch"));
    }
    if new.chars().count() < MIN_PASSWORD || new.len() > MAX_PASSWORD {
        return Ok(see_other("/account?error=weak"));
    }
    // A wrong current password is a guess like any other: it counts toward throttling.
    match s
        .provider
        .verify_proof(&user, Proof::Password(current), ip.as_deref())
        .await
        .map_err(WebError::from_provider_page)?
    {
        Ok(()) => {}
        Err(LoginFailure::Throttled(_)) => return Ok(see_other("/account?error=throttled")),
        Err(_) => return Ok(see_other("/account?error=wrong_password")),
    }
    let hash = s
        .provider
        .passwords
        .hash(Secret::new(new))
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?;
    let now = s.provider.now();
    s.provider
        .store
        .set_password_hash(user.id, &hash, now)
        .await
        .map_err(store_err)?;
    s.provider
        .audit(
            "password_changed",
            Some(user.id),
            None,
            ip.as_deref(),
            json!({}),
        )
        .await
        .map_err(WebError::from_provider_page)?;
    browser
        .end_other_sessions(&s.provider, user.id, "password_changed")
        .await?;
    Ok(see_other("/account?notice=password"))
}

pub async fn revoke_consent(
    State(s): State<AppState>,
    browser: Browser,
    input: Input,
) -> Result<Response, WebError> {
    browser.check_csrf(input.params.get("csrf_token")).await?;
    let (_, user) = match signed_in(&s, &browser).await? {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    let client_id = input
        .params
        .get("client_id")
        .ok_or_else(|| WebError::bad_request("Which application? (client_id is missing)"))?;
    if s.provider
        .store
        .delete_consent(user.id, client_id)
        .await
        .map_err(store_err)?
    {
        s.provider
            .audit(
                "consent_revoked",
                Some(user.id),
                Some(client_id),
                None,
                json!({}),
            )
            .await
            .map_err(WebError::from_provider_page)?;
    }
    Ok(see_other("/account?notice=consent"))
}

pub async fn end_session(
    State(s): State<AppState>,
    browser: Browser,
    input: Input,
) -> Result<Response, WebError> {
    browser.check_csrf(input.params.get("csrf_token")).await?;
    let (_, user) = match signed_in(&s, &browser).await? {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    let target = input
        .params
        .get("session")
        .and_then(b64url_decode)
        .ok_or_else(|| WebError::bad_request("Which session? (session is missing)"))?;
    let owned = s
        .provider
        .store
        .sessions_for_user(user.id, s.provider.now())
        .await
        .map_err(store_err)?
        .into_iter()
        .find(|r| r.id_hash == target);
    if let Some(rec) = owned {
        // The ended session's clients hear of it by back-channel logout too.
        let ended = serde_json::from_slice::<Value>(&rec.data)
            .ok()
            .and_then(|d| d.get(AUTH_KEY).cloned())
            .and_then(|a| serde_json::from_value::<Authenticated>(a).ok());
        if let Some(a) = ended {
            super::logout::notify_backchannel(&s, &a).await;
        }
        s.provider
            .store
            .session_delete(&target)
            .await
            .map_err(store_err)?;
        s.provider
            .audit("session_ended", Some(user.id), None, None, json!({}))
            .await
            .map_err(WebError::from_provider_page)?;
    }
    Ok(see_other(&with_query(
        "/account",
        &[("notice".into(), "session".into())],
    )))
}

/// Plain words for the security events a user sees about their own account.
fn event_title(kind: &str) -> String {
    match kind {
        "login_succeeded" => "Signed in",
        "login_failed" => "Failed sign-in attempt",
        "account_locked" => "Sign-in paused after repeated failures",
        "account_unlocked" => "Sign-in unlocked by an administrator",
        "mfa_enrolled" => "Two-step verification turned on",
        "mfa_disabled" => "Two-step verification turned off",
        "mfa_reset" => "Two-step verification reset by an administrator",
        "backup_code_used" => "Backup code used",
        "backup_codes_regenerated" => "New backup codes created",
        "password_changed" => "Password changed",
        "sessions_revoked" => "Other sessions signed out",
        "session_ended" => "A session was signed out",
        "consent_granted" => "Access granted to an application",
        "consent_revoked" => "Access revoked from an application",
        "user_created" => "Account created",
        "user_enabled" => "Account enabled by an administrator",
        "user_disabled" => "Account disabled by an administrator",
        "group_member_added" => "Added to a group",
        "group_member_removed" => "Removed from a group",
        "identity_linked" => "Sign-in provider linked",
        "identity_unlinked" => "Sign-in provider unlinked",
        "federation_refused" => "Sign-in through a provider refused",
        other => return other.replace('_', " "),
    }
    .to_string()
}

fn event_detail(kind: &str, detail: &Value) -> Option<String> {
    match kind {
        "backup_code_used" => detail
            .get("remaining")
            .and_then(Value::as_u64)
            .map(|n| format!("{n} backup codes left")),
        "login_succeeded" => detail.get("amr").and_then(Value::as_array).map(|amr| {
            if amr.iter().any(|m| m == "mfa") {
                "Password and two-step verification".to_string()
            } else {
                "Password".to_string()
            }
        }),
        _ => None,
    }
}
