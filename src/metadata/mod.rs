//! What is stored, and where: articles, their revisions, clips and the links
//! between them. One trait, one backend per database (SQLite now), one shared
//! test suite.

mod sqlite;

pub use sqlite::SqliteMetadataStore;

use crate::{
    blob::BlobKey,
    config::MetadataSettings,
    error::Result,
    ids::{ArticleId, MediaId},
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// The current (or a past) revision of an article, without its body text.
#[derive(Debug, Clone, PartialEq)]
pub struct ArticleRecord {
    pub id: ArticleId,
    pub revision: i64,
    pub etag: String,
    pub title: String,
    pub author: String,
    pub keywords: Vec<String>,
    pub publish_time: DateTime<Utc>,
    pub publish_utc_offset_seconds: i32,
    pub view_count: i64,
    pub body: ObjectRef,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    pub media: Vec<MediaLink>,
}

/// A stored object with its size and checksum.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectRef {
    pub key: BlobKey,
    pub size_bytes: u64,
    pub sha256: String,
}

/// A clip an article names, linked to stored media once uploaded.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaLink {
    pub reference: String,
    pub media_id: Option<MediaId>,
    pub in_body: bool,
}

/// A stored clip.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaRecord {
    pub id: MediaId,
    pub filename: String,
    pub content_type: String,
    pub object: ObjectRef,
    pub create_time: DateTime<Utc>,
}

/// Position after the last article of a page (publish time, then id, descending).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ArticleCursor {
    pub publish_time_micros: i64,
    pub id: String,
}

/// Filters and paging of a listing.
#[derive(Debug, Clone, Default)]
pub struct ArticleQuery {
    pub publish_time_start: Option<DateTime<Utc>>,
    pub publish_time_end: Option<DateTime<Utc>>,
    pub author: Option<String>,
    pub keyword: Option<String>,
    pub page_size: u32,
    pub after: Option<ArticleCursor>,
}

#[derive(Debug, Clone)]
pub struct ArticlePage {
    pub articles: Vec<ArticleRecord>,
    pub next: Option<ArticleCursor>,
}

#[async_trait]
pub trait MetadataStore: Send + Sync + std::fmt::Debug + 'static {
    /// Records a new article at revision 1; ALREADY_EXISTS when the id is taken.
    async fn insert_article(&self, article: &ArticleRecord) -> Result<()>;

    /// The current revision, or `revision` when given; NOT_FOUND when deleted.
    async fn get_article(&self, id: &ArticleId, revision: Option<i64>) -> Result<ArticleRecord>;

    /// Makes `next` (revision = current + 1) the current revision, if the
    /// current etag is `expected_etag`; ABORTED otherwise.
    async fn update_article(&self, expected_etag: &str, next: &ArticleRecord) -> Result<()>;

    /// Soft-deletes; with `expected_etag`, only if it is current (else ABORTED).
    async fn delete_article(&self, id: &ArticleId, expected_etag: Option<&str>) -> Result<()>;

    async fn list_articles(&self, query: &ArticleQuery) -> Result<ArticlePage>;

    /// Records a clip whose bytes are already stored.
    async fn insert_media(&self, media: &MediaRecord) -> Result<()>;

    async fn get_media(&self, id: &MediaId) -> Result<MediaRecord>;

    /// Links `media` to the article's `reference` (added when the article
    /// names no such reference) and returns the article.
    async fn attach_media(&self, article: &ArticleId, reference: &str, media: &MediaId) -> Result<ArticleRecord>;
}

/// Opens the database named by `settings.url` and applies its migrations.
pub async fn open(settings: &MetadataSettings) -> anyhow::Result<Arc<dyn MetadataStore>> {
    if settings.url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteMetadataStore::open(&settings.url, settings.max_connections).await?))
    } else {
        anyhow::bail!("metadata.url {:?} must start with sqlite://", settings.url)
    }
}
