//! Consent remembered per user and client (`ConsentStore`).
use async_trait::async_trait;
use lanyard_core::model::Consent;
use lanyard_core::store::{ConsentStore, StoreResult};
use uuid::Uuid;

use crate::SqlStore;
use crate::pool::with_pool;
use crate::rows::{ConsentRow, join_list, ts};

const CONSENT: &str = "SELECT user_id, client_id, scopes, granted_at FROM consents \
     WHERE user_id = $1 AND client_id = $2";
const PUT_CONSENT: &str = "INSERT INTO consents (user_id, client_id, scopes, granted_at) \
     VALUES ($1, $2, $3, $4) \
     ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, \
         granted_at = excluded.granted_at";
const USER_CONSENTS: &str = "SELECT user_id, client_id, scopes, granted_at FROM consents \
     WHERE user_id = $1 ORDER BY client_id";
const DELETE_CONSENT: &str = "DELETE FROM consents WHERE user_id = $1 AND client_id = $2";

#[async_trait]
impl ConsentStore for SqlStore {
    async fn get_consent(&self, user_id: Uuid, client_id: &str) -> StoreResult<Option<Consent>> {
        let row: Option<ConsentRow> = with_pool!(self, |pool| {
            sqlx::query_as(CONSENT)
                .bind(user_id)
                .bind(client_id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(Consent::from))
    }

    async fn put_consent(&self, c: &Consent) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query(PUT_CONSENT)
                .bind(c.user_id)
                .bind(&c.client_id)
                .bind(join_list(&c.scopes))
                .bind(ts(c.granted_at))
                .execute(pool)
                .await
                .map(|_| ())
        })
    }

    async fn list_consents(&self, user_id: Uuid) -> StoreResult<Vec<Consent>> {
        let rows: Vec<ConsentRow> = with_pool!(self, |pool| {
            sqlx::query_as(USER_CONSENTS)
                .bind(user_id)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows.into_iter().map(Consent::from).collect())
    }

    async fn delete_consent(&self, user_id: Uuid, client_id: &str) -> StoreResult<bool> {
        let done = with_pool!(self, |pool| {
            sqlx::query(DELETE_CONSENT)
                .bind(user_id)
                .bind(client_id)
                .execute(pool)
                .await
                .map(|d| d.rows_affected())
        })?;
        Ok(done > 0)
    }
}
