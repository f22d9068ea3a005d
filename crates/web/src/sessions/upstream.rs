//! What a browser keeps while it signs in through an upstream provider, or signs out of one.
use chrono::{DateTime, Utc};
use lanyard_core::Provider;
use lanyard_core::secret::ct_eq;
use serde::{Deserialize, Serialize};

use super::Browser;
use crate::error::WebError;

/// Logins in progress at upstream providers.
const UPSTREAM_KEY: &str = "upstream_logins";
/// An upstream identity waiting for its local owner to confirm the link by signing in.
const PENDING_LINK_KEY: &str = "pending_link";
/// Where to go after an upstream's logout returns.
const AFTER_LOGOUT_KEY: &str = "after_upstream_logout";
/// The upstream's ID token (sealed), for the id_token_hint of an upstream logout.
const UPSTREAM_ID_TOKEN_KEY: &str = "upstream_id_token";
/// Associated data of the sealed upstream ID token.
const UPSTREAM_ID_TOKEN_SEAL: &str = "upstream-id-token";
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

impl Browser {
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

    /// Keep the upstream's ID token, sealed, for the `id_token_hint` of an upstream logout.
    pub async fn set_upstream_id_token(
        &self,
        provider: &Provider,
        id_token: &str,
    ) -> Result<(), WebError> {
        let sealed = provider.seal(UPSTREAM_ID_TOKEN_SEAL, id_token.as_bytes());
        self.0.insert(UPSTREAM_ID_TOKEN_KEY, sealed).await?;
        Ok(())
    }

    pub async fn upstream_id_token(&self, provider: &Provider) -> Result<Option<String>, WebError> {
        Ok(self
            .get::<Vec<u8>>(UPSTREAM_ID_TOKEN_KEY)
            .await?
            .and_then(|sealed| provider.unseal(UPSTREAM_ID_TOKEN_SEAL, &sealed))
            .and_then(|b| String::from_utf8(b).ok()))
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
}
