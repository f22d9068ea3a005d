//! Short-lived read-through caches for rows every token-bearing request needs (clients, grant
//! status). Entries live for a fixed TTL, which is also the bound on how long another replica
//! may act on a stale row. This replica's own writes call `invalidate`, which takes effect at
//! once: it bumps a generation, and a value read from the database before the bump is never
//! inserted after it (a lookup racing a revocation cannot re-insert the revoked row).
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) struct TtlCache<K, V> {
    ttl: Duration,
    max_entries: usize,
    inner: Mutex<Inner<K, V>>,
}

#[derive(Debug)]
struct Inner<K, V> {
    generation: u64,
    entries: HashMap<K, (Instant, V)>,
}

/// Taken before a database read; `put` inserts only if nothing was invalidated since.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Generation(u64);

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub(crate) fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            max_entries,
            inner: Mutex::new(Inner {
                generation: 0,
                entries: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, V>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached value, if fresh; otherwise the generation to hand to `put` after the read.
    pub(crate) fn get<Q>(&self, key: &Q) -> Result<V, Generation>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let inner = self.lock();
        match inner.entries.get(key) {
            Some((at, v)) if at.elapsed() < self.ttl => Ok(v.clone()),
            _ => Err(Generation(inner.generation)),
        }
    }

    pub(crate) fn put(&self, key: K, value: V, read_at: Generation) {
        let mut inner = self.lock();
        if inner.generation != read_at.0 {
            return;
        }
        if inner.entries.len() >= self.max_entries {
            let ttl = self.ttl;
            inner.entries.retain(|_, (at, _)| at.elapsed() < ttl);
        }
        if inner.entries.len() < self.max_entries {
            inner.entries.insert(key, (Instant::now(), value));
        }
    }

    /// Forget everything (after a write that may change any entry).
    pub(crate) fn invalidate(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_from_before_an_invalidation_is_not_cached() {
        let cache = TtlCache::new(Duration::from_secs(60), 10);
        let Err(read_at) = cache.get(&1) else {
            panic!("empty cache hit")
        };
        cache.invalidate();
        cache.put(1, "stale", read_at);
        assert!(cache.get(&1).is_err());
        let Err(read_at) = cache.get(&1) else {
            panic!("empty cache hit")
        };
        cache.put(1, "fresh", read_at);
        assert_eq!(cache.get(&1).ok(), Some("fresh"));
    }

    #[test]
    fn entries_expire_and_the_size_is_bounded() {
        let cache = TtlCache::new(Duration::ZERO, 2);
        for k in 0..5 {
            let g = cache.get(&k).expect_err("miss");
            cache.put(k, k, g);
        }
        assert!(cache.get(&4).is_err(), "a zero TTL keeps nothing fresh");
        assert!(cache.lock().entries.len() <= 2);
    }
}
