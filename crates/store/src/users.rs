//! Users (`UserStore`).
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lanyard_core::model::{ProfileUpdate, User};
use lanyard_core::store::{StoreResult, UserStore};
use uuid::Uuid;

use crate::SqlStore;
use crate::pool::with_pool;
use crate::rows::{UserRow, ts};

macro_rules! user_cols {
    () => {
        "id, username, email, email_verified, name, given_name, family_name, phone_number, \
         phone_number_verified, address, password_hash, disabled, session_epoch, created_at, \
         updated_at"
    };
}
pub(crate) use user_cols;

pub(crate) const INSERT_USER: &str = concat!(
    "INSERT INTO users (",
    user_cols!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
);
const USER_BY_ID: &str = concat!("SELECT ", user_cols!(), " FROM users WHERE id = $1");
const USER_BY_NAME: &str = concat!("SELECT ", user_cols!(), " FROM users WHERE username = $1");
const ALL_USERS: &str = concat!("SELECT ", user_cols!(), " FROM users ORDER BY username");
const SET_PASSWORD: &str = "UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1";
const SET_DISABLED: &str = "UPDATE users SET disabled = $2, updated_at = $3 WHERE id = $1";
/// A changed email or phone number loses its verified flag: it has not been verified.
const UPDATE_PROFILE: &str = "UPDATE users SET name = $2, given_name = $3, family_name = $4, \
     email_verified = CASE WHEN email IS NOT DISTINCT FROM $5 THEN email_verified ELSE FALSE END, \
     email = $5, \
     phone_number_verified = CASE WHEN phone_number IS NOT DISTINCT FROM $6 \
         THEN phone_number_verified ELSE FALSE END, \
     phone_number = $6, address = $7, updated_at = $8 \
     WHERE id = $1";
const DELETE_USER: &str = "DELETE FROM users WHERE id = $1";

/// `INSERT_USER` with `u` bound, for `create_user` and `create_user_with_identity` (run on the
/// pool or inside a transaction).
macro_rules! insert_user {
    ($u:expr) => {{
        let u: &lanyard_core::model::User = $u;
        sqlx::query($crate::users::INSERT_USER)
            .bind(u.id)
            .bind(&u.username)
            .bind(u.email.as_deref())
            .bind(u.email_verified)
            .bind(u.name.as_deref())
            .bind(u.given_name.as_deref())
            .bind(u.family_name.as_deref())
            .bind(u.phone_number.as_deref())
            .bind(u.phone_number_verified)
            .bind(u.address.as_deref())
            .bind(u.password_hash.as_deref())
            .bind(u.disabled)
            .bind(u.session_epoch)
            .bind($crate::rows::ts(u.created_at))
            .bind($crate::rows::ts(u.updated_at))
    }};
}
pub(crate) use insert_user;

#[async_trait]
impl UserStore for SqlStore {
    async fn create_user(&self, u: &User) -> StoreResult<()> {
        with_pool!(self, |pool| insert_user!(u).execute(pool).await.map(|_| ()))
    }

    async fn get_user(&self, id: Uuid) -> StoreResult<Option<User>> {
        let row: Option<UserRow> = with_pool!(self, |pool| {
            sqlx::query_as(USER_BY_ID)
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(User::from))
    }

    async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let row: Option<UserRow> = with_pool!(self, |pool| {
            sqlx::query_as(USER_BY_NAME)
                .bind(username)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(User::from))
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let rows: Vec<UserRow> =
            with_pool!(self, |pool| sqlx::query_as(ALL_USERS).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(User::from).collect())
    }

    async fn set_password_hash(
        &self,
        id: Uuid,
        hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = with_pool!(self, |pool| {
            sqlx::query(SET_PASSWORD)
                .bind(id)
                .bind(hash)
                .bind(ts(now))
                .execute(pool)
                .await
                .map(|d| d.rows_affected())
        })?;
        Ok(done > 0)
    }

    async fn set_disabled(
        &self,
        id: Uuid,
        disabled: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = with_pool!(self, |pool| {
            sqlx::query(SET_DISABLED)
                .bind(id)
                .bind(disabled)
                .bind(ts(now))
                .execute(pool)
                .await
                .map(|d| d.rows_affected())
        })?;
        Ok(done > 0)
    }

    /// Overwrites every profile field with `p` (None clears it).
    async fn update_profile(
        &self,
        id: Uuid,
        p: &ProfileUpdate,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = with_pool!(self, |pool| {
            sqlx::query(UPDATE_PROFILE)
                .bind(id)
                .bind(p.name.as_deref())
                .bind(p.given_name.as_deref())
                .bind(p.family_name.as_deref())
                .bind(p.email.as_deref())
                .bind(p.phone_number.as_deref())
                .bind(p.address.as_deref())
                .bind(ts(now))
                .execute(pool)
                .await
                .map(|d| d.rows_affected())
        })?;
        Ok(done > 0)
    }

    async fn delete_user(&self, id: Uuid) -> StoreResult<bool> {
        let done = with_pool!(self, |pool| {
            sqlx::query(DELETE_USER)
                .bind(id)
                .execute(pool)
                .await
                .map(|d| d.rows_affected())
        })?;
        Ok(done > 0)
    }
}
