//! Recent article bodies in memory, bounded in bytes, so a full-view
//! GetArticle of a popular article skips the object store.
//!
//! A body object is never rewritten: every revision gets an object key of
//! its own, generated per write. So a cached body is the same bytes on any
//! replica, and nothing needs invalidating. The record is still read from
//! the metadata store on every call, so a deleted, purged or updated article
//! is never answered from here.

use crate::blob::BlobKey;
use std::sync::Arc;

/// Bytes a body is assumed to take when sizing the cache's table.
const TYPICAL_BODY_BYTES: u64 = 8 * 1024;

#[derive(Clone)]
struct BodyBytes;

impl quick_cache::Weighter<BlobKey, Arc<str>> for BodyBytes {
    fn weight(&self, key: &BlobKey, body: &Arc<str>) -> u64 {
        (key.as_str().len() + body.len()) as u64
    }
}

/// A bounded map from body object key to its text; `capacity_bytes` 0
/// turns it off.
pub struct BodyCache {
    cache: Option<quick_cache::sync::Cache<BlobKey, Arc<str>, BodyBytes>>,
}

impl std::fmt::Debug for BodyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (bodies, bytes) = self.cache.as_ref().map_or((0, 0), |cache| (cache.len(), cache.weight()));
        f.debug_struct("BodyCache").field("bodies", &bodies).field("bytes", &bytes).finish()
    }
}

impl BodyCache {
    pub fn new(capacity_bytes: u64) -> Self {
        let cache = (capacity_bytes > 0).then(|| {
            let bodies = (capacity_bytes / TYPICAL_BODY_BYTES).max(16) as usize;
            quick_cache::sync::Cache::with_weighter(bodies, capacity_bytes, BodyBytes)
        });
        Self { cache }
    }

    pub fn get(&self, key: &BlobKey) -> Option<Arc<str>> {
        self.cache.as_ref()?.get(key)
    }

    /// Keeps `body`, evicting the least valuable entries to stay within the bound.
    pub fn insert(&self, key: &BlobKey, body: Arc<str>) {
        if let Some(cache) = &self.cache {
            cache.insert(key.clone(), body);
        }
    }

    /// Bytes held (keys and bodies).
    pub fn weight(&self) -> u64 {
        self.cache.as_ref().map_or(0, |cache| cache.weight())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: usize) -> BlobKey {
        BlobKey::parse(&format!("articles/{}/body-{}.txt", uuid::Uuid::now_v7(), n)).expect("a body key")
    }

    #[test]
    fn holds_what_was_put_within_its_bound() {
        let cache = BodyCache::new(64 * 1024);
        let first = key(0);
        cache.insert(&first, Arc::from("Nội dung bài viết"));
        assert_eq!(cache.get(&first).as_deref(), Some("Nội dung bài viết"));
        for n in 1..200 {
            cache.insert(&key(n), Arc::from("x".repeat(1024)));
            assert!(cache.weight() <= 64 * 1024, "{} bytes held after {n} bodies", cache.weight());
        }
        assert!(cache.weight() > 32 * 1024, "a full cache holds most of its bound");
    }

    #[test]
    fn off_at_zero() {
        let cache = BodyCache::new(0);
        let k = key(0);
        cache.insert(&k, Arc::from("body"));
        assert_eq!(cache.get(&k), None);
    }
}
