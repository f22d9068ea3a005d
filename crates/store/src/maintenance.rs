//! Readiness and the purge of rows that can no longer matter (`Maintenance`).
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use lanyard_core::model::PurgeReport;
use lanyard_core::store::{Maintenance, StoreResult};

use crate::SqlStore;
use crate::pool::with_pool;
use crate::rows::ts;

/// A batched purge of `$table`'s rows matching `$cond` (which compares a timestamp with `$1`):
/// the statement for each backend, picking one batch's rows by physical address (`rowid` on
/// SQLite, `ctid` on PostgreSQL) through the condition's index.
macro_rules! purge {
    ($table:literal, $cond:literal) => {
        Purge {
            sqlite: concat!(
                "DELETE FROM ",
                $table,
                " WHERE rowid IN (SELECT rowid FROM ",
                $table,
                " WHERE ",
                $cond,
                " LIMIT 2000)"
            ),
            postgres: concat!(
                "DELETE FROM ",
                $table,
                " WHERE ctid = ANY(ARRAY(SELECT ctid FROM ",
                $table,
                " WHERE ",
                $cond,
                " LIMIT 2000))"
            ),
        }
    };
}

const PURGE_CODES: Purge = purge!("auth_codes", "expires_at < $1");
const PURGE_SESSIONS: Purge = purge!("sessions", "expires_at <= $1");
const PURGE_REFRESH: Purge = purge!("refresh_tokens", "expires_at < $1");
/// A grant's `expires_at` is its hard end, after every token it issued; revoked grants are kept
/// until then too, so a reused token still finds its grant.
const PURGE_GRANTS: Purge = purge!("grants", "expires_at < $1");
/// Called with a day ago: no throttling window is longer than a day.
const PURGE_FAILURES: Purge = purge!("auth_failures", "at < $1");
const PURGE_ASSERTIONS: Purge = purge!("client_assertions", "expires_at < $1");
const PURGE_REVOKED: Purge = purge!("revoked_tokens", "expires_at < $1");
pub(crate) const PURGE_AUDIT: Purge = purge!("audit_events", "at < $1");

/// Rows deleted per statement (the `LIMIT` in [`purge!`]). Measured with
/// `lanyard-bench --scale 1000000`: one unbounded `DELETE` of a million expired sessions held
/// SQLite's write lock for longer than the 5 s busy timeout, so sign-ins failed with "database
/// is locked" while it ran; batches of this size hold it for milliseconds each.
const PURGE_BATCH: u64 = 2000;

/// One batched purge statement per backend.
pub(crate) struct Purge {
    sqlite: &'static str,
    postgres: &'static str,
}

impl SqlStore {
    /// Deletes the matching rows in batches of [`PURGE_BATCH`], each its own autocommit
    /// statement with a short pause after it so other writers get in between, and returns how
    /// many went.
    pub(crate) async fn purge(&self, purge: Purge, before: DateTime<Utc>) -> StoreResult<u64> {
        let mut total = 0;
        loop {
            let n = match &self.pool {
                crate::pool::Pool::Sqlite(pool) => sqlx::query(purge.sqlite)
                    .bind(ts(before))
                    .execute(pool)
                    .await
                    .map(|d| d.rows_affected()),
                crate::pool::Pool::Postgres(pool) => sqlx::query(purge.postgres)
                    .bind(ts(before))
                    .execute(pool)
                    .await
                    .map(|d| d.rows_affected()),
            }
            .map_err(crate::error::map_err)?;
            total += n;
            if n < PURGE_BATCH {
                return Ok(total);
            }
            // Background work gives way: a pause lets sign-ins (in this process, or another
            // one whose busy handler is sleeping) take the write lock between batches.
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
}

#[async_trait]
impl Maintenance for SqlStore {
    fn pool_status(&self) -> lanyard_core::store::PoolStatus {
        let (size, idle, max) = match &self.pool {
            crate::pool::Pool::Sqlite(p) => {
                (p.size(), p.num_idle(), p.options().get_max_connections())
            }
            crate::pool::Pool::Postgres(p) => {
                (p.size(), p.num_idle(), p.options().get_max_connections())
            }
        };
        lanyard_core::store::PoolStatus {
            size,
            idle: u32::try_from(idle).unwrap_or(u32::MAX),
            max,
        }
    }

    async fn ping(&self) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await.map(|_| ())
        })
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<PurgeReport> {
        Ok(PurgeReport {
            codes: self.purge(PURGE_CODES, now).await?,
            sessions: self.purge(PURGE_SESSIONS, now).await?,
            refresh_tokens: self.purge(PURGE_REFRESH, now).await?,
            grants: self.purge(PURGE_GRANTS, now).await?,
            auth_failures: self.purge(PURGE_FAILURES, now - Duration::days(1)).await?,
            client_assertions: self.purge(PURGE_ASSERTIONS, now).await?,
            revoked_tokens: self.purge(PURGE_REVOKED, now).await?,
        })
    }

    fn backend(&self) -> &'static str {
        self.pool.backend()
    }
}
