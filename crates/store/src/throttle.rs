//! Failed authentication attempts per subject (`ThrottleStore`), so every replica throttles
//! the same way.
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lanyard_core::model::FailureCount;
use lanyard_core::store::{StoreResult, ThrottleStore};

use crate::SqlStore;
use crate::pool::with_pool;
use crate::rows::{FailureRow, SubjectFailureRow, ts};

const RECORD: &str =
    "INSERT INTO auth_failures (subject, at, pending) VALUES ($1, $2, $3) RETURNING id";
const SETTLE: &str = "UPDATE auth_failures SET pending = $2 WHERE id = $1";
const DELETE: &str = "DELETE FROM auth_failures WHERE id = $1";
/// An aggregate without GROUP BY always yields one row (0 and NULL when empty). Pending rows are
/// attempts in flight, not failures; those older than $4 were abandoned (a process stopped
/// mid-attempt) and count as nothing.
const COUNT: &str = "SELECT COALESCE(SUM(CASE WHEN pending THEN 0 ELSE 1 END), 0) AS n, \
     COALESCE(SUM(CASE WHEN pending AND at >= $4 THEN 1 ELSE 0 END), 0) AS pending, \
     MAX(CASE WHEN pending THEN NULL ELSE at END) AS last_at FROM auth_failures \
     WHERE subject = $1 AND at >= $2 AND id < $3";
/// `COUNT` for two subjects at once (one round trip per sign-in attempt or client request).
const COUNT_EACH: &str = "SELECT subject, \
     COALESCE(SUM(CASE WHEN pending THEN 0 ELSE 1 END), 0) AS n, \
     COALESCE(SUM(CASE WHEN pending AND at >= $6 THEN 1 ELSE 0 END), 0) AS pending, \
     MAX(CASE WHEN pending THEN NULL ELSE at END) AS last_at FROM auth_failures \
     WHERE at >= $5 AND ((subject = $1 AND id < $2) OR (subject = $3 AND id < $4)) \
     GROUP BY subject";
/// Attempts still in flight are not cleared: they are judged on their own.
const CLEAR: &str = "DELETE FROM auth_failures WHERE subject = $1 AND pending = $2";

impl SqlStore {
    async fn record(&self, subject: &str, at: DateTime<Utc>, pending: bool) -> StoreResult<i64> {
        let (id,): (i64,) = with_pool!(self, |pool| {
            sqlx::query_as(RECORD)
                .bind(subject)
                .bind(ts(at))
                .bind(pending)
                .fetch_one(pool)
                .await
        })?;
        Ok(id)
    }
}

#[async_trait]
impl ThrottleStore for SqlStore {
    async fn record_failure(&self, subject: &str, at: DateTime<Utc>) -> StoreResult<i64> {
        self.record(subject, at, false).await
    }

    async fn record_attempt(&self, subject: &str, at: DateTime<Utc>) -> StoreResult<i64> {
        self.record(subject, at, true).await
    }

    async fn settle_attempt(&self, id: i64) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query(SETTLE)
                .bind(id)
                .bind(false)
                .execute(pool)
                .await
                .map(|_| ())
        })
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
        pending_since: DateTime<Utc>,
    ) -> StoreResult<FailureCount> {
        let row: FailureRow = with_pool!(self, |pool| {
            sqlx::query_as(COUNT)
                .bind(subject)
                .bind(ts(since))
                .bind(before_id.unwrap_or(i64::MAX))
                .bind(ts(pending_since))
                .fetch_one(pool)
                .await
        })?;
        FailureCount::try_from(row)
    }

    async fn count_failures_each(
        &self,
        subjects: &[(&str, Option<i64>)],
        since: DateTime<Utc>,
        pending_since: DateTime<Utc>,
    ) -> StoreResult<Vec<FailureCount>> {
        let (first, second) = match subjects {
            [] => return Ok(Vec::new()),
            [a] => (*a, *a),
            [a, b] => (*a, *b),
            more => {
                let mut out = Vec::with_capacity(more.len());
                for (subject, before) in more {
                    out.push(
                        self.count_failures(subject, since, *before, pending_since)
                            .await?,
                    );
                }
                return Ok(out);
            }
        };
        let rows: Vec<SubjectFailureRow> = with_pool!(self, |pool| {
            sqlx::query_as(COUNT_EACH)
                .bind(first.0)
                .bind(first.1.unwrap_or(i64::MAX))
                .bind(second.0)
                .bind(second.1.unwrap_or(i64::MAX))
                .bind(ts(since))
                .bind(ts(pending_since))
                .fetch_all(pool)
                .await
        })?;
        subjects
            .iter()
            .map(
                |(subject, _)| match rows.iter().find(|r| r.subject == *subject) {
                    Some(r) => FailureCount::try_from(FailureRow {
                        n: r.n,
                        pending: r.pending,
                        last_at: r.last_at,
                    }),
                    None => Ok(FailureCount::default()),
                },
            )
            .collect()
    }

    async fn clear_failures(&self, subject: &str) -> StoreResult<u64> {
        with_pool!(self, |pool| {
            sqlx::query(CLEAR)
                .bind(subject)
                .bind(false)
                .execute(pool)
                .await
                .map(|d| d.rows_affected())
        })
    }
}
