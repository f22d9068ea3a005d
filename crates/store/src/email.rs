//! E-mail (`EmailStore`): the outbox and the single-use links sent by mail.
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lanyard_core::email::{EmailLink, EmailStore, LinkPurpose, OutboxMessage};
use lanyard_core::model::User;
use lanyard_core::store::{StoreError, StoreResult};
use uuid::Uuid;

use crate::SqlStore;
use crate::pool::with_pool;
use crate::rows::{UserRow, count, ts};
use crate::users::user_cols;

const ENQUEUE: &str = "INSERT INTO email_outbox \
     (id, kind, to_address, payload, attempts, next_attempt_at, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
/// One statement: of two replicas claiming at once, one gets the message (PostgreSQL re-checks
/// the outer WHERE after waiting on the row lock; SQLite writes one at a time).
const CLAIM: &str = "UPDATE email_outbox \
     SET attempts = attempts + 1, next_attempt_at = $2 \
     WHERE id = (SELECT id FROM email_outbox \
                 WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1 \
                 ORDER BY next_attempt_at, id LIMIT 1) \
       AND sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1 \
     RETURNING id, kind, to_address, payload, attempts, next_attempt_at, created_at";
const SENT: &str = "UPDATE email_outbox SET sent_at = $2, payload = $3, last_error = NULL \
     WHERE id = $1";
const RETRY: &str = "UPDATE email_outbox SET next_attempt_at = $2, last_error = $3 WHERE id = $1";
const FAILED: &str = "UPDATE email_outbox SET failed_at = $2, payload = $3, last_error = $4 \
     WHERE id = $1";
const QUEUED: &str =
    "SELECT COUNT(*) FROM email_outbox WHERE sent_at IS NULL AND failed_at IS NULL";
const CONFIRM_EMAIL: &str = "UPDATE users SET email = $2, email_verified = TRUE, updated_at = $3 \
     WHERE id = $1";
const BY_VERIFIED_EMAIL: &str = concat!(
    "SELECT ",
    user_cols!(),
    " FROM users WHERE LOWER(email) = LOWER($1) AND email_verified = TRUE LIMIT 2"
);
const CREATE_LINK: &str = "INSERT INTO email_tokens \
     (token_hash, purpose, user_id, email, data, created_at, expires_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
const FIND_LINK: &str = "SELECT token_hash, purpose, user_id, email, data, created_at, expires_at \
     FROM email_tokens \
     WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3";
const REDEEM_LINK: &str = "UPDATE email_tokens SET used_at = $3 \
     WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3 \
     RETURNING token_hash, purpose, user_id, email, data, created_at, expires_at";
const REVOKE_LINKS: &str = "UPDATE email_tokens SET used_at = $3 \
     WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL";
const LINKS_TO: &str = "SELECT COUNT(*) FROM email_tokens \
     WHERE LOWER(email) = LOWER($1) AND purpose = $2 AND created_at >= $3";

/// What a sent or abandoned message keeps of its payload.
const EMPTY: &[u8] = &[];

type OutboxRow = (
    Uuid,
    String,
    String,
    Vec<u8>,
    i32,
    DateTime<Utc>,
    DateTime<Utc>,
);
type LinkRow = (
    Vec<u8>,
    String,
    Option<Uuid>,
    String,
    Option<String>,
    DateTime<Utc>,
    DateTime<Utc>,
);

fn outbox(
    (id, kind, to, payload, attempts, next_attempt_at, created_at): OutboxRow,
) -> OutboxMessage {
    OutboxMessage {
        id,
        kind,
        to,
        payload,
        attempts,
        next_attempt_at,
        created_at,
    }
}

fn link(row: LinkRow) -> StoreResult<EmailLink> {
    let (token_hash, purpose, user_id, email, data, created_at, expires_at) = row;
    Ok(EmailLink {
        purpose: LinkPurpose::parse(&purpose)
            .ok_or_else(|| StoreError::Corrupt(format!("link purpose {purpose:?}")))?,
        token_hash,
        user_id,
        email,
        data,
        created_at,
        expires_at,
    })
}

#[async_trait]
impl EmailStore for SqlStore {
    async fn enqueue_mail(&self, m: &OutboxMessage) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query(ENQUEUE)
                .bind(m.id)
                .bind(m.kind.as_str())
                .bind(m.to.as_str())
                .bind(m.payload.as_slice())
                .bind(m.attempts)
                .bind(ts(m.next_attempt_at))
                .bind(ts(m.created_at))
                .execute(pool)
                .await
                .map(|_| ())
        })
    }

    async fn claim_mail(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Option<OutboxMessage>> {
        let row: Option<OutboxRow> = with_pool!(self, |pool| {
            sqlx::query_as(CLAIM)
                .bind(ts(now))
                .bind(ts(lease_until))
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(outbox))
    }

    async fn mail_sent(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query(SENT)
                .bind(id)
                .bind(ts(now))
                .bind(EMPTY)
                .execute(pool)
                .await
                .map(|_| ())
        })
    }

    async fn mail_retry(&self, id: Uuid, next: DateTime<Utc>, error: &str) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query(RETRY)
                .bind(id)
                .bind(ts(next))
                .bind(error)
                .execute(pool)
                .await
                .map(|_| ())
        })
    }

    async fn mail_failed(&self, id: Uuid, now: DateTime<Utc>, error: &str) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query(FAILED)
                .bind(id)
                .bind(ts(now))
                .bind(EMPTY)
                .bind(error)
                .execute(pool)
                .await
                .map(|_| ())
        })
    }

    async fn mail_queued(&self) -> StoreResult<u64> {
        let n: i64 = with_pool!(self, |pool| {
            sqlx::query_scalar(QUEUED).fetch_one(pool).await
        })?;
        count(n)
    }

    async fn confirm_email(
        &self,
        user_id: Uuid,
        email: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        with_pool!(self, |pool| {
            sqlx::query(CONFIRM_EMAIL)
                .bind(user_id)
                .bind(email)
                .bind(ts(now))
                .execute(pool)
                .await
                .map(|d| d.rows_affected() == 1)
        })
    }

    async fn user_by_verified_email(&self, email: &str) -> StoreResult<Option<User>> {
        let rows: Vec<UserRow> = with_pool!(self, |pool| {
            sqlx::query_as(BY_VERIFIED_EMAIL)
                .bind(email)
                .fetch_all(pool)
                .await
        })?;
        // Two accounts sharing a verified address: neither is picked (ask for the username).
        match <[UserRow; 1]>::try_from(rows) {
            Ok([row]) => Ok(Some(User::from(row))),
            Err(_) => Ok(None),
        }
    }

    async fn create_link(&self, l: &EmailLink) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query(CREATE_LINK)
                .bind(l.token_hash.as_slice())
                .bind(l.purpose.as_str())
                .bind(l.user_id)
                .bind(l.email.as_str())
                .bind(l.data.as_deref())
                .bind(ts(l.created_at))
                .bind(ts(l.expires_at))
                .execute(pool)
                .await
                .map(|_| ())
        })
    }

    async fn find_link(
        &self,
        token_hash: &[u8],
        purpose: LinkPurpose,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<EmailLink>> {
        let row: Option<LinkRow> = with_pool!(self, |pool| {
            sqlx::query_as(FIND_LINK)
                .bind(token_hash)
                .bind(purpose.as_str())
                .bind(ts(now))
                .fetch_optional(pool)
                .await
        })?;
        row.map(link).transpose()
    }

    async fn redeem_link(
        &self,
        token_hash: &[u8],
        purpose: LinkPurpose,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<EmailLink>> {
        let row: Option<LinkRow> = with_pool!(self, |pool| {
            sqlx::query_as(REDEEM_LINK)
                .bind(token_hash)
                .bind(purpose.as_str())
                .bind(ts(now))
                .fetch_optional(pool)
                .await
        })?;
        row.map(link).transpose()
    }

    async fn revoke_links(
        &self,
        user_id: Uuid,
        purpose: LinkPurpose,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        with_pool!(self, |pool| {
            sqlx::query(REVOKE_LINKS)
                .bind(user_id)
                .bind(purpose.as_str())
                .bind(ts(now))
                .execute(pool)
                .await
                .map(|d| d.rows_affected())
        })
    }

    async fn count_links_to(
        &self,
        email: &str,
        purpose: LinkPurpose,
        since: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let n: i64 = with_pool!(self, |pool| {
            sqlx::query_scalar(LINKS_TO)
                .bind(email)
                .bind(purpose.as_str())
                .bind(ts(since))
                .fetch_one(pool)
                .await
        })?;
        count(n)
    }
}
