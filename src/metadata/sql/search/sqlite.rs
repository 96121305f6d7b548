//! Search on SQLite: FTS5 with bm25 over the newest matches.

use super::{SEARCH_PAGE_ROWS, SqlMetadataStore};
use crate::{
    error::Result,
    metadata::{
        SearchQuery,
        sql::builder::{Arg, SqlBuilder, push_filters},
    },
};
use sqlx::any::AnyRow;

/// The FTS5 query of a search on SQLite: every word, quoted so that the
/// query syntax cannot leak in; and the author and keyword filters' tokens
/// in their column (`tags`), so that the index yields only rows
/// that pass them. The exact filters still follow in SQL. The filters'
/// words stay out: bm25 ranks by the words searched for, and each word
/// costs it a pass over that word's every match (its IDF).
fn sqlite_match(query: &SearchQuery) -> String {
    let words = query.terms.iter().map(|t| format!("\"{t}\""));
    let tokens = query.author.iter().chain(&query.keyword).map(|filter| format!("tags : \"{}\"", filter.token));
    words.chain(tokens).collect::<Vec<_>>().join(" ")
}

impl SqlMetadataStore {
    /// The page of `query` among its newest `window` matches: the window's
    /// oldest position first, then the matches from there ranked.
    pub(super) async fn sqlite_search(&self, query: &SearchQuery, window: i64) -> Result<Vec<AnyRow>> {
        let phrase = sqlite_match(query);
        let mut sql = SqlBuilder::new(
            "WITH window_start AS (SELECT f.rowid AS position FROM article_fts f \
             CROSS JOIN article_texts t ON t.rowid = f.rowid CROSS JOIN articles a ON a.id = t.article_id \
             WHERE article_fts MATCH ",
        );
        sql.bind(Arg::Text(phrase));
        let phrase_arg = sql.placeholder();
        push_filters(&mut sql, &query.filters);
        sql.push(" ORDER BY f.rowid DESC LIMIT 1 OFFSET ").bind(Arg::Int(window - 1)).push(
            "), page AS (SELECT t.article_id AS id, -f.rank AS score FROM article_fts f \
             CROSS JOIN article_texts t ON t.rowid = f.rowid CROSS JOIN articles a ON a.id = t.article_id \
             WHERE article_fts MATCH ",
        );
        sql.push(&phrase_arg);
        sql.push(" AND f.rowid >= COALESCE((SELECT position FROM window_start), 0)");
        push_filters(&mut sql, &query.filters);
        sql.push(" ORDER BY score DESC, id ASC LIMIT ")
            .bind(Arg::Int(i64::from(query.filters.page_size)))
            .push(" OFFSET ")
            .bind(Arg::Int(query.offset as i64))
            .push(SEARCH_PAGE_ROWS);
        sql.fetch_all(&self.readers).await
    }
}
