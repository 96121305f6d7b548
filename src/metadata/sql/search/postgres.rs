//! Search on PostgreSQL: a GIN index over tsvectors, the newest matches
//! found by the plan the estimates choose, ranked with ts_rank.

use super::{SEARCH_PAGE_ROWS, SqlMetadataStore};
use crate::{
    error::Result,
    metadata::{
        SearchQuery,
        sql::{
            builder::{Arg, SqlBuilder, push_filters},
            errors::db_error,
        },
    },
};
use sqlx::{AssertSqlSafe, Row, any::AnyRow};
impl SqlMetadataStore {
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
    pub(super) async fn postgres_walks_back(&self, query: &SearchQuery, window: i64) -> Result<bool> {
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
    pub(super) async fn postgres_estimate(&self, terms: &[String]) -> Result<f64> {
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
    pub(super) async fn postgres_search(&self, query: &SearchQuery, window: i64) -> Result<Vec<AnyRow>> {
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
}
