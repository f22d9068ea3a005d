//! E-mail: the outbox every message goes through, and the single-use links sent by mail
//! (verify an address, reset a password, accept an invitation, finish a sign-up).
//!
//! Core decides *what* to send and records it in the outbox, in the same request as the change
//! that caused it; the web crate's worker renders and delivers it (SMTP), with retries, so a
//! dead mail server delays mail but never fails a request. Without `[email]` nothing is queued.
mod flows;
mod links;
mod outbox;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::StoreResult;

pub use flows::{SignupRequest, link_hash};
pub use links::{LinkPurpose, new_link_token};
pub use outbox::payload_aad;

/// A message in the outbox. `payload` is sealed template data (see `Provider::queue_mail`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: Uuid,
    /// The template: `verify_email`, `password_reset`, `notice`...
    pub kind: String,
    pub to: String,
    pub payload: Vec<u8>,
    /// Delivery attempts so far (a claimed message counts its current one).
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// A single-use link sent by mail. Only the hash of its token is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailLink {
    pub token_hash: Vec<u8>,
    pub purpose: LinkPurpose,
    /// `None` only for a sign-up, whose account does not exist yet.
    pub user_id: Option<Uuid>,
    /// Where the link was sent: for a change of address, the new address.
    pub email: String,
    /// JSON a sign-up needs (username, password hash); never a secret in clear.
    pub data: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The outbox and the links, in the database so every replica shares them.
#[async_trait]
pub trait EmailStore: Send + Sync {
    async fn enqueue_mail(&self, message: &OutboxMessage) -> StoreResult<()>;
    /// Takes the message due first (`next_attempt_at <= now`), if any: its attempt count goes
    /// up and it is hidden until `lease_until`, so another replica does not send it meanwhile.
    async fn claim_mail(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Option<OutboxMessage>>;
    /// Delivered: the payload is emptied.
    async fn mail_sent(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<()>;
    /// Not delivered this time; try again at `next_attempt_at`.
    async fn mail_retry(
        &self,
        id: Uuid,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> StoreResult<()>;
    /// Given up: the payload is emptied, the error kept.
    async fn mail_failed(&self, id: Uuid, now: DateTime<Utc>, error: &str) -> StoreResult<()>;
    /// Messages not yet sent or given up.
    async fn mail_queued(&self) -> StoreResult<u64>;

    /// The address becomes the user's, verified.
    async fn confirm_email(
        &self,
        user_id: Uuid,
        email: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// The account whose *verified* address this is (case-insensitive), if exactly one.
    async fn user_by_verified_email(&self, email: &str) -> StoreResult<Option<crate::model::User>>;

    async fn create_link(&self, link: &EmailLink) -> StoreResult<()>;
    /// The link, if it exists, is unused and has not expired (for showing its page).
    async fn find_link(
        &self,
        token_hash: &[u8],
        purpose: LinkPurpose,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<EmailLink>>;
    /// Uses the link, atomically: of two concurrent redemptions exactly one gets it.
    async fn redeem_link(
        &self,
        token_hash: &[u8],
        purpose: LinkPurpose,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<EmailLink>>;
    /// Ends every open link of the user for `purpose` (a newer one replaces them, or the
    /// password changed); returns how many.
    async fn revoke_links(
        &self,
        user_id: Uuid,
        purpose: LinkPurpose,
        now: DateTime<Utc>,
    ) -> StoreResult<u64>;
    /// Links of this purpose sent to `email` since `since` (throttling per address).
    async fn count_links_to(
        &self,
        email: &str,
        purpose: LinkPurpose,
        since: DateTime<Utc>,
    ) -> StoreResult<u64>;
}
