//! The index on disk: opened (or made anew when missing, damaged or of
//! another schema), searched, and written by the projection alone. Each
//! commit carries the change feed position it reflects ([`IndexState`]),
//! so a restart resumes exactly where the last commit ended.

use super::{
    Filters, Found, Hit, IndexSearch, Order, SortKey, TOTAL_SIZE_BOUND, collect, plan,
    query::Query,
    rank::{Pruning, Ranking},
    related,
    schema::{self, Fields, SCHEMA_VERSION},
};
use crate::{ids::ArticleId, metadata::IndexedArticle};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::{
    path::{Path, PathBuf},
    sync::Mutex,
};
use tantivy::{
    Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument,
    query::{BooleanQuery, Occur, Query as TantivyQuery, TermQuery},
    schema::IndexRecordOption,
};

/// Where an index stands, stored with each commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexState {
    /// [`SCHEMA_VERSION`] of the code that wrote it.
    pub schema: u32,
    /// The database feed it follows.
    pub feed_id: String,
    /// Every change up to this seq is reflected.
    pub seq: i64,
    /// False while a rebuild is under way: a restart rebuilds again.
    pub complete: bool,
}

/// Words of an article a related-articles query is made of, at most.
const RELATED_QUERY_TERMS: usize = 30;

/// A replica's search index.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    writer: Mutex<IndexWriter>,
    dir: PathBuf,
    /// The feed seq the last commit reached (searchable from then on).
    applied: tokio::sync::watch::Sender<i64>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex").field("dir", &self.dir).finish()
    }
}

/// Opens the index in `dir`, whatever state it is in: `None` when it does
/// not open, or was written for another schema.
fn open_existing(dir: &Path) -> Option<Index> {
    if !dir.join("meta.json").exists() {
        return None;
    }
    match Index::open_in_dir(dir) {
        Ok(index) => {
            let state = read_state(&index);
            if state.as_ref().is_some_and(|s| s.schema == SCHEMA_VERSION) {
                return Some(index);
            }
            tracing::warn!(dir = %dir.display(), ?state, "search index of another schema; rebuilding it");
            None
        }
        Err(error) => {
            tracing::warn!(dir = %dir.display(), %error, "search index does not open; rebuilding it");
            None
        }
    }
}

fn read_state(index: &Index) -> Option<IndexState> {
    let payload = index.load_metas().ok()?.payload?;
    serde_json::from_str(&payload).ok()
}

impl SearchIndex {
    /// What an index directory holds, in a sentence, read without writing
    /// (`archived check`; archived may be running on it).
    pub fn describe(dir: &Path) -> String {
        let shown = dir.display();
        if !dir.join("meta.json").exists() {
            return format!("search index {shown}: none yet; archived builds it from the database at start");
        }
        let Some(index) = open_existing(dir) else {
            return format!("search index {shown}: damaged or of another schema; archived rebuilds it at start");
        };
        schema::register_tokenizers(&index);
        let documents = index.reader().map(|reader| reader.searcher().num_docs());
        match (read_state(&index), documents) {
            (Some(state), Ok(documents)) => format!(
                "search index {shown}: {documents} articles, feed {} through change {}{}",
                state.feed_id,
                state.seq,
                if state.complete { "" } else { " (a rebuild was interrupted; archived starts it again)" }
            ),
            _ => format!("search index {shown}: unreadable; archived rebuilds it at start"),
        }
    }

    /// Opens the index in `dir`, or makes an empty one there in place of a
    /// missing, damaged or outdated one. Fails when another process writes
    /// it.
    pub fn open(dir: &Path, writer_memory_bytes: usize) -> anyhow::Result<Self> {
        let index = match open_existing(dir) {
            Some(index) => index,
            None => {
                if dir.exists() {
                    // Only an index (or an empty directory) is ever removed:
                    // a misconfigured index_dir must not take other files.
                    let holds_other_files = !dir.join("meta.json").exists()
                        && std::fs::read_dir(dir)
                            .with_context(|| format!("reading {}", dir.display()))?
                            .next()
                            .is_some();
                    anyhow::ensure!(
                        !holds_other_files,
                        "search.index_dir {} holds files that are not a search index; name an empty or new directory",
                        dir.display()
                    );
                    std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
                }
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
                Index::create_in_dir(dir, schema::schema().0)
                    .with_context(|| format!("creating the search index in {}", dir.display()))?
            }
        };
        schema::register_tokenizers(&index);
        let fields = schema::fields_of(&index.schema()).context("search index fields")?;
        let writer = index
            .writer_with_num_threads(1, writer_memory_bytes)
            .with_context(|| format!("search index {} (is another archived using it?)", dir.display()))?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let applied = tokio::sync::watch::Sender::new(read_state(&index).filter(|s| s.complete).map_or(0, |s| s.seq));
        Ok(Self { index, reader, fields, writer: Mutex::new(writer), dir: dir.to_owned(), applied })
    }

    /// The state of the last commit; `None` for a new index.
    pub fn state(&self) -> Option<IndexState> {
        read_state(&self.index)
    }

    /// Articles the index holds (as of the last commit).
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs a search (CPU-bound: call from a blocking task).
    pub fn search(&self, search: &IndexSearch) -> tantivy::Result<Found> {
        let searcher = self.reader.searcher();
        let query = plan::matching(&self.fields, &search.query, &search.filters);
        let top = match search.order {
            Order::Relevance => Ranking::new(&searcher, &self.fields, &search.query, &search.filters)?.top(
                search.limit,
                search.after.as_ref(),
                Pruning::MaxScore,
            )?,
            Order::Newest | Order::Oldest => collect::top(
                &searcher,
                &self.fields,
                query.as_ref(),
                search.order,
                search.limit,
                search.after.as_ref(),
            )?,
        };
        let hits = self.hits(&searcher, top)?;
        let mut found = Found { hits, ..Default::default() };
        if search.facets.is_empty() {
            let (total, reached) = collect::count_up_to(&searcher, query.as_ref(), TOTAL_SIZE_BOUND)?;
            found.total = total;
            found.total_is_lower_bound = reached;
        } else {
            let (facets, total) =
                collect::facet_counts(&searcher, &self.fields, query.as_ref(), &search.facets, search.facet_size)?;
            found.facets = facets;
            found.total = total;
        }
        Ok(found)
    }

    /// The `limit` best matches of `query` by relevance after `after`, with
    /// or without pruning (tests and the bench compare the two).
    pub fn ranked(
        &self,
        query: &Query,
        filters: &Filters,
        limit: usize,
        after: Option<&SortKey>,
        pruning: Pruning,
    ) -> tantivy::Result<Vec<Hit>> {
        let searcher = self.reader.searcher();
        let top = Ranking::new(&searcher, &self.fields, query, filters)?.top(limit, after, pruning)?;
        self.hits(&searcher, top)
    }

    /// The `limit` articles most like `article` (title, keywords, body),
    /// itself left out, under `filters`.
    pub fn related(&self, article: &IndexedArticle, filters: &Filters, limit: usize) -> tantivy::Result<Vec<Hit>> {
        let fields = &self.fields;
        let record = &article.record;
        let searcher = self.reader.searcher();
        let words = vec![
            (fields.title, vec![record.title.as_str()]),
            (fields.keywords_text, record.keywords.iter().map(String::as_str).collect()),
            (fields.body, vec![article.body.as_str()]),
        ];
        let Some(like) = related::like_query(&searcher, &words, RELATED_QUERY_TERMS)? else {
            return Ok(Vec::new());
        };
        let itself = TermQuery::new(fields.id_term(record.id.as_str()), IndexRecordOption::Basic);
        let mut clauses: Vec<(Occur, Box<dyn TantivyQuery>)> =
            vec![(Occur::Must, Box::new(like)), (Occur::MustNot, Box::new(itself))];
        clauses.extend(plan::filter_clauses(fields, filters));
        let query = BooleanQuery::new(clauses);
        let top = collect::top(&searcher, fields, &query, Order::Relevance, limit, None)?;
        self.hits(&searcher, top)
    }

    fn hits(
        &self,
        searcher: &tantivy::Searcher,
        top: Vec<(SortKey, tantivy::DocAddress)>,
    ) -> tantivy::Result<Vec<Hit>> {
        let mut hits = Vec::with_capacity(top.len());
        for (key, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            // An id the index holds was a valid one when it was written.
            if let Some(id) = self.fields.id_of(&doc).and_then(|id| ArticleId::parse(&id).ok()) {
                hits.push(Hit { id, key });
            }
        }
        Ok(hits)
    }

    /// Empties the index (a rebuild starts); takes effect at the next commit.
    pub fn clear(&self) -> tantivy::Result<()> {
        self.writer().delete_all_documents()?;
        Ok(())
    }

    /// Makes the document of `id` what `article` says: replaced, or removed
    /// when `None` (deleted or purged). Takes effect at the next commit.
    pub fn put(&self, id: &ArticleId, article: Option<&IndexedArticle>) -> tantivy::Result<()> {
        let writer = self.writer();
        writer.delete_term(self.fields.id_term(id.as_str()));
        if let Some(article) = article {
            writer.add_document(self.fields.document(article))?;
        }
        Ok(())
    }

    /// Commits what was put since the last commit, with `state`, and makes
    /// it searchable.
    pub fn commit(&self, state: &IndexState) -> anyhow::Result<()> {
        {
            let mut writer = self.writer();
            let mut commit = writer.prepare_commit()?;
            commit.set_payload(&serde_json::to_string(state)?);
            commit.commit()?;
        }
        self.reader.reload()?;
        // A rebuild's progress is searchable, but only a complete index
        // holds everything through its seq.
        if state.complete {
            self.applied.send_replace(state.seq);
        }
        Ok(())
    }

    /// Waits until the index holds every change through `seq`, at most
    /// `timeout`; true when it does.
    pub async fn wait_for(&self, seq: i64, timeout: std::time::Duration) -> bool {
        let mut applied = self.applied.subscribe();
        tokio::time::timeout(timeout, applied.wait_for(|applied| *applied >= seq)).await.is_ok_and(|r| r.is_ok())
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, IndexWriter> {
        // A panic while writing leaves nothing half-applied that the next
        // commit would not also carry: the projection rebuilds on error.
        self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        metadata::sample_record,
        search::{Facet, query},
    };

    fn article(id: &str, title: &str, publish_seconds: i64) -> IndexedArticle {
        IndexedArticle {
            record: sample_record(id, title, publish_seconds),
            body: "Tin tức trong ngày.".into(),
            captions: Vec::new(),
        }
    }

    fn search(text: &str, limit: usize, after: Option<SortKey>, facets: Vec<Facet>) -> IndexSearch {
        IndexSearch {
            query: query::parse(text).unwrap(),
            filters: Filters::default(),
            order: Order::Relevance,
            limit,
            after,
            facets,
            facet_size: 10,
        }
    }

    /// Writes `count` articles that score alike, committing every 1,000 (so
    /// the index has several segments).
    fn filled(count: u64) -> (tempfile::TempDir, SearchIndex) {
        let dir = tempfile::tempdir().unwrap();
        let index = SearchIndex::open(&dir.path().join("i"), 15 << 20).unwrap();
        for i in 0..count {
            let article = article(&format!("a-{i}"), "Bản tin", 1_500_000_000 + i as i64);
            index.put(&article.record.id, Some(&article)).unwrap();
            if i % 1000 == 999 {
                index
                    .commit(&IndexState { schema: SCHEMA_VERSION, feed_id: "f".into(), seq: i as i64, complete: true })
                    .unwrap();
            }
        }
        index
            .commit(&IndexState { schema: SCHEMA_VERSION, feed_id: "f".into(), seq: count as i64, complete: true })
            .unwrap();
        (dir, index)
    }

    #[test]
    fn totals_are_exact_up_to_the_bound_then_a_lower_bound() {
        let (_dir, index) = filled(TOTAL_SIZE_BOUND + 5);
        let found = index.search(&search("bản tin", 5, None, Vec::new())).unwrap();
        assert_eq!((found.total, found.total_is_lower_bound), (TOTAL_SIZE_BOUND, true));
        let counted = index.search(&search("bản tin", 5, None, vec![Facet::Author])).unwrap();
        assert_eq!((counted.total, counted.total_is_lower_bound), (TOTAL_SIZE_BOUND + 5, false), "facets count all");
        assert_eq!(counted.facets[0].values, [("Phạm Ngọc".to_string(), TOTAL_SIZE_BOUND + 5)]);
    }

    #[test]
    fn ties_go_newest_first_and_pages_resume_after_the_last_key() {
        let (_dir, index) = filled(2_500);
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let found = index.search(&search("bản tin", 300, after, Vec::new())).unwrap();
            let Some(last) = found.hits.last() else { break };
            after = Some(last.key);
            seen.extend(found.hits.into_iter().map(|hit| hit.id.to_string()));
        }
        let expected: Vec<String> = (0..2_500).rev().map(|i| format!("a-{i}")).collect();
        assert_eq!(seen, expected, "every tie, newest first, each once");
        // Replaced and removed documents leave the results.
        let first = article("a-2499", "Khác hẳn", 1_500_000_000);
        index.put(&first.record.id, Some(&first)).unwrap();
        index.put(&ArticleId::parse("a-2498").unwrap(), None).unwrap();
        index.commit(&IndexState { schema: SCHEMA_VERSION, feed_id: "f".into(), seq: 9_999, complete: true }).unwrap();
        let found = index.search(&search("bản tin", 2, None, Vec::new())).unwrap();
        let ids: Vec<String> = found.hits.iter().map(|hit| hit.id.to_string()).collect();
        assert_eq!(ids, ["a-2497", "a-2496"]);
        assert_eq!(found.total, 2_498);
    }

    #[test]
    fn related_articles_hold_after_deletions_not_yet_merged() {
        let (_dir, index) = filled(0);
        let subject = |id: &str| IndexedArticle {
            record: sample_record(id, "Lúa mùa Thái Bình", 1_500_000_000),
            body: "Nông dân Thái Bình gặt lúa mùa sớm.".into(),
            captions: Vec::new(),
        };
        for i in 0..6 {
            let article = subject(&format!("lua-{i}"));
            index.put(&article.record.id, Some(&article)).unwrap();
        }
        index.commit(&IndexState { schema: SCHEMA_VERSION, feed_id: "f".into(), seq: 1, complete: true }).unwrap();
        // Deleted documents still count in a word's document frequency until
        // their segment merges: more than the live documents.
        for i in 2..6 {
            index.put(&ArticleId::parse(&format!("lua-{i}")).unwrap(), None).unwrap();
        }
        index.commit(&IndexState { schema: SCHEMA_VERSION, feed_id: "f".into(), seq: 2, complete: true }).unwrap();
        let hits = index.related(&subject("lua-0"), &Filters::default(), 5).unwrap();
        let ids: Vec<String> = hits.iter().map(|hit| hit.id.to_string()).collect();
        assert_eq!(ids, ["lua-1"], "the one live article alike, not itself");
    }

    #[tokio::test]
    async fn an_index_being_rebuilt_answers_with_what_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let index = SearchIndex::open(&dir.path().join("i"), 15 << 20).unwrap();
        let first = article("a-1", "Bản tin", 1_500_000_000);
        index.put(&first.record.id, Some(&first)).unwrap();
        // Mid-rebuild: searchable, but not yet holding everything through its seq.
        index.commit(&IndexState { schema: SCHEMA_VERSION, feed_id: "f".into(), seq: 7, complete: false }).unwrap();
        let found = index.search(&search("bản tin", 5, None, Vec::new())).unwrap();
        assert_eq!(found.hits.len(), 1, "answers from what is in");
        let waited = std::time::Instant::now();
        assert!(!index.wait_for(7, std::time::Duration::from_millis(200)).await, "not complete through 7");
        assert!(waited.elapsed() >= std::time::Duration::from_millis(200));
        index.commit(&IndexState { schema: SCHEMA_VERSION, feed_id: "f".into(), seq: 7, complete: true }).unwrap();
        assert!(index.wait_for(7, std::time::Duration::from_millis(200)).await);
        // Reopened, it says where it stands.
        drop(index);
        let reopened = SearchIndex::open(&dir.path().join("i"), 15 << 20).unwrap();
        assert_eq!(reopened.state().map(|s| (s.seq, s.complete)), Some((7, true)));
        assert_eq!(reopened.num_docs(), 1);
        assert!(SearchIndex::describe(&dir.path().join("i")).contains("1 articles"));
        assert!(SearchIndex::describe(&dir.path().join("none")).contains("none yet"));
        // A directory of other files is refused, never emptied.
        let other = dir.path().join("other");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("archive.db"), b"data").unwrap();
        assert!(SearchIndex::open(&other, 15 << 20).is_err());
        assert!(other.join("archive.db").exists());
    }
}
