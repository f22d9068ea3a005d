//! The browser session: who is logged in, the CSRF token, and pending sign-ins. All of it lives
//! server-side (DESIGN §6); the cookie carries only the session id.
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use lanyard_core::authn::mfa::PendingTotp;
use lanyard_core::authn::{Authenticated, PendingLogin};
use lanyard_core::oidc::authorize::AuthorizeRequest;
use lanyard_core::secret::{ct_eq, random_token};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::error::WebError;

pub const AUTH_KEY: &str = "auth";
const CSRF_KEY: &str = "csrf";
pub const DEVICE_KEY: &str = "device";
const FLOWS_KEY: &str = "flows";
/// The login state after the password step (DESIGN §3), bound to this session.
pub const PENDING_KEY: &str = "pending_login";
/// A TOTP secret awaiting confirmation, encrypted.
const PENDING_TOTP_KEY: &str = "pending_totp";
/// Logins in progress at upstream providers.
const UPSTREAM_KEY: &str = "upstream_logins";
/// An upstream identity waiting for its local owner to confirm the link by signing in.
const PENDING_LINK_KEY: &str = "pending_link";
/// Where to go after an upstream's logout returns.
const AFTER_LOGOUT_KEY: &str = "after_upstream_logout";
/// The upstream's ID token (sealed), for the id_token_hint of an upstream logout.
const UPSTREAM_ID_TOKEN_KEY: &str = "upstream_id_token";
const MAX_UPSTREAM_LOGINS: usize = 4;

/// A login sent to an upstream provider, waiting for its callback. The nonce and PKCE verifier
/// are sealed (encrypted) so the session row holds nothing usable.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingUpstream {
    pub upstream: String,
    pub state: String,
    pub sealed: Vec<u8>,
    /// The authorization request this login continues, if any.
    pub flow: Option<String>,
    /// Linking from the account page: the signed-in user.
    pub link_user: Option<uuid::Uuid>,
    pub created_at: DateTime<Utc>,
}
/// An upstream login matched a local account by verified email; the link is made only once the
/// owner signs in to that account here (password and second factor), within `expires_at`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLink {
    pub upstream: String,
    pub subject: String,
    pub email: Option<String>,
    pub user_id: uuid::Uuid,
    /// Shown pre-filled on the sign-in page.
    pub username: String,
    pub expires_at: DateTime<Utc>,
}

/// Where a logout continues (a validated `post_logout_redirect_uri` with its `state`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AfterLogout {
    pub url: String,
    /// Show the destination on a page instead of going there (self-registered clients).
    pub confirm: bool,
}

/// Pending sign-ins kept per browser (several tabs may be signing in to several apps).
const MAX_FLOWS: usize = 8;

/// A sign-in in progress: the validated authorization request (or none, for the account page)
/// and what the user has done for it so far.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Flow {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub request: Option<AuthorizeRequest>,
    /// The user authenticated during this flow (satisfies prompt=login and max_age).
    pub fresh_login: bool,
    /// The user approved the consent page during this flow.
    pub consented: bool,
}

impl Flow {
    pub fn new(request: Option<AuthorizeRequest>, now: DateTime<Utc>) -> Self {
        Self {
            id: random_token(),
            created_at: now,
            request,
            fresh_login: false,
            consented: false,
        }
    }

    /// The flow sealed (encrypted and authenticated) for a URL: carried to the sign-in page
    /// instead of being stored for a browser that has no session yet.
    pub fn seal(&self, provider: &lanyard_core::Provider) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        lanyard_core::secret::b64url(&provider.seal(FLOW_SEAL, &json))
    }

    /// A sealed flow back, unless it was tampered with or is older than `lifetime`.
    pub fn unseal(
        provider: &lanyard_core::Provider,
        sealed: &str,
        lifetime: chrono::Duration,
    ) -> Option<Self> {
        let bytes = lanyard_core::secret::b64url_decode(sealed)?;
        let flow: Self = serde_json::from_slice(&provider.unseal(FLOW_SEAL, &bytes)?).ok()?;
        (flow.created_at + lifetime > provider.now()).then_some(flow)
    }
}

/// Associated data of sealed flows.
const FLOW_SEAL: &str = "lanyard flow";

/// Extractor wrapping the tower-sessions `Session` with Lanyard's typed accessors.
pub struct Browser(pub Session);

impl<S: Send + Sync> FromRequestParts<S> for Browser {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Session::from_request_parts(parts, state)
            .await
            .map(Browser)
            .map_err(|_| WebError::Internal("session layer missing".into()))
    }
}

impl Browser {
    /// A typed value from the session. A value that no longer decodes (written by an older
    /// version) is dropped and treated as absent, never a 500.
    async fn get<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, WebError> {
        match self.0.get::<T>(key).await {
            Ok(v) => Ok(v),
            Err(tower_sessions::session::Error::SerdeJson(e)) => {
                tracing::info!(key, error = %e, "dropping an undecodable session value");
                self.0.remove_value(key).await?;
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The synchronizer CSRF token for forms, created on first use.
    pub async fn csrf_token(&self) -> Result<String, WebError> {
        if let Some(t) = self.get::<String>(CSRF_KEY).await? {
            return Ok(t);
        }
        let t = random_token();
        self.0.insert(CSRF_KEY, &t).await?;
        // Persist a new session now, inside the handler: if the database is down this becomes our
        // 503 page instead of the session layer's bare 500 after the page was rendered.
        self.0.save().await?;
        Ok(t)
    }

    pub async fn check_csrf(&self, submitted: Option<&str>) -> Result<(), WebError> {
        let expected = self.get::<String>(CSRF_KEY).await?;
        match (expected, submitted) {
            (Some(e), Some(s)) if ct_eq(e.as_bytes(), s.as_bytes()) => Ok(()),
            _ => Err(WebError::csrf()),
        }
    }

    /// The logged-in user, unless the login outlived the absolute session lifetime (counted
    /// from the local login, not from an upstream's earlier `auth_time`).
    pub async fn auth(
        &self,
        now: DateTime<Utc>,
        absolute: chrono::Duration,
    ) -> Result<Option<Authenticated>, WebError> {
        let Some(auth) = self.get::<Authenticated>(AUTH_KEY).await? else {
            return Ok(None);
        };
        if auth.is_past(absolute, now) {
            self.0.remove_value(AUTH_KEY).await?;
            return Ok(None);
        }
        Ok(Some(auth))
    }

    /// Log in: a new session id (no fixation), then the authentication result and a short
    /// description of the device for the account page's session list.
    pub async fn login(
        &self,
        auth: &Authenticated,
        device: Option<String>,
    ) -> Result<(), WebError> {
        self.0.cycle_id().await?;
        self.0.remove_value(PENDING_KEY).await?;
        self.0.remove_value(PENDING_TOTP_KEY).await?;
        self.0.insert(AUTH_KEY, auth).await?;
        if let Some(d) = device {
            self.0.insert(DEVICE_KEY, d).await?;
        }
        // A fresh CSRF token for the new privilege level.
        self.0.insert(CSRF_KEY, random_token()).await?;
        Ok(())
    }

    /// The signed-in user proved more (a second factor added from the account page): a new
    /// session id for the new privilege level, as at login. The CSRF token stays (same user,
    /// and a double-submitted form should still be told "already done").
    pub async fn elevate(&self, auth: &Authenticated) -> Result<(), WebError> {
        self.0.cycle_id().await?;
        self.0.insert(AUTH_KEY, auth).await?;
        Ok(())
    }

    /// After every other session of the user was ended: this session carries the user's new
    /// epoch (the store already moved its row to it; this keeps the data in step).
    pub async fn restamp(&self, epoch: i64) -> Result<(), WebError> {
        if let Some(mut auth) = self.get::<Authenticated>(AUTH_KEY).await? {
            auth.epoch = epoch;
            self.0.insert(AUTH_KEY, auth).await?;
        }
        if let Some(mut pending) = self.get::<PendingLogin>(PENDING_KEY).await? {
            pending.epoch = epoch;
            self.0.insert(PENDING_KEY, pending).await?;
        }
        Ok(())
    }

    /// End every other session of `user_id` (and revoke their grants), keeping this one, which
    /// moves to the user's new epoch.
    pub async fn end_other_sessions(
        &self,
        provider: &lanyard_core::Provider,
        user_id: uuid::Uuid,
        reason: &str,
    ) -> Result<(), WebError> {
        let epoch = provider
            .end_other_sessions(user_id, self.id_hash().as_deref(), reason)
            .await
            .map_err(WebError::from_provider_page)?;
        self.restamp(epoch).await
    }

    /// Whether this browser has no stored session (no cookie, or one that no longer exists).
    pub async fn is_new(&self) -> Result<bool, WebError> {
        // Loading the record (here, through is_empty) settles whether the cookie's id exists.
        let _ = self.0.is_empty().await;
        Ok(self.0.id().is_none())
    }

    /// The stored key of this browser's session, if it has one yet.
    pub fn id_hash(&self) -> Option<Vec<u8>> {
        self.0.id().map(|id| crate::session_store::id_hash(&id))
    }

    /// The password step succeeded and a second step follows: a new session id (the privilege
    /// changed) and the pending state, replacing any earlier login in this browser.
    pub async fn begin_second_step(&self, pending: &PendingLogin) -> Result<(), WebError> {
        if pending.fresh {
            self.0.cycle_id().await?;
            self.0.remove_value(AUTH_KEY).await?;
            self.0.insert(CSRF_KEY, random_token()).await?;
        }
        self.0.remove_value(PENDING_TOTP_KEY).await?;
        self.0.insert(PENDING_KEY, pending).await?;
        Ok(())
    }

    /// The pending second step, unless it expired (then it is dropped).
    pub async fn pending(&self, now: DateTime<Utc>) -> Result<Option<PendingLogin>, WebError> {
        let Some(p) = self.get::<PendingLogin>(PENDING_KEY).await? else {
            return Ok(None);
        };
        if p.is_expired(now) {
            self.0.remove_value(PENDING_KEY).await?;
            self.0.remove_value(PENDING_TOTP_KEY).await?;
            return Ok(None);
        }
        Ok(Some(p))
    }

    pub async fn pending_totp(&self) -> Result<Option<PendingTotp>, WebError> {
        self.get::<PendingTotp>(PENDING_TOTP_KEY).await
    }

    pub async fn set_pending_totp(&self, p: &PendingTotp) -> Result<(), WebError> {
        self.0.insert(PENDING_TOTP_KEY, p).await?;
        Ok(())
    }

    pub async fn clear_pending_totp(&self) -> Result<(), WebError> {
        self.0.remove_value(PENDING_TOTP_KEY).await?;
        Ok(())
    }

    /// Log out: the whole session row is deleted and the cookie removed.
    pub async fn logout(&self) -> Result<(), WebError> {
        self.0.flush().await?;
        Ok(())
    }

    async fn flows(&self) -> Result<Vec<Flow>, WebError> {
        Ok(self.get::<Vec<Flow>>(FLOWS_KEY).await?.unwrap_or_default())
    }

    pub async fn flow(
        &self,
        id: &str,
        now: DateTime<Utc>,
        lifetime: chrono::Duration,
    ) -> Result<Option<Flow>, WebError> {
        Ok(self
            .flows()
            .await?
            .into_iter()
            .find(|f| f.id == id && f.created_at + lifetime > now))
    }

    pub async fn put_flow(&self, flow: &Flow) -> Result<(), WebError> {
        let mut flows = self.flows().await?;
        flows.retain(|f| f.id != flow.id);
        flows.push(flow.clone());
        if flows.len() > MAX_FLOWS {
            let excess = flows.len() - MAX_FLOWS;
            flows.drain(..excess);
        }
        self.0.insert(FLOWS_KEY, flows).await?;
        Ok(())
    }

    pub async fn remove_flow(&self, id: &str) -> Result<(), WebError> {
        let mut flows = self.flows().await?;
        flows.retain(|f| f.id != id);
        if flows.is_empty() {
            self.0.remove_value(FLOWS_KEY).await?;
        } else {
            self.0.insert(FLOWS_KEY, flows).await?;
        }
        Ok(())
    }

    pub async fn push_upstream(&self, p: PendingUpstream) -> Result<(), WebError> {
        let mut all = self
            .get::<Vec<PendingUpstream>>(UPSTREAM_KEY)
            .await?
            .unwrap_or_default();
        all.push(p);
        if all.len() > MAX_UPSTREAM_LOGINS {
            let excess = all.len() - MAX_UPSTREAM_LOGINS;
            all.drain(..excess);
        }
        self.0.insert(UPSTREAM_KEY, all).await?;
        Ok(())
    }

    /// The pending upstream login with this state, removed (a state is single use).
    pub async fn take_upstream(
        &self,
        upstream: &str,
        state: &str,
    ) -> Result<Option<PendingUpstream>, WebError> {
        let mut all = self
            .get::<Vec<PendingUpstream>>(UPSTREAM_KEY)
            .await?
            .unwrap_or_default();
        let Some(i) = all
            .iter()
            .position(|p| p.upstream == upstream && ct_eq(p.state.as_bytes(), state.as_bytes()))
        else {
            return Ok(None);
        };
        let found = all.remove(i);
        self.0.insert(UPSTREAM_KEY, all).await?;
        Ok(Some(found))
    }

    pub async fn set_pending_link(&self, link: &PendingLink) -> Result<(), WebError> {
        self.0.insert(PENDING_LINK_KEY, link).await?;
        Ok(())
    }

    /// The link waiting for confirmation, unless it expired.
    pub async fn pending_link(&self, now: DateTime<Utc>) -> Result<Option<PendingLink>, WebError> {
        Ok(self
            .get::<PendingLink>(PENDING_LINK_KEY)
            .await?
            .filter(|l| l.expires_at > now))
    }

    pub async fn take_pending_link(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<PendingLink>, WebError> {
        let link = self.pending_link(now).await?;
        self.0.remove_value(PENDING_LINK_KEY).await?;
        Ok(link)
    }

    pub async fn set_upstream_id_token(&self, sealed: Vec<u8>) -> Result<(), WebError> {
        self.0.insert(UPSTREAM_ID_TOKEN_KEY, sealed).await?;
        Ok(())
    }

    pub async fn upstream_id_token(&self) -> Result<Option<Vec<u8>>, WebError> {
        self.get::<Vec<u8>>(UPSTREAM_ID_TOKEN_KEY).await
    }

    pub async fn set_after_logout(&self, target: &AfterLogout) -> Result<(), WebError> {
        self.0.insert(AFTER_LOGOUT_KEY, target).await?;
        Ok(())
    }

    pub async fn take_after_logout(&self) -> Result<Option<AfterLogout>, WebError> {
        let target = self.get::<AfterLogout>(AFTER_LOGOUT_KEY).await?;
        self.0.remove_value(AFTER_LOGOUT_KEY).await?;
        Ok(target)
    }

    /// Mark the session as used so the rolling idle timeout restarts (keep-alive).
    pub async fn touch(&self, now: DateTime<Utc>) -> Result<(), WebError> {
        self.0.insert("seen", now.timestamp()).await?;
        Ok(())
    }
}

/// "Firefox on Linux" from a User-Agent header: enough for a user to recognise a session.
pub fn describe_device(user_agent: Option<&str>) -> Option<String> {
    let ua = user_agent?;
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name)
    .unwrap_or("Browser");
    let os = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    Some(match os {
        Some(os) => format!("{browser} on {os}"),
        None => browser.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::describe_device;

    #[test]
    fn devices_are_described_in_plain_words() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
        assert_eq!(
            describe_device(Some(chrome)).as_deref(),
            Some("Chrome on Linux")
        );
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(
            describe_device(Some(safari)).as_deref(),
            Some("Safari on iPhone")
        );
        assert_eq!(
            describe_device(Some("curl/8.0")).as_deref(),
            Some("Browser")
        );
        assert_eq!(describe_device(None), None);
    }
}
