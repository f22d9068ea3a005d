//! Client assertion replay protection (`AssertionStore`, RFC 7523 3): only a hash of each `jti`
//! is kept, until the assertion expires.
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lanyard_core::store::{AssertionStore, StoreResult};

use crate::SqlStore;
use crate::pool::with_pool;
use crate::rows::ts;

const REMEMBER: &str = "INSERT INTO client_assertions (client_id, jti_hash, expires_at) \
     VALUES ($1, $2, $3) ON CONFLICT (client_id, jti_hash) DO NOTHING";

#[async_trait]
impl AssertionStore for SqlStore {
    async fn remember_assertion(
        &self,
        client_id: &str,
        jti_hash: &[u8],
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = with_pool!(self, |pool| {
            sqlx::query(REMEMBER)
                .bind(client_id)
                .bind(jti_hash)
                .bind(ts(expires_at))
                .execute(pool)
                .await
                .map(|d| d.rows_affected())
        })?;
        Ok(done == 1)
    }
}
