//! The change feed in SQL: each write records its changes as the last
//! statements of its own transaction ([`SqlMetadataStore::commit_with`]),
//! reads page through them by sequence, and watchers wake on commits
//! here (a watch channel) and on other replicas (PostgreSQL LISTEN/NOTIFY).
//!
//! Sequence numbers come from `change_feed.last_seq`, raised in the writing
//! transaction: the row stays locked until commit (PostgreSQL; SQLite has
//! one writer), so numbers are handed out in commit order with no gaps, and
//! a reader that saw change N has seen every change before it.

use super::{
    Dialect, SqlMetadataStore,
    builder::{self, Arg, SqlBuilder},
    rows::{from_micros, micros},
    timing::timed,
};
use crate::{
    error::{ArchiveError, Result},
    metadata::{
        ChangeFeed,
        changes::{Change, ChangeDetail, ChangeEvent, ChangeKind, FeedPosition},
    },
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Any, AssertSqlSafe, Row, Transaction};
use std::{sync::Arc, time::Duration};
use tokio::sync::watch;

/// The PostgreSQL channel commits are announced on (payload: the last seq).
const CHANNEL: &str = "archive_changes";

impl SqlMetadataStore {
    /// Records `changes` in `tx`, commits, and wakes the watchers; just
    /// commits when there are none.
    pub(super) async fn commit_with(&self, mut tx: Transaction<'static, Any>, changes: &[Change]) -> Result<()> {
        if changes.is_empty() {
            return Ok(tx.commit().await?);
        }
        let count = changes.len() as i64;
        // Last: the row lock is held from here to the commit.
        let last: i64 =
            sqlx::query_scalar("UPDATE change_feed SET last_seq = last_seq + $1 WHERE id = 1 RETURNING last_seq")
                .bind(count)
                .fetch_one(&mut *tx)
                .await?;
        let commit_time = micros(&chrono::Utc::now());
        // One statement for all of them: the lock is held to the commit.
        let mut insert = SqlBuilder::new("INSERT INTO changes (seq, commit_time_us, kind, name, detail) VALUES ");
        for (i, (seq, change)) in (last - count + 1..).zip(changes).enumerate() {
            let detail =
                serde_json::to_string(&change.detail).map_err(|e| ArchiveError::internal("encoding a change", e))?;
            insert.push(if i == 0 { "(" } else { ", (" }).bind(Arg::Int(seq)).push(", ");
            insert.bind(Arg::Int(commit_time)).push(", ").bind(Arg::Text(change.kind.as_str().to_owned()));
            insert.push(", ").bind(Arg::Text(change.name.clone())).push(", ").bind(Arg::Text(detail)).push(")");
        }
        insert.execute(&mut *tx).await?;
        if self.dialect == Dialect::Postgres {
            // Delivered to every listener when (and only if) this commits.
            sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(last.to_string()).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        self.changes.announce(last);
        Ok(())
    }
}

/// Wakes the watchers of one store: the last seq this process knows is
/// committed, raised by its own commits and by other replicas' notifications.
#[derive(Debug)]
pub(super) struct Announcer {
    last: watch::Sender<i64>,
    /// Stops the PostgreSQL listener with the store.
    _listener: Option<tokio_util::sync::DropGuard>,
}

impl Announcer {
    /// For a store whose feed is at `last`; on PostgreSQL `listen_url`
    /// also wakes watchers on other replicas' commits.
    pub(super) fn start(last: i64, listen_url: Option<&str>) -> Arc<Self> {
        let (sender, _) = watch::channel(last);
        let listener = listen_url.map(|url| {
            let stop = tokio_util::sync::CancellationToken::new();
            tokio::spawn(listen(url.to_owned(), sender.clone(), stop.clone()));
            stop.drop_guard()
        });
        Arc::new(Self { last: sender, _listener: listener })
    }

    pub(super) fn announce(&self, seq: i64) {
        announce(&self.last, seq);
    }

    pub(super) fn subscribe(&self) -> watch::Receiver<i64> {
        self.last.subscribe()
    }
}

fn announce(last: &watch::Sender<i64>, seq: i64) {
    last.send_if_modified(|known| {
        let newer = seq > *known;
        if newer {
            *known = seq;
        }
        newer
    });
}

/// Forwards other replicas' commits until stopped. Notifications sent
/// while the connection was down are lost: watchers poll as well.
async fn listen(url: String, last: watch::Sender<i64>, stop: tokio_util::sync::CancellationToken) {
    const RETRY: Duration = Duration::from_secs(1);
    let work = async {
        loop {
            let mut listener = match sqlx::postgres::PgListener::connect(&url).await {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(%error, "change notifications: cannot connect; retrying");
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            };
            if let Err(error) = listener.listen(CHANNEL).await {
                tracing::warn!(%error, "change notifications: LISTEN failed; retrying");
                tokio::time::sleep(RETRY).await;
                continue;
            }
            loop {
                match listener.try_recv().await {
                    Ok(Some(notification)) => {
                        if let Ok(seq) = notification.payload().parse() {
                            announce(&last, seq);
                        }
                    }
                    // Reconnects on the next call; what was sent meanwhile is lost.
                    Ok(None) => tracing::info!("change notifications: connection lost; reconnecting"),
                    Err(error) => {
                        tracing::warn!(%error, "change notifications failed; reconnecting");
                        tokio::time::sleep(RETRY).await;
                        break;
                    }
                }
            }
        }
    };
    tokio::select! {
        _ = work => {}
        _ = stop.cancelled() => {}
    }
}

#[async_trait]
impl ChangeFeed for SqlMetadataStore {
    async fn change_feed(&self) -> Result<FeedPosition> {
        timed!("change_feed", async {
            let row = sqlx::query(
                "SELECT feed_id, last_seq, pruned_through, manifests_through FROM change_feed WHERE id = 1",
            )
            .fetch_one(&self.readers)
            .await?;
            Ok(FeedPosition {
                feed_id: row.try_get("feed_id")?,
                last_seq: row.try_get("last_seq")?,
                pruned_through: row.try_get("pruned_through")?,
                manifests_through: row.try_get("manifests_through")?,
            })
        })
    }

    async fn changes_after(&self, after: i64, limit: u32) -> Result<Vec<ChangeEvent>> {
        timed!("changes_after", async {
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT seq, commit_time_us, kind, name, detail FROM changes WHERE seq > $1 ORDER BY seq{}",
                builder::limit(limit)
            )))
            .bind(after)
            .fetch_all(&self.readers)
            .await?;
            rows.iter()
                .map(|row| {
                    let kind: String = row.try_get("kind")?;
                    let detail: String = row.try_get("detail")?;
                    let bad = |what: &str| {
                        ArchiveError::internal("reading the change feed", anyhow::anyhow!("bad stored change {what}"))
                    };
                    Ok(ChangeEvent {
                        seq: row.try_get("seq")?,
                        commit_time: from_micros(row.try_get("commit_time_us")?),
                        change: Change {
                            kind: ChangeKind::parse(&kind).ok_or_else(|| bad(&kind))?,
                            name: row.try_get("name")?,
                            detail: serde_json::from_str::<ChangeDetail>(&detail).map_err(|_| bad(&detail))?,
                        },
                    })
                })
                .collect()
        })
    }

    async fn set_manifests_through(&self, seq: i64) -> Result<()> {
        timed!("set_manifests_through", async {
            sqlx::query("UPDATE change_feed SET manifests_through = $1 WHERE id = 1 AND manifests_through < $1")
                .bind(seq)
                .execute(&self.writer)
                .await?;
            Ok(())
        })
    }

    /// Also records where the feed now starts (`pruned_through`).
    async fn prune_changes(&self, before: DateTime<Utc>, limit: u32) -> Result<u64> {
        timed!("prune_changes", async {
            let before_us = micros(&before);
            let mut tx = self.begin_write().await?;
            let through: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT MAX(seq) FROM (SELECT seq FROM changes WHERE commit_time_us < $1 \
                 AND seq <= (SELECT manifests_through FROM change_feed WHERE id = 1) ORDER BY seq{}) AS old",
                builder::limit(limit)
            )))
            .bind(before_us)
            .fetch_one(&mut *tx)
            .await?;
            let Some(through) = through else { return Ok(0) };
            let pruned = sqlx::query("DELETE FROM changes WHERE seq <= $1")
                .bind(through)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("UPDATE change_feed SET pruned_through = $1 WHERE id = 1 AND pruned_through < $1")
                .bind(through)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(pruned)
        })
    }

    async fn change_signal(&self) -> Result<watch::Receiver<i64>> {
        timed!("change_signal", async { Ok(self.changes.subscribe()) })
    }
}
