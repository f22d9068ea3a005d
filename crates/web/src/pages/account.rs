//! The account page: profile, password, second factors, linked providers, connected apps,
//! active sessions and recent security events.
use chrono::DateTime;
use lanyard_core::authn::Authenticated;
use lanyard_core::model::{AuditEvent, SessionRecord, User};
use lanyard_core::secret::b64url;
use lanyard_core::self_service::AccountOverview;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Page, fmt_time};
use crate::sessions::{AUTH_KEY, DEVICE_KEY};

/// `?notice=` and `?error=` after a form on the account page redirected back to it.
#[derive(Deserialize, Default)]
pub struct Notice {
    pub notice: Option<String>,
    pub error: Option<String>,
}

#[derive(Serialize)]
pub struct AccountPage {
    user: ProfileView,
    notice: Option<&'static str>,
    error: Option<&'static str>,
    /// The input the error is about, so the page can link them (aria-describedby).
    error_field: Option<&'static str>,
    consents: Vec<ConsentView>,
    sessions: Vec<SessionView>,
    auth: AuthView,
    mfa: MfaView,
    events: Vec<EventView>,
    identities: Vec<IdentityView>,
    upstreams: Vec<UpstreamView>,
    has_password: bool,
    passkeys: Vec<PasskeyView>,
    passkeys_available: bool,
}

#[derive(Serialize)]
struct ProfileView {
    username: String,
    display_name: String,
    name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    email: Option<String>,
    email_verified: bool,
    phone_number: Option<String>,
    address: Option<String>,
    created_at: String,
}

#[derive(Serialize)]
struct ConsentView {
    client_name: String,
    client_id: String,
    scopes: Vec<String>,
    granted_at: String,
}

#[derive(Serialize)]
struct SessionView {
    current: bool,
    created_at: Option<String>,
    last_seen: Option<String>,
    id: String,
    user_agent: Option<String>,
}

#[derive(Serialize)]
struct AuthView {
    amr: Vec<String>,
    mfa: bool,
}

#[derive(Serialize)]
struct MfaView {
    totp_enabled: bool,
    enrolled_at: Option<String>,
    backup_codes_remaining: u64,
    required: bool,
}

#[derive(Serialize)]
struct PasskeyView {
    id: String,
    name: String,
    added: String,
    last_used: Option<String>,
    /// Backup eligible: synced to the user's other devices by their passkey provider.
    synced: bool,
}

#[derive(Serialize)]
struct EventView {
    at: String,
    title: String,
    detail: Option<String>,
    warning: bool,
}

#[derive(Serialize)]
struct IdentityView {
    upstream: String,
    display_name: String,
    subject: String,
    email: Option<String>,
    last_login_at: String,
}

#[derive(Serialize)]
struct UpstreamView {
    name: String,
    display_name: String,
}

impl Page for AccountPage {
    const TEMPLATE: &'static str = "account.html";
    fn title(&self) -> &str {
        "Your account"
    }
}

/// What the account page needs besides the core's overview.
pub struct AccountContext<'a> {
    pub user: &'a User,
    pub auth: &'a Authenticated,
    /// This browser's session key, to mark "this device".
    pub current_session: Option<&'a [u8]>,
    pub upstreams: Vec<(String, String)>,
    pub notice: &'a Notice,
}

impl AccountPage {
    pub fn new(overview: AccountOverview, cx: AccountContext<'_>) -> Self {
        let user = cx.user;
        let mfa = &overview.mfa;
        Self {
            user: profile(user),
            notice: cx.notice.notice.as_deref().and_then(notice_text),
            error: cx.notice.error.as_deref().and_then(notice_text),
            error_field: cx.notice.error.as_deref().and_then(error_field),
            consents: overview
                .consents
                .into_iter()
                .map(|c| ConsentView {
                    client_name: c.client_name,
                    client_id: c.consent.client_id,
                    scopes: c.consent.scopes,
                    granted_at: fmt_time(c.consent.granted_at),
                })
                .collect(),
            sessions: overview
                .sessions
                .iter()
                .filter_map(|rec| session_view(rec, cx.current_session))
                .collect(),
            auth: AuthView {
                amr: cx.auth.amr.clone(),
                mfa: cx.auth.is_mfa(),
            },
            mfa: MfaView {
                totp_enabled: mfa.totp_enabled,
                enrolled_at: mfa.totp_enrolled_at.map(fmt_time),
                backup_codes_remaining: mfa.backup_codes_remaining,
                required: overview.mfa_required,
            },
            events: overview.events.iter().map(event_view).collect(),
            passkeys: overview
                .passkeys
                .iter()
                .map(|p| PasskeyView {
                    id: p.id.to_string(),
                    name: p.name.clone(),
                    added: fmt_time(p.created_at),
                    last_used: p.last_used_at.map(fmt_time),
                    synced: p.backup_eligible,
                })
                .collect(),
            passkeys_available: overview.passkeys_available,
            identities: overview
                .identities
                .into_iter()
                .map(|i| IdentityView {
                    upstream: i.identity.upstream,
                    display_name: i.display_name,
                    subject: i.identity.subject,
                    email: i.identity.email,
                    last_login_at: fmt_time(i.identity.last_login_at),
                })
                .collect(),
            upstreams: cx
                .upstreams
                .into_iter()
                .map(|(name, display_name)| UpstreamView { name, display_name })
                .collect(),
            has_password: user.password_hash.is_some(),
        }
    }
}

fn profile(user: &User) -> ProfileView {
    ProfileView {
        username: user.username.clone(),
        display_name: user.name.clone().unwrap_or_else(|| user.username.clone()),
        name: user.name.clone(),
        given_name: user.given_name.clone(),
        family_name: user.family_name.clone(),
        email: user.email.clone(),
        email_verified: user.email_verified,
        phone_number: user.phone_number.clone(),
        address: user.address.clone(),
        created_at: fmt_time(user.created_at),
    }
}

/// A signed-in session as the list shows it; a login still at its second step is not one.
fn session_view(rec: &SessionRecord, current: Option<&[u8]>) -> Option<SessionView> {
    let data: Value = serde_json::from_slice(&rec.data).unwrap_or(Value::Null);
    let auth = data.get(AUTH_KEY)?;
    let auth_time = serde_json::from_value::<Authenticated>(auth.clone())
        .ok()
        .map(|a| fmt_time(a.auth_time));
    let seen = data
        .get("seen")
        .and_then(Value::as_i64)
        .and_then(|t| DateTime::from_timestamp(t, 0))
        .map(fmt_time);
    Some(SessionView {
        current: current == Some(rec.id_hash.as_slice()),
        last_seen: seen.or_else(|| auth_time.clone()),
        created_at: auth_time,
        id: b64url(&rec.id_hash),
        user_agent: data
            .get(DEVICE_KEY)
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// The signed-in session stored in a session record, if it holds one.
pub fn session_auth(rec: &SessionRecord) -> Option<Authenticated> {
    let data: Value = serde_json::from_slice(&rec.data).ok()?;
    serde_json::from_value(data.get(AUTH_KEY)?.clone()).ok()
}

fn event_view(e: &AuditEvent) -> EventView {
    EventView {
        at: fmt_time(e.at),
        title: event_title(&e.kind),
        detail: event_detail(&e.kind, &e.detail),
        warning: matches!(e.kind.as_str(), "login_failed" | "account_locked"),
    }
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
        "too_long" => "Choose a new password of at most 1024 characters.",
        "email" => "That email address does not look right.",
        "mfa_on" => "Two-step verification is on.",
        "passkey_added" => "Your passkey was added. Your other sessions were signed out.",
        "passkey_renamed" => "Your passkey was renamed.",
        "passkey_removed" => "The passkey was removed. Your other sessions were signed out.",
        "passkey_name" => "Give the passkey a name of 1 to 64 characters.",
        "passkeys_off" => "Passkeys are not available on this server.",
        "last_factor" => {
            "Your organisation requires a second factor and this passkey is your last one: add another first."
        }
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

fn error_field(code: &str) -> Option<&'static str> {
    Some(match code {
        "wrong_password" | "throttled" => "current_password",
        "mismatch" => "confirm_password",
        "weak" | "too_long" => "new_password",
        "email" => "email",
        "reauth" | "reauth_missing" | "mfa_throttled" => "security",
        "passkey_name" | "passkeys_off" | "last_factor" => "passkeys",
        "last_login_method" => "identities",
        _ => return None,
    })
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
        "profile_changed" => "Profile updated",
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
        "passkey_added" => "Passkey added",
        "passkey_renamed" => "Passkey renamed",
        "passkey_removed" => "Passkey removed",
        "passkey_used" => "Passkey used",
        "passkey_refused" => "Passkey refused",
        other => return other.replace('_', " "),
    }
    .to_string()
}

fn event_detail(kind: &str, detail: &Value) -> Option<String> {
    match kind {
        "passkey_added" | "passkey_renamed" | "passkey_removed" | "passkey_used" => detail
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string),
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
