//! Keeps a replica's search index a true projection of the database: it
//! follows the change feed from the position its last commit stored, puts
//! the current state of every article a change names, and commits each
//! batch with the position it reached. So a crash anywhere (even inside a
//! commit) loses nothing: the next start resumes from the last commit.
//!
//! The index is rebuilt from the database, while search keeps answering
//! from what it has so far, when it is new or was damaged, of another
//! schema, from another database's feed, interrupted in a rebuild, or
//! further behind than the feed keeps.

use super::{IndexState, SearchIndex, schema::SCHEMA_VERSION};
use crate::{
    ids::{ArticleId, MediaId},
    metadata::{ChangeFeed, IndexedArticle, SearchSource, changes::FeedPosition},
};
use std::{
    collections::BTreeSet,
    sync::Arc,
    time::{Duration, Instant},
};
use tokio_util::sync::CancellationToken;

/// Changes read and applied in one commit, at most.
const BATCH: u32 = 1000;
/// Articles read from the database at once during a rebuild.
const REBUILD_PAGE: u32 = 500;
/// A rebuild commits (and search sees its progress) this often.
const REBUILD_COMMIT_EVERY: Duration = Duration::from_secs(2);
/// The feed is polled this often when no commit signal arrives (a
/// notification from another replica can be lost).
const POLL: Duration = Duration::from_millis(500);
/// Least time between two commits while following: a commit (a segment
/// written and synced, the reader reloaded) costs ~60 ms, and one per
/// batch of 30 articles slowed imports by a fifth (BENCHMARKS.md).
const MIN_COMMIT_INTERVAL: Duration = Duration::from_millis(250);
/// Changes behind that are worth a log line, at most one per interval.
const LAG_WORTH_A_LOG: i64 = 1000;
const LAG_LOG_EVERY: Duration = Duration::from_secs(10);
/// Wait before retrying after the database or the index failed.
const RETRY: Duration = Duration::from_secs(1);

/// Why an index is rebuilt: the metric's `reason` label.
fn rebuild_reason(state: Option<&IndexState>, feed: &FeedPosition) -> Option<&'static str> {
    let Some(state) = state else { return Some("missing") };
    if state.schema != SCHEMA_VERSION {
        Some("schema")
    } else if state.feed_id != feed.feed_id {
        Some("other_feed")
    } else if !state.complete {
        Some("interrupted")
    } else if state.seq < feed.pruned_through || state.seq > feed.last_seq {
        Some("behind_feed")
    } else {
        None
    }
}

/// What an event changes in the index: an article it names, or the
/// articles linking a clip whose caption words it changes (views and clip
/// uploads change nothing; a deleted clip was detached first, by its own
/// events).
enum Touches {
    Article(ArticleId),
    ClipWords(MediaId),
    Nothing,
}

fn touches(event: &crate::metadata::changes::ChangeEvent) -> Touches {
    use crate::metadata::changes::ChangeKind::*;
    let name = &event.change.name;
    match event.change.kind {
        ArticleCreated | ArticleUpdated | ArticleDeleted | ArticleUndeleted | ArticlePurged | LegalHoldSet
        | LegalHoldCleared | MediaAttached | MediaDetached => {
            ArticleId::from_name(name).map_or(Touches::Nothing, Touches::Article)
        }
        MediaCaptionsChanged => MediaId::from_name(name).map_or(Touches::Nothing, Touches::ClipWords),
        ArticleViews | MediaUploaded | MediaDeleted | MediaPosterSet => Touches::Nothing,
    }
}

/// What one step of following the feed did.
enum Step {
    /// Changes through this seq are in.
    Applied(i64),
    /// Nothing after the seq yet.
    CaughtUp,
    /// Changes after the seq were pruned: the index must be rebuilt.
    Pruned,
}

/// The index and what feeds it: the change feed and the articles it names.
pub struct Projection {
    index: Arc<SearchIndex>,
    feed: Arc<dyn ChangeFeed>,
    source: Arc<dyn SearchSource>,
}

impl Projection {
    pub fn new(index: Arc<SearchIndex>, feed: Arc<dyn ChangeFeed>, source: Arc<dyn SearchSource>) -> Self {
        Self { index, feed, source }
    }

    /// Follows the feed until `ending` is cancelled: rebuilds first when
    /// the index needs it, retries after failures.
    pub async fn run(self, ending: CancellationToken) {
        loop {
            let outcome = tokio::select! {
                outcome = self.follow() => outcome,
                _ = ending.cancelled() => return,
            };
            if let Err(error) = outcome {
                tracing::warn!(error = %format!("{error:#}"), "search index: following the change feed failed; retrying");
            }
            tokio::select! {
                _ = tokio::time::sleep(RETRY) => {}
                _ = ending.cancelled() => return,
            }
        }
    }

    /// Rebuilds when needed, then applies changes as they commit. Returns
    /// only on failure.
    async fn follow(&self) -> anyhow::Result<()> {
        let mut signal = self.feed.change_signal().await?;
        let (mut seq, mut feed_id) = self.ready().await?;
        let mut last_lag_log = Instant::now();
        let mut last_commit: Option<Instant> = None;
        loop {
            // Commits come at most every MIN_COMMIT_INTERVAL: while writes
            // stream in, each commit takes what gathered meanwhile.
            if let Some(wait) = last_commit.map(|at| MIN_COMMIT_INTERVAL.saturating_sub(at.elapsed())) {
                tokio::time::sleep(wait).await;
            }
            // Seen before the read: a commit announced during it wakes the wait below.
            signal.borrow_and_update();
            match self.step(seq, &feed_id).await? {
                Step::Applied(through) => {
                    last_commit = Some(Instant::now());
                    // A full batch: more follow, whatever the signal says.
                    let known = (*signal.borrow()).max(through + i64::from(through - seq >= i64::from(BATCH)));
                    self.report(known - through, false);
                    if known - through >= LAG_WORTH_A_LOG && last_lag_log.elapsed() >= LAG_LOG_EVERY {
                        tracing::info!(behind = known - through, seq = through, "search index: catching up");
                        last_lag_log = Instant::now();
                    }
                    seq = through;
                }
                Step::Pruned => (seq, feed_id) = self.rebuild("behind_feed").await?,
                Step::CaughtUp => {
                    let feed_last = *signal.borrow();
                    self.report(feed_last - seq, false);
                    tokio::select! {
                        changed = signal.changed() => changed?,
                        _ = tokio::time::sleep(POLL) => {}
                    }
                }
            }
        }
    }

    /// Brings the index up to the feed's end as it is now (rebuilding it
    /// first when needed), then returns the seq it reached: what `run`
    /// does, once (tests and `archived check`).
    pub async fn catch_up(&self) -> anyhow::Result<i64> {
        let (mut seq, mut feed_id) = self.ready().await?;
        loop {
            match self.step(seq, &feed_id).await? {
                Step::Applied(through) => seq = through,
                Step::Pruned => (seq, feed_id) = self.rebuild("behind_feed").await?,
                Step::CaughtUp => return Ok(seq),
            }
        }
    }

    /// Applies the next batch of changes after `seq`.
    async fn step(&self, seq: i64, feed_id: &str) -> anyhow::Result<Step> {
        let events = self.feed.changes_after(seq, BATCH).await?;
        if events.first().is_some_and(|first| first.seq != seq + 1) {
            // Changes after ours were pruned: what they did is unknown.
            return Ok(Step::Pruned);
        }
        let Some(last) = events.last().map(|event| event.seq) else { return Ok(Step::CaughtUp) };
        let mut ids = BTreeSet::new();
        let mut clips = Vec::new();
        for event in &events {
            match touches(event) {
                Touches::Article(id) => {
                    ids.insert(id);
                }
                Touches::ClipWords(media) => clips.push(media),
                Touches::Nothing => {}
            }
        }
        ids.extend(self.source.articles_linking(&clips).await?);
        let state = IndexState { schema: SCHEMA_VERSION, feed_id: feed_id.to_owned(), seq: last, complete: true };
        self.apply(ids.into_iter().collect(), state).await?;
        Ok(Step::Applied(last))
    }

    /// The seq the index holds and its feed, after a rebuild if it needed one.
    async fn ready(&self) -> anyhow::Result<(i64, String)> {
        let feed = self.feed.change_feed().await?;
        let state = self.index.state();
        match (rebuild_reason(state.as_ref(), &feed), state) {
            (None, Some(state)) => {
                let behind = feed.last_seq - state.seq;
                tracing::info!(seq = state.seq, behind, documents = self.index.num_docs(), "search index opened");
                Ok((state.seq, state.feed_id))
            }
            (reason, _) => self.rebuild(reason.unwrap_or("missing")).await,
        }
    }

    /// Puts the current state of `ids` and commits with `state`.
    async fn apply(&self, ids: Vec<ArticleId>, state: IndexState) -> anyhow::Result<()> {
        let articles = self.source.indexable_articles_by_id(&ids).await?;
        let index = self.index.clone();
        let started = Instant::now();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            for id in &ids {
                index.put(id, articles.iter().find(|a| &a.record.id == id))?;
            }
            index.commit(&state)
        })
        .await??;
        crate::metrics::search_commit(started.elapsed());
        Ok(())
    }

    /// Empties the index and fills it from the database, committing as it
    /// goes (search answers from what is in meanwhile). Returns the seq it
    /// reflects (changes after it are applied by the caller) and the feed.
    async fn rebuild(&self, reason: &'static str) -> anyhow::Result<(i64, String)> {
        crate::metrics::search_rebuild(reason);
        let feed = self.feed.change_feed().await?;
        // Every change up to here is in what the pages below read.
        let seq = feed.last_seq;
        let state = |complete| IndexState { schema: SCHEMA_VERSION, feed_id: feed.feed_id.clone(), seq, complete };
        tracing::info!(reason, seq, dir = %self.index.dir().display(), "search index: rebuilding from the database");
        let started = Instant::now();
        let index = self.index.clone();
        let first = state(false);
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            index.clear()?;
            index.commit(&first)
        })
        .await??;
        self.report(0, true);
        let (mut after, mut articles, mut last_commit) = (None::<ArticleId>, 0u64, Instant::now());
        loop {
            let page: Vec<IndexedArticle> = self.source.indexable_articles(after.as_ref(), REBUILD_PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.record.id.clone());
            articles += page.len() as u64;
            let index = self.index.clone();
            let committing = last_commit.elapsed() >= REBUILD_COMMIT_EVERY;
            let commit = committing.then(|| state(false));
            tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                for article in &page {
                    index.put(&article.record.id, Some(article))?;
                }
                commit.map_or(Ok(()), |state| index.commit(&state))
            })
            .await??;
            if committing {
                last_commit = Instant::now();
                self.report(0, true);
            }
        }
        let index = self.index.clone();
        let done = state(true);
        tokio::task::spawn_blocking(move || index.commit(&done)).await??;
        tracing::info!(articles, seconds = started.elapsed().as_secs_f64(), "search index: rebuilt");
        self.report(0, false);
        Ok((seq, feed.feed_id))
    }

    fn report(&self, lag: i64, rebuilding: bool) {
        crate::metrics::search_index(lag, self.index.num_docs(), rebuilding);
    }
}
