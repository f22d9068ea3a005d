//! Grant status for bearer tokens. Userinfo and introspection verify an access token's signature
//! and then need its grant: still active, for which user, client and claims. The grant is read
//! through a cache so that the hot path usually makes no database round trip; userinfo reads its
//! user the same way.
//!
//! Revocation bound: a grant revoked by this process (token revocation, refresh-token reuse,
//! code replay, sign-out everywhere, password change, disabling or deleting the user) is
//! forgotten at once. A grant revoked by another replica or by the CLI stops working here
//! within `TTL`. Expiry is checked on every use, cached or not.
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::cache::TtlCache;
use crate::model::{Grant, User};
use crate::provider::Provider;
use crate::store::StoreResult;

/// How long another replica's revocation may take to reach this one (documented in
/// docs/performance.md and docs/architecture.md).
pub const TTL: Duration = Duration::from_secs(2);
const MAX_ENTRIES: usize = 20_000;

pub(crate) type GrantCache = TtlCache<Uuid, Arc<Grant>>;
pub(crate) type UserCache = TtlCache<Uuid, Arc<User>>;

pub(crate) fn grant_cache() -> GrantCache {
    TtlCache::new(TTL, MAX_ENTRIES)
}

pub(crate) fn user_cache() -> UserCache {
    TtlCache::new(TTL, MAX_ENTRIES)
}

impl Provider {
    /// An active grant by id, from the cache or the database. Inactive grants are not cached:
    /// revocation and expiry are final.
    pub(crate) async fn active_grant(&self, id: Uuid) -> StoreResult<Option<Arc<Grant>>> {
        let now = self.now();
        let read_at = match self.accounts.grants.get(&id) {
            Ok(g) => return Ok(Some(g).filter(|g| g.is_active(now))),
            Err(read_at) => read_at,
        };
        let Some(grant) = self.store.get_grant(id).await?.filter(|g| g.is_active(now)) else {
            return Ok(None);
        };
        let grant = Arc::new(grant);
        self.accounts.grants.put(id, grant.clone(), read_at);
        Ok(Some(grant))
    }

    /// The user a bearer token speaks for, from the cache or the database (userinfo). Profile
    /// changes, disabling and deletion by this process forget the cache; elsewhere, `TTL`.
    pub(crate) async fn token_user(&self, id: Uuid) -> StoreResult<Option<Arc<User>>> {
        let read_at = match self.accounts.users.get(&id) {
            Ok(u) => return Ok(Some(u)),
            Err(read_at) => read_at,
        };
        let Some(user) = self.store.get_user(id).await? else {
            return Ok(None);
        };
        let user = Arc::new(user);
        self.accounts.users.put(id, user.clone(), read_at);
        Ok(Some(user))
    }

    /// Revoke a grant and forget cached grants, so this replica refuses its tokens at once.
    pub(crate) async fn revoke_grant(
        &self,
        id: Uuid,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<bool> {
        let revoked = self.store.revoke_grant(id, now).await;
        self.accounts.grants.invalidate();
        revoked
    }
}
