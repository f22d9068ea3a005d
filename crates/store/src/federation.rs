//! Upstream identities linked to local users (`FederationStore`). Lists are sorted in Rust by
//! bytes, as for groups: upstream names and subjects are case-sensitive identifiers and must sort
//! the same way on both backends.
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lanyard_core::model::{FederatedIdentity, User};
use lanyard_core::store::{FederationStore, StoreResult};
use uuid::Uuid;

use crate::SqlStore;
use crate::pool::{Backend, with_pool};
use crate::rows::{IdentityRow, UserRow, ts};
use crate::users::{insert_user, user_cols};

macro_rules! identity_cols {
    () => {
        "upstream, subject, user_id, email, created_at, last_login_at"
    };
}

const IDENTITY: &str = concat!(
    "SELECT ",
    identity_cols!(),
    " FROM federated_identities WHERE upstream = $1 AND subject = $2"
);
const INSERT_IDENTITY: &str = concat!(
    "INSERT INTO federated_identities (",
    identity_cols!(),
    ") VALUES ($1, $2, $3, $4, $5, $6)"
);
const TOUCH: &str = "UPDATE federated_identities SET last_login_at = $3, email = $4 \
     WHERE upstream = $1 AND subject = $2";
const OF_USER: &str = concat!(
    "SELECT ",
    identity_cols!(),
    " FROM federated_identities WHERE user_id = $1"
);
const UNLINK: &str =
    "DELETE FROM federated_identities WHERE user_id = $1 AND upstream = $2 AND subject = $3";
/// Served by the `users_email_lower` expression index. Case folding is the database's
/// `lower()`: PostgreSQL folds per the database's locale (Unicode under a UTF-8 one), SQLite's
/// built-in `lower()` folds ASCII letters only, so non-ASCII addresses match case-insensitively
/// on PostgreSQL but only exactly on SQLite.
const BY_EMAIL: &str = concat!(
    "SELECT ",
    user_cols!(),
    " FROM users WHERE lower(email) = lower($1)"
);

/// `INSERT_IDENTITY` with `i` bound.
macro_rules! insert_identity {
    ($i:expr) => {{
        let i: &FederatedIdentity = $i;
        sqlx::query(INSERT_IDENTITY)
            .bind(&i.upstream)
            .bind(&i.subject)
            .bind(i.user_id)
            .bind(i.email.as_deref())
            .bind(ts(i.created_at))
            .bind(ts(i.last_login_at))
    }};
}

#[async_trait]
impl FederationStore for SqlStore {
    async fn get_identity(
        &self,
        upstream: &str,
        subject: &str,
    ) -> StoreResult<Option<FederatedIdentity>> {
        let row: Option<IdentityRow> = with_pool!(self, |pool| {
            sqlx::query_as(IDENTITY)
                .bind(upstream)
                .bind(subject)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(FederatedIdentity::from))
    }

    /// A linked pair collides on the primary key (`Conflict`), whoever it is linked to; an
    /// unknown user fails the foreign key (`Conflict` too).
    async fn link_identity(&self, identity: &FederatedIdentity) -> StoreResult<()> {
        with_pool!(self, |pool| {
            insert_identity!(identity).execute(pool).await.map(|_| ())
        })
    }

    /// A taken username or an already linked identity fails its statement with `Conflict`;
    /// returning early drops the transaction, which rolls back, so nothing is written.
    async fn create_user_with_identity(
        &self,
        user: &User,
        identity: &FederatedIdentity,
    ) -> StoreResult<()> {
        with_pool!(self, |pool| {
            async {
                let mut tx = pool.begin_write().await?;
                insert_user!(user).execute(&mut *tx).await?;
                insert_identity!(identity).execute(&mut *tx).await?;
                tx.commit().await
            }
            .await
        })
    }

    async fn touch_identity(
        &self,
        upstream: &str,
        subject: &str,
        email: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = with_pool!(self, |pool| {
            sqlx::query(TOUCH)
                .bind(upstream)
                .bind(subject)
                .bind(ts(at))
                .bind(email)
                .execute(pool)
                .await
                .map(|d| d.rows_affected())
        })?;
        Ok(done == 1)
    }

    async fn list_identities(&self, user_id: Uuid) -> StoreResult<Vec<FederatedIdentity>> {
        let rows: Vec<IdentityRow> = with_pool!(self, |pool| {
            sqlx::query_as(OF_USER).bind(user_id).fetch_all(pool).await
        })?;
        let mut identities: Vec<FederatedIdentity> =
            rows.into_iter().map(FederatedIdentity::from).collect();
        // (upstream, subject) is the primary key, so this order is total.
        identities
            .sort_unstable_by(|a, b| (&a.upstream, &a.subject).cmp(&(&b.upstream, &b.subject)));
        Ok(identities)
    }

    async fn unlink_identity(
        &self,
        user_id: Uuid,
        upstream: &str,
        subject: &str,
    ) -> StoreResult<bool> {
        let done = with_pool!(self, |pool| {
            sqlx::query(UNLINK)
                .bind(user_id)
                .bind(upstream)
                .bind(subject)
                .execute(pool)
                .await
                .map(|d| d.rows_affected())
        })?;
        Ok(done == 1)
    }

    async fn find_users_by_email(&self, email: &str) -> StoreResult<Vec<User>> {
        let rows: Vec<UserRow> = with_pool!(self, |pool| {
            sqlx::query_as(BY_EMAIL).bind(email).fetch_all(pool).await
        })?;
        let mut users: Vec<User> = rows.into_iter().map(User::from).collect();
        // Usernames are unique, so this order is total.
        users.sort_unstable_by(|a, b| a.username.cmp(&b.username));
        Ok(users)
    }
}
