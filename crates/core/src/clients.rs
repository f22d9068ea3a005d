//! Registered clients, read through a short-lived cache: every token request, introspection and
//! userinfo call needs its client, and clients change only at start (the config file) or by
//! registration (a new id). A client removed from one replica's config is forgotten by the
//! others within `TTL`. Unknown ids are not cached, so a registration is usable at once.
use std::sync::Arc;
use std::time::Duration;

use crate::cache::TtlCache;
use crate::model::Client;
use crate::oidc::error::ProviderResult;
use crate::provider::Provider;

const TTL: Duration = Duration::from_secs(5);
const MAX_ENTRIES: usize = 10_000;

pub(crate) type ClientCache = TtlCache<String, Arc<Client>>;

pub(crate) fn client_cache() -> ClientCache {
    TtlCache::new(TTL, MAX_ENTRIES)
}

impl Provider {
    /// A registered client, by id (cached for a few seconds).
    pub async fn client(&self, client_id: &str) -> ProviderResult<Option<Client>> {
        let read_at = match self.clients.get(client_id) {
            Ok(c) => return Ok(Some((*c).clone())),
            Err(g) => g,
        };
        let found = self.store.get_client(client_id).await?;
        if let Some(c) = &found {
            self.clients
                .put(c.client_id.clone(), Arc::new(c.clone()), read_at);
        }
        Ok(found)
    }
}
