//! Search in SQL: the newest matches of a query ranked, one page of them.
//! Each database has its statement (`sqlite`: FTS5 and bm25; `postgres`: a
//! GIN index on tsvectors and ts_rank) and its index writes (`index`).

use super::{Dialect, SqlMetadataStore, rows::article_from_row, timing::timed};
use crate::{
    error::Result,
    metadata::{ArticleSearch, SearchHit, SearchQuery},
};
use async_trait::async_trait;
use sqlx::Row;

mod index;
mod postgres;
mod sqlite;

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

#[async_trait]
impl ArticleSearch for SqlMetadataStore {
    async fn search_articles(&self, query: &SearchQuery) -> Result<Vec<SearchHit>> {
        timed!("search_articles", async {
            if query.terms.is_empty() {
                return Ok(Vec::new());
            }
            let filtered = query.filters.has_filters();
            let window = if filtered { RANK_WINDOW_FILTERED } else { RANK_WINDOW };
            // Bounded work, whatever the size of the archive: only the newest
            // `window` matches are ranked, and only the page's rows are read.
            let rows = match self.dialect {
                Dialect::Sqlite => self.sqlite_search(query, window).await?,
                Dialect::Postgres => self.postgres_search(query, window).await?,
            };
            let mut hits = Vec::with_capacity(rows.len());
            for row in &rows {
                hits.push(SearchHit {
                    article: article_from_row(row)?,
                    score: row.try_get("score")?,
                    body: row.try_get("search_body")?,
                });
            }
            let articles = self.with_links(hits.iter().map(|h| h.article.clone()).collect()).await?;
            for (hit, article) in hits.iter_mut().zip(articles) {
                hit.article = article;
            }
            Ok(hits)
        })
    }
}
