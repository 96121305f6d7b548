//! The current revision of recently read articles (fields and links, no
//! body), bounded in bytes, kept true by the change feed: every replica's
//! consumer ([`ArticleCache::follow`]) drops the entries the feed names and
//! keeps view counts current from it.
//!
//! The rules that keep it true:
//! - **Read-your-writes**: a hit is served only when the consumer has
//!   applied every change this replica knows committed (its own commits at
//!   once, other replicas' through PostgreSQL NOTIFY); otherwise the read
//!   goes to the database. A write answers after its commit, so a read
//!   that follows it never gets the state before it.
//! - **Fills that race an invalidation are dropped**: a fill notes its
//!   key's stripe version before the database read, inserts, then checks
//!   the version again and removes what it inserted if it moved.
//!   Invalidation bumps the version before it removes, so either the fill
//!   sees the bump or the removal comes after the insert.
//! - NOT_FOUND is never cached; a gap in the feed (pruned past the
//!   consumer), a failure to read it, or a restart empties the cache.
//! - View counts: RecordView writes the total it answers into this
//!   replica's entry, so views counted here are current here; views counted
//!   on another replica arrive with the view flush's change (at most one
//!   `metadata.view_flush_interval_seconds` old).

use crate::{
    ids::ArticleId,
    metadata::{
        ArticleRecord, ChangeFeed,
        changes::{ChangeEvent, ChangeKind},
    },
};
use std::{
    hash::{BuildHasher, Hash},
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Version stripes: an invalidation bumps one, a fill checks one.
const STRIPES: usize = 256;
/// Bytes an entry is assumed to take when sizing the cache's table.
const TYPICAL_ENTRY_BYTES: u64 = 1024;
/// Changes read at once.
const BATCH: u32 = 1000;
/// The feed is polled this often when no commit signal arrives.
const POLL: Duration = Duration::from_millis(500);
/// Wait before following the feed again after a failure.
const RETRY: Duration = Duration::from_secs(1);

#[derive(Clone)]
struct EntryBytes;

impl quick_cache::Weighter<ArticleId, Arc<ArticleRecord>> for EntryBytes {
    fn weight(&self, id: &ArticleId, record: &Arc<ArticleRecord>) -> u64 {
        let links: usize = record.media.iter().map(|l| l.reference.len() + 64).sum();
        let keywords: usize = record.keywords.iter().map(|k| k.len() + 24).sum();
        (id.as_str().len()
            + std::mem::size_of::<ArticleRecord>()
            + record.title.len()
            + record.author.len()
            + record.etag.len()
            + record.body.key.as_str().len()
            + record.body.sha256.len()
            + links
            + keywords) as u64
    }
}

/// Counts the entries dropped for room (the metric, and [`ArticleCache::evictions`]).
#[derive(Clone, Default)]
struct CountEvictions(Arc<AtomicU64>);

impl quick_cache::Lifecycle<ArticleId, Arc<ArticleRecord>> for CountEvictions {
    type RequestState = ();

    fn begin_request(&self) -> Self::RequestState {}

    fn on_evict(&self, _: &mut Self::RequestState, _: ArticleId, _: Arc<ArticleRecord>) {
        self.0.fetch_add(1, Ordering::Relaxed);
        crate::metrics::article_cache_evicted();
    }
}

type Entries = quick_cache::sync::Cache<
    ArticleId,
    Arc<ArticleRecord>,
    EntryBytes,
    quick_cache::DefaultHashBuilder,
    CountEvictions,
>;

/// What the consumer has applied: `None` while the cache must not serve
/// (not following, or after a failure).
struct Following {
    /// This replica's view of the last committed change.
    committed: watch::Receiver<i64>,
    /// The last change applied.
    applied: AtomicU64,
}

/// The cache; `capacity_bytes` 0 turns it off.
pub struct ArticleCache {
    entries: Option<Entries>,
    evictions: CountEvictions,
    stripes: Box<[AtomicU64; STRIPES]>,
    hasher: std::hash::RandomState,
    following: OnceLock<Following>,
    /// Set while the consumer is not caught up after a failure or a gap:
    /// no hits, no fills.
    suspended: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for ArticleCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArticleCache").field("entries", &self.len()).field("bytes", &self.weight()).finish()
    }
}

/// A read's ticket to fill the cache with what it read.
pub struct Fill {
    stripe: usize,
    version: u64,
}

impl ArticleCache {
    pub fn new(capacity_bytes: u64) -> Self {
        let evictions = CountEvictions::default();
        let entries = (capacity_bytes > 0).then(|| {
            let count = (capacity_bytes / TYPICAL_ENTRY_BYTES).max(16) as usize;
            Entries::with(count, capacity_bytes, EntryBytes, Default::default(), evictions.clone())
        });
        Self {
            entries,
            evictions,
            stripes: Box::new(std::array::from_fn(|_| AtomicU64::new(0))),
            hasher: std::hash::RandomState::new(),
            following: OnceLock::new(),
            suspended: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn stripe(&self, id: &ArticleId) -> usize {
        let mut hasher = self.hasher.build_hasher();
        id.hash(&mut hasher);
        (std::hash::Hasher::finish(&hasher) as usize) % STRIPES
    }

    /// True when a hit may be served: on, followed, caught up with every
    /// change this replica knows committed.
    fn current(&self) -> bool {
        let Some(following) = self.following.get() else { return false };
        if self.entries.is_none() || self.suspended.load(Ordering::Acquire) {
            return false;
        }
        let committed = *following.committed.borrow();
        following.applied.load(Ordering::Acquire) as i64 >= committed
    }

    /// The cached current revision of `id`, when it may be served.
    pub fn get(&self, id: &ArticleId) -> Option<ArticleRecord> {
        self.lookup(id, None)
    }

    /// The cached current revision of `id` when it is `revision` (a
    /// listing's), when it may be served.
    pub fn get_revision(&self, id: &ArticleId, revision: i64) -> Option<ArticleRecord> {
        self.lookup(id, Some(revision))
    }

    fn lookup(&self, id: &ArticleId, revision: Option<i64>) -> Option<ArticleRecord> {
        if !self.current() {
            return None;
        }
        let found = self
            .entries
            .as_ref()?
            .get(id)
            .filter(|record| revision.is_none_or(|revision| record.revision == revision))
            .map(|record| (*record).clone());
        crate::metrics::article_cache(found.is_some());
        found
    }

    /// Before a database read whose answer may fill the cache.
    pub fn before_read(&self, id: &ArticleId) -> Option<Fill> {
        if !self.current() {
            return None;
        }
        let stripe = self.stripe(id);
        Some(Fill { stripe, version: self.stripes[stripe].load(Ordering::Acquire) })
    }

    /// Keeps `record` (read after `fill` was taken) unless an invalidation
    /// of its stripe came in between.
    pub fn fill(&self, fill: Fill, record: &ArticleRecord) {
        let Some(entries) = &self.entries else { return };
        let version = &self.stripes[fill.stripe];
        if version.load(Ordering::Acquire) != fill.version {
            return;
        }
        entries.insert(record.id.clone(), Arc::new(record.clone()));
        if version.load(Ordering::Acquire) != fill.version {
            entries.remove(&record.id);
        }
    }

    /// Drops `id`'s entry (its article changed).
    pub fn invalidate(&self, id: &ArticleId) {
        self.stripes[self.stripe(id)].fetch_add(1, Ordering::AcqRel);
        if let Some(entries) = &self.entries {
            entries.remove(id);
        }
        crate::metrics::article_cache_invalidated();
    }

    /// Drops everything (a gap, a failure, a restart).
    pub fn clear(&self) {
        for stripe in self.stripes.iter() {
            stripe.fetch_add(1, Ordering::AcqRel);
        }
        if let Some(entries) = &self.entries {
            entries.clear();
        }
    }

    /// Writes a view count into a cached entry, if higher than it holds
    /// (counts only grow; two answers may arrive out of order).
    pub fn set_views(&self, id: &ArticleId, view_count: i64) {
        let Some(entries) = &self.entries else { return };
        if let Some(record) = entries.get(id).filter(|record| record.view_count < view_count) {
            let mut updated = (*record).clone();
            updated.view_count = view_count;
            let stripe = self.stripe(id);
            let version = self.stripes[stripe].load(Ordering::Acquire);
            entries.insert(id.clone(), Arc::new(updated));
            if self.stripes[stripe].load(Ordering::Acquire) != version {
                entries.remove(id);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, |entries| entries.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries dropped for room since the cache was made.
    pub fn evictions(&self) -> u64 {
        self.evictions.0.load(Ordering::Relaxed)
    }

    /// Bytes held, as the weigher counts them.
    pub fn weight(&self) -> u64 {
        self.entries.as_ref().map_or(0, |entries| entries.weight())
    }

    /// Applies one change.
    fn apply(&self, event: &ChangeEvent) {
        let Ok(id) = ArticleId::from_name(&event.change.name) else { return };
        match event.change.kind {
            ChangeKind::ArticleViews => self.set_views(&id, event.change.detail.view_count),
            ChangeKind::MediaUploaded | ChangeKind::MediaDeleted => {}
            _ => self.invalidate(&id),
        }
    }

    /// Follows the change feed until `ending`: from its end at start (the
    /// cache starts empty), invalidating what each change names. A gap or
    /// a failure empties the cache and starts again from the end.
    pub async fn follow(self: Arc<Self>, feed: Arc<dyn ChangeFeed>, ending: CancellationToken) {
        if self.entries.is_none() {
            return;
        }
        loop {
            let outcome = tokio::select! {
                outcome = self.follow_once(feed.as_ref()) => outcome,
                _ = ending.cancelled() => return,
            };
            if let Err(error) = outcome {
                tracing::warn!(error = %format!("{error:#}"), "article cache: following the change feed failed; emptied");
            }
            self.suspended.store(true, Ordering::Release);
            self.clear();
            tokio::select! {
                _ = tokio::time::sleep(RETRY) => {}
                _ = ending.cancelled() => return,
            }
        }
    }

    async fn follow_once(&self, feed: &dyn ChangeFeed) -> crate::Result<()> {
        let mut signal = feed.change_signal().await?;
        let start = feed.change_feed().await?.last_seq;
        self.clear();
        let following = self
            .following
            .get_or_init(|| Following { committed: signal.clone(), applied: AtomicU64::new(start.max(0) as u64) });
        following.applied.store(start.max(0) as u64, Ordering::Release);
        self.suspended.store(false, Ordering::Release);
        let mut seq = start;
        loop {
            let events = feed.changes_after(seq, BATCH).await?;
            if events.first().is_some_and(|first| first.seq != seq + 1) {
                tracing::info!(seq, "article cache: changes pruned past it; emptied");
                return Ok(());
            }
            let Some(last) = events.last().map(|e| e.seq) else {
                tokio::select! {
                    changed = signal.changed() => changed.map_err(|e| crate::ArchiveError::internal("change signal", e))?,
                    _ = tokio::time::sleep(POLL) => {}
                }
                continue;
            };
            for event in &events {
                self.apply(event);
            }
            following.applied.store(last as u64, Ordering::Release);
            seq = last;
            crate::metrics::article_cache_bytes(self.weight());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::{changes::Change, sample_record};

    fn record(id: &str, title: &str) -> ArticleRecord {
        sample_record(id, title, 1_569_838_859)
    }

    /// A cache whose consumer has applied through `applied` while this
    /// replica knows `committed` (the returned sender moves it).
    fn followed(capacity: u64, applied: u64, committed: i64) -> (ArticleCache, watch::Sender<i64>) {
        let cache = ArticleCache::new(capacity);
        let (sender, receiver) = watch::channel(committed);
        let _ = cache.following.set(Following { committed: receiver, applied: AtomicU64::new(applied) });
        (cache, sender)
    }

    fn read(cache: &ArticleCache, stored: &ArticleRecord) -> ArticleRecord {
        if let Some(hit) = cache.get(&stored.id) {
            return hit;
        }
        let fill = cache.before_read(&stored.id);
        if let Some(fill) = fill {
            cache.fill(fill, stored);
        }
        stored.clone()
    }

    #[test]
    fn a_fill_that_raced_an_invalidation_is_dropped() {
        let (cache, _committed) = followed(1 << 20, 5, 5);
        let old = record("bai-1", "Cũ");
        // The read starts, the article changes and the change is applied,
        // then the read's (old) answer arrives.
        let fill = cache.before_read(&old.id).expect("the cache fills");
        cache.invalidate(&old.id);
        cache.fill(fill, &old);
        assert_eq!(cache.get(&old.id), None, "the old state is not kept");
        // Filled, then invalidated: gone too.
        let fill = cache.before_read(&old.id).unwrap();
        cache.fill(fill, &old);
        assert_eq!(cache.get(&old.id).map(|r| r.title), Some("Cũ".into()));
        cache.invalidate(&old.id);
        assert_eq!(cache.get(&old.id), None);
    }

    #[test]
    fn hits_wait_for_the_consumer_to_hold_every_known_commit() {
        let (cache, committed) = followed(1 << 20, 5, 5);
        let stored = record("bai-1", "Tin");
        read(&cache, &stored);
        assert!(cache.get(&stored.id).is_some(), "caught up: a hit");
        committed.send_replace(6);
        assert!(cache.get(&stored.id).is_none(), "a commit not applied yet: no hit");
        assert!(cache.before_read(&stored.id).is_none(), "and no fill");
        cache.following.get().unwrap().applied.store(6, Ordering::Release);
        assert!(cache.get(&stored.id).is_some());
        let off = ArticleCache::new(0);
        assert!(off.get(&stored.id).is_none() && off.before_read(&stored.id).is_none(), "off");
        assert!(ArticleCache::new(1 << 20).get(&stored.id).is_none(), "not followed: never serves");
    }

    #[test]
    fn changes_invalidate_and_views_stay_current() {
        let (cache, _committed) = followed(1 << 20, 5, 5);
        let stored = record("bai-1", "Tin");
        read(&cache, &stored);
        let event = |change: Change| ChangeEvent { seq: 6, commit_time: chrono::Utc::now(), change };
        cache.apply(&event(Change::article_views(&stored.id, 120)));
        assert_eq!(cache.get(&stored.id).map(|r| r.view_count), Some(120), "views written in");
        cache.apply(&event(Change::article(ChangeKind::LegalHoldSet, &stored)));
        assert_eq!(cache.get(&stored.id), None, "any other article change drops it");
        read(&cache, &stored);
        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn the_byte_bound_holds_under_a_scan() {
        let bound = 256 * 1024;
        let (cache, _committed) = followed(bound, 1, 1);
        for i in 0..5_000 {
            read(&cache, &record(&format!("bai-{i}"), &"Tiêu đề dài ".repeat(20)));
            assert!(cache.weight() <= bound, "{} bytes after {i}", cache.weight());
        }
        assert!(cache.weight() > bound / 2, "a full cache holds most of its bound");
        assert_eq!(cache.evictions() as usize, 5_000 - cache.len(), "every entry dropped for room is counted");
    }
}
