//! tower-sessions storage on top of the database (`SessionRecordStore`), so every replica sees
//! every session. Session ids are stored only as SHA-256 digests; the logged-in user is mirrored
//! into its own column so a user's sessions can be listed and ended.
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lanyard_core::clock::{Clock, SystemClock};
use lanyard_core::model::SessionRecord;
use lanyard_core::store::{Store, StoreError};
use sha2::{Digest, Sha256};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use uuid::Uuid;

#[derive(Clone)]
pub struct DbSessionStore {
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for DbSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbSessionStore")
    }
}

impl DbSessionStore {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

/// The stored key for a session id.
pub fn id_hash(id: &Id) -> Vec<u8> {
    Sha256::digest(id.0.to_le_bytes()).to_vec()
}

fn backend(e: StoreError) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn to_record(r: &Record) -> session_store::Result<SessionRecord> {
    // The signed-in user, or the user of a login waiting for its second step: both must end
    // when the user's sessions are ended (a password change must also stop a half-done login),
    // so both carry the user's session epoch, mirrored into its column with the user id.
    let who = [crate::sessions::AUTH_KEY, crate::sessions::PENDING_KEY]
        .iter()
        .find_map(|key| r.data.get(*key));
    let user_id = who
        .and_then(|a| a.get("user_id"))
        .and_then(|u| u.as_str())
        .and_then(|u| Uuid::parse_str(u).ok());
    let epoch = who
        .and_then(|a| a.get("epoch"))
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(0);
    let data =
        serde_json::to_vec(&r.data).map_err(|e| session_store::Error::Encode(e.to_string()))?;
    let expires_at =
        DateTime::from_timestamp(r.expiry_date.unix_timestamp(), 0).unwrap_or_default();
    Ok(SessionRecord {
        id_hash: id_hash(&r.id),
        user_id,
        epoch,
        data,
        expires_at,
    })
}

// tower-sessions computes expiry from the wall clock, so sessions are judged by it too.
fn now() -> DateTime<Utc> {
    SystemClock.now()
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            if self
                .store
                .session_create(&to_record(record)?)
                .await
                .map_err(backend)?
            {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.store
            .session_save(&to_record(record)?)
            .await
            .map_err(backend)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some(rec) = self
            .store
            .session_load(&id_hash(id), now())
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        let data = serde_json::from_slice(&rec.data)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let expiry_date = time::OffsetDateTime::from_unix_timestamp(rec.expires_at.timestamp())
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.store
            .session_delete(&id_hash(id))
            .await
            .map_err(backend)
    }
}
