//! The change feed (MetadataService.WatchChanges, GetChangeCursor): the
//! changes the metadata store recorded beside each write, streamed in
//! commit order from a cursor, then followed as they commit on any replica.
//!
//! A cursor is `{feed_id}:{seq}`: the database's feed and the last change
//! seen. A stream reads the feed a page at a time as its consumer drains
//! it (memory bounded by the page, never by the backlog), wakes on commits
//! (the store's signal: this process's commits, other replicas' through
//! PostgreSQL NOTIFY) and polls as a fallback. Changes older than
//! `changes.retention_seconds` are pruned by the `change_feed` job; a cursor behind
//! them is OUT_OF_RANGE / CURSOR_EXPIRED, and so is one from another
//! database, or one ahead of this one's feed (a database restored from a
//! backup): the consumer resyncs.

use super::Archive;
use crate::{
    config::ChangeSettings,
    error::{ArchiveError, Reason, Result},
    metadata::{
        ChangeFeed,
        changes::{ChangeEvent, ChangeKind, FeedPosition},
    },
};
use futures::Stream;
use std::{collections::HashSet, sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;

/// Changes read from the store at once.
const PAGE: u32 = 500;
/// Changes pruned at once.
const PRUNE_BATCH: u32 = 10_000;
/// A stream with nothing to send says where it is this often.
const HEARTBEAT: Duration = Duration::from_secs(30);
/// Changes sent in one message, by their size: a page of long titles goes
/// out in several.
const MESSAGE_BYTES: usize = 256 * 1024;

/// What to watch.
#[derive(Debug, Clone, Default)]
pub struct WatchChanges {
    /// Empty: from now.
    pub cursor: String,
    /// Every kind when empty.
    pub kinds: Vec<ChangeKind>,
    /// `articles/ID` or `media/ID`; every resource when empty.
    pub names: Vec<String>,
}

/// A change with the cursor that resumes after it.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedChange {
    pub cursor: String,
    pub event: ChangeEvent,
}

/// One message of a watch: changes (maybe none) and where to resume.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeBatch {
    pub changes: Vec<FeedChange>,
    pub cursor: String,
}

fn cursor(feed_id: &str, seq: i64) -> String {
    format!("{feed_id}:{seq}")
}

fn expired(message: String) -> ArchiveError {
    ArchiveError::new(
        Reason::CursorExpired,
        format!("{message}: resync with ListArticles, then watch from a cursor GetChangeCursor gave before the resync"),
    )
}

/// The seq a client's cursor stands for in this feed.
fn position(text: &str, feed: &FeedPosition, retention: Duration) -> Result<i64> {
    let invalid = || ArchiveError::new(Reason::InvalidCursor, "cursor is not a cursor this service returned");
    let (feed_id, seq) = text.split_once(':').ok_or_else(invalid)?;
    let seq: i64 = seq.parse().ok().filter(|seq| *seq >= 0).ok_or_else(invalid)?;
    if feed_id.is_empty() || !feed_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid());
    }
    if feed_id != feed.feed_id {
        return Err(expired("cursor is from another database's change feed (rebuilt, or another deployment)".into()));
    }
    if seq < feed.pruned_through {
        let days = retention.as_secs_f64() / 86_400.0;
        return Err(expired(format!("cursor is older than the change feed keeps ({days:.1} days)")));
    }
    if seq > feed.last_seq {
        return Err(expired("cursor is ahead of this database's change feed (restored from a backup?)".into()));
    }
    Ok(seq)
}

/// Which changes a watch passes on.
struct Filter {
    kinds: HashSet<ChangeKind>,
    names: HashSet<String>,
}

impl Filter {
    fn passes(&self, event: &ChangeEvent) -> bool {
        let change = &event.change;
        (self.kinds.is_empty() || self.kinds.contains(&change.kind))
            && (self.names.is_empty()
                || self.names.contains(&change.name)
                || (!change.detail.media.is_empty() && self.names.contains(&change.detail.media)))
    }
}

/// A watch in progress: it reads the change feed and nothing else.
struct Watch {
    store: Arc<dyn ChangeFeed>,
    settings: ChangeSettings,
    /// Cancelled when shutdown starts.
    ending: CancellationToken,
    feed_id: String,
    /// The last change read from the store.
    seq: i64,
    /// Read and passed by the filter, not sent yet (at most a page).
    pending: std::collections::VecDeque<FeedChange>,
    filter: Filter,
    signal: tokio::sync::watch::Receiver<i64>,
}

/// About the encoded size of a change, to keep each message well under
/// `server.max_message_bytes`.
fn encoded_size(change: &FeedChange) -> usize {
    let (event, detail) = (&change.event, &change.event.change.detail);
    let text = [&change.cursor, &event.change.name, &detail.etag, &detail.title, &detail.media]
        .into_iter()
        .chain([&detail.reference, &detail.filename, &detail.content_type, &detail.sha256])
        .map(String::len)
        .sum::<usize>();
    text + 64
}

impl Watch {
    /// Up to [`MESSAGE_BYTES`] of the pending changes; the cursor after the
    /// last one sent, or after the page once none is left.
    fn take_batch(&mut self) -> ChangeBatch {
        let mut changes = Vec::new();
        let mut bytes = 0;
        while let Some(change) = self.pending.front() {
            bytes += encoded_size(change);
            if bytes > MESSAGE_BYTES && !changes.is_empty() {
                break;
            }
            changes.extend(self.pending.pop_front());
        }
        let cursor = match (self.pending.is_empty(), changes.last()) {
            (false, Some(last)) => last.cursor.clone(),
            _ => cursor(&self.feed_id, self.seq),
        };
        ChangeBatch { changes, cursor }
    }

    /// The next message: pending changes, the next page of changes, or a heartbeat.
    async fn next(mut self) -> Result<Option<(ChangeBatch, Self)>> {
        if !self.pending.is_empty() {
            let batch = self.take_batch();
            return Ok(Some((batch, self)));
        }
        let poll = Duration::from_millis(self.settings.poll_interval_ms.max(1));
        let quiet_since = tokio::time::Instant::now();
        let ending = self.ending.clone();
        let mut woken = false;
        loop {
            if ending.is_cancelled() {
                return Err(ArchiveError::new(
                    Reason::ShuttingDown,
                    format!("this server is stopping; watch again from cursor {}", cursor(&self.feed_id, self.seq)),
                ));
            }
            let page = self.store.changes_after(self.seq, PAGE).await?;
            if let Some(first) = page.first() {
                if first.seq != self.seq + 1 {
                    // Seqs have no gaps: the ones between were pruned unread.
                    let feed = self.store.change_feed().await?;
                    position(&cursor(&self.feed_id, self.seq), &feed, self.settings.retention())?;
                }
                self.seq = page.last().map_or(self.seq, |last| last.seq);
                let passed = page.into_iter().filter(|event| self.filter.passes(event));
                let changes: Vec<FeedChange> =
                    passed.map(|event| FeedChange { cursor: cursor(&self.feed_id, event.seq), event }).collect();
                self.pending.extend(changes);
                let batch = self.take_batch();
                return Ok(Some((batch, self)));
            }
            if quiet_since.elapsed() >= HEARTBEAT {
                let batch = ChangeBatch { changes: Vec::new(), cursor: cursor(&self.feed_id, self.seq) };
                return Ok(Some((batch, self)));
            }
            let seq = self.seq;
            if woken {
                // Woken, and nothing new: the signal runs ahead of this feed
                // (another database's notification, a restored database).
                // Poll, not spin.
                woken = false;
                tokio::select! {
                    _ = tokio::time::sleep(poll) => {}
                    _ = ending.cancelled() => {}
                }
                continue;
            }
            // Caught up: wait for a commit (here or announced by another
            // replica), or poll, since an announcement can be lost.
            tokio::select! {
                signalled = tokio::time::timeout(poll, self.signal.wait_for(|last| *last > seq)) => {
                    woken = matches!(signalled, Ok(Ok(_)));
                }
                _ = ending.cancelled() => {}
            }
        }
    }
}

impl Archive {
    /// The cursor after the last change committed so far.
    pub async fn change_cursor(&self) -> Result<String> {
        let feed = self.metadata.change_feed().await?;
        Ok(cursor(&feed.feed_id, feed.last_seq))
    }

    /// Streams the changes after `watch.cursor` (from now when empty),
    /// then follows new ones, until dropped.
    pub async fn watch_changes(
        &self,
        watch: WatchChanges,
    ) -> Result<impl Stream<Item = Result<ChangeBatch>> + Send + 'static> {
        for name in &watch.names {
            let article = crate::ids::ArticleId::from_name(name);
            if article.is_err() && crate::ids::MediaId::from_name(name).is_err() {
                return Err(ArchiveError::new(
                    Reason::InvalidName,
                    format!("names holds {}, which is neither articles/ID nor media/ID", crate::error::quoted(name)),
                ));
            }
        }
        // Subscribed before the feed is read, so no commit falls between.
        let signal = self.metadata.change_signal().await?;
        let feed = self.metadata.change_feed().await?;
        let seq = if watch.cursor.is_empty() {
            feed.last_seq
        } else {
            position(&watch.cursor, &feed, self.changes.retention())?
        };
        let filter = Filter { kinds: watch.kinds.into_iter().collect(), names: watch.names.into_iter().collect() };
        let pending = Default::default();
        let state = Watch {
            store: self.metadata.clone(),
            settings: self.changes.clone(),
            ending: self.watches_ending.clone(),
            feed_id: feed.feed_id,
            seq,
            pending,
            filter,
            signal,
        };
        Ok(futures::stream::try_unfold(state, Watch::next))
    }

    /// Deletes the changes older than `changes.retention_seconds` (the
    /// `change_feed` job); returns how many went.
    pub async fn prune_changes(&self) -> Result<usize> {
        let retention = chrono::Duration::from_std(self.changes.retention()).unwrap_or(chrono::Duration::MAX);
        let before =
            chrono::Utc::now().checked_sub_signed(retention).unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        let mut pruned = 0;
        loop {
            let batch = self.metadata.prune_changes(before, PRUNE_BATCH).await?;
            pruned += batch as usize;
            if batch < u64::from(PRUNE_BATCH) {
                return Ok(pruned);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_checked_against_the_feed() {
        let feed = FeedPosition { feed_id: "ab12".into(), last_seq: 100, pruned_through: 40, manifests_through: 0 };
        let week = Duration::from_secs(7 * 86_400);
        assert_eq!(position("ab12:40", &feed, week).unwrap(), 40);
        assert_eq!(position("ab12:100", &feed, week).unwrap(), 100);
        for (text, reason) in [
            ("ab12:39", Reason::CursorExpired),
            ("ab12:101", Reason::CursorExpired),
            ("cd34:50", Reason::CursorExpired),
            ("ab12", Reason::InvalidCursor),
            ("ab12:-1", Reason::InvalidCursor),
            (":5", Reason::InvalidCursor),
            ("zz:5", Reason::InvalidCursor),
            ("ab12:5x", Reason::InvalidCursor),
        ] {
            assert_eq!(position(text, &feed, week).unwrap_err().reason, reason, "{text}");
        }
        assert!(position("ab12:1", &feed, week).unwrap_err().message.contains("7.0 days"));
    }
}
