//! Registered clients (`ClientStore`). Everything of `Client` except the id and the secret hash
//! lives in one JSON column.
use async_trait::async_trait;
use lanyard_core::model::Client;
use lanyard_core::store::{ClientStore, StoreResult};
use sqlx::types::Json;

use crate::SqlStore;
use crate::pool::with_pool;
use crate::rows::ClientRow;

/// Writes only when the secret or the metadata differ, so the affected-row count says whether
/// anything changed (0 for an identical second upsert).
const UPSERT_CLIENT: &str = "INSERT INTO clients (client_id, secret_hash, metadata) \
     VALUES ($1, $2, $3) \
     ON CONFLICT (client_id) DO UPDATE SET secret_hash = excluded.secret_hash, \
         metadata = excluded.metadata \
     WHERE clients.secret_hash IS DISTINCT FROM excluded.secret_hash \
        OR clients.metadata IS DISTINCT FROM excluded.metadata";
const CLIENT_BY_ID: &str =
    "SELECT client_id, secret_hash, metadata FROM clients WHERE client_id = $1";
const ALL_CLIENTS: &str = "SELECT client_id, secret_hash, metadata FROM clients ORDER BY client_id";
const DELETE_CLIENT: &str = "DELETE FROM clients WHERE client_id = $1";

#[async_trait]
impl ClientStore for SqlStore {
    async fn upsert_client(&self, c: &Client) -> StoreResult<bool> {
        let done = with_pool!(self, |pool| {
            sqlx::query(UPSERT_CLIENT)
                .bind(&c.client_id)
                .bind(c.secret_hash.as_deref())
                .bind(Json(c))
                .execute(pool)
                .await
                .map(|d| d.rows_affected())
        })?;
        Ok(done > 0)
    }

    async fn get_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
        let row: Option<ClientRow> = with_pool!(self, |pool| {
            sqlx::query_as(CLIENT_BY_ID)
                .bind(client_id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(Client::from))
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        let rows: Vec<ClientRow> = with_pool!(self, |pool| sqlx::query_as(ALL_CLIENTS)
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(Client::from).collect())
    }

    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        let done = with_pool!(self, |pool| {
            sqlx::query(DELETE_CLIENT)
                .bind(client_id)
                .execute(pool)
                .await
                .map(|d| d.rows_affected())
        })?;
        Ok(done > 0)
    }
}
