//! Readiness and the purge of rows that can no longer matter (`Maintenance`).
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use lanyard_core::model::PurgeReport;
use lanyard_core::store::{Maintenance, StoreResult};

use crate::SqlStore;
use crate::pool::with_pool;
use crate::rows::ts;

const PURGE_CODES: &str = "DELETE FROM auth_codes WHERE expires_at < $1";
const PURGE_SESSIONS: &str = "DELETE FROM sessions WHERE expires_at <= $1";
const PURGE_REFRESH: &str = "DELETE FROM refresh_tokens WHERE expires_at < $1";
/// A grant's `expires_at` is its hard end, after every token it issued; revoked grants are kept
/// until then too, so a reused token still finds its grant.
const PURGE_GRANTS: &str = "DELETE FROM grants WHERE expires_at < $1";
/// Called with a day ago: no throttling window is longer than a day.
const PURGE_FAILURES: &str = "DELETE FROM auth_failures WHERE at < $1";
const PURGE_ASSERTIONS: &str = "DELETE FROM client_assertions WHERE expires_at < $1";
const PURGE_REVOKED: &str = "DELETE FROM revoked_tokens WHERE expires_at < $1";

impl SqlStore {
    /// One purge statement; separate autocommit statements, so none holds the write lock
    /// (SQLite) longer than its own delete.
    async fn purge(&self, sql: &'static str, before: DateTime<Utc>) -> StoreResult<u64> {
        with_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(ts(before))
                .execute(pool)
                .await
                .map(|d| d.rows_affected())
        })
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
