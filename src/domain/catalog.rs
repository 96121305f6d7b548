//! MetadataService: what is stored. Article listings (search is in
//! `search.rs`), view counting, clips by id and page by page, the archive's counts.

use super::{Archive, bounds, page_token};
use crate::{
    error::{ArchiveError, Reason, Result},
    ids::{ArticleId, MediaId},
    metadata::{ArchiveStatistics, ArticleCursor, ArticleQuery, ArticleRecord, MediaCursor, MediaRecord},
};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

const MAX_VIEWS_PER_CALL: i64 = 1_000_000;
/// What a clip listing's token is bound to (it has no filters).
const MEDIA_LISTING: &str = "media";

/// A listing request as the client sent it.
#[derive(Debug, Clone, Default)]
pub struct ListArticles {
    pub page_size: i32,
    pub page_token: String,
    pub publish_time_start: Option<DateTime<Utc>>,
    pub publish_time_end: Option<DateTime<Utc>>,
    pub author: String,
    pub keyword: String,
}

impl Archive {
    /// Adds `count` views (1 when 0) and returns the new total.
    pub async fn record_views(&self, id: &ArticleId, count: i64) -> Result<i64> {
        let count = if count == 0 { 1 } else { count };
        if !(1..=MAX_VIEWS_PER_CALL).contains(&count) {
            return Err(ArchiveError::new(
                Reason::InvalidCount,
                format!("count must be between 1 and {MAX_VIEWS_PER_CALL}"),
            ));
        }
        // The manifest catches up in the next flush (Archive::flush_views),
        // other replicas' article caches with the flush's change.
        let total = self.metadata.record_views(id, count).await?;
        self.article_cache.set_views(id, total);
        Ok(total)
    }

    /// One page of articles and the token of the next: the listing's keys
    /// from the database, each article from the article cache when it holds
    /// the listed revision, the others in one read (and then cached).
    pub async fn list_articles(&self, request: &ListArticles) -> Result<(Vec<ArticleRecord>, String)> {
        let page_size =
            page_token::page_size(request.page_size, page_token::DEFAULT_PAGE_SIZE, page_token::MAX_PAGE_SIZE)?;
        let fingerprint = page_token::fingerprint(&request.filters());
        let after = self.page_tokens.decode(&request.page_token, &fingerprint)?;
        let query = ArticleQuery { page_size, after, ..request.filters() };
        let page = self.metadata.list_article_keys(&query).await?;
        let mut articles: Vec<Option<ArticleRecord>> =
            page.listed.iter().map(|listed| self.article_cache.get_revision(&listed.id, listed.revision)).collect();
        let missing: Vec<ArticleId> = page
            .listed
            .iter()
            .zip(&articles)
            .filter(|(_, cached)| cached.is_none())
            .map(|(listed, _)| listed.id.clone())
            .collect();
        if !missing.is_empty() {
            let fills: Vec<_> = missing.iter().map(|id| self.article_cache.before_read(id)).collect();
            let mut read: HashMap<ArticleId, ArticleRecord> = self
                .metadata
                .current_articles(&missing)
                .await?
                .into_iter()
                .map(|record| (record.id.clone(), record))
                .collect();
            for (id, fill) in missing.iter().zip(fills) {
                if let (Some(fill), Some(record)) = (fill, read.get(id)) {
                    self.article_cache.fill(fill, record);
                }
            }
            for (slot, listed) in articles.iter_mut().zip(&page.listed) {
                if slot.is_none() {
                    // None when deleted since the listing was read: left out.
                    *slot = read.remove(&listed.id);
                }
            }
        }
        let mut articles: Vec<ArticleRecord> = articles.into_iter().flatten().collect();
        let mut next = page.next;
        if bounds::cut_to_page_bytes(&mut articles, |article| bounds::answer_bytes(article, 0)) {
            next = articles.last().map(ArticleCursor::after);
        }
        let next_token = match next {
            Some(cursor) => self.page_tokens.encode(cursor, fingerprint)?,
            None => String::new(),
        };
        Ok((articles, next_token))
    }

    pub async fn get_media(&self, id: &MediaId) -> Result<MediaRecord> {
        self.metadata.get_media(id).await
    }

    /// One page of clips, newest first, and the token of the next.
    pub async fn list_media(&self, page_size: i32, token: &str) -> Result<(Vec<MediaRecord>, String)> {
        let page_size = page_token::page_size(page_size, page_token::DEFAULT_PAGE_SIZE, page_token::MAX_PAGE_SIZE)?;
        let fingerprint = page_token::fingerprint(&MEDIA_LISTING);
        let after: Option<MediaCursor> = self.page_tokens.decode(token, &fingerprint)?;
        let mut media = self.metadata.list_media(after.as_ref(), page_size + 1).await?;
        let next_token = if media.len() > page_size as usize {
            media.truncate(page_size as usize);
            let last = &media[media.len() - 1];
            let cursor =
                MediaCursor { create_time_micros: last.create_time.timestamp_micros(), id: last.id.to_string() };
            self.page_tokens.encode(cursor, fingerprint)?
        } else {
            String::new()
        };
        Ok((media, next_token))
    }

    /// What the archive holds: articles, revisions, views, clips, stored bytes, open uploads.
    pub async fn statistics(&self) -> Result<ArchiveStatistics> {
        self.metadata.statistics().await
    }
}

impl ListArticles {
    /// The filters, as a metadata query without paging.
    pub(crate) fn filters(&self) -> ArticleQuery {
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        ArticleQuery {
            publish_time_start: self.publish_time_start,
            publish_time_end: self.publish_time_end,
            author: non_empty(&self.author),
            keyword: non_empty(&self.keyword),
            page_size: 0,
            after: None,
        }
    }
}
