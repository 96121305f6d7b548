//! MetadataService's SearchArticles and ListRelatedArticles: a query
//! parsed, run on this replica's index ([`crate::search`]), and its hits
//! read back from the database, so what is answered is what a read would
//! answer (a hit deleted since the index last caught up is left out).

use super::{Archive, bounds, page_token};
use crate::{
    error::{ArchiveError, Reason, Result},
    ids::{ArticleId, MediaId},
    metadata::{ArticleRecord, IndexedArticle},
    search::{
        Facet, FacetCounts, Filters, Found, Hit, IndexSearch, Order, SearchIndex, SortKey,
        query::{self, Query, QueryError},
        snippet::{self, SNIPPET_BYTES},
    },
};
use std::{ops::Range, sync::Arc};

/// Search pages: smaller than listings, a page of snippets costs more.
const SEARCH_DEFAULT_PAGE_SIZE: u32 = 20;
const SEARCH_MAX_PAGE_SIZE: u32 = 100;
const RELATED_DEFAULT_PAGE_SIZE: u32 = 5;
const RELATED_MAX_PAGE_SIZE: u32 = 50;
const DEFAULT_FACET_SIZE: usize = 10;
/// A search waits at most this long for this replica's index to hold every
/// change committed before it began (read-your-writes), then answers from
/// what the index holds.
const FRESHNESS_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
const MAX_FACET_SIZE: usize = 1000;

/// A search as the client sent it.
#[derive(Debug, Clone, Default)]
pub struct SearchArticles {
    pub query: String,
    pub page_size: i32,
    pub page_token: String,
    pub filters: Filters,
    pub order: Order,
    pub facets: Vec<Facet>,
    pub facet_size: i32,
}

/// Articles like one article, as the client asked.
#[derive(Debug, Clone)]
pub struct RelatedArticles {
    pub id: ArticleId,
    pub page_size: i32,
    pub filters: Filters,
}

/// One result.
#[derive(Debug, Clone)]
pub struct SearchResult {
    pub article: ArticleRecord,
    pub snippet: String,
    pub highlights: Vec<Range<usize>>,
    pub title_highlights: Vec<Range<usize>>,
    pub score: f64,
    /// Where the query is spoken in the article's clips.
    pub moments: Vec<Moment>,
}

/// A cue of a linked clip's caption track that holds the query's words.
#[derive(Debug, Clone, PartialEq)]
pub struct Moment {
    pub media_id: MediaId,
    pub track_id: String,
    pub language: String,
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
    pub highlights: Vec<Range<usize>>,
}

/// Moments a result carries, at most.
const MAX_MOMENTS: usize = 3;

/// The cues of `article`'s caption tracks where `query` matches: most
/// highlighted words first, then earliest, at most [`MAX_MOMENTS`].
fn moments(article: &IndexedArticle, query: &Query) -> Vec<Moment> {
    if query.required.is_empty() {
        return Vec::new();
    }
    let mut found: Vec<Moment> = article
        .captions
        .iter()
        .flat_map(|track| track.cues.iter().map(move |cue| (track, cue)))
        .filter_map(|(track, cue)| {
            let highlights = snippet::highlights(&cue.text, query);
            (!highlights.is_empty()).then(|| Moment {
                media_id: track.media_id.clone(),
                track_id: track.track_id.clone(),
                language: track.language.clone(),
                start_ms: cue.start_ms,
                end_ms: cue.end_ms,
                text: cue.text.clone(),
                highlights,
            })
        })
        .collect();
    found.sort_by(|a, b| b.highlights.len().cmp(&a.highlights.len()).then(a.start_ms.cmp(&b.start_ms)));
    found.truncate(MAX_MOMENTS);
    found
}

/// One page of results.
#[derive(Debug, Clone, Default)]
pub struct SearchPage {
    pub results: Vec<SearchResult>,
    pub next_page_token: String,
    pub total_size: u64,
    pub total_size_is_lower_bound: bool,
    pub facets: Vec<FacetCounts>,
}

fn refused(error: QueryError) -> ArchiveError {
    let reason = match error {
        QueryError::Empty => Reason::MissingQuery,
        QueryError::Malformed(_) => Reason::MalformedQuery,
        QueryError::TooLong => Reason::QueryTooLong,
    };
    ArchiveError::new(reason, error.to_string())
}

fn facet_size(requested: i32) -> Result<usize> {
    match usize::try_from(requested) {
        Ok(0) => Ok(DEFAULT_FACET_SIZE),
        Ok(n) if n <= MAX_FACET_SIZE => Ok(n),
        _ => Err(ArchiveError::new(
            Reason::InvalidSearchOption,
            format!("facet_size must be within 0..={MAX_FACET_SIZE} (0: {DEFAULT_FACET_SIZE}), got {requested}"),
        )),
    }
}

/// A result from a hit and its article.
fn result(article: IndexedArticle, key: &SortKey, query: &Query) -> SearchResult {
    let found = snippet::snippet(&article.body, query);
    let moments = moments(&article, query);
    SearchResult {
        moments,
        title_highlights: snippet::highlights(&article.record.title, query),
        article: article.record,
        snippet: found.text,
        highlights: found.highlights,
        score: f64::from(key.score),
    }
}

impl Archive {
    fn index(&self) -> Result<Arc<SearchIndex>> {
        self.search
            .clone()
            .ok_or_else(|| ArchiveError::new(Reason::BackendUnavailable, "this server has no search index open"))
    }

    /// Runs `work` on the index in a blocking task (searching is CPU work),
    /// once the index holds what committed before (within [`FRESHNESS_WAIT`]).
    async fn on_index<T: Send + 'static>(
        &self,
        work: impl FnOnce(&SearchIndex) -> tantivy::Result<T> + Send + 'static,
    ) -> Result<T> {
        let index = self.index()?;
        let committed = *self.metadata.change_signal().await?.borrow();
        if !index.wait_for(committed, FRESHNESS_WAIT).await {
            tracing::debug!(committed, "search: the index is behind; answering from what it holds");
        }
        tokio::task::spawn_blocking(move || work(&index))
            .await
            .map_err(|e| ArchiveError::internal("searching", e))?
            .map_err(|e| ArchiveError::internal("searching the index", e))
    }

    /// The hits' articles as the database has them now, in hit order; one
    /// deleted since the index caught up is left out.
    async fn read_hits(&self, hits: &[Hit]) -> Result<Vec<(IndexedArticle, SortKey)>> {
        let ids: Vec<ArticleId> = hits.iter().map(|hit| hit.id.clone()).collect();
        let mut articles = self.metadata.indexable_articles_by_id(&ids).await?;
        Ok(hits
            .iter()
            .filter_map(|hit| {
                let at = articles.iter().position(|a| a.record.id == hit.id)?;
                Some((articles.swap_remove(at), hit.key))
            })
            .collect())
    }

    /// One page of matches in the requested order, the token of the next,
    /// the total and the facets.
    pub async fn search_articles(&self, request: &SearchArticles) -> Result<SearchPage> {
        let query = query::parse(&request.query).map_err(refused)?;
        let page_size = page_token::page_size(request.page_size, SEARCH_DEFAULT_PAGE_SIZE, SEARCH_MAX_PAGE_SIZE)?;
        let facet_size = facet_size(request.facet_size)?;
        let fingerprint = page_token::fingerprint(&(&query, &request.filters, request.order));
        let after: Option<SortKey> = self.page_tokens.decode(&request.page_token, &fingerprint)?;
        let search = IndexSearch {
            query: query.clone(),
            filters: request.filters.clone(),
            order: request.order,
            // One extra tells whether another page follows.
            limit: page_size as usize + 1,
            after,
            facets: request.facets.clone(),
            facet_size,
        };
        let Found { mut hits, total, total_is_lower_bound, facets } =
            self.on_index(move |index| index.search(&search)).await?;
        let more = hits.len() > page_size as usize;
        hits.truncate(page_size as usize);
        let mut read = self.read_hits(&hits).await?;
        let cut = bounds::cut_to_page_bytes(&mut read, |(a, _)| bounds::answer_bytes(&a.record, SNIPPET_BYTES * 2));
        // The page ends at the last hit kept (one left out as deleted
        // counts as passed).
        let last = if cut { read.last().map(|(_, key)| *key) } else { hits.last().map(|hit| hit.key) };
        let next_page_token = match last {
            Some(key) if more || cut => self.page_tokens.encode(key, fingerprint)?,
            _ => String::new(),
        };
        let results = read.into_iter().map(|(article, key)| result(article, &key, &query)).collect();
        Ok(SearchPage {
            results,
            next_page_token,
            total_size: total,
            total_size_is_lower_bound: total_is_lower_bound,
            facets,
        })
    }

    /// The articles most like `request.id`, best first, without it.
    pub async fn related_articles(&self, request: &RelatedArticles) -> Result<Vec<SearchResult>> {
        let page_size = page_token::page_size(request.page_size, RELATED_DEFAULT_PAGE_SIZE, RELATED_MAX_PAGE_SIZE)?;
        let article =
            self.metadata.indexable_articles_by_id(std::slice::from_ref(&request.id)).await?.pop().ok_or_else(
                || ArchiveError::new(Reason::ArticleNotFound, format!("article {} does not exist", request.id.name())),
            )?;
        let filters = request.filters.clone();
        let hits = self.on_index(move |index| index.related(&article, &filters, page_size as usize)).await?;
        let mut read = self.read_hits(&hits).await?;
        bounds::cut_to_page_bytes(&mut read, |(a, _)| bounds::answer_bytes(&a.record, SNIPPET_BYTES * 2));
        let nothing = Query { required: Vec::new(), excluded: Vec::new() };
        Ok(read.into_iter().map(|(article, key)| result(article, &key, &nothing)).collect())
    }
}
