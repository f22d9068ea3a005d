//! Failed authentication attempts per subject (`ThrottleStore`), so every replica throttles
//! the same way.
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lanyard_core::model::FailureCount;
use lanyard_core::store::{StoreResult, ThrottleStore};

use crate::SqlStore;
use crate::pool::with_pool;
use crate::rows::{FailureRow, ts};

const RECORD: &str = "INSERT INTO auth_failures (subject, at) VALUES ($1, $2) RETURNING id";
const DELETE: &str = "DELETE FROM auth_failures WHERE id = $1";
/// An aggregate without GROUP BY always yields one row (0 and NULL when empty).
const COUNT: &str = "SELECT COUNT(*) AS n, MAX(at) AS last_at FROM auth_failures \
     WHERE subject = $1 AND at >= $2 AND id < $3";
const CLEAR: &str = "DELETE FROM auth_failures WHERE subject = $1";

#[async_trait]
impl ThrottleStore for SqlStore {
    async fn record_failure(&self, subject: &str, at: DateTime<Utc>) -> StoreResult<i64> {
        let (id,): (i64,) = with_pool!(self, |pool| {
            sqlx::query_as(RECORD)
                .bind(subject)
                .bind(ts(at))
                .fetch_one(pool)
                .await
        })?;
        Ok(id)
    }

    async fn delete_failure(&self, id: i64) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query(DELETE).bind(id).execute(pool).await.map(|_| ())
        })
    }

    async fn count_failures(
        &self,
        subject: &str,
        since: DateTime<Utc>,
        before_id: Option<i64>,
    ) -> StoreResult<FailureCount> {
        let row: FailureRow = with_pool!(self, |pool| {
            sqlx::query_as(COUNT)
                .bind(subject)
                .bind(ts(since))
                .bind(before_id.unwrap_or(i64::MAX))
                .fetch_one(pool)
                .await
        })?;
        FailureCount::try_from(row)
    }

    async fn clear_failures(&self, subject: &str) -> StoreResult<u64> {
        with_pool!(self, |pool| {
            sqlx::query(CLEAR)
                .bind(subject)
                .execute(pool)
                .await
                .map(|d| d.rows_affected())
        })
    }
}
