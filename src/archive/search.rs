//! Full-text search and view counting.

use super::{Archive, ListArticles, page_token};
use crate::error::Reason;
use crate::{
    error::{ArchiveError, Result},
    ids::ArticleId,
    metadata::ArticleRecord,
    search,
};
use std::ops::Range;

const DEFAULT_PAGE_SIZE: u32 = 20;
const MAX_PAGE_SIZE: u32 = 100;
const MAX_QUERY_TERMS: usize = 32;
const MAX_VIEWS_PER_CALL: i64 = 1_000_000;

/// A search as the client sent it.
#[derive(Debug, Clone, Default)]
pub struct SearchArticles {
    pub query: String,
    pub page_size: i32,
    pub page_token: String,
    /// Filters (its paging fields are ignored).
    pub filters: ListArticles,
}

#[derive(Debug, Clone)]
pub struct SearchResult {
    pub article: ArticleRecord,
    pub snippet: String,
    pub highlights: Vec<Range<usize>>,
    pub score: f64,
}

impl Archive {
    /// One page of matches, best first, and the token of the next page.
    pub async fn search_articles(&self, request: &SearchArticles) -> Result<(Vec<SearchResult>, String)> {
        let terms = search::tokens(&request.query);
        if terms.is_empty() {
            return Err(ArchiveError::invalid(Reason::MissingQuery, "query must contain at least one word"));
        }
        if terms.len() > MAX_QUERY_TERMS {
            return Err(ArchiveError::invalid(
                Reason::QueryTooLong,
                format!("query has more than {MAX_QUERY_TERMS} words"),
            ));
        }
        let page_size = page_token::page_size(request.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let filters = request.filters.filters();
        let fingerprint = page_token::fingerprint(&(&terms, &filters));
        let offset: u64 = page_token::decode(&request.page_token, &fingerprint)?.unwrap_or(0);
        // One extra tells whether another page follows.
        let query =
            search::query(terms.clone(), crate::metadata::ArticleQuery { page_size: page_size + 1, ..filters }, offset);
        let mut hits = self.metadata.search_articles(&query).await?;
        let next_token = if hits.len() > page_size as usize {
            hits.truncate(page_size as usize);
            page_token::encode(offset + u64::from(page_size), fingerprint)?
        } else {
            String::new()
        };
        let results = hits
            .into_iter()
            .map(|hit| {
                let snippet = search::snippet(&hit.body, &terms);
                SearchResult {
                    article: hit.article,
                    snippet: snippet.text,
                    highlights: snippet.highlights,
                    score: hit.score,
                }
            })
            .collect();
        Ok((results, next_token))
    }

    /// Adds `count` views (1 when 0) and returns the new total.
    pub async fn record_views(&self, id: &ArticleId, count: i64) -> Result<i64> {
        let count = if count == 0 { 1 } else { count };
        if !(1..=MAX_VIEWS_PER_CALL).contains(&count) {
            return Err(ArchiveError::invalid(
                Reason::InvalidCount,
                format!("count must be between 1 and {MAX_VIEWS_PER_CALL}"),
            ));
        }
        // The manifest catches up in the next flush (Archive::flush_views).
        self.metadata.record_views(id, count).await
    }
}
