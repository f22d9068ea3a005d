//! Browser sessions (`SessionRecordStore`). An ended session never comes back: saves only
//! update a row that still exists, and a row is loaded or listed only while its epoch is its
//! user's current one (see the trait and docs/architecture.md, "Sessions and the login flow").
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lanyard_core::model::{EndedSessions, SessionRecord};
use lanyard_core::store::{SessionRecordStore, StoreResult};
use uuid::Uuid;

use crate::SqlStore;
use crate::pool::{Backend, Sql, with_pool};
use crate::rows::{CountRow, EpochRow, SessionRow, count, ts};

macro_rules! session_cols {
    () => {
        "id_hash, user_id, epoch, data, expires_at"
    };
}

/// A session row counts when anonymous, or of its user's current epoch (a deleted user takes
/// their sessions along by cascade).
macro_rules! current {
    () => {
        "(user_id IS NULL OR epoch >= \
          (SELECT session_epoch FROM users WHERE users.id = sessions.user_id))"
    };
}

const CREATE: &str = concat!(
    "INSERT INTO sessions (",
    session_cols!(),
    ") VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id_hash) DO NOTHING"
);
/// Update only; the epoch only moves forward, so a stale copy of the data cannot void a
/// renewed session.
const SAVE: &str = "UPDATE sessions SET user_id = $2, data = $3, expires_at = $4, \
     epoch = CASE WHEN epoch > $5 THEN epoch ELSE $5 END WHERE id_hash = $1";
const LOAD: &str = concat!(
    "SELECT ",
    session_cols!(),
    " FROM sessions WHERE id_hash = $1 AND expires_at > $2 AND ",
    current!()
);
const COUNT: &str = "SELECT COUNT(*) AS n FROM sessions WHERE expires_at > $1";
const DELETE: &str = "DELETE FROM sessions WHERE id_hash = $1";
const OF_USER: &str = concat!(
    "SELECT ",
    session_cols!(),
    " FROM sessions WHERE user_id = $1 AND expires_at > $2 AND ",
    current!(),
    " ORDER BY expires_at DESC, id_hash"
);
const NEXT_EPOCH: &str =
    "UPDATE users SET session_epoch = session_epoch + 1 WHERE id = $1 RETURNING session_epoch";
const DELETE_OTHERS: &str =
    "DELETE FROM sessions WHERE user_id = $1 AND ($2 IS NULL OR id_hash <> $2)";
const MOVE_KEPT: &str = "UPDATE sessions SET epoch = $2 WHERE id_hash = $1 AND user_id = $3";

#[async_trait]
impl SessionRecordStore for SqlStore {
    async fn session_create(&self, s: &SessionRecord) -> StoreResult<bool> {
        let done = with_pool!(self, |pool| {
            sqlx::query(CREATE)
                .bind(s.id_hash.as_slice())
                .bind(s.user_id)
                .bind(s.epoch)
                .bind(s.data.as_slice())
                .bind(ts(s.expires_at))
                .execute(pool)
                .await
                .map(|d| d.rows_affected())
        })?;
        Ok(done > 0)
    }

    async fn session_save(&self, s: &SessionRecord) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query(SAVE)
                .bind(s.id_hash.as_slice())
                .bind(s.user_id)
                .bind(s.data.as_slice())
                .bind(ts(s.expires_at))
                .bind(s.epoch)
                .execute(pool)
                .await
                .map(|_| ())
        })
    }

    async fn session_load(
        &self,
        id_hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<SessionRecord>> {
        let row: Option<SessionRow> = with_pool!(self, |pool| {
            sqlx::query_as(LOAD)
                .bind(id_hash)
                .bind(ts(now))
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(SessionRecord::from))
    }

    async fn count_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let row: CountRow = with_pool!(self, |pool| {
            sqlx::query_as(COUNT).bind(ts(now)).fetch_one(pool).await
        })?;
        count(row.n)
    }

    async fn session_delete(&self, id_hash: &[u8]) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query(DELETE)
                .bind(id_hash)
                .execute(pool)
                .await
                .map(|_| ())
        })
    }

    async fn sessions_for_user(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<SessionRecord>> {
        let rows: Vec<SessionRow> = with_pool!(self, |pool| {
            sqlx::query_as(OF_USER)
                .bind(user_id)
                .bind(ts(now))
                .fetch_all(pool)
                .await
        })?;
        Ok(rows.into_iter().map(SessionRecord::from).collect())
    }

    async fn end_user_sessions(
        &self,
        user_id: Uuid,
        keep: Option<&[u8]>,
    ) -> StoreResult<Option<EndedSessions>> {
        with_pool!(self, |pool| {
            async {
                let mut tx = pool.begin_write().await?;
                let epoch: Option<EpochRow> = sqlx::query_as(NEXT_EPOCH)
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                // An unknown user: returning drops `tx`, which rolls back.
                let Some(EpochRow {
                    session_epoch: epoch,
                }) = epoch
                else {
                    return Sql::Ok(None);
                };
                let done = sqlx::query(DELETE_OTHERS)
                    .bind(user_id)
                    .bind(keep)
                    .execute(&mut *tx)
                    .await?;
                if let Some(keep) = keep {
                    sqlx::query(MOVE_KEPT)
                        .bind(keep)
                        .bind(epoch)
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(Some(EndedSessions {
                    epoch,
                    ended: done.rows_affected(),
                }))
            }
            .await
        })
    }
}
