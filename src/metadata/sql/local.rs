//! SQLite reads on the calling thread. sqlx runs each SQLite connection on
//! a thread of its own and hands the statement and then every row across a
//! channel: on GetArticle misses and ListArticles most of the CPU went to
//! those hand-offs (futex wake-ups, task switches) and to copying each row
//! into an `AnyRow`. Here the hot reads (one article, listings) run through
//! rusqlite on a connection taken from a small idle list, on the thread that
//! asks, and rows become records directly.
//!
//! Connections are read-only (`query_only`) and see every commit made
//! before the read starts (WAL), so read-your-writes holds as with sqlx.

use super::{SqlMetadataStore, builder::SqlBuilder, rows::Columns};
use crate::error::{ArchiveError, Result};
use rusqlite::{Connection, OpenFlags};
use std::{path::PathBuf, sync::Mutex, time::Duration};

/// Prepared statements kept per connection (listings differ in filters
/// and page size).
const STATEMENT_CACHE: usize = 64;
/// Idle connections kept per read-pool connection (`metadata.max_connections`):
/// listings run under `block_in_place`, so more reads than worker threads
/// may be in flight, and a connection closed loses its prepared statements.
const IDLE_PER_POOL_CONNECTION: usize = 4;
/// Pages are read through a shared mapping of the file instead of a copy
/// per connection (`read()` into each connection's own page cache).
const MMAP_BYTES: i64 = 256 * 1024 * 1024;
/// Each connection's own page cache, in KiB (SQLite's default is 2,000).
const PAGE_CACHE_KIB: i64 = 1024;

pub(super) struct LocalReader {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
    /// Idle connections kept; more may be open while many read at once.
    max_idle: usize,
}

impl std::fmt::Debug for LocalReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalReader").field("path", &self.path).finish()
    }
}

/// How many rows a read may visit before it has its answer.
#[derive(Clone, Copy)]
pub(super) enum Rows {
    /// A point read: one record's rows.
    Few,
    /// A listing: filters may skip many rows.
    Scan,
}

impl SqlMetadataStore {
    /// Hands each row of `sql` to `each`: on SQLite on this thread, else
    /// through the pool.
    pub(super) async fn read(
        &self,
        sql: SqlBuilder,
        rows: Rows,
        mut each: impl FnMut(&dyn Columns) -> Result<()> + Send,
    ) -> Result<()> {
        match (&self.local, rows) {
            (Some(local), Rows::Few) => local.rows(&sql, |row| each(row)),
            (Some(local), Rows::Scan) => local.scan(&sql, |row| each(row)),
            (None, _) => sql.fetch_all(&self.readers).await?.iter().try_for_each(|row| each(row)),
        }
    }
}

pub(super) fn read_error(error: rusqlite::Error) -> ArchiveError {
    ArchiveError::unavailable("the metadata database", error)
}

impl LocalReader {
    pub(super) fn new(path: PathBuf, busy_timeout: Duration, pool_size: usize) -> Self {
        Self { path, busy_timeout, idle: Mutex::new(Vec::new()), max_idle: pool_size.max(1) * IDLE_PER_POOL_CONNECTION }
    }

    fn connect(&self) -> Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let connection = Connection::open_with_flags(&self.path, flags).map_err(read_error)?;
        connection.busy_timeout(self.busy_timeout).map_err(read_error)?;
        connection.pragma_update(None, "query_only", true).map_err(read_error)?;
        connection.pragma_update(None, "mmap_size", MMAP_BYTES).map_err(read_error)?;
        connection.pragma_update(None, "cache_size", -PAGE_CACHE_KIB).map_err(read_error)?;
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(connection)
    }

    /// Runs `sql`, handing each row to `each`, on this thread.
    pub(super) fn rows(&self, sql: &SqlBuilder, mut each: impl FnMut(&rusqlite::Row<'_>) -> Result<()>) -> Result<()> {
        let taken = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop();
        let connection = match taken {
            Some(connection) => connection,
            None => self.connect()?,
        };
        let result = (|| {
            let mut statement = connection.prepare_cached(sql.sql()).map_err(read_error)?;
            for (index, arg) in sql.args().iter().enumerate() {
                // `$N` are named parameters to SQLite; bind each by its name.
                let Some(position) = statement.parameter_index(&format!("${}", index + 1)).map_err(read_error)? else {
                    continue;
                };
                statement.raw_bind_parameter(position, arg).map_err(read_error)?;
            }
            let mut rows = statement.raw_query();
            while let Some(row) = rows.next().map_err(read_error)? {
                each(row)?;
            }
            Ok(())
        })();
        let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if idle.len() < self.max_idle {
            idle.push(connection);
        }
        result
    }

    /// [`Self::rows`] for a statement that may scan many rows (a listing
    /// filtered by a rare keyword): the runtime moves this worker's other
    /// tasks elsewhere while it runs.
    pub(super) fn scan(&self, sql: &SqlBuilder, each: impl FnMut(&rusqlite::Row<'_>) -> Result<()>) -> Result<()> {
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|handle| handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if multi_thread { tokio::task::block_in_place(|| self.rows(sql, each)) } else { self.rows(sql, each) }
    }
}

impl Columns for rusqlite::Row<'_> {
    fn optional_text(&self, column: &str) -> Result<Option<String>> {
        self.get(column).map_err(read_error)
    }

    fn optional_int(&self, column: &str) -> Result<Option<i64>> {
        self.get(column).map_err(read_error)
    }
}
