//! A bounded, least-recently-used memory of question vectors, so the same question asked
//! by many residents (greetings, "horaires mairie") costs the model once. Keys are token
//! ids of texts that were redacted before they reached the embedder; nothing is written
//! anywhere, and the oldest keys go first once the bound is reached.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use hashlink::LruCache;

use super::{Embedding, QueryCacheStats};

/// Every this many look-ups, the hit rate is logged.
const LOG_EVERY: u64 = 1000;

pub struct QueryCache {
    entries: Mutex<LruCache<Vec<u32>, Embedding>>,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl QueryCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(LruCache::new(capacity.max(1))),
            capacity: capacity.max(1),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The vector kept for `key`, counted as a hit or a miss.
    pub fn get(&self, key: &[u32]) -> Option<Embedding> {
        let found = self.lock().get(key).cloned();
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        crate::telemetry::query_cache_lookup(found.is_some());
        let lookups = self.hits.load(Ordering::Relaxed) + self.misses.load(Ordering::Relaxed);
        if lookups.is_multiple_of(LOG_EVERY) {
            let stats = self.stats();
            tracing::info!(
                hits = stats.hits,
                misses = stats.misses,
                entries = stats.entries,
                hit_rate = stats.hit_rate(),
                "query embedding cache"
            );
        }
        found
    }

    pub fn insert(&self, key: Vec<u32>, value: Embedding) {
        self.lock().insert(key, value);
    }

    pub fn stats(&self) -> QueryCacheStats {
        QueryCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.lock().len(),
            capacity: self.capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<Vec<u32>, Embedding>> {
        // A panic while holding the lock leaves at worst a missing entry.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(i: usize) -> Embedding {
        let mut v = vec![0.0; 4];
        v[i % 4] = 1.0;
        Embedding::new(v).unwrap()
    }

    #[test]
    fn a_repeated_key_is_a_hit_with_the_same_vector() {
        let c = QueryCache::new(8);
        assert!(c.get(&[1, 2]).is_none());
        c.insert(vec![1, 2], unit(1));
        assert_eq!(c.get(&[1, 2]), Some(unit(1)));
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.entries), (1, 1, 1));
        assert!((s.hit_rate() - 0.5).abs() < 1e-9);
    }

    #[test]
    fn the_least_recently_used_key_goes_first_at_the_bound() {
        let c = QueryCache::new(2);
        c.insert(vec![1], unit(1));
        c.insert(vec![2], unit(2));
        assert!(c.get(&[1]).is_some()); // 2 is now the oldest
        c.insert(vec![3], unit(3));
        assert!(c.get(&[2]).is_none());
        assert!(c.get(&[1]).is_some() && c.get(&[3]).is_some());
        assert_eq!(c.stats().entries, 2);
    }
}
