//! Rows to records and records to bound values: the one mapping of each
//! table's columns.

use super::errors::{stored_id, stored_key};
use crate::{
    error::{ArchiveError, Result},
    ids::{ArticleId, MediaId},
    metadata::{ArticleRecord, MediaLink, MediaRecord, ObjectRef},
};
use chrono::{DateTime, Utc};
use sqlx::{Any, Row, any::AnyRow};

/// A row of either driver (sqlx's `Any`, rusqlite on the calling thread,
/// `local`), read by column name: the mappings below are written once.
pub(super) trait Columns {
    fn optional_text(&self, column: &str) -> Result<Option<String>>;
    fn optional_int(&self, column: &str) -> Result<Option<i64>>;

    fn text(&self, column: &str) -> Result<String> {
        self.optional_text(column)?.ok_or_else(|| null_column(column))
    }

    fn int(&self, column: &str) -> Result<i64> {
        self.optional_int(column)?.ok_or_else(|| null_column(column))
    }
}

fn null_column(column: &str) -> ArchiveError {
    ArchiveError::internal("reading metadata", anyhow::anyhow!("column {column} is NULL"))
}

impl Columns for AnyRow {
    fn optional_text(&self, column: &str) -> Result<Option<String>> {
        Ok(self.try_get(column)?)
    }

    fn optional_int(&self, column: &str) -> Result<Option<i64>> {
        Ok(self.try_get(column)?)
    }
}

pub(super) fn micros(time: &DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}

pub(super) fn from_micros(value: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(value).unwrap_or_default()
}

/// An article from a row of `articles` (or of `article_revisions` aliased to
/// the same column names).
pub(super) fn article_from_row(row: &(impl Columns + ?Sized)) -> Result<ArticleRecord> {
    Ok(ArticleRecord {
        id: stored_id(ArticleId::parse, &row.text("id")?)?,
        revision: row.int("revision")?,
        etag: row.text("etag")?,
        title: row.text("title")?,
        author: row.text("author")?,
        keywords: keywords_from_json(&row.text("keywords")?)?,
        publish_time: from_micros(row.int("publish_time_us")?),
        publish_utc_offset_seconds: row.int("publish_utc_offset_seconds")? as i32,
        view_count: row.int("view_count")?,
        body: ObjectRef {
            key: stored_key(&row.text("body_key")?)?,
            size_bytes: row.int("body_size")? as u64,
            sha256: row.text("body_sha256")?,
        },
        create_time: from_micros(row.int("create_time_us")?),
        update_time: from_micros(row.int("update_time_us")?),
        media: Vec::new(),
        delete_time: row.optional_int("delete_time_us")?.map(from_micros),
        legal_hold: row.int("legal_hold")? != 0,
    })
}

pub(super) fn media_from_row(row: &(impl Columns + ?Sized)) -> Result<MediaRecord> {
    let rendition = match row.optional_text("rendition_key")? {
        Some(key) => Some(ObjectRef {
            key: stored_key(&key)?,
            size_bytes: row.optional_int("rendition_size")?.unwrap_or(0) as u64,
            sha256: row.optional_text("rendition_sha256")?.unwrap_or_default(),
        }),
        None => None,
    };
    Ok(MediaRecord {
        id: stored_id(MediaId::parse, &row.text("id")?)?,
        filename: row.text("filename")?,
        content_type: row.text("content_type")?,
        object: ObjectRef {
            key: stored_key(&row.text("blob_key")?)?,
            size_bytes: row.int("size_bytes")? as u64,
            sha256: row.text("sha256")?,
        },
        crc32c: row.int("crc32c")? as u32,
        mp4: row
            .optional_text("mp4_info")?
            .map(|json| serde_json::from_str(&json))
            .transpose()
            .map_err(|e| ArchiveError::internal("reading MP4 facts", e))?,
        rendition,
        create_time: from_micros(row.int("create_time_us")?),
        revision: row.int("revision")?,
    })
}

/// `article_revisions` columns under the names of `articles`.
pub(super) const REVISION_COLUMNS: &str = "r.article_id AS id, r.revision, r.etag, r.title, r.author, r.keywords, \
     r.publish_time_us, r.publish_utc_offset_seconds, a.view_count, r.body_key, r.body_size, r.body_sha256, \
     a.create_time_us, r.create_time_us AS update_time_us, a.delete_time_us, a.legal_hold";

/// An article's keywords, stored as a JSON array in order.
pub(super) fn keywords_from_json(json: &str) -> Result<Vec<String>> {
    serde_json::from_str(json).map_err(|e| ArchiveError::internal("reading keywords", e))
}

pub(super) fn keywords_json(article: &ArticleRecord) -> Result<String> {
    serde_json::to_string(&article.keywords).map_err(|e| ArchiveError::internal("encoding keywords", e))
}

pub(super) type AnyQuery<'q> = sqlx::query::Query<'q, Any, <Any as sqlx::Database>::Arguments>;

/// Columns of one revision, bound as `$1 … $11` in this order: revision,
/// etag, title, author, keywords, publish_time_us,
/// publish_utc_offset_seconds, body_key, body_size, body_sha256, and the
/// revision's time.
pub(super) const REVISION_VALUES: &str = "revision, etag, title, author, keywords, publish_time_us, \
     publish_utc_offset_seconds, body_key, body_size, body_sha256";

pub(super) fn bind_revision<'q>(query: AnyQuery<'q>, article: &ArticleRecord) -> Result<AnyQuery<'q>> {
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

/// The link in a row's `link_*` columns; none when they are NULL (an
/// article without links, outer-joined).
/// The columns [`link_from_row`] reads, from `article_media` as `m`.
pub(super) const LINK_COLUMNS: &str =
    "m.reference AS link_reference, m.media_id AS link_media_id, m.in_body AS link_in_body";

/// Articles with their links from rows of `articles` joined to their
/// links: one row per link (or one with no link), an article's rows
/// together, in link order. Rows are pushed one at a time, as rusqlite
/// lends them.
#[derive(Default)]
pub(super) struct ArticlesWithLinks {
    pub(super) articles: Vec<ArticleRecord>,
}

impl ArticlesWithLinks {
    pub(super) fn push(&mut self, row: &(impl Columns + ?Sized)) -> Result<()> {
        let id = row.text("id")?;
        let article = match self.articles.last_mut() {
            Some(last) if last.id.as_str() == id => last,
            _ => {
                self.articles.push(article_from_row(row)?);
                self.articles.last_mut().expect("just pushed")
            }
        };
        if let Some(link) = link_from_row(row)? {
            article.media.push(link);
        }
        Ok(())
    }
}

pub(super) fn link_from_row(row: &(impl Columns + ?Sized)) -> Result<Option<MediaLink>> {
    let Some(reference) = row.optional_text("link_reference")? else {
        return Ok(None);
    };
    Ok(Some(MediaLink {
        reference,
        media_id: row.optional_text("link_media_id")?.map(|m| stored_id(MediaId::parse, &m)).transpose()?,
        in_body: row.int("link_in_body")? != 0,
    }))
}
