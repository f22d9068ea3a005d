//! The audit trail (`AuditStore`). No foreign key on `user_id`: the trail outlives the user.
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lanyard_core::model::{AuditEvent, AuditFilter};
use lanyard_core::store::{AuditStore, StoreResult};
use sqlx::types::Json;

use crate::SqlStore;
use crate::pool::with_pool;
use crate::rows::{AuditRow, ts, ts_opt};

macro_rules! audit_cols {
    () => {
        "id, at, kind, user_id, client_id, ip, detail"
    };
}

const INSERT: &str = concat!(
    "INSERT INTO audit_events (",
    audit_cols!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
);
const LIST: &str = concat!(
    "SELECT ",
    audit_cols!(),
    " FROM audit_events \
     WHERE ($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR kind = $2) AND ($3 IS NULL OR at >= $3) \
     ORDER BY at DESC, id DESC LIMIT $4"
);

#[async_trait]
impl AuditStore for SqlStore {
    async fn audit(&self, e: &AuditEvent) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query(INSERT)
                .bind(e.id)
                .bind(ts(e.at))
                .bind(&e.kind)
                .bind(e.user_id)
                .bind(e.client_id.as_deref())
                .bind(e.ip.as_deref())
                .bind(Json(&e.detail))
                .execute(pool)
                .await
                .map(|_| ())
        })
    }

    async fn list_audit(&self, f: &AuditFilter) -> StoreResult<Vec<AuditEvent>> {
        let limit = if f.limit <= 0 { 100 } else { f.limit };
        let rows: Vec<AuditRow> = with_pool!(self, |pool| {
            sqlx::query_as(LIST)
                .bind(f.user_id)
                .bind(f.kind.as_deref())
                .bind(ts_opt(f.since))
                .bind(limit)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows.into_iter().map(AuditEvent::from).collect())
    }

    async fn purge_audit(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.purge(crate::maintenance::PURGE_AUDIT, before).await
    }
}
