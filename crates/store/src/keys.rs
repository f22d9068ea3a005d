//! Signing keys (`KeyStore`): public JWK in clear, private key encrypted at rest.
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lanyard_core::model::SigningKeyRecord;
use lanyard_core::store::{KeyStore, StoreResult};

use crate::SqlStore;
use crate::pool::{Backend, Sql, with_pool};
use crate::rows::{KeyRow, ts, ts_opt};

macro_rules! key_cols {
    () => {
        "kid, alg, public_jwk, private_enc, created_at, activates_at, retired_at"
    };
}

const ALL_KEYS: &str = concat!(
    "SELECT ",
    key_cols!(),
    " FROM signing_keys ORDER BY created_at, kid"
);
const INSERT_KEY: &str = concat!(
    "INSERT INTO signing_keys (",
    key_cols!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
);
/// Inserts the key only when its algorithm has no unretired key yet (first start).
const INSERT_INITIAL_KEY: &str = concat!(
    "INSERT INTO signing_keys (",
    key_cols!(),
    ") SELECT $1, $2, $3, $4, $5, $6, $7 \
     WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE alg = $2 AND retired_at IS NULL)"
);
/// Retirement can be brought forward, never postponed.
const RETIRE_KEY: &str = "UPDATE signing_keys SET retired_at = $2 \
     WHERE kid = $1 AND (retired_at IS NULL OR retired_at > $2)";
const DELETE_KEY: &str = "DELETE FROM signing_keys WHERE kid = $1";
/// Compare-and-swap: replaced only if the row still holds what was read.
const SET_PRIVATE: &str =
    "UPDATE signing_keys SET private_enc = $3 WHERE kid = $1 AND private_enc = $2";

/// `sql` (one of the two inserts) with `k` bound.
macro_rules! bind_key {
    ($sql:expr, $k:expr) => {{
        let k: &SigningKeyRecord = $k;
        sqlx::query($sql)
            .bind(&k.kid)
            .bind(k.alg.as_str())
            .bind(&k.public_jwk)
            .bind(k.private_enc.as_slice())
            .bind(ts(k.created_at))
            .bind(ts(k.activates_at))
            .bind(ts_opt(k.retired_at))
    }};
}

#[async_trait]
impl KeyStore for SqlStore {
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let rows: Vec<KeyRow> =
            with_pool!(self, |pool| sqlx::query_as(ALL_KEYS).fetch_all(pool).await)?;
        rows.into_iter().map(SigningKeyRecord::try_from).collect()
    }

    async fn insert_signing_key(&self, k: &SigningKeyRecord) -> StoreResult<()> {
        with_pool!(self, |pool| {
            bind_key!(INSERT_KEY, k).execute(pool).await.map(|_| ())
        })
    }

    async fn retire_signing_key(&self, kid: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        let done = with_pool!(self, |pool| {
            sqlx::query(RETIRE_KEY)
                .bind(kid)
                .bind(ts(at))
                .execute(pool)
                .await
                .map(|d| d.rows_affected())
        })?;
        Ok(done > 0)
    }

    async fn delete_signing_key(&self, kid: &str) -> StoreResult<bool> {
        let done = with_pool!(self, |pool| {
            sqlx::query(DELETE_KEY)
                .bind(kid)
                .execute(pool)
                .await
                .map(|d| d.rows_affected())
        })?;
        Ok(done > 0)
    }

    async fn set_signing_key_private(
        &self,
        kid: &str,
        old: &[u8],
        new: &[u8],
    ) -> StoreResult<bool> {
        let done = with_pool!(self, |pool| {
            sqlx::query(SET_PRIVATE)
                .bind(kid)
                .bind(old)
                .bind(new)
                .execute(pool)
                .await
                .map(|d| d.rows_affected())
        })?;
        Ok(done == 1)
    }

    async fn insert_initial_signing_keys(&self, keys: &[SigningKeyRecord]) -> StoreResult<u64> {
        with_pool!(self, |pool| {
            async {
                let mut tx = pool.begin_write().await?;
                lock_keys(pool, &mut tx).await?;
                let mut inserted = 0;
                for k in keys {
                    let done = bind_key!(INSERT_INITIAL_KEY, k).execute(&mut *tx).await?;
                    inserted += done.rows_affected();
                }
                tx.commit().await?;
                Sql::Ok(inserted)
            }
            .await
        })
    }
}

/// `Backend::lock_signing_keys` for the pool's own backend.
async fn lock_keys<P: Backend>(_pool: &P, tx: &mut sqlx::Transaction<'static, P::Db>) -> Sql<()> {
    P::lock_signing_keys(tx).await
}
