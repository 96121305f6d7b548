//! The metadata store in SQL, one implementation for SQLite and PostgreSQL
//! through sqlx's `Any` driver. Statements use `$N` placeholders, which both
//! accept; each database has its own migrations; the few differences (write
//! locking, full-text search) are branches on [`Dialect`].
//!
//! Writes that depend on the current state are compare-and-swap updates
//! (`… WHERE etag = $expected`), so of two concurrent writers with the same
//! etag exactly one wins on either database. SQLite gets one writer
//! connection that takes the write lock up front (`BEGIN IMMEDIATE`).

use super::{
    ArchiveStatistics, ArticleCursor, ArticleExport, ArticlePage, ArticleQuery, ArticleRecord, DeletedMedia,
    MediaCursor, MediaLink, MediaRecord, MetadataStore, ObjectRef, SearchHit, SearchQuery, SearchText,
};
use crate::{
    blob::BlobKey,
    error::{ArchiveError, ErrorKind, Result},
    ids::{ArticleId, MediaId},
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{
    Any, AnyPool, AssertSqlSafe, ConnectOptions, Connection, Executor, Row, Transaction,
    any::{AnyPoolOptions, AnyRow},
    postgres::PgConnectOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode},
};
use std::{collections::HashSet, str::FromStr, time::Duration};

mod media;
mod uploads;

use media::{Objects, insert_media_row};

const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Search ranks and returns the newest this-many matching articles (after
/// filters), like the 1,000-result cap of web search engines: it bounds the
/// work of a query on a common word. Older matches are reached by narrowing
/// the query or the publish-time range.
const RANK_WINDOW: i64 = 1000;
/// The same with filters, whose newest-first scan also checks every match
/// against the filters.
const RANK_WINDOW_FILTERED: i64 = 250;

/// Ends a search statement whose CTE `page` holds `(id, score)`: the page's
/// articles with their stored text, best first.
const SEARCH_PAGE_ROWS: &str = ") SELECT a.*, t.body AS search_body, page.score AS score FROM page \
     JOIN articles a ON a.id = page.id JOIN article_texts t ON t.article_id = page.id \
     ORDER BY page.score DESC, page.id ASC";

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
    /// SQLITE_BUSY. PostgreSQL: the same pool as `readers`.
    writer: AnyPool,
}

fn db_error(error: sqlx::Error) -> ArchiveError {
    // PostgreSQL gave up one of two transactions waiting on each other:
    // nothing was written, and a retry normally succeeds.
    let conflict =
        matches!(&error, sqlx::Error::Database(e) if matches!(e.code().as_deref(), Some("40001") | Some("40P01")));
    if conflict {
        let mut aborted = ArchiveError::new(
            ErrorKind::Aborted,
            "CONCURRENT_CHANGE",
            "a concurrent change to the same records won; nothing was written, retry",
        );
        aborted.source = Some(error.into());
        return aborted;
    }
    ArchiveError::unavailable("the metadata database", error)
}

fn micros(time: &DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}

fn from_micros(value: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(value).unwrap_or_default()
}

fn article_not_found(id: &ArticleId) -> ArchiveError {
    ArchiveError::not_found("ARTICLE_NOT_FOUND", format!("article {} does not exist", id.name()))
}

fn media_not_found(id: &MediaId) -> ArchiveError {
    ArchiveError::not_found("MEDIA_NOT_FOUND", format!("media {} does not exist", id.name()))
}

fn stale_etag(id: &ArticleId) -> ArchiveError {
    ArchiveError::new(
        ErrorKind::Aborted,
        "ETAG_MISMATCH",
        format!("article {} was changed since it was read; read it again and retry", id.name()),
    )
}

fn on_hold(id: &ArticleId) -> ArchiveError {
    ArchiveError::new(
        ErrorKind::FailedPrecondition,
        "LEGAL_HOLD",
        format!("article {} is under legal hold; clear the hold first", id.name()),
    )
}

fn stored_key(value: &str) -> Result<BlobKey> {
    BlobKey::parse(value)
        .ok_or_else(|| ArchiveError::internal("reading metadata", anyhow::anyhow!("bad stored key {value:?}")))
}

fn stored_id<T>(parse: fn(&str) -> Result<T>, value: &str) -> Result<T> {
    parse(value).map_err(|_| ArchiveError::internal("reading metadata", anyhow::anyhow!("bad stored id {value:?}")))
}

/// SQL with `$N` placeholders built up piece by piece.
#[derive(Default)]
struct SqlBuilder {
    sql: String,
    args: Vec<Arg>,
}

enum Arg {
    Int(i64),
    Text(String),
}

impl SqlBuilder {
    fn new(sql: &str) -> Self {
        Self { sql: sql.to_owned(), args: Vec::new() }
    }

    fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    fn bind(&mut self, arg: Arg) -> &mut Self {
        self.args.push(arg);
        self.sql.push_str(&format!("${}", self.args.len()));
        self
    }

    /// `AND` the rows after a keyset position in a listing ordered by
    /// `time_column DESC, id_column DESC`, written so that both databases
    /// bound the index range with it.
    fn after_position(&mut self, time_column: &str, id_column: &str, time: i64, id: &str) -> &mut Self {
        self.push(&format!(" AND {time_column} <= "))
            .bind(Arg::Int(time))
            .push(&format!(" AND ({time_column} < "))
            .bind(Arg::Int(time))
            .push(&format!(" OR {id_column} < "))
            .bind(Arg::Text(id.to_owned()))
            .push(")")
    }

    async fn fetch_all<'c>(self, executor: impl Executor<'c, Database = Any>) -> Result<Vec<AnyRow>> {
        let mut query = sqlx::query::<Any>(AssertSqlSafe(self.sql));
        for arg in self.args {
            query = match arg {
                Arg::Int(value) => query.bind(value),
                Arg::Text(value) => query.bind(value),
            };
        }
        query.fetch_all(executor).await.map_err(db_error)
    }
}

/// Of `keys`, those a record names: a body of any revision, a clip's
/// original or rendition, or the object of an unfinished upload session (a
/// finished one's clip names what it keeps). Through a pool or inside a
/// transaction.
async fn referenced_in<'c>(executor: impl Executor<'c, Database = Any>, keys: &[BlobKey]) -> Result<HashSet<BlobKey>> {
    if keys.is_empty() {
        return Ok(HashSet::new());
    }
    let mut sql = SqlBuilder::new("WITH candidates (object_key) AS (VALUES ");
    for (i, key) in keys.iter().enumerate() {
        sql.push(if i == 0 { "(" } else { ", (" }).bind(Arg::Text(key.as_str().to_owned())).push(")");
    }
    sql.push(
        ") SELECT object_key FROM candidates c WHERE \
         EXISTS (SELECT 1 FROM article_revisions r WHERE r.body_key = c.object_key) \
         OR EXISTS (SELECT 1 FROM media m WHERE m.blob_key = c.object_key) \
         OR EXISTS (SELECT 1 FROM media m WHERE m.rendition_key = c.object_key) \
         OR EXISTS (SELECT 1 FROM upload_sessions u WHERE u.blob_key = c.object_key AND u.finished = 0)",
    );
    let rows = sql.fetch_all(executor).await?;
    rows.iter().map(|row| stored_key(&row.try_get::<String, _>("object_key").map_err(db_error)?)).collect()
}

/// The FTS5 query of a search on SQLite: every word, quoted so that the
/// query syntax cannot leak in; and the author and keyword filters' tokens
/// in their column (migration 0009), so that the index yields only rows
/// that pass them. The exact filters still follow in SQL. The filters'
/// words stay out: bm25 ranks by the words searched for, and each word
/// costs it a pass over that word's every match (its IDF).
fn sqlite_match(query: &SearchQuery) -> String {
    let words = query.terms.iter().map(|t| format!("\"{t}\""));
    let filters = &query.filters;
    let author = filters.author.as_deref().filter(|a| !a.is_empty()).map(|a| ("author", a));
    let keyword = filters.keyword.as_deref().filter(|k| !k.is_empty()).map(|k| ("keyword", k));
    let tokens =
        author.into_iter().chain(keyword).map(|(kind, value)| format!("tags : \"{kind}{}\"", hex::encode(value)));
    words.chain(tokens).collect::<Vec<_>>().join(" ")
}

/// The filters shared by listing and search, on table alias `a`.
fn push_filters(sql: &mut SqlBuilder, query: &ArticleQuery) {
    sql.push(" AND a.delete_time_us IS NULL");
    if let Some(start) = &query.publish_time_start {
        sql.push(" AND a.publish_time_us >= ").bind(Arg::Int(micros(start)));
    }
    if let Some(end) = &query.publish_time_end {
        sql.push(" AND a.publish_time_us < ").bind(Arg::Int(micros(end)));
    }
    if let Some(author) = &query.author {
        sql.push(" AND a.author = ").bind(Arg::Text(author.clone()));
    }
    if let Some(keyword) = &query.keyword {
        sql.push(" AND EXISTS (SELECT 1 FROM article_keywords k WHERE k.article_id = a.id AND k.keyword = ")
            .bind(Arg::Text(keyword.clone()))
            .push(")");
    }
}

/// An article from a row of `articles` (or of `article_revisions` aliased to
/// the same column names).
fn article_from_row(row: &AnyRow) -> Result<ArticleRecord> {
    let keywords: String = row.try_get("keywords").map_err(db_error)?;
    let delete_time: Option<i64> = row.try_get("delete_time_us").map_err(db_error)?;
    Ok(ArticleRecord {
        id: stored_id(ArticleId::parse, &row.try_get::<String, _>("id").map_err(db_error)?)?,
        revision: row.try_get("revision").map_err(db_error)?,
        etag: row.try_get("etag").map_err(db_error)?,
        title: row.try_get("title").map_err(db_error)?,
        author: row.try_get("author").map_err(db_error)?,
        keywords: serde_json::from_str(&keywords).map_err(|e| ArchiveError::internal("reading keywords", e))?,
        publish_time: from_micros(row.try_get("publish_time_us").map_err(db_error)?),
        publish_utc_offset_seconds: row.try_get::<i64, _>("publish_utc_offset_seconds").map_err(db_error)? as i32,
        view_count: row.try_get("view_count").map_err(db_error)?,
        body: ObjectRef {
            key: stored_key(&row.try_get::<String, _>("body_key").map_err(db_error)?)?,
            size_bytes: row.try_get::<i64, _>("body_size").map_err(db_error)? as u64,
            sha256: row.try_get("body_sha256").map_err(db_error)?,
        },
        create_time: from_micros(row.try_get("create_time_us").map_err(db_error)?),
        update_time: from_micros(row.try_get("update_time_us").map_err(db_error)?),
        media: Vec::new(),
        delete_time: delete_time.map(from_micros),
        legal_hold: row.try_get::<i64, _>("legal_hold").map_err(db_error)? != 0,
    })
}

fn media_from_row(row: &AnyRow) -> Result<MediaRecord> {
    let mp4: Option<String> = row.try_get("mp4_info").map_err(db_error)?;
    let rendition_key: Option<String> = row.try_get("rendition_key").map_err(db_error)?;
    let rendition = match rendition_key {
        Some(key) => Some(ObjectRef {
            key: stored_key(&key)?,
            size_bytes: row.try_get::<Option<i64>, _>("rendition_size").map_err(db_error)?.unwrap_or(0) as u64,
            sha256: row.try_get::<Option<String>, _>("rendition_sha256").map_err(db_error)?.unwrap_or_default(),
        }),
        None => None,
    };
    Ok(MediaRecord {
        id: stored_id(MediaId::parse, &row.try_get::<String, _>("id").map_err(db_error)?)?,
        filename: row.try_get("filename").map_err(db_error)?,
        content_type: row.try_get("content_type").map_err(db_error)?,
        object: ObjectRef {
            key: stored_key(&row.try_get::<String, _>("blob_key").map_err(db_error)?)?,
            size_bytes: row.try_get::<i64, _>("size_bytes").map_err(db_error)? as u64,
            sha256: row.try_get("sha256").map_err(db_error)?,
        },
        crc32c: row.try_get::<i64, _>("crc32c").map_err(db_error)? as u32,
        mp4: mp4
            .map(|json| serde_json::from_str(&json))
            .transpose()
            .map_err(|e| ArchiveError::internal("reading MP4 facts", e))?,
        rendition,
        create_time: from_micros(row.try_get("create_time_us").map_err(db_error)?),
    })
}

/// `article_revisions` columns under the names of `articles`.
const REVISION_COLUMNS: &str = "r.article_id AS id, r.revision, r.etag, r.title, r.author, r.keywords, \
     r.publish_time_us, r.publish_utc_offset_seconds, a.view_count, r.body_key, r.body_size, r.body_sha256, \
     a.create_time_us, r.create_time_us AS update_time_us, a.delete_time_us, a.legal_hold";

fn keywords_json(article: &ArticleRecord) -> Result<String> {
    serde_json::to_string(&article.keywords).map_err(|e| ArchiveError::internal("encoding keywords", e))
}

type AnyQuery<'q> = sqlx::query::Query<'q, Any, <Any as sqlx::Database>::Arguments>;

/// Columns of one revision, bound as `$1 … $11` in this order: revision,
/// etag, title, author, keywords, publish_time_us,
/// publish_utc_offset_seconds, body_key, body_size, body_sha256, and the
/// revision's time.
const REVISION_VALUES: &str = "revision, etag, title, author, keywords, publish_time_us, \
     publish_utc_offset_seconds, body_key, body_size, body_sha256";

fn bind_revision<'q>(query: AnyQuery<'q>, article: &ArticleRecord) -> Result<AnyQuery<'q>> {
    Ok(query
        .bind(article.revision)
        .bind(article.etag.clone())
        .bind(article.title.clone())
        .bind(article.author.clone())
        .bind(keywords_json(article)?)
        .bind(micros(&article.publish_time))
        .bind(i64::from(article.publish_utc_offset_seconds))
        .bind(article.body.key.to_string())
        .bind(article.body.size_bytes as i64)
        .bind(article.body.sha256.clone())
        .bind(micros(&article.update_time)))
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
            Ok(Self { dialect: Dialect::Sqlite, readers, writer })
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let mut connection = PgConnectOptions::from_str(url)?.connect().await?;
            sqlx::migrate!("./migrations/postgres").run(&mut connection).await?;
            connection.close().await?;
            let pool = AnyPoolOptions::new().max_connections(max_connections).connect(url).await?;
            Ok(Self { dialect: Dialect::Postgres, readers: pool.clone(), writer: pool })
        } else {
            anyhow::bail!("metadata.url {url:?} must start with sqlite:// or postgres://")
        }
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Any>> {
        let begin = match self.dialect {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        };
        self.writer.begin_with(begin).await.map_err(db_error)
    }

    /// How PostgreSQL should find the newest `window` matches. A GIN index
    /// cannot return them newest first, so either walk back from the newest
    /// text testing each (cheap when matches are common: about
    /// `window / selectivity` rows) or fetch every match through the index
    /// and keep the newest (cheap when they are rare). The planner's
    /// estimate of the word matches picks the cheaper; left to itself it
    /// under-prices the per-row test. The estimate leaves the filters out:
    /// their own words are among `terms`, and the planner, which takes the
    /// two as independent, would count their matches twice. With an author,
    /// the walk runs over that author's texts only (an index range), where
    /// the author's own words match every row: the walk's selectivity is
    /// that of the other words.
    ///
    /// Costs per row walked and per estimated match, measured at 100k
    /// articles once autovacuum's statistics are in (`benches/metadata.rs`):
    /// unfiltered, ~0.65 µs and ~5.3 µs (the planner takes the words of a
    /// query as independent and underestimates their matches, which the
    /// bitmap pays for); with filters, each row walked also joins its
    /// article, ~0.9 µs and ~2.3 µs. Searched cold at 100k articles, both
    /// plans of an author-filtered query take ~10 ms whatever the estimates
    /// (ranking the window dominates), so those constants stay.
    async fn postgres_walks_back(&self, query: &SearchQuery, window: i64) -> Result<bool> {
        let total: f64 =
            sqlx::query_scalar("SELECT reltuples::float8 FROM pg_class WHERE oid = 'article_search'::regclass")
                .fetch_one(&self.readers)
                .await
                .map_err(db_error)?;
        if total <= 0.0 {
            return Ok(true); // never analyzed: a small, new archive
        }
        let matches = self.postgres_estimate(&query.terms).await?;
        // Walking one author's texts (an index range) meets the other words
        // about as often as anywhere: the author's own words, which every
        // one of them holds, tell nothing.
        let walk_matches = match &query.filters.author {
            Some(author) => {
                let own = crate::search::tokens(author);
                let others: Vec<String> = query.terms.iter().filter(|t| !own.contains(t)).cloned().collect();
                if others.is_empty() { total } else { self.postgres_estimate(&others).await? }
            }
            None => matches,
        };
        let (per_row_walked, per_match) = if query.filters.has_filters() { (0.9, 2.3) } else { (0.65, 5.3) };
        // window × total / walk_matches rows walked  <  matches fetched
        Ok(walk_matches * matches * per_match > window as f64 * total * per_row_walked)
    }

    /// The planner's estimate of the live texts holding every word.
    async fn postgres_estimate(&self, terms: &[String]) -> Result<f64> {
        let mut explain = SqlBuilder::new(
            "EXPLAIN SELECT 1 FROM article_search s WHERE s.live = 1 AND s.vector @@ plainto_tsquery('simple', ",
        );
        explain.bind(Arg::Text(terms.join(" "))).push(")");
        let plan = explain.fetch_all(&self.readers).await?;
        let first_line: String =
            plan.first().map(|row| row.try_get(0)).transpose().map_err(db_error)?.unwrap_or_default();
        Ok(first_line
            .split("rows=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|rows| rows.parse::<f64>().ok())
            .unwrap_or(0.0))
    }

    /// Search on PostgreSQL: the newest `window` matches, ranked with
    /// ts_rank, one page of them, in one statement whose plan is chosen above.
    async fn postgres_search(&self, query: &SearchQuery, window: i64) -> Result<Vec<AnyRow>> {
        // The filters' words narrow the GIN index's matches, and rank; a
        // keyword's token (migration 0012) is the keyword filter itself: hex
        // is one-to-one, so the token matches exactly that keyword.
        let ranked = query.with_filter_words();
        let mut query = ranked.clone();
        if let Some(keyword) = query.filters.keyword.as_deref().filter(|k| !k.is_empty()) {
            query.terms.push(format!("keyword{}", hex::encode(keyword)));
        }
        let query = &query;
        let terms = query.terms.join(" ");
        let walk_back = self.postgres_walks_back(query, window).await?;
        // The matches newest first (the OFFSET 0 keeps the planner from
        // merging the filters' join into the walk), then the filters.
        let mut sql = SqlBuilder::new(
            "WITH win AS (SELECT m.article_id, m.vector FROM (SELECT s.article_id, s.vector, s.seq \
             FROM article_search s WHERE s.live = 1 AND s.vector @@ plainto_tsquery('simple', ",
        );
        sql.bind(Arg::Text(terms)).push(")");
        if let Some(author) = &query.filters.author {
            sql.push(" AND s.author = ").bind(Arg::Text(author.clone()));
        }
        sql.push(" ORDER BY s.seq DESC OFFSET 0) m ");
        // The author, the keyword tokens and liveness sit beside the words; a
        // publish time filter joins each match to its article.
        let filters = &query.filters;
        if filters.publish_time_start.is_some() || filters.publish_time_end.is_some() {
            sql.push("JOIN articles a ON a.id = m.article_id WHERE TRUE");
            push_filters(&mut sql, filters);
        }
        sql.push(" ORDER BY m.seq DESC LIMIT ")
            .bind(Arg::Int(window))
            .push("), page AS (SELECT article_id AS id, ts_rank(vector, plainto_tsquery('simple', ");
        sql.bind(Arg::Text(ranked.terms.join(" ")))
            .push("))::float8 AS score FROM win ORDER BY score DESC, id ASC LIMIT ");
        sql.bind(Arg::Int(i64::from(query.filters.page_size)))
            .push(" OFFSET ")
            .bind(Arg::Int(query.offset as i64))
            .push(SEARCH_PAGE_ROWS);
        let mut tx = self.readers.begin().await.map_err(db_error)?;
        // Filters join each match to its article by primary key, never by
        // hashing the whole articles table.
        let mut settings = vec!["SET LOCAL enable_hashjoin = off", "SET LOCAL enable_mergejoin = off"];
        if walk_back {
            settings.extend(["SET LOCAL enable_bitmapscan = off", "SET LOCAL enable_seqscan = off"]);
        } else {
            settings.extend(["SET LOCAL enable_indexscan = off", "SET LOCAL enable_seqscan = off"]);
        }
        sqlx::raw_sql(AssertSqlSafe(settings.join("; "))).execute(&mut *tx).await.map_err(db_error)?;
        let rows = sql.fetch_all(&mut *tx).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(rows)
    }

    /// Media links of several articles, in position order.
    async fn load_links<'c>(
        executor: impl Executor<'c, Database = Any>,
        ids: &[&str],
    ) -> Result<Vec<(String, MediaLink)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = SqlBuilder::new(
            "SELECT article_id, reference AS link_reference, media_id AS link_media_id, in_body AS link_in_body \
             FROM article_media WHERE article_id IN (",
        );
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(Arg::Text((*id).to_owned()));
        }
        sql.push(") ORDER BY article_id, position");
        let rows = sql.fetch_all(executor).await?;
        rows.iter()
            .filter_map(|row| match link_from_row(row) {
                Ok(link) => link.map(|link| row.try_get("article_id").map_err(db_error).map(|id| (id, link))),
                Err(error) => Some(Err(error)),
            })
            .collect()
    }

    async fn with_links(&self, mut articles: Vec<ArticleRecord>) -> Result<Vec<ArticleRecord>> {
        let ids: Vec<&str> = articles.iter().map(|a| a.id.as_str()).collect();
        let links = Self::load_links(&self.readers, &ids).await?;
        for article in &mut articles {
            article.media =
                links.iter().filter(|(id, _)| id == article.id.as_str()).map(|(_, link)| link.clone()).collect();
        }
        Ok(articles)
    }

    /// The `articles` row; ALREADY_EXISTS when the id is taken.
    async fn insert_head(&self, tx: &mut Transaction<'static, Any>, article: &ArticleRecord) -> Result<()> {
        let sql = format!(
            "INSERT INTO articles ({REVISION_VALUES}, update_time_us, id, view_count, create_time_us, legal_hold, \
             delete_time_us, manifest_view_count) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
        );
        // Views start out as written: the manifest follows the new article
        // (or, on reindex, is where they come from).
        let inserted = bind_revision(sqlx::query(AssertSqlSafe(sql)), article)?
            .bind(article.id.to_string())
            .bind(article.view_count)
            .bind(micros(&article.create_time))
            .bind(i64::from(article.legal_hold))
            .bind(article.delete_time.as_ref().map(micros))
            .bind(article.view_count)
            .execute(&mut **tx)
            .await;
        match inserted {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(ArchiveError::new(
                ErrorKind::AlreadyExists,
                "ARTICLE_EXISTS",
                format!("article {} already exists", article.id.name()),
            )),
            other => other.map(drop).map_err(db_error),
        }
    }

    async fn insert_revision(&self, tx: &mut Transaction<'static, Any>, article: &ArticleRecord) -> Result<()> {
        let sql = format!(
            "INSERT INTO article_revisions ({REVISION_VALUES}, create_time_us, article_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        bind_revision(sqlx::query(AssertSqlSafe(sql)), article)?
            .bind(article.id.to_string())
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Keywords, media links and searchable text of the current revision.
    async fn replace_details(
        &self,
        tx: &mut Transaction<'static, Any>,
        article: &ArticleRecord,
        text: &SearchText,
    ) -> Result<()> {
        let id = article.id.as_str();
        sqlx::query("DELETE FROM article_keywords WHERE article_id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        for keyword in &article.keywords {
            sqlx::query("INSERT INTO article_keywords (article_id, keyword) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(id)
                .bind(keyword)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        }
        sqlx::query("DELETE FROM article_media WHERE article_id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        for (position, link) in article.media.iter().enumerate() {
            sqlx::query(
                "INSERT INTO article_media (article_id, position, reference, media_id, in_body) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(position as i64)
            .bind(&link.reference)
            .bind(link.media_id.as_ref().map(|m| m.as_str().to_owned()))
            .bind(i64::from(link.in_body))
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        }
        self.replace_text(tx, id, text, article.delete_time.is_none()).await
    }

    async fn replace_text(
        &self,
        tx: &mut Transaction<'static, Any>,
        id: &str,
        text: &SearchText,
        live: bool,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO article_texts (article_id, body, folded) VALUES ($1, $2, $3) \
             ON CONFLICT (article_id) DO UPDATE SET body = excluded.body, folded = excluded.folded",
        )
        .bind(id)
        .bind(&text.body)
        .bind(&text.folded)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
        if self.dialect == Dialect::Postgres {
            sqlx::query(
                "INSERT INTO article_search (article_id, live, vector, author) \
                 VALUES ($1, $2, to_tsvector('simple', $3 || COALESCE((SELECT string_agg(' keyword' \
                 || encode(convert_to(keyword, 'UTF8'), 'hex'), '') FROM article_keywords WHERE article_id = $1), \
                 '')), (SELECT author FROM articles WHERE id = $1)) \
                 ON CONFLICT (article_id) DO UPDATE SET live = excluded.live, vector = excluded.vector, \
                 author = excluded.author",
            )
            .bind(id)
            .bind(i64::from(live))
            .bind(&text.folded)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        }
        if self.dialect == Dialect::Sqlite {
            // FTS5 rows share the rowid of their article_texts row.
            let rowid: i64 = sqlx::query_scalar("SELECT rowid FROM article_texts WHERE article_id = $1")
                .bind(id)
                .fetch_one(&mut **tx)
                .await
                .map_err(db_error)?;
            sqlx::query("DELETE FROM article_fts WHERE rowid = $1")
                .bind(rowid)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
            // The filters' tokens, as migration 0009 derives them.
            sqlx::query(
                "INSERT INTO article_fts (rowid, folded, tags) SELECT $1, $2, \
                 CASE WHEN a.author = '' THEN '' ELSE 'author' || hex(a.author) END \
                 || COALESCE((SELECT group_concat(' keyword' || hex(k.keyword), '') FROM article_keywords k \
                 WHERE k.article_id = a.id), '') FROM articles a WHERE a.id = $3",
            )
            .bind(rowid)
            .bind(&text.folded)
            .bind(id)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        }
        Ok(())
    }

    /// Whether search sees an article (PostgreSQL keeps this beside the words;
    /// SQLite's search joins the article row).
    async fn set_searchable(&self, tx: &mut Transaction<'static, Any>, id: &ArticleId, live: bool) -> Result<()> {
        if self.dialect == Dialect::Postgres {
            sqlx::query("UPDATE article_search SET live = $1 WHERE article_id = $2")
                .bind(i64::from(live))
                .bind(id.as_str())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        }
        Ok(())
    }

    /// Tells apart a missing article from one whose state did not allow the write.
    async fn explain_no_rows(&self, tx: &mut Transaction<'static, Any>, id: &ArticleId) -> ArchiveError {
        let state = sqlx::query("SELECT delete_time_us, legal_hold FROM articles WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut **tx)
            .await;
        match state {
            Ok(Some(row)) => {
                let deleted = row.try_get::<Option<i64>, _>("delete_time_us").ok().flatten().is_some();
                let hold = row.try_get::<i64, _>("legal_hold").unwrap_or(0) != 0;
                if deleted {
                    article_not_found(id)
                } else if hold {
                    on_hold(id)
                } else {
                    stale_etag(id)
                }
            }
            Ok(None) => article_not_found(id),
            Err(error) => db_error(error),
        }
    }

    /// A live article and its links in one round trip: one row per link,
    /// or one row with no link. GetArticle's hot path.
    async fn fetch_article(&self, id: &ArticleId) -> Result<ArticleRecord> {
        let rows = sqlx::query(
            "SELECT a.*, m.reference AS link_reference, m.media_id AS link_media_id, m.in_body AS link_in_body \
             FROM articles a LEFT JOIN article_media m ON m.article_id = a.id \
             WHERE a.id = $1 AND a.delete_time_us IS NULL ORDER BY m.position",
        )
        .bind(id.as_str())
        .fetch_all(&self.readers)
        .await
        .map_err(db_error)?;
        let mut article = article_from_row(rows.first().ok_or_else(|| article_not_found(id))?)?;
        article.media = rows.iter().filter_map(|row| link_from_row(row).transpose()).collect::<Result<_>>()?;
        Ok(article)
    }
}

/// The link in a row's `link_*` columns; none when they are NULL (an
/// article without links, outer-joined).
fn link_from_row(row: &AnyRow) -> Result<Option<MediaLink>> {
    let Some(reference) = row.try_get::<Option<String>, _>("link_reference").map_err(db_error)? else {
        return Ok(None);
    };
    let media_id: Option<String> = row.try_get("link_media_id").map_err(db_error)?;
    Ok(Some(MediaLink {
        reference,
        media_id: media_id.map(|m| stored_id(MediaId::parse, &m)).transpose()?,
        in_body: row.try_get::<i64, _>("link_in_body").map_err(db_error)? != 0,
    }))
}

#[async_trait]
impl MetadataStore for SqlMetadataStore {
    async fn insert_article(&self, article: &ArticleRecord, text: &SearchText) -> Result<()> {
        let mut tx = self.begin_write().await?;
        self.insert_head(&mut tx, article).await?;
        self.insert_revision(&mut tx, article).await?;
        self.replace_details(&mut tx, article, text).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn get_article(&self, id: &ArticleId, revision: Option<i64>) -> Result<ArticleRecord> {
        let Some(revision) = revision else {
            return self.fetch_article(id).await;
        };
        let current = self.fetch_article(id).await?;
        let sql = format!(
            "SELECT {REVISION_COLUMNS} FROM article_revisions r JOIN articles a ON a.id = r.article_id \
             WHERE r.article_id = $1 AND r.revision = $2"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.as_str())
            .bind(revision)
            .fetch_optional(&self.readers)
            .await
            .map_err(db_error)?
            .ok_or_else(|| {
                ArchiveError::not_found(
                    "REVISION_NOT_FOUND",
                    format!("article {} has no revision {revision}", id.name()),
                )
            })?;
        Ok(ArticleRecord { media: current.media, ..article_from_row(&row)? })
    }

    async fn update_article(
        &self,
        expected_etag: &str,
        next: &ArticleRecord,
        text: &SearchText,
    ) -> Result<Vec<MediaLink>> {
        let mut tx = self.begin_write().await?;
        let updated = bind_revision(
            sqlx::query(
                "UPDATE articles SET revision = $1, etag = $2, title = $3, author = $4, keywords = $5, \
                 publish_time_us = $6, publish_utc_offset_seconds = $7, body_key = $8, body_size = $9, \
                 body_sha256 = $10, update_time_us = $11 \
                 WHERE id = $12 AND etag = $13 AND revision = $14 AND delete_time_us IS NULL",
            ),
            next,
        )?
        .bind(next.id.to_string())
        .bind(expected_etag.to_owned())
        .bind(next.revision - 1)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if updated.rows_affected() == 0 {
            let error = self.explain_no_rows(&mut tx, &next.id).await;
            // A live article without hold that did not match: the etag is stale.
            return Err(if error.kind == ErrorKind::FailedPrecondition { stale_etag(&next.id) } else { error });
        }
        self.insert_revision(&mut tx, next).await?;
        // The row is locked now (PostgreSQL; SQLite has one writer): links
        // committed since the caller read the article are these, and no
        // other change can land before this commit.
        let committed: Vec<MediaLink> =
            Self::load_links(&mut *tx, &[next.id.as_str()]).await?.into_iter().map(|(_, link)| link).collect();
        let stored = ArticleRecord { media: super::refit_links(&next.media, &committed), ..next.clone() };
        self.replace_details(&mut tx, &stored, text).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(stored.media)
    }

    async fn delete_article(&self, id: &ArticleId, expected_etag: Option<&str>) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let mut sql = SqlBuilder::new("UPDATE articles SET delete_time_us = ");
        sql.bind(Arg::Int(micros(&Utc::now())))
            .push(" WHERE id = ")
            .bind(Arg::Text(id.to_string()))
            .push(" AND delete_time_us IS NULL AND legal_hold = 0");
        if let Some(etag) = expected_etag {
            sql.push(" AND etag = ").bind(Arg::Text(etag.to_owned()));
        }
        sql.push(" RETURNING id");
        let mut query = sqlx::query::<Any>(AssertSqlSafe(sql.sql));
        for arg in sql.args {
            query = match arg {
                Arg::Int(value) => query.bind(value),
                Arg::Text(value) => query.bind(value),
            };
        }
        let deleted = query.fetch_optional(&mut *tx).await.map_err(db_error)?;
        if deleted.is_none() {
            return Err(self.explain_no_rows(&mut tx, id).await);
        }
        self.set_searchable(&mut tx, id, false).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn undelete_article(&self, id: &ArticleId) -> Result<ArticleRecord> {
        let mut tx = self.begin_write().await?;
        let restored =
            sqlx::query("UPDATE articles SET delete_time_us = NULL WHERE id = $1 AND delete_time_us IS NOT NULL")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        if restored.rows_affected() == 0 {
            drop(tx);
            // Either unknown (NOT_FOUND) or not deleted.
            self.fetch_article(id).await?;
            return Err(ArchiveError::new(
                ErrorKind::FailedPrecondition,
                "ARTICLE_NOT_DELETED",
                format!("article {} is not deleted", id.name()),
            ));
        }
        self.set_searchable(&mut tx, id, true).await?;
        tx.commit().await.map_err(db_error)?;
        self.fetch_article(id).await
    }

    async fn set_legal_hold(&self, id: &ArticleId, hold: bool) -> Result<ArticleRecord> {
        let changed = sqlx::query("UPDATE articles SET legal_hold = $1 WHERE id = $2 AND delete_time_us IS NULL")
            .bind(i64::from(hold))
            .bind(id.as_str())
            .execute(&self.writer)
            .await
            .map_err(db_error)?;
        if changed.rows_affected() == 0 {
            return Err(article_not_found(id));
        }
        self.fetch_article(id).await
    }

    async fn purgeable_articles(&self, deleted_before: DateTime<Utc>, limit: u32) -> Result<Vec<ArticleId>> {
        let rows = sqlx::query(
            "SELECT id FROM articles WHERE delete_time_us IS NOT NULL AND delete_time_us < $1 AND legal_hold = 0 \
             ORDER BY delete_time_us LIMIT $2",
        )
        .bind(micros(&deleted_before))
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await
        .map_err(db_error)?;
        rows.iter().map(|row| stored_id(ArticleId::parse, &row.try_get::<String, _>("id").map_err(db_error)?)).collect()
    }

    async fn purge_article(&self, id: &ArticleId) -> Result<Vec<BlobKey>> {
        let mut tx = self.begin_write().await?;
        // Claim the row: only a deleted article without hold may go.
        let claimed = sqlx::query(
            "UPDATE articles SET update_time_us = update_time_us \
             WHERE id = $1 AND delete_time_us IS NOT NULL AND legal_hold = 0",
        )
        .bind(id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if claimed.rows_affected() == 0 {
            return Err(ArchiveError::new(
                ErrorKind::FailedPrecondition,
                "NOT_PURGEABLE",
                format!("article {} is not deleted, is on hold, or does not exist", id.name()),
            ));
        }
        let keys: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT body_key FROM article_revisions WHERE article_id = $1")
                .bind(id.as_str())
                .fetch_all(&mut *tx)
                .await
                .map_err(db_error)?;
        if self.dialect == Dialect::Sqlite {
            sqlx::query(
                "DELETE FROM article_fts WHERE rowid = (SELECT rowid FROM article_texts WHERE article_id = $1)",
            )
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        let search_tables: &[&str] = if self.dialect == Dialect::Postgres { &["article_search"] } else { &[] };
        for table in
            search_tables.iter().chain(&["article_texts", "article_media", "article_keywords", "article_revisions"])
        {
            sqlx::query(AssertSqlSafe(format!("DELETE FROM {table} WHERE article_id = $1")))
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        sqlx::query("DELETE FROM articles WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        keys.iter().map(|key| stored_key(key)).collect()
    }

    async fn record_views(&self, id: &ArticleId, count: i64) -> Result<i64> {
        sqlx::query_scalar(
            "UPDATE articles SET view_count = view_count + $1 WHERE id = $2 AND delete_time_us IS NULL \
             RETURNING view_count",
        )
        .bind(count)
        .bind(id.as_str())
        .fetch_optional(&self.writer)
        .await
        .map_err(db_error)?
        .ok_or_else(|| article_not_found(id))
    }

    async fn articles_with_unwritten_views(&self, after: Option<&ArticleId>, limit: u32) -> Result<Vec<ArticleId>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM articles WHERE view_count <> manifest_view_count AND id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after.map_or("", ArticleId::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await
        .map_err(db_error)?;
        ids.iter().map(|id| stored_id(ArticleId::parse, id)).collect()
    }

    async fn manifest_views_written(&self, id: &ArticleId, view_count: i64) -> Result<()> {
        sqlx::query("UPDATE articles SET manifest_view_count = $1 WHERE id = $2")
            .bind(view_count)
            .bind(id.as_str())
            .execute(&self.writer)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn list_revisions(
        &self,
        id: &ArticleId,
        before_revision: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ArticleRecord>> {
        let current = self.fetch_article(id).await?;
        let sql = format!(
            "SELECT {REVISION_COLUMNS} FROM article_revisions r JOIN articles a ON a.id = r.article_id \
             WHERE r.article_id = $1 AND r.revision < $2 ORDER BY r.revision DESC LIMIT $3"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(id.as_str())
            .bind(before_revision.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(&self.readers)
            .await
            .map_err(db_error)?;
        rows.iter().map(|row| Ok(ArticleRecord { media: current.media.clone(), ..article_from_row(row)? })).collect()
    }

    async fn list_articles(&self, query: &ArticleQuery) -> Result<ArticlePage> {
        let mut sql = SqlBuilder::new("SELECT a.* FROM articles a WHERE 1 = 1");
        push_filters(&mut sql, query);
        if let Some(after) = &query.after {
            sql.after_position("a.publish_time_us", "a.id", after.publish_time_micros, &after.id);
        }
        sql.push(" ORDER BY a.publish_time_us DESC, a.id DESC LIMIT ").bind(Arg::Int(i64::from(query.page_size) + 1));
        let rows = sql.fetch_all(&self.readers).await?;
        let mut articles = rows.iter().map(article_from_row).collect::<Result<Vec<_>>>()?;
        let next = if articles.len() > query.page_size as usize {
            articles.truncate(query.page_size as usize);
            articles
                .last()
                .map(|last| ArticleCursor { publish_time_micros: micros(&last.publish_time), id: last.id.to_string() })
        } else {
            None
        };
        Ok(ArticlePage { articles: self.with_links(articles).await?, next })
    }

    async fn search_articles(&self, query: &SearchQuery) -> Result<Vec<SearchHit>> {
        if query.terms.is_empty() {
            return Ok(Vec::new());
        }
        let filtered = query.filters.has_filters();
        let window = if filtered { RANK_WINDOW_FILTERED } else { RANK_WINDOW };
        // Bounded work, whatever the size of the archive: only the newest
        // `window` matches are ranked, and only the page's rows are read.
        let rows = match self.dialect {
            Dialect::Sqlite => {
                let phrase = sqlite_match(query);
                let mut sql = SqlBuilder::new(
                    "WITH window_start AS (SELECT f.rowid AS position FROM article_fts f \
                     CROSS JOIN article_texts t ON t.rowid = f.rowid CROSS JOIN articles a ON a.id = t.article_id \
                     WHERE article_fts MATCH ",
                );
                sql.bind(Arg::Text(phrase));
                let phrase_arg = sql.args.len();
                push_filters(&mut sql, &query.filters);
                sql.push(" ORDER BY f.rowid DESC LIMIT 1 OFFSET ").bind(Arg::Int(window - 1)).push(
                    "), page AS (SELECT t.article_id AS id, -f.rank AS score FROM article_fts f \
                     CROSS JOIN article_texts t ON t.rowid = f.rowid CROSS JOIN articles a ON a.id = t.article_id \
                     WHERE article_fts MATCH ",
                );
                sql.push(&format!("${phrase_arg}"));
                sql.push(" AND f.rowid >= COALESCE((SELECT position FROM window_start), 0)");
                push_filters(&mut sql, &query.filters);
                sql.push(" ORDER BY score DESC, id ASC LIMIT ")
                    .bind(Arg::Int(i64::from(query.filters.page_size)))
                    .push(" OFFSET ")
                    .bind(Arg::Int(query.offset as i64))
                    .push(SEARCH_PAGE_ROWS);
                sql.fetch_all(&self.readers).await?
            }
            Dialect::Postgres => self.postgres_search(query, window).await?,
        };
        let mut hits = Vec::with_capacity(rows.len());
        for row in &rows {
            hits.push(SearchHit {
                article: article_from_row(row)?,
                score: row.try_get("score").map_err(db_error)?,
                body: row.try_get("search_body").map_err(db_error)?,
            });
        }
        let articles = self.with_links(hits.iter().map(|h| h.article.clone()).collect()).await?;
        for (hit, article) in hits.iter_mut().zip(articles) {
            hit.article = article;
        }
        Ok(hits)
    }

    async fn export_article(&self, id: &ArticleId) -> Result<Option<ArticleExport>> {
        let Some(row) = sqlx::query("SELECT * FROM articles WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.readers)
            .await
            .map_err(db_error)?
        else {
            return Ok(None);
        };
        let current = self.with_links(vec![article_from_row(&row)?]).await?.remove(0);
        let sql = format!(
            "SELECT {REVISION_COLUMNS} FROM article_revisions r JOIN articles a ON a.id = r.article_id \
             WHERE r.article_id = $1 ORDER BY r.revision"
        );
        let rows =
            sqlx::query(AssertSqlSafe(sql)).bind(id.as_str()).fetch_all(&self.readers).await.map_err(db_error)?;
        let revisions = rows
            .iter()
            .map(|row| Ok(ArticleRecord { media: current.media.clone(), ..article_from_row(row)? }))
            .collect::<Result<Vec<_>>>()?;
        let mut media = Vec::new();
        for id in current.media.iter().filter_map(|link| link.media_id.as_ref()) {
            if !media.iter().any(|m: &MediaRecord| &m.id == id) {
                media.push(self.get_media(id).await?);
            }
        }
        Ok(Some(ArticleExport { current, revisions, media }))
    }

    async fn restore_article(&self, export: &ArticleExport, text: &SearchText) -> Result<()> {
        let mut tx = self.begin_write().await?;
        self.insert_head(&mut tx, &export.current).await?;
        for revision in &export.revisions {
            self.insert_revision(&mut tx, revision).await?;
        }
        self.replace_details(&mut tx, &export.current, text).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn is_empty(&self) -> Result<bool> {
        let count: i64 = sqlx::query_scalar("SELECT (SELECT COUNT(*) FROM articles) + (SELECT COUNT(*) FROM media)")
            .fetch_one(&self.readers)
            .await
            .map_err(db_error)?;
        Ok(count == 0)
    }

    async fn list_media(&self, after: Option<&MediaCursor>, limit: u32) -> Result<Vec<MediaRecord>> {
        let mut sql = SqlBuilder::new("SELECT * FROM media WHERE 1 = 1");
        if let Some(after) = after {
            sql.after_position("create_time_us", "id", after.create_time_micros, &after.id);
        }
        sql.push(" ORDER BY create_time_us DESC, id DESC LIMIT ").bind(Arg::Int(i64::from(limit)));
        sql.fetch_all(&self.readers).await?.iter().map(media_from_row).collect()
    }

    async fn statistics(&self) -> Result<ArchiveStatistics> {
        // One statement: one consistent snapshot on both databases.
        let row = sqlx::query(
            "SELECT \
             (SELECT COUNT(*) FROM articles WHERE delete_time_us IS NULL) AS articles, \
             (SELECT COUNT(*) FROM articles WHERE delete_time_us IS NOT NULL) AS deleted_articles, \
             (SELECT COUNT(*) FROM articles WHERE legal_hold <> 0) AS held_articles, \
             (SELECT COUNT(*) FROM article_revisions) AS revisions, \
             (SELECT CAST(COALESCE(SUM(view_count), 0) AS BIGINT) FROM articles) AS views, \
             (SELECT COUNT(*) FROM media) AS media, \
             (SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM ( \
                 SELECT MAX(size_bytes) AS size FROM media GROUP BY blob_key \
                 UNION ALL SELECT MAX(rendition_size) FROM media WHERE rendition_key IS NOT NULL \
                 GROUP BY rendition_key) AS stored_objects) AS media_stored_bytes, \
             (SELECT COUNT(*) FROM upload_sessions WHERE finished = 0) AS open_uploads",
        )
        .fetch_one(&self.readers)
        .await
        .map_err(db_error)?;
        let count = |column: &str| row.try_get::<i64, _>(column).map_err(db_error);
        Ok(ArchiveStatistics {
            articles: count("articles")?,
            deleted_articles: count("deleted_articles")?,
            held_articles: count("held_articles")?,
            revisions: count("revisions")?,
            views: count("views")?,
            media: count("media")?,
            media_stored_bytes: count("media_stored_bytes")?,
            open_uploads: count("open_uploads")?,
        })
    }

    async fn referenced_objects(&self, keys: &[BlobKey]) -> Result<HashSet<BlobKey>> {
        referenced_in(&self.readers, keys).await
    }

    async fn insert_media(&self, media: &MediaRecord) -> Result<()> {
        insert_media_row(&self.writer, self.dialect, media, Objects::Own).await
    }

    async fn insert_media_copy(&self, media: &MediaRecord) -> Result<()> {
        insert_media_row(&self.writer, self.dialect, media, Objects::Shared).await
    }

    async fn delete_media(&self, id: &MediaId, force: bool) -> Result<DeletedMedia> {
        self.delete_media_record(id, force).await
    }

    async fn get_media(&self, id: &MediaId) -> Result<MediaRecord> {
        let row = sqlx::query("SELECT * FROM media WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.readers)
            .await
            .map_err(db_error)?
            .ok_or_else(|| media_not_found(id))?;
        media_from_row(&row)
    }

    async fn find_media_by_content(&self, sha256: &str, size_bytes: u64) -> Result<Option<MediaRecord>> {
        let row =
            sqlx::query("SELECT * FROM media WHERE sha256 = $1 AND size_bytes = $2 ORDER BY create_time_us LIMIT 1")
                .bind(sha256)
                .bind(size_bytes as i64)
                .fetch_optional(&self.readers)
                .await
                .map_err(db_error)?;
        row.as_ref().map(media_from_row).transpose()
    }

    async fn attach_media(&self, article: &ArticleId, reference: &str, media: &MediaId) -> Result<ArticleRecord> {
        self.attach_media_links(article, reference, media).await
    }

    async fn detach_media(&self, article: &ArticleId, reference: &str) -> Result<ArticleRecord> {
        self.detach_media_link(article, reference).await
    }
}
