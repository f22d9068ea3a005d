//! Registered clients, read through a short-lived cache: every token request, introspection and
//! userinfo call needs its client, and clients change only at start (the config file) or by
//! registration (a new id). A client removed from one replica's config is forgotten by the
//! others within `TTL`. Unknown ids are not cached, so a registration is usable at once.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::model::Client;
use crate::oidc::error::ProviderResult;
use crate::provider::Provider;

const TTL: Duration = Duration::from_secs(5);
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Default)]
pub(crate) struct ClientCache {
    entries: Mutex<HashMap<String, (Instant, Arc<Client>)>>,
}

impl ClientCache {
    fn get(&self, id: &str) -> Option<Arc<Client>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(id)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, c)| c.clone())
    }

    fn put(&self, client: Arc<Client>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (at, _)| at.elapsed() < TTL);
        }
        if entries.len() < MAX_ENTRIES {
            entries.insert(client.client_id.clone(), (Instant::now(), client));
        }
    }
}

impl Provider {
    /// A registered client, by id (cached for a few seconds).
    pub async fn client(&self, client_id: &str) -> ProviderResult<Option<Client>> {
        if let Some(c) = self.clients.get(client_id) {
            return Ok(Some((*c).clone()));
        }
        let found = self.store.get_client(client_id).await?;
        if let Some(c) = &found {
            self.clients.put(Arc::new(c.clone()));
        }
        Ok(found)
    }
}
