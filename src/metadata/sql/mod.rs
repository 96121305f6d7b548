//! The metadata store in SQL, one implementation for SQLite and PostgreSQL
//! through sqlx's `Any` driver. Statements use `$N` placeholders, which both
//! accept; each database has its own migrations; the few differences (write
//! locking, full-text search) are branches on [`Dialect`].
//!
//! Writes that depend on the current state are compare-and-swap updates
//! (`… WHERE etag = $expected`), so of two concurrent writers with the same
//! etag exactly one wins on either database. SQLite gets one writer
//! connection that takes the write lock up front (`BEGIN IMMEDIATE`).

//! Each concern has its file; the `MetadataStore` impl below forwards every
//! method to the inherent method of the same name in the file of its
//! concern:
//!
//! | file | holds |
//! | --- | --- |
//! | `articles` | article writes: create, update, delete, holds, purge, restore |
//! | `reads` | article reads: one article, revisions, listings, exports |
//! | `views` | view counts |
//! | `search` | search statements (`sqlite`, `postgres`) and the index writes (`index`) |
//! | `media`, `uploads` | clip records and links; resumable upload sessions |
//! | `objects` | which objects the records name (sweep, fixity); statistics |
//! | `rows`, `builder`, `errors` | row mapping, statements built piece by piece, errors |

use super::{
    ArchiveStatistics, ArticleExport, ArticlePage, ArticleQuery, ArticleRecord, DeletedMedia, MediaCursor, MediaLink,
    MediaRecord, MetadataStore, ObjectKind, ObjectRef, SearchHit, SearchQuery, SearchText,
    changes::{ChangeEvent, FeedPosition},
};
use crate::{
    blob::BlobKey,
    error::Result,
    ids::{ArticleId, MediaId},
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{
    Any, AnyPool, ConnectOptions, Connection, Executor, Transaction,
    any::AnyPoolOptions,
    postgres::PgConnectOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode},
};
use std::{collections::HashSet, str::FromStr, time::Duration};

mod articles;
mod builder;
mod changes;
mod errors;
mod media;
mod objects;
mod reads;
mod rows;
mod search;
mod uploads;
mod views;

use media::{Objects, insert_media_row};
use objects::referenced_in;

const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct SqlMetadataStore {
    dialect: Dialect,
    readers: AnyPool,
    /// SQLite: a single connection, so writers queue instead of failing with
    /// SQLITE_BUSY. PostgreSQL: a pool of its own, as large as `readers`.
    writer: AnyPool,
    /// Wakes change feed watchers.
    changes: std::sync::Arc<changes::Announcer>,
}

/// Creates the database file readable by its owner only (0600), when it
/// is missing: it holds every record, and SQLite gives its `-wal` and
/// `-shm` files the same mode. An existing file keeps its mode.
fn create_private(path: &std::path::Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

impl SqlMetadataStore {
    /// Opens `sqlite://PATH` (created when missing) or `postgres://…` and
    /// applies the migrations of that database.
    pub async fn open(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let max_connections = max_connections.max(1);
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT);
            if let Some(dir) = options.get_filename().parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            create_private(options.get_filename())?;
            let mut connection = options.connect().await?;
            sqlx::migrate!("./migrations/sqlite").run(&mut connection).await?;
            connection.close().await?;
            let connect = |size: u32| {
                AnyPoolOptions::new()
                    .max_connections(size)
                    .after_connect(|connection, _| {
                        Box::pin(async move {
                            // WAL is a property of the file; these are per connection.
                            connection.execute("PRAGMA synchronous = NORMAL").await?;
                            connection.execute("PRAGMA busy_timeout = 10000").await?;
                            connection.execute("PRAGMA foreign_keys = ON").await?;
                            Ok(())
                        })
                    })
                    .connect(url)
            };
            let writer = connect(1).await?;
            let readers = connect(max_connections).await?;
            let last = last_change(&readers).await?;
            Ok(Self { dialect: Dialect::Sqlite, readers, writer, changes: changes::Announcer::start(last, None) })
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let mut connection = PgConnectOptions::from_str(url)?.connect().await?;
            sqlx::migrate!("./migrations/postgres").run(&mut connection).await?;
            connection.close().await?;
            // Writes queue on the change feed's counter row holding a
            // connection each: a pool of their own keeps reads flowing.
            let readers = AnyPoolOptions::new().max_connections(max_connections).connect(url).await?;
            let writer = AnyPoolOptions::new().max_connections(max_connections).connect(url).await?;
            let changes = changes::Announcer::start(last_change(&readers).await?, Some(url));
            Ok(Self { dialect: Dialect::Postgres, readers, writer, changes })
        } else {
            anyhow::bail!("metadata.url {url:?} must start with sqlite:// or postgres://")
        }
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Any>> {
        let begin = match self.dialect {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        };
        Ok(self.writer.begin_with(begin).await?)
    }
}

async fn last_change(pool: &AnyPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT last_seq FROM change_feed WHERE id = 1").fetch_one(pool).await?)
}

#[async_trait]
impl MetadataStore for SqlMetadataStore {
    async fn change_feed(&self) -> Result<FeedPosition> {
        self.change_feed().await
    }

    async fn changes_after(&self, after: i64, limit: u32) -> Result<Vec<ChangeEvent>> {
        self.changes_after(after, limit).await
    }

    async fn set_manifests_through(&self, seq: i64) -> Result<()> {
        self.set_manifests_through(seq).await
    }

    async fn prune_changes(&self, before: DateTime<Utc>, limit: u32) -> Result<u64> {
        self.prune_changes(before.timestamp_micros(), limit).await
    }

    async fn change_signal(&self) -> Result<tokio::sync::watch::Receiver<i64>> {
        Ok(self.changes.subscribe())
    }

    async fn insert_article(&self, article: &ArticleRecord, text: &SearchText) -> Result<()> {
        self.insert_article(article, text).await
    }

    async fn get_article(&self, id: &ArticleId, revision: Option<i64>) -> Result<ArticleRecord> {
        self.get_article(id, revision).await
    }

    async fn update_article(
        &self,
        expected_etag: &str,
        next: &ArticleRecord,
        text: &SearchText,
    ) -> Result<Vec<MediaLink>> {
        self.update_article(expected_etag, next, text).await
    }

    async fn delete_article(&self, id: &ArticleId, expected_etag: Option<&str>) -> Result<()> {
        self.delete_article(id, expected_etag).await
    }

    async fn undelete_article(&self, id: &ArticleId) -> Result<ArticleRecord> {
        self.undelete_article(id).await
    }

    async fn set_legal_hold(&self, id: &ArticleId, hold: bool) -> Result<ArticleRecord> {
        self.set_legal_hold(id, hold).await
    }

    async fn purgeable_articles(&self, deleted_before: DateTime<Utc>, limit: u32) -> Result<Vec<ArticleId>> {
        self.purgeable_articles(deleted_before, limit).await
    }

    async fn purge_article(&self, id: &ArticleId) -> Result<Vec<BlobKey>> {
        self.purge_article(id).await
    }

    async fn record_views(&self, id: &ArticleId, count: i64) -> Result<i64> {
        self.record_views(id, count).await
    }

    async fn articles_with_unwritten_views(&self, after: Option<&ArticleId>, limit: u32) -> Result<Vec<ArticleId>> {
        self.articles_with_unwritten_views(after, limit).await
    }

    async fn manifest_views_written(&self, id: &ArticleId, view_count: i64) -> Result<()> {
        self.manifest_views_written(id, view_count).await
    }

    async fn list_revisions(
        &self,
        id: &ArticleId,
        before_revision: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ArticleRecord>> {
        self.list_revisions(id, before_revision, limit).await
    }

    async fn list_articles(&self, query: &ArticleQuery) -> Result<ArticlePage> {
        self.list_articles(query).await
    }

    async fn search_articles(&self, query: &SearchQuery) -> Result<Vec<SearchHit>> {
        self.search_articles(query).await
    }

    async fn export_article(&self, id: &ArticleId) -> Result<Option<ArticleExport>> {
        self.export_article(id).await
    }

    async fn restore_article(&self, export: &ArticleExport, text: &SearchText) -> Result<()> {
        self.restore_article(export, text).await
    }

    async fn is_empty(&self) -> Result<bool> {
        self.is_empty().await
    }

    async fn list_media(&self, after: Option<&MediaCursor>, limit: u32) -> Result<Vec<MediaRecord>> {
        self.list_media(after, limit).await
    }

    async fn statistics(&self) -> Result<ArchiveStatistics> {
        self.statistics().await
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }

    async fn recorded_objects(&self, kind: ObjectKind, after: Option<&BlobKey>, limit: u32) -> Result<Vec<ObjectRef>> {
        self.recorded_objects(kind, after, limit).await
    }

    async fn referenced_objects(&self, keys: &[BlobKey]) -> Result<HashSet<BlobKey>> {
        referenced_in(&self.readers, keys).await
    }

    async fn insert_media(&self, media: &MediaRecord) -> Result<()> {
        self.record_media(media, Objects::Own).await
    }

    async fn insert_media_copy(&self, media: &MediaRecord) -> Result<()> {
        self.record_media(media, Objects::Shared).await
    }

    async fn delete_media(&self, id: &MediaId, force: bool) -> Result<DeletedMedia> {
        self.delete_media_record(id, force).await
    }

    async fn get_media(&self, id: &MediaId) -> Result<MediaRecord> {
        self.get_media(id).await
    }

    async fn find_media_by_content(&self, sha256: &str, size_bytes: u64) -> Result<Option<MediaRecord>> {
        self.find_media_by_content(sha256, size_bytes).await
    }

    async fn attach_media(&self, article: &ArticleId, reference: &str, media: &MediaId) -> Result<ArticleRecord> {
        self.attach_media_links(article, reference, media).await
    }

    async fn detach_media(&self, article: &ArticleId, reference: &str) -> Result<ArticleRecord> {
        self.detach_media_link(article, reference).await
    }
}
