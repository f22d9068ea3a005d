//! The browser session: who is logged in, the CSRF token, and pending sign-ins. All of it lives
//! server-side (DESIGN §6); the cookie carries only the session id.
mod device;
mod flow;
mod upstream;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use lanyard_core::authn::{Authenticated, PendingLogin, PendingTotp};
use lanyard_core::secret::{ct_eq, random_token};
use tower_sessions::Session;

pub use device::describe_device;
pub use flow::Flow;
pub use upstream::{AfterLogout, PendingLink, PendingUpstream};

use crate::error::WebError;

pub const AUTH_KEY: &str = "auth";
const CSRF_KEY: &str = "csrf";
pub const DEVICE_KEY: &str = "device";
/// The login state after the password step (DESIGN §3), bound to this session.
pub const PENDING_KEY: &str = "pending_login";
/// A TOTP secret awaiting confirmation, encrypted.
const PENDING_TOTP_KEY: &str = "pending_totp";
/// A passkey registration between its two requests (challenge and verifier state).
const PENDING_PASSKEY_KEY: &str = "pending_passkey";
/// A passkey assertion offered by the second-step page.
const PENDING_ASSERTION_KEY: &str = "pending_passkey_assertion";

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
    pub(crate) async fn get<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, WebError> {
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
        let ended = provider
            .accounts()
            .end_sessions(user_id, self.id_hash().as_deref(), reason)
            .await?;
        self.restamp(ended.epoch).await
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

    pub async fn set_pending_passkey(
        &self,
        p: &lanyard_core::authn::passkeys::PendingPasskeyRegistration,
    ) -> Result<(), WebError> {
        self.0.insert(PENDING_PASSKEY_KEY, p).await?;
        Ok(())
    }

    /// The pending registration, removed: a challenge answers once.
    pub async fn take_pending_passkey(
        &self,
    ) -> Result<Option<lanyard_core::authn::passkeys::PendingPasskeyRegistration>, WebError> {
        Ok(self.0.remove(PENDING_PASSKEY_KEY).await?)
    }

    pub async fn set_pending_assertion(
        &self,
        p: &lanyard_core::authn::passkeys::PendingPasskeyAssertion,
    ) -> Result<(), WebError> {
        self.0.insert(PENDING_ASSERTION_KEY, p).await?;
        Ok(())
    }

    /// The pending assertion, removed: a challenge answers once.
    pub async fn take_pending_assertion(
        &self,
    ) -> Result<Option<lanyard_core::authn::passkeys::PendingPasskeyAssertion>, WebError> {
        Ok(self.0.remove(PENDING_ASSERTION_KEY).await?)
    }

    /// Log out: the whole session row is deleted and the cookie removed.
    pub async fn logout(&self) -> Result<(), WebError> {
        self.0.flush().await?;
        Ok(())
    }

    /// Mark the session as used so the rolling idle timeout restarts (keep-alive).
    pub async fn touch(&self, now: DateTime<Utc>) -> Result<(), WebError> {
        self.0.insert("seen", now.timestamp()).await?;
        Ok(())
    }
}
