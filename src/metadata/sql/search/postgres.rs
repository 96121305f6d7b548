//! Search on PostgreSQL: a GIN index over tsvectors, the newest matches
//! found by the plan [`choose_plan`] picks, ranked with ts_rank.

use super::{SEARCH_PAGE_ROWS, SqlMetadataStore};
use crate::{
    error::{ArchiveError, Result},
    metadata::{
        SearchQuery,
        sql::builder::{Arg, SqlBuilder, push_filters},
    },
};
use sqlx::{AssertSqlSafe, Row, any::AnyRow};

/// How PostgreSQL finds the newest `window` matches of a search. A GIN
/// index cannot return them newest first, so one of two plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Walk back from the newest text, testing each: about
    /// `window / selectivity` rows, cheap when matches are common.
    WalkBack,
    /// Fetch every match through the index and keep the newest: cheap when
    /// they are rare.
    FetchMatches,
}

/// The planner's estimates a plan is chosen by (migration 0015's
/// `search_estimates`, from `EXPLAIN (FORMAT JSON)`).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Estimates {
    /// Texts in the index (`reltuples`; negative before the first ANALYZE).
    live_texts: f64,
    /// Texts holding every word and token of the query.
    matches: f64,
    /// Of the texts a walk goes through, those holding what it tests: with
    /// an author filter the walk runs over that author's texts only, whose
    /// every row holds the author's own words, so this counts the others.
    walk_matches: f64,
}

/// Relative costs, per row walked and per match fetched, without and with
/// filters (µs on the reference machine, `benches/metadata.rs` at 100k
/// articles once autovacuum's statistics are in; their ratio is what
/// decides). Unfiltered, fetching pays for the planner taking the words of
/// a query as independent, which underestimates their matches; filtered,
/// each row walked also joins its article. Searched cold at 100k articles,
/// both plans of an author-filtered query take ~10 ms whatever the
/// estimates (ranking the window dominates).
const COST_UNFILTERED: (f64, f64) = (0.65, 5.3);
const COST_FILTERED: (f64, f64) = (0.9, 2.3);

/// The cheaper plan for the estimates: walking costs about
/// `window × live_texts / walk_matches` rows, fetching `matches` rows.
/// Left to itself the planner under-prices the per-row test of a walk, so
/// this chooses and the statement's settings hold the planner to it.
fn choose_plan(estimates: Estimates, window: i64, filtered: bool) -> Plan {
    if estimates.live_texts <= 0.0 {
        return Plan::WalkBack; // never analyzed: a small, new archive
    }
    let (per_row_walked, per_match) = if filtered { COST_FILTERED } else { COST_UNFILTERED };
    let walking = window as f64 * estimates.live_texts * per_row_walked;
    let fetching = estimates.walk_matches * estimates.matches * per_match;
    if fetching > walking { Plan::WalkBack } else { Plan::FetchMatches }
}

impl SqlMetadataStore {
    /// The estimates of `words` (every word and token a match holds) and of
    /// `walk_words` (what a walk tests), in one round trip.
    async fn postgres_estimates(&self, words: &[String], walk_words: &[String]) -> Result<Estimates> {
        let row = sqlx::query("SELECT live_texts, matches, walk_matches FROM search_estimates($1, $2)")
            .bind(words.join(" "))
            .bind(walk_words.join(" "))
            .fetch_one(&self.readers)
            .await?;
        let get =
            |column: &str| row.try_get::<Option<f64>, _>(column).map(|v| v.unwrap_or(0.0)).map_err(ArchiveError::from);
        Ok(Estimates { live_texts: get("live_texts")?, matches: get("matches")?, walk_matches: get("walk_matches")? })
    }

    /// Search on PostgreSQL: the newest `window` matches, ranked with
    /// ts_rank, one page of them, in one statement whose plan is chosen above.
    pub(super) async fn postgres_search(&self, query: &SearchQuery, window: i64) -> Result<Vec<AnyRow>> {
        // The filters' words narrow the GIN index's matches, and rank; a
        // keyword's token is the keyword filter itself.
        let ranked = query.all_words();
        let mut words = ranked.clone();
        words.extend(query.keyword.iter().map(|keyword| keyword.token.clone()));
        // The estimate leaves the exact filters out: their words are among
        // `words`, and the planner, which takes the two as independent,
        // would count their matches twice.
        let walk_words: Vec<String> = match &query.author {
            Some(author) => words.iter().filter(|w| !author.words.contains(w)).cloned().collect(),
            None => words.clone(),
        };
        let estimates = self.postgres_estimates(&words, &walk_words).await?;
        let plan = choose_plan(estimates, window, query.filters.has_filters());
        // The matches newest first (the OFFSET 0 keeps the planner from
        // merging the filters' join into the walk), then the filters.
        let mut sql = SqlBuilder::new(
            "WITH win AS (SELECT m.article_id, m.vector FROM (SELECT s.article_id, s.vector, s.seq \
             FROM article_search s WHERE s.live = 1 AND s.vector @@ plainto_tsquery('simple', ",
        );
        sql.bind(Arg::Text(words.join(" "))).push(")");
        if let Some(author) = &query.filters.author {
            sql.push(" AND s.author").any_form_of(author);
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
        sql.bind(Arg::Text(ranked.join(" "))).push("))::float8 AS score FROM win ORDER BY score DESC, id ASC LIMIT ");
        sql.bind(Arg::Int(i64::from(query.filters.page_size)))
            .push(" OFFSET ")
            .bind(Arg::Int(query.offset as i64))
            .push(SEARCH_PAGE_ROWS);
        let mut tx = self.readers.begin().await?;
        // Filters join each match to its article by primary key, never by
        // hashing the whole articles table.
        let mut settings = vec!["SET LOCAL enable_hashjoin = off", "SET LOCAL enable_mergejoin = off"];
        settings.extend(match plan {
            Plan::WalkBack => ["SET LOCAL enable_bitmapscan = off", "SET LOCAL enable_seqscan = off"],
            Plan::FetchMatches => ["SET LOCAL enable_indexscan = off", "SET LOCAL enable_seqscan = off"],
        });
        sqlx::raw_sql(AssertSqlSafe(settings.join("; "))).execute(&mut *tx).await?;
        let rows = sql.fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MILLION: f64 = 1_000_000.0;

    fn estimates(matches: f64, walk_matches: f64) -> Estimates {
        Estimates { live_texts: MILLION, matches, walk_matches }
    }

    #[test]
    fn common_words_walk_back_and_rare_words_fetch_their_matches() {
        // Half the archive holds the word: 1,000 of them are ~2,000 rows back.
        assert_eq!(choose_plan(estimates(MILLION / 2.0, MILLION / 2.0), 1000, false), Plan::WalkBack);
        // 100 texts hold it: a walk would go through the whole archive.
        assert_eq!(choose_plan(estimates(100.0, 100.0), 1000, false), Plan::FetchMatches);
        // Where the costs cross: walking 1000 × 1M × 0.65 against m² × 5.3.
        let crossing = (1000.0 * MILLION * 0.65 / 5.3_f64).sqrt();
        assert_eq!(choose_plan(estimates(crossing * 1.01, crossing * 1.01), 1000, false), Plan::WalkBack);
        assert_eq!(choose_plan(estimates(crossing * 0.99, crossing * 0.99), 1000, false), Plan::FetchMatches);
    }

    #[test]
    fn an_archive_never_analyzed_walks_back() {
        for live_texts in [-1.0, 0.0] {
            let unknown = Estimates { live_texts, matches: 0.0, walk_matches: 0.0 };
            assert_eq!(choose_plan(unknown, 1000, false), Plan::WalkBack);
        }
    }

    #[test]
    fn an_author_walk_is_priced_by_the_words_its_rows_do_not_all_hold() {
        // Few matches overall, but the other words are common in the
        // author's texts: the walk over them ends soon.
        assert_eq!(choose_plan(estimates(20_000.0, MILLION / 2.0), 250, true), Plan::WalkBack);
        // The same matches, the other words rare: fetch them.
        assert_eq!(choose_plan(estimates(20_000.0, 50.0), 250, true), Plan::FetchMatches);
        // Filters price a walked row higher and a fetched match lower.
        let unfiltered = choose_plan(estimates(7_000.0, 7_000.0), 250, false);
        let filtered = choose_plan(estimates(7_000.0, 7_000.0), 250, true);
        assert_eq!((unfiltered, filtered), (Plan::WalkBack, Plan::FetchMatches));
    }
}
