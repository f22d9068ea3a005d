//! Passkeys (`PasskeyStore`): WebAuthn credentials and the random user handle per account.
use async_trait::async_trait;
use lanyard_core::model::{PasskeyCredential, PasskeyUse};
use lanyard_core::store::{PasskeyStore, StoreResult};
use uuid::Uuid;

use crate::SqlStore;
use crate::pool::with_pool;
use crate::rows::{PasskeyRow, ts, ts_opt};

macro_rules! passkey_cols {
    () => {
        "id, user_id, credential_id, name, credential, counter, backup_eligible, backup_state, \
         aaguid, created_at, last_used_at"
    };
}

const NEW_HANDLE: &str = "INSERT INTO webauthn_handles (user_id, handle) VALUES ($1, $2) \
     ON CONFLICT (user_id) DO NOTHING";
const HANDLE_OF: &str = "SELECT handle FROM webauthn_handles WHERE user_id = $1";
const USER_OF_HANDLE: &str = "SELECT user_id FROM webauthn_handles WHERE handle = $1";
const PASSKEYS_OF: &str = concat!(
    "SELECT ",
    passkey_cols!(),
    " FROM passkeys WHERE user_id = $1 ORDER BY created_at, id"
);
const PASSKEY_BY_CREDENTIAL: &str = concat!(
    "SELECT ",
    passkey_cols!(),
    " FROM passkeys WHERE credential_id = $1"
);
const INSERT_PASSKEY: &str = concat!(
    "INSERT INTO passkeys (",
    passkey_cols!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
);
const RENAME: &str = "UPDATE passkeys SET name = $3 WHERE user_id = $1 AND id = $2";
const DELETE_ONE: &str = "DELETE FROM passkeys WHERE user_id = $1 AND id = $2";
const DELETE_ALL: &str = "DELETE FROM passkeys WHERE user_id = $1";
/// One statement, so of two assertions carrying the same counter exactly one is recorded
/// (PostgreSQL re-checks the WHERE after waiting on the row lock). WebAuthn L3 6.1.1: a counter
/// that does not move forward signals a cloned authenticator, unless both are 0 (none kept).
const RECORD_USE: &str = "UPDATE passkeys \
     SET credential = $2, counter = $3, backup_state = $4, last_used_at = $5 \
     WHERE id = $1 AND (counter < $3 OR (counter = 0 AND $3 = 0))";

#[async_trait]
impl PasskeyStore for SqlStore {
    async fn webauthn_handle(&self, user_id: Uuid, candidate: Uuid) -> StoreResult<Uuid> {
        with_pool!(self, |pool| {
            async {
                sqlx::query(NEW_HANDLE)
                    .bind(user_id)
                    .bind(candidate)
                    .execute(pool)
                    .await?;
                sqlx::query_scalar(HANDLE_OF)
                    .bind(user_id)
                    .fetch_one(pool)
                    .await
            }
            .await
        })
    }

    async fn user_by_webauthn_handle(&self, handle: Uuid) -> StoreResult<Option<Uuid>> {
        with_pool!(self, |pool| {
            sqlx::query_scalar(USER_OF_HANDLE)
                .bind(handle)
                .fetch_optional(pool)
                .await
        })
    }

    async fn list_passkeys(&self, user_id: Uuid) -> StoreResult<Vec<PasskeyCredential>> {
        let rows: Vec<PasskeyRow> = with_pool!(self, |pool| {
            sqlx::query_as(PASSKEYS_OF)
                .bind(user_id)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows.into_iter().map(PasskeyCredential::from).collect())
    }

    async fn passkey_by_credential_id(
        &self,
        credential_id: &[u8],
    ) -> StoreResult<Option<PasskeyCredential>> {
        let row: Option<PasskeyRow> = with_pool!(self, |pool| {
            sqlx::query_as(PASSKEY_BY_CREDENTIAL)
                .bind(credential_id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(PasskeyCredential::from))
    }

    async fn add_passkey(&self, p: &PasskeyCredential) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query(INSERT_PASSKEY)
                .bind(p.id)
                .bind(p.user_id)
                .bind(p.credential_id.as_slice())
                .bind(p.name.as_str())
                .bind(p.credential.as_str())
                .bind(p.counter)
                .bind(p.backup_eligible)
                .bind(p.backup_state)
                .bind(p.aaguid)
                .bind(ts(p.created_at))
                .bind(ts_opt(p.last_used_at))
                .execute(pool)
                .await
                .map(|_| ())
        })
    }

    async fn rename_passkey(&self, user_id: Uuid, id: Uuid, name: &str) -> StoreResult<bool> {
        with_pool!(self, |pool| {
            sqlx::query(RENAME)
                .bind(user_id)
                .bind(id)
                .bind(name)
                .execute(pool)
                .await
                .map(|d| d.rows_affected() == 1)
        })
    }

    async fn delete_passkey(&self, user_id: Uuid, id: Uuid) -> StoreResult<bool> {
        with_pool!(self, |pool| {
            sqlx::query(DELETE_ONE)
                .bind(user_id)
                .bind(id)
                .execute(pool)
                .await
                .map(|d| d.rows_affected() == 1)
        })
    }

    async fn delete_passkeys(&self, user_id: Uuid) -> StoreResult<u64> {
        with_pool!(self, |pool| {
            sqlx::query(DELETE_ALL)
                .bind(user_id)
                .execute(pool)
                .await
                .map(|d| d.rows_affected())
        })
    }

    async fn record_passkey_use(&self, used: &PasskeyUse) -> StoreResult<bool> {
        with_pool!(self, |pool| {
            sqlx::query(RECORD_USE)
                .bind(used.id)
                .bind(used.credential.as_str())
                .bind(used.counter)
                .bind(used.backup_state)
                .bind(ts(used.at))
                .execute(pool)
                .await
                .map(|d| d.rows_affected() == 1)
        })
    }
}
