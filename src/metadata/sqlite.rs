//! SQLite backend: WAL, one writer connection that takes the write lock up
//! front (`BEGIN IMMEDIATE`), a pool of readers, a busy timeout for other
//! processes.

use super::{
    ArticleCursor, ArticlePage, ArticleQuery, ArticleRecord, MediaLink, MediaRecord, MetadataStore, ObjectRef,
};
use crate::{
    blob::BlobKey,
    error::{ArchiveError, ErrorKind, Result},
    ids::{ArticleId, MediaId},
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{
    QueryBuilder, Row, Sqlite, SqlitePool, Transaction,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous},
};
use std::{str::FromStr, time::Duration};

const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct SqliteMetadataStore {
    readers: SqlitePool,
    /// A single connection: writers queue here instead of failing with SQLITE_BUSY.
    writer: SqlitePool,
}

fn db_error(error: sqlx::Error) -> ArchiveError {
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

fn stored_key(value: &str) -> Result<BlobKey> {
    BlobKey::parse(value)
        .ok_or_else(|| ArchiveError::internal("reading metadata", anyhow::anyhow!("bad stored key {value:?}")))
}

fn stored_id<T>(parse: fn(&str) -> Result<T>, value: &str) -> Result<T> {
    parse(value).map_err(|_| ArchiveError::internal("reading metadata", anyhow::anyhow!("bad stored id {value:?}")))
}

impl SqliteMetadataStore {
    pub async fn open(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        if let Some(dir) = options.get_filename().parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let writer = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self { readers, writer })
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>> {
        self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)
    }

    async fn load_links(&self, ids: &[&str]) -> Result<Vec<(String, MediaLink)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::<Sqlite>::new(
            "SELECT article_id, reference, media_id, in_body FROM article_media WHERE article_id IN (",
        );
        let mut separated = query.separated(", ");
        for id in ids {
            separated.push_bind(*id);
        }
        query.push(") ORDER BY article_id, position");
        let rows = query.build().fetch_all(&self.readers).await.map_err(db_error)?;
        rows.iter()
            .map(|row| {
                let media_id: Option<String> = row.get("media_id");
                Ok((
                    row.get("article_id"),
                    MediaLink {
                        reference: row.get("reference"),
                        media_id: media_id.map(|m| stored_id(MediaId::parse, &m)).transpose()?,
                        in_body: row.get::<i64, _>("in_body") != 0,
                    },
                ))
            })
            .collect()
    }
}

/// Columns shared by `articles` and `article_revisions`.
fn article_from_row(row: &SqliteRow, view_count: i64, update_time_us: i64) -> Result<ArticleRecord> {
    let keywords: String = row.get("keywords");
    Ok(ArticleRecord {
        id: stored_id(ArticleId::parse, row.get("id"))?,
        revision: row.get("revision"),
        etag: row.get("etag"),
        title: row.get("title"),
        author: row.get("author"),
        keywords: serde_json::from_str(&keywords).map_err(|e| ArchiveError::internal("reading keywords", e))?,
        publish_time: from_micros(row.get("publish_time_us")),
        publish_utc_offset_seconds: row.get::<i64, _>("publish_utc_offset_seconds") as i32,
        view_count,
        body: ObjectRef {
            key: stored_key(row.get("body_key"))?,
            size_bytes: row.get::<i64, _>("body_size") as u64,
            sha256: row.get("body_sha256"),
        },
        create_time: from_micros(row.get("create_time_us")),
        update_time: from_micros(update_time_us),
        media: Vec::new(),
    })
}

fn keywords_json(article: &ArticleRecord) -> Result<String> {
    serde_json::to_string(&article.keywords).map_err(|e| ArchiveError::internal("encoding keywords", e))
}

async fn insert_revision(tx: &mut Transaction<'static, Sqlite>, article: &ArticleRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO article_revisions (article_id, revision, etag, title, author, keywords, publish_time_us, \
         publish_utc_offset_seconds, body_key, body_size, body_sha256, create_time_us) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(article.id.as_str())
    .bind(article.revision)
    .bind(&article.etag)
    .bind(&article.title)
    .bind(&article.author)
    .bind(keywords_json(article)?)
    .bind(micros(&article.publish_time))
    .bind(i64::from(article.publish_utc_offset_seconds))
    .bind(article.body.key.as_str())
    .bind(article.body.size_bytes as i64)
    .bind(&article.body.sha256)
    .bind(micros(&article.update_time))
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

async fn replace_keywords_and_links(tx: &mut Transaction<'static, Sqlite>, article: &ArticleRecord) -> Result<()> {
    let id = article.id.as_str();
    sqlx::query("DELETE FROM article_keywords WHERE article_id = ?")
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    for keyword in &article.keywords {
        sqlx::query("INSERT OR IGNORE INTO article_keywords (article_id, keyword) VALUES (?, ?)")
            .bind(id)
            .bind(keyword)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
    }
    sqlx::query("DELETE FROM article_media WHERE article_id = ?")
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    for (position, link) in article.media.iter().enumerate() {
        sqlx::query(
            "INSERT INTO article_media (article_id, position, reference, media_id, in_body) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(position as i64)
        .bind(&link.reference)
        .bind(link.media_id.as_ref().map(MediaId::as_str))
        .bind(i64::from(link.in_body))
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    }
    Ok(())
}

/// Etag of the current revision, or NOT_FOUND.
async fn current_etag(tx: &mut Transaction<'static, Sqlite>, id: &ArticleId) -> Result<(String, i64)> {
    let row = sqlx::query("SELECT etag, revision FROM articles WHERE id = ? AND delete_time_us IS NULL")
        .bind(id.as_str())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_error)?
        .ok_or_else(|| article_not_found(id))?;
    Ok((row.get("etag"), row.get("revision")))
}

fn stale_etag(id: &ArticleId) -> ArchiveError {
    ArchiveError::new(
        ErrorKind::Aborted,
        "ETAG_MISMATCH",
        format!("article {} was changed since it was read; read it again and retry", id.name()),
    )
}

#[async_trait]
impl MetadataStore for SqliteMetadataStore {
    async fn insert_article(&self, article: &ArticleRecord) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO articles (id, revision, etag, title, author, keywords, publish_time_us, \
             publish_utc_offset_seconds, view_count, body_key, body_size, body_sha256, create_time_us, update_time_us) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(article.id.as_str())
        .bind(article.revision)
        .bind(&article.etag)
        .bind(&article.title)
        .bind(&article.author)
        .bind(keywords_json(article)?)
        .bind(micros(&article.publish_time))
        .bind(i64::from(article.publish_utc_offset_seconds))
        .bind(article.view_count)
        .bind(article.body.key.as_str())
        .bind(article.body.size_bytes as i64)
        .bind(&article.body.sha256)
        .bind(micros(&article.create_time))
        .bind(micros(&article.update_time))
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(ArchiveError::new(
                    ErrorKind::AlreadyExists,
                    "ARTICLE_EXISTS",
                    format!("article {} already exists", article.id.name()),
                ));
            }
            other => other.map_err(db_error)?,
        };
        insert_revision(&mut tx, article).await?;
        replace_keywords_and_links(&mut tx, article).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn get_article(&self, id: &ArticleId, revision: Option<i64>) -> Result<ArticleRecord> {
        let head = sqlx::query("SELECT * FROM articles WHERE id = ? AND delete_time_us IS NULL")
            .bind(id.as_str())
            .fetch_optional(&self.readers)
            .await
            .map_err(db_error)?
            .ok_or_else(|| article_not_found(id))?;
        let view_count: i64 = head.get("view_count");
        let mut article = match revision {
            None => article_from_row(&head, view_count, head.get("update_time_us"))?,
            Some(revision) => {
                let row = sqlx::query(
                    "SELECT article_id AS id, revision, etag, title, author, keywords, publish_time_us, \
                     publish_utc_offset_seconds, body_key, body_size, body_sha256, create_time_us AS update_time_us, \
                     (SELECT create_time_us FROM articles WHERE id = article_id) AS create_time_us \
                     FROM article_revisions WHERE article_id = ? AND revision = ?",
                )
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
                article_from_row(&row, view_count, row.get("update_time_us"))?
            }
        };
        article.media = self.load_links(&[id.as_str()]).await?.into_iter().map(|(_, link)| link).collect();
        Ok(article)
    }

    async fn update_article(&self, expected_etag: &str, next: &ArticleRecord) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let (etag, revision) = current_etag(&mut tx, &next.id).await?;
        if etag != expected_etag || revision + 1 != next.revision {
            return Err(stale_etag(&next.id));
        }
        sqlx::query(
            "UPDATE articles SET revision = ?, etag = ?, title = ?, author = ?, keywords = ?, publish_time_us = ?, \
             publish_utc_offset_seconds = ?, body_key = ?, body_size = ?, body_sha256 = ?, update_time_us = ? \
             WHERE id = ?",
        )
        .bind(next.revision)
        .bind(&next.etag)
        .bind(&next.title)
        .bind(&next.author)
        .bind(keywords_json(next)?)
        .bind(micros(&next.publish_time))
        .bind(i64::from(next.publish_utc_offset_seconds))
        .bind(next.body.key.as_str())
        .bind(next.body.size_bytes as i64)
        .bind(&next.body.sha256)
        .bind(micros(&next.update_time))
        .bind(next.id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_revision(&mut tx, next).await?;
        replace_keywords_and_links(&mut tx, next).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn delete_article(&self, id: &ArticleId, expected_etag: Option<&str>) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let (etag, _) = current_etag(&mut tx, id).await?;
        if expected_etag.is_some_and(|expected| expected != etag) {
            return Err(stale_etag(id));
        }
        sqlx::query("UPDATE articles SET delete_time_us = ? WHERE id = ?")
            .bind(micros(&Utc::now()))
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    async fn list_articles(&self, query: &ArticleQuery) -> Result<ArticlePage> {
        let mut sql = QueryBuilder::<Sqlite>::new("SELECT * FROM articles a WHERE a.delete_time_us IS NULL");
        if let Some(start) = &query.publish_time_start {
            sql.push(" AND a.publish_time_us >= ").push_bind(micros(start));
        }
        if let Some(end) = &query.publish_time_end {
            sql.push(" AND a.publish_time_us < ").push_bind(micros(end));
        }
        if let Some(author) = &query.author {
            sql.push(" AND a.author = ").push_bind(author.clone());
        }
        if let Some(keyword) = &query.keyword {
            sql.push(" AND EXISTS (SELECT 1 FROM article_keywords k WHERE k.article_id = a.id AND k.keyword = ")
                .push_bind(keyword.clone())
                .push(")");
        }
        if let Some(after) = &query.after {
            sql.push(" AND (a.publish_time_us < ")
                .push_bind(after.publish_time_micros)
                .push(" OR (a.publish_time_us = ")
                .push_bind(after.publish_time_micros)
                .push(" AND a.id < ")
                .push_bind(after.id.clone())
                .push("))");
        }
        sql.push(" ORDER BY a.publish_time_us DESC, a.id DESC LIMIT ").push_bind(i64::from(query.page_size) + 1);
        let rows = sql.build().fetch_all(&self.readers).await.map_err(db_error)?;
        let mut articles = rows
            .iter()
            .map(|row| article_from_row(row, row.get("view_count"), row.get("update_time_us")))
            .collect::<Result<Vec<_>>>()?;
        let next = if articles.len() > query.page_size as usize {
            articles.truncate(query.page_size as usize);
            articles
                .last()
                .map(|last| ArticleCursor { publish_time_micros: micros(&last.publish_time), id: last.id.to_string() })
        } else {
            None
        };
        let ids: Vec<&str> = articles.iter().map(|a| a.id.as_str()).collect();
        let mut links = self.load_links(&ids).await?;
        for article in &mut articles {
            article.media =
                links.iter_mut().filter(|(id, _)| id == article.id.as_str()).map(|(_, link)| link.clone()).collect();
        }
        links.clear();
        Ok(ArticlePage { articles, next })
    }

    async fn insert_media(&self, media: &MediaRecord) -> Result<()> {
        let inserted = sqlx::query(
            "INSERT INTO media (id, filename, content_type, size_bytes, sha256, blob_key, create_time_us) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(media.id.as_str())
        .bind(&media.filename)
        .bind(&media.content_type)
        .bind(media.object.size_bytes as i64)
        .bind(&media.object.sha256)
        .bind(media.object.key.as_str())
        .bind(micros(&media.create_time))
        .execute(&self.writer)
        .await;
        match inserted {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(ArchiveError::new(
                ErrorKind::AlreadyExists,
                "MEDIA_EXISTS",
                format!("media {} already exists", media.id.name()),
            )),
            other => other.map(drop).map_err(db_error),
        }
    }

    async fn get_media(&self, id: &MediaId) -> Result<MediaRecord> {
        let row = sqlx::query("SELECT * FROM media WHERE id = ?")
            .bind(id.as_str())
            .fetch_optional(&self.readers)
            .await
            .map_err(db_error)?
            .ok_or_else(|| media_not_found(id))?;
        Ok(MediaRecord {
            id: id.clone(),
            filename: row.get("filename"),
            content_type: row.get("content_type"),
            object: ObjectRef {
                key: stored_key(row.get("blob_key"))?,
                size_bytes: row.get::<i64, _>("size_bytes") as u64,
                sha256: row.get("sha256"),
            },
            create_time: from_micros(row.get("create_time_us")),
        })
    }

    async fn attach_media(&self, article: &ArticleId, reference: &str, media: &MediaId) -> Result<ArticleRecord> {
        let mut tx = self.begin_write().await?;
        current_etag(&mut tx, article).await?;
        let media_exists = sqlx::query("SELECT 1 FROM media WHERE id = ?")
            .bind(media.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?
            .is_some();
        if !media_exists {
            return Err(media_not_found(media));
        }
        let linked = sqlx::query("UPDATE article_media SET media_id = ? WHERE article_id = ? AND reference = ?")
            .bind(media.as_str())
            .bind(article.as_str())
            .bind(reference)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        if linked.rows_affected() == 0 {
            sqlx::query(
                "INSERT INTO article_media (article_id, position, reference, media_id, in_body) \
                 VALUES (?, (SELECT COALESCE(MAX(position), -1) + 1 FROM article_media WHERE article_id = ?), ?, ?, 0)",
            )
            .bind(article.as_str())
            .bind(article.as_str())
            .bind(reference)
            .bind(media.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        self.get_article(article, None).await
    }
}
