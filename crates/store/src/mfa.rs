//! Second factors (`MfaStore`): TOTP credentials and backup codes, stored only as hashes.
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lanyard_core::model::TotpCredential;
use lanyard_core::store::{MfaStore, StoreResult};
use uuid::Uuid;

use crate::SqlStore;
use crate::pool::{Backend, Sql, with_pool};
use crate::rows::{TotpRow, count, ts};

macro_rules! totp_cols {
    () => {
        "user_id, secret_enc, last_step, created_at"
    };
}

const TOTP_OF: &str = concat!(
    "SELECT ",
    totp_cols!(),
    " FROM totp_credentials WHERE user_id = $1"
);
const ALL_TOTP: &str = concat!(
    "SELECT ",
    totp_cols!(),
    " FROM totp_credentials ORDER BY user_id"
);
const INSERT_TOTP: &str = concat!(
    "INSERT INTO totp_credentials (",
    totp_cols!(),
    ") VALUES ($1, $2, $3, $4)"
);
const DELETE_TOTP: &str = "DELETE FROM totp_credentials WHERE user_id = $1";
/// One statement: of two concurrent submissions of one step exactly one moves `last_step`
/// (PostgreSQL re-checks the WHERE after waiting on the row lock). RFC 6238 5.2.
const ACCEPT_STEP: &str = "UPDATE totp_credentials SET last_step = $2 \
     WHERE user_id = $1 AND (last_step IS NULL OR last_step < $2)";
/// Compare-and-swap, for re-encryption: a re-enrollment in between wins.
const SET_SECRET: &str =
    "UPDATE totp_credentials SET secret_enc = $3 WHERE user_id = $1 AND secret_enc = $2";
const DELETE_CODES: &str = "DELETE FROM backup_codes WHERE user_id = $1";
const INSERT_CODE: &str = "INSERT INTO backup_codes (user_id, code_hash, created_at, used_at) \
     VALUES ($1, $2, $3, NULL)";
const REDEEM_CODE: &str = "UPDATE backup_codes SET used_at = $3 \
     WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL";
const CODES_LEFT: &str = "SELECT COUNT(*) FROM backup_codes WHERE user_id = $1 AND used_at IS NULL";

/// Replace the user's backup codes inside `$tx` (a transaction of either backend).
macro_rules! replace_codes {
    ($tx:expr, $user:expr, $hashes:expr, $now:expr) => {{
        sqlx::query(DELETE_CODES)
            .bind($user)
            .execute(&mut *$tx)
            .await?;
        for h in $hashes {
            sqlx::query(INSERT_CODE)
                .bind($user)
                .bind(h.as_slice())
                .bind(ts($now))
                .execute(&mut *$tx)
                .await?;
        }
    }};
}

#[async_trait]
impl MfaStore for SqlStore {
    async fn get_totp(&self, user_id: Uuid) -> StoreResult<Option<TotpCredential>> {
        let row: Option<TotpRow> = with_pool!(self, |pool| {
            sqlx::query_as(TOTP_OF)
                .bind(user_id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(TotpCredential::from))
    }

    /// A second confirmation collides on the primary key (`Conflict`); an unknown user fails
    /// the foreign key (`Conflict` too). Either way nothing is written.
    async fn enable_totp(
        &self,
        cred: &TotpCredential,
        backup_code_hashes: &[Vec<u8>],
    ) -> StoreResult<()> {
        with_pool!(self, |pool| {
            async {
                let mut tx = pool.begin_write().await?;
                sqlx::query(INSERT_TOTP)
                    .bind(cred.user_id)
                    .bind(cred.secret_enc.as_slice())
                    .bind(cred.last_step)
                    .bind(ts(cred.created_at))
                    .execute(&mut *tx)
                    .await?;
                replace_codes!(tx, cred.user_id, backup_code_hashes, cred.created_at);
                tx.commit().await
            }
            .await
        })
    }

    async fn disable_totp(&self, user_id: Uuid) -> StoreResult<bool> {
        let done = with_pool!(self, |pool| {
            async {
                let mut tx = pool.begin_write().await?;
                let done = sqlx::query(DELETE_TOTP)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(DELETE_CODES)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Sql::Ok(done.rows_affected())
            }
            .await
        })?;
        Ok(done > 0)
    }

    async fn accept_totp_step(&self, user_id: Uuid, step: i64) -> StoreResult<bool> {
        let done = with_pool!(self, |pool| {
            sqlx::query(ACCEPT_STEP)
                .bind(user_id)
                .bind(step)
                .execute(pool)
                .await
                .map(|d| d.rows_affected())
        })?;
        Ok(done == 1)
    }

    async fn list_totp(&self) -> StoreResult<Vec<TotpCredential>> {
        let rows: Vec<TotpRow> =
            with_pool!(self, |pool| sqlx::query_as(ALL_TOTP).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(TotpCredential::from).collect())
    }

    async fn set_totp_secret(&self, user_id: Uuid, old: &[u8], new: &[u8]) -> StoreResult<bool> {
        let done = with_pool!(self, |pool| {
            sqlx::query(SET_SECRET)
                .bind(user_id)
                .bind(old)
                .bind(new)
                .execute(pool)
                .await
                .map(|d| d.rows_affected())
        })?;
        Ok(done == 1)
    }

    async fn replace_backup_codes(
        &self,
        user_id: Uuid,
        hashes: &[Vec<u8>],
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        with_pool!(self, |pool| {
            async {
                let mut tx = pool.begin_write().await?;
                replace_codes!(tx, user_id, hashes, now);
                tx.commit().await
            }
            .await
        })
    }

    /// The guarded UPDATE is what makes the code single-use; the transaction only makes the
    /// count describe the state right after this redemption.
    async fn redeem_backup_code(
        &self,
        user_id: Uuid,
        hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<u64>> {
        let left: Option<i64> = with_pool!(self, |pool| {
            async {
                let mut tx = pool.begin_write().await?;
                let done = sqlx::query(REDEEM_CODE)
                    .bind(user_id)
                    .bind(hash)
                    .bind(ts(now))
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    // Nothing written; dropping `tx` rolls back.
                    return Sql::Ok(None);
                }
                let n: i64 = sqlx::query_scalar(CODES_LEFT)
                    .bind(user_id)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Some(n))
            }
            .await
        })?;
        left.map(count).transpose()
    }

    async fn backup_codes_remaining(&self, user_id: Uuid) -> StoreResult<u64> {
        let n: i64 = with_pool!(self, |pool| {
            sqlx::query_scalar(CODES_LEFT)
                .bind(user_id)
                .fetch_one(pool)
                .await
        })?;
        count(n)
    }
}
