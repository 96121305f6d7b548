//! The metadata store in SQL, one implementation for SQLite and PostgreSQL
//! through sqlx's `Any` driver. Statements use `$N` placeholders, which both
//! accept; each database has its own migrations; the few differences (write
//! locking, the change signal) are branches on [`Dialect`].
//!
//! Writes that depend on the current state are compare-and-swap updates
//! (`… WHERE etag = $expected`), so of two concurrent writers with the same
//! etag exactly one wins on either database. SQLite gets one writer
//! connection that takes the write lock up front (`BEGIN IMMEDIATE`).

//! Each concern has its file, which implements that concern's trait
//! (`metadata/store.rs`) directly; every trait method times itself
//! ([`timing`]) and maps database errors with `?` (`errors`):
//!
//! | file | trait | holds |
//! | --- | --- | --- |
//! | `articles` | `ArticleStore` | article writes: create, update, delete, holds, purge, restore |
//! | `reads` | `ArticleReads` | article reads: one article, revisions, listings, exports |
//! | `search` | `SearchSource` | what the search index is built from: live articles with their bodies |
//! | `views` | `ViewStore` | view counts |
//! | `media` | `MediaStore` | clip records: recording, copies, deletion, reads |
//! | `links` | `LinkStore` | attaching clips to articles and detaching them |
//! | `uploads` | `UploadSessionStore` | resumable upload sessions |
//! | `changes` | `ChangeFeed` | the change feed: writes beside each change, reads, pruning, watchers |
//! | `objects` | `ObjectIndex` | which objects the records name (sweep, fixity); emptiness |
//! | `status` | `StoreStatus` | readiness ping and statistics |
//! | `local` | | SQLite's hot reads on the calling thread (rusqlite) |
//! | `rows`, `builder`, `errors`, `timing` | | row mapping, statements built piece by piece, errors, metrics |

use crate::error::Result;
use sqlx::{
    Any, AnyPool, ConnectOptions, Connection, Executor, Transaction,
    any::AnyPoolOptions,
    postgres::PgConnectOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode},
};
use std::{str::FromStr, time::Duration};

mod articles;
mod builder;
mod captions;
mod changes;
mod errors;
mod links;
mod local;
mod media;
mod objects;
mod pictures;
mod posters;
mod reads;
mod rows;
mod search;
mod status;
mod timing;
mod uploads;
mod views;

use media::{Objects, insert_media_row};

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
    /// SQLite: one article and listings, read on the calling thread.
    local: Option<std::sync::Arc<local::LocalReader>>,
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
                    // No ping before each use: SQLite is in this process,
                    // and sqlx pings every connection as it is released.
                    .test_before_acquire(false)
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
            let local = local::LocalReader::new(
                options.get_filename().to_owned(),
                SQLITE_BUSY_TIMEOUT,
                max_connections as usize,
            );
            Ok(Self {
                dialect: Dialect::Sqlite,
                readers,
                writer,
                changes: changes::Announcer::start(last, None),
                local: Some(std::sync::Arc::new(local)),
            })
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let mut connection = PgConnectOptions::from_str(url)?.connect().await?;
            sqlx::migrate!("./migrations/postgres").run(&mut connection).await?;
            connection.close().await?;
            // Writes queue on the change feed's counter row holding a
            // connection each: a pool of their own keeps reads flowing.
            // No round trip before each use: sqlx pings every connection as
            // it is released and closes a broken one, so after a restart of
            // the database each pooled connection fails one call at most.
            let pool = || AnyPoolOptions::new().max_connections(max_connections).test_before_acquire(false);
            let readers = pool().connect(url).await?;
            let writer = pool().connect(url).await?;
            let changes = changes::Announcer::start(last_change(&readers).await?, Some(url));
            Ok(Self { dialect: Dialect::Postgres, readers, writer, changes, local: None })
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
