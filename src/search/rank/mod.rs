//! Relevance: the best matches of a query by BM25 over weighted fields,
//! found without scoring most matches (MaxScore, Turtle & Flood 1995).
//!
//! How an article scores:
//! - each word of a matching atom (a word, or each word of a matching
//!   phrase) adds its BM25 in each folded field, weighted by [`WEIGHTS`];
//! - a matching atom written with diacritics whose exact form is in the
//!   title or body adds [`EXACT_TIER`], more than BM25 gives any article,
//!   so exact matches rank first and BM25 orders each tier.
//!
//! How the best are found (block-max MaxScore, as Lucene's
//! MaxScoreBulkScorer): every source of score (a word in one field, an
//! atom's exact form) has a most it can add in a window of documents (from
//! tantivy's per-block maxima). A window whose sources together cannot
//! reach the worst score kept is skipped; a source without which the
//! others cannot reach it is required; of the rest, sorted by that most,
//! those that together cannot lift an article past what remains propose
//! no candidates. A candidate that does not match every clause is skipped
//! to the next that does, and one is dropped as soon as what it has plus
//! what it could still get falls below the worst kept. Ties go on: an
//! article scoring exactly the worst kept may still come first (it may be
//! newer). Pruning changes no result: the property tests below rank every
//! query both ways.

mod cursor;

use cursor::{Cursor, WordCursor, reaches, skew};

use super::{
    Filters, Order, SortKey,
    collect::{SortColumns, TopK},
    plan,
    query::Query,
    schema::Fields,
};
use tantivy::{
    DocAddress, DocId, DocSet, Score, Searcher, SegmentReader, TERMINATED, Term,
    fastfield::AliveBitSet,
    query::{Bm25StatisticsProvider, Bm25Weight, EnableScoring, Scorer, Weight},
    schema::{Field, IndexRecordOption},
};

/// What a match of an atom's exact (diacritic) form adds to a score.
pub const EXACT_TIER: Score = 1000.0;

/// The shortest window of documents ranked at once (see `SegmentRun`).
const WINDOW_DOCS: DocId = 4096;

/// The folded text fields' weights, by name: title, keywords, author,
/// body, the words spoken in the linked clips (caption tracks).
pub const WEIGHTS: [Score; 5] = [3.0, 2.0, 1.5, 1.0, 0.8];

fn weighted(fields: &Fields) -> [(Field, Score); 5] {
    [fields.title, fields.keywords_text, fields.author_text, fields.body, fields.captions]
        .into_iter()
        .zip(WEIGHTS)
        .collect::<Vec<_>>()
        .try_into()
        .expect("five fields")
}

/// A maximum made a little larger than what rounding can reach.
fn bound(max: Score) -> Score {
    max * (1.0 + 1e-4)
}

/// True when `at_most` (a sum in another order than the score's) is
/// surely below `floor`: sums in different orders differ in their last
/// bits, and a tie must never be lost to that.
fn below(at_most: Score, floor: Score) -> bool {
    at_most * (1.0 + 1e-5) < floor
}

/// A source of score, over the whole index.
enum Source {
    /// A folded word in one field: its BM25, weighted; `average` is the
    /// field's average length over the index.
    Word { term: Term, bm25: Bm25Weight, average: Score },
    /// Where an atom's exact form is.
    Exact(Box<dyn Weight>),
}

struct Planned {
    source: Source,
    atom: usize,
}

/// A query and its filters, ready to rank over an index.
pub struct Ranking<'a> {
    searcher: &'a Searcher,
    fields: &'a Fields,
    /// Sources by ascending maximum.
    sources: Vec<Planned>,
    /// What each required clause matches.
    clauses: Vec<Box<dyn Weight>>,
    /// Per atom: `None` when its clause has no alternative (a match of the
    /// clause is a match of the atom), else what it matches.
    atoms: Vec<Option<Box<dyn Weight>>>,
    /// Filters and exclusions.
    restrictions: Option<Box<dyn Weight>>,
}

/// Whether to prune (off: every candidate scored, to check the pruning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pruning {
    MaxScore,
    Off,
}

impl<'a> Ranking<'a> {
    pub fn new(searcher: &'a Searcher, fields: &'a Fields, query: &Query, filters: &Filters) -> tantivy::Result<Self> {
        let unscored = EnableScoring::disabled_from_searcher(searcher);
        let weight = |query: &dyn tantivy::query::Query| query.weight(unscored);
        let mut sources = Vec::new();
        let mut atoms = Vec::new();
        let mut clauses = Vec::new();
        for clause in &query.required {
            clauses.push(weight(plan::clause(fields, &clause.alternatives).as_ref())?);
            for atom in &clause.alternatives {
                let index = atoms.len();
                atoms.push(match clause.alternatives.len() {
                    1 => None,
                    _ => Some(weight(plan::atom(fields, atom).as_ref())?),
                });
                for term in atom.terms() {
                    for (field, factor) in weighted(fields) {
                        let term = Term::from_field_text(field, &term.folded);
                        let bm25 = Bm25Weight::for_terms(searcher, std::slice::from_ref(&term))?.boost_by(factor);
                        let average = searcher.total_num_tokens(field)? as Score
                            / Bm25StatisticsProvider::total_num_docs(searcher)?.max(1) as Score;
                        sources.push(Planned { source: Source::Word { term, bm25, average }, atom: index });
                    }
                }
                if let Some(exact) = plan::exact(fields, atom) {
                    let source = Source::Exact(weight(exact.as_ref())?);
                    sources.push(Planned { source, atom: index });
                }
            }
        }
        let restrictions = match plan::restrictions(fields, query, filters) {
            Some(query) => Some(weight(query.as_ref())?),
            None => None,
        };
        Ok(Self { searcher, fields, sources, clauses, atoms, restrictions })
    }

    /// The `limit` best matches that come after `after`, best first.
    pub fn top(
        &self,
        limit: usize,
        after: Option<&SortKey>,
        pruning: Pruning,
    ) -> tantivy::Result<Vec<(SortKey, DocAddress)>> {
        let mut top = TopK::new(Order::Relevance, limit, after);
        if limit == 0 {
            return Ok(Vec::new());
        }
        for (ord, reader) in self.searcher.segment_readers().iter().enumerate() {
            self.segment(ord as u32, reader, &mut top, pruning)?;
        }
        Ok(top.into_sorted())
    }

    fn cursor(&self, reader: &SegmentReader, source: &Source) -> tantivy::Result<Cursor> {
        Ok(match source {
            Source::Word { term, bm25, average } => {
                let inverted = reader.inverted_index(term.field())?;
                match inverted.read_block_postings(term, IndexRecordOption::WithFreqs)? {
                    Some(block) => {
                        let segment_average = inverted.total_num_tokens() as Score / reader.max_doc().max(1) as Score;
                        Cursor::Word(Box::new(WordCursor::new(
                            block,
                            reader.get_fieldnorms_reader(term.field())?,
                            bm25.clone(),
                            skew(segment_average, *average),
                        )))
                    }
                    None => Cursor::Empty,
                }
            }
            Source::Exact(weight) => Cursor::Exact(weight.scorer(reader, 1.0)?),
        })
    }

    fn segment(&self, ord: u32, reader: &SegmentReader, top: &mut TopK, pruning: Pruning) -> tantivy::Result<()> {
        let scorers = |weights: &[Box<dyn Weight>]| -> tantivy::Result<Vec<Box<dyn Scorer>>> {
            weights.iter().map(|w| w.scorer(reader, 1.0)).collect()
        };
        let count = self.sources.len();
        let mut run = SegmentRun {
            ord,
            cursors: self.sources.iter().map(|s| self.cursor(reader, &s.source)).collect::<tantivy::Result<_>>()?,
            atom_of: self.sources.iter().map(|s| s.atom).collect(),
            clauses: scorers(&self.clauses)?,
            atoms: self
                .atoms
                .iter()
                .map(|w| w.as_ref().map(|w| w.scorer(reader, 1.0)).transpose())
                .collect::<tantivy::Result<_>>()?,
            restrictions: self.restrictions.as_ref().map(|w| w.scorer(reader, 1.0)).transpose()?,
            columns: SortColumns::of(reader, self.fields)?,
            alive: reader.alive_bitset(),
            pruning,
            maxes: vec![0.0; count],
            required: Vec::with_capacity(count),
            required_max: 0.0,
            required_propose: false,
            by_max: Vec::with_capacity(count),
            prefix: Vec::with_capacity(count + 1),
            essential: 0,
            split_for: None,
            scores: vec![0.0; count],
            atom_matched: vec![false; self.atoms.len()],
        };
        run.run(top);
        Ok(())
    }
}

/// Ranking one segment, window by window: a window ends where the first
/// of the words' current blocks ends, but spans at least [`WINDOW_DOCS`],
/// so each source's most in it is known (its block's best score when the
/// block covers the window, else its best, or nothing when its next
/// document is past the window). A window whose sources cannot reach the worst kept score is
/// skipped whole. In the others, a source without which the rest cannot
/// reach it is required (a document must hold it, as it must match every
/// clause), and the other sources are split by their maxima: those that
/// together cannot lift a document to what remains are not essential, and
/// only the essential ones propose candidates.
struct SegmentRun<'r> {
    ord: u32,
    cursors: Vec<Cursor>,
    atom_of: Vec<usize>,
    clauses: Vec<Box<dyn Scorer>>,
    atoms: Vec<Option<Box<dyn Scorer>>>,
    restrictions: Option<Box<dyn Scorer>>,
    columns: SortColumns,
    alive: Option<&'r AliveBitSet>,
    pruning: Pruning,
    /// Per source, the most it adds in the current window.
    maxes: Vec<Score>,
    /// Sources every candidate must hold, what they add at most, and
    /// whether they propose candidates too.
    required: Vec<usize>,
    required_max: Score,
    required_propose: bool,
    /// The other sources by ascending window maximum, and the sums of
    /// those maxima (`prefix[i]`: what `by_max[..i]` can add at most).
    by_max: Vec<usize>,
    prefix: Vec<Score>,
    /// `by_max[essential..]` propose candidates.
    essential: usize,
    /// The worst kept score the split was made for.
    split_for: Option<Score>,
    /// Per source, what the document being scored gets.
    scores: Vec<Score>,
    atom_matched: Vec<bool>,
}

impl SegmentRun<'_> {
    fn floor(&self, top: &TopK) -> Option<Score> {
        match self.pruning {
            Pruning::MaxScore => top.threshold(),
            Pruning::Off => None,
        }
    }

    fn run(&mut self, top: &mut TopK) {
        let mut start: DocId = 0;
        while start != TERMINATED {
            start = self.window(start, top);
        }
    }

    /// Splits the sources for the worst kept score `floor` (see the
    /// struct's docs); false when nothing in the window can reach it.
    fn split(&mut self, floor: Option<Score>) -> bool {
        self.split_for = floor;
        let total: Score = self.maxes.iter().sum();
        let Some(floor) = floor else {
            self.required_propose = false;
            self.required.clear();
            self.required_max = 0.0;
            self.by_max.clear();
            self.by_max.extend(0..self.cursors.len());
            self.essential = 0;
            return true;
        };
        if below(total, floor) {
            return false;
        }
        let maxes = &self.maxes;
        self.required.clear();
        self.required.extend((0..maxes.len()).filter(|&s| maxes[s] > 0.0 && below(total - maxes[s], floor)));
        self.required_max = self.required.iter().map(|&s| maxes[s]).sum();
        self.by_max.clear();
        self.by_max.extend((0..maxes.len()).filter(|s| !self.required.contains(s)));
        self.by_max.sort_by(|a, b| maxes[*a].total_cmp(&maxes[*b]));
        self.prefix.clear();
        self.prefix.push(0.0);
        for &source in &self.by_max {
            let last = *self.prefix.last().expect("prefix starts at 0");
            self.prefix.push(last + maxes[source]);
        }
        let rest = floor - self.required_max;
        self.essential = self.prefix.partition_point(|p| below(*p, rest)).saturating_sub(1);
        self.required_propose = self.essential == self.by_max.len() || !below(self.required_max, floor);
        true
    }

    /// The least document of the sources that propose candidates: the
    /// essential ones, and the required ones when they may reach the worst
    /// kept on their own (or when nothing else is essential).
    fn proposed(&self) -> DocId {
        let required = if self.required_propose { &self.required[..] } else { &[] };
        self.by_max[self.essential..].iter().chain(required).map(|&s| self.cursors[s].doc()).min().unwrap_or(TERMINATED)
    }

    /// Ranks the window that begins at `start`; where the next begins.
    fn window(&mut self, start: DocId, top: &mut TopK) -> DocId {
        let mut end = TERMINATED - 1;
        let mut first = TERMINATED;
        for cursor in &mut self.cursors {
            cursor.reach(start);
            first = first.min(cursor.doc());
            if let Cursor::Word(word) = cursor {
                end = end.min(word.block_end());
            }
        }
        if first == TERMINATED {
            return TERMINATED;
        }
        // At least WINDOW_DOCS: a word whose blocks are shorter (a common
        // one) counts its best in the window instead of its block's.
        let end = end.max(first.saturating_add(WINDOW_DOCS - 1)).min(TERMINATED - 1);
        for (i, cursor) in self.cursors.iter_mut().enumerate() {
            self.maxes[i] = bound(cursor.max_until(end));
        }
        if !self.split(self.floor(top)) {
            return end.saturating_add(1);
        }
        loop {
            let doc = self.proposed();
            if doc > end {
                break;
            }
            let target = self.aligned(doc, end);
            if target > doc {
                if target > end {
                    return target;
                }
                for &source in self.by_max[self.essential..].iter().chain(&self.required) {
                    self.cursors[source].reach(target);
                }
                continue;
            }
            self.evaluate(doc, top);
            for &source in self.by_max[self.essential..].iter().chain(&self.required) {
                if self.cursors[source].doc() == doc {
                    self.cursors[source].advance();
                }
            }
            let floor = self.floor(top);
            if floor != self.split_for {
                if !self.split(floor) {
                    break;
                }
                // A source that proposes now may have been left behind.
                for &source in self.by_max[self.essential..].iter().chain(&self.required) {
                    self.cursors[source].reach(doc + 1);
                }
            }
        }
        end.saturating_add(1)
    }

    /// The first document at or after `doc` that every clause matches and
    /// that holds every required source, within the window ending at
    /// `end`. Past the window, only the clauses count (sources required
    /// here may not be in the next window): a clause's next match skips
    /// ahead, a required source's only to the next window.
    fn aligned(&mut self, doc: DocId, end: DocId) -> DocId {
        let mut target = doc;
        loop {
            let before = target;
            for clause in &mut self.clauses {
                if clause.doc() < target {
                    clause.seek(target);
                }
                target = target.max(clause.doc());
            }
            if target > end {
                return target;
            }
            for &source in &self.required {
                self.cursors[source].reach(target);
                target = target.max(self.cursors[source].doc());
                if target > end {
                    return end + 1;
                }
            }
            if target == before {
                return target;
            }
        }
    }

    /// Scores `doc` (every clause matches it, it holds every required
    /// source) and offers it, unless it cannot reach the worst kept: the
    /// required and essential sources first, then the others from the
    /// largest, while it still can.
    fn evaluate(&mut self, doc: DocId, top: &mut TopK) {
        let floor = self.split_for;
        self.scores.fill(0.0);
        let mut has = 0.0;
        for &source in self.by_max[self.essential..].iter().chain(&self.required) {
            if self.cursors[source].doc() == doc {
                self.scores[source] = self.cursors[source].score();
                has += self.scores[source];
            }
        }
        for i in (0..self.essential).rev() {
            if floor.is_some_and(|floor| below(has + self.prefix[i + 1], floor)) {
                return;
            }
            let source = self.by_max[i];
            if self.cursors[source].reach(doc) {
                self.scores[source] = self.cursors[source].score();
                has += self.scores[source];
            }
        }
        if floor.is_some_and(|floor| below(has, floor)) || self.alive.is_some_and(|bits| bits.is_deleted(doc)) {
            return;
        }
        if self.restrictions.as_mut().is_some_and(|r| !reaches(r.as_mut(), doc)) {
            return;
        }
        for (matched, atom) in self.atom_matched.iter_mut().zip(&mut self.atoms) {
            *matched = atom.as_mut().is_none_or(|a| reaches(a.as_mut(), doc));
        }
        // In source order, so that pruning never changes a sum.
        let mut score = 0.0;
        for (i, &atom) in self.atom_of.iter().enumerate() {
            if self.scores[i] > 0.0 && self.atom_matched[atom] {
                score += self.scores[i];
            }
        }
        if score > 0.0 {
            top.offer(self.columns.key(doc, score), DocAddress::new(self.ord, doc));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ids::ArticleId,
        metadata::{IndexedArticle, sample_record},
        search::{Facet, Hit, IndexSearch, IndexState, SearchIndex, query, schema::SCHEMA_VERSION},
    };
    use proptest::prelude::*;

    /// Few words, several sharing a folded form, so that matches pile up
    /// and tie.
    const WORDS: [&str; 12] = ["má", "mà", "ma", "mã", "bình", "binh", "thái", "chi", "bộ", "bo", "tin", "nhà"];
    const AUTHORS: [&str; 3] = ["Phạm Ngọc", "Lê Văn Tám", "Trần Bình"];

    #[derive(Debug, Clone)]
    struct Doc {
        title: Vec<usize>,
        body: Vec<usize>,
        author: usize,
        publish: i64,
    }

    fn text(words: &[usize]) -> String {
        words.iter().map(|&w| WORDS[w]).collect::<Vec<_>>().join(" ")
    }

    /// An index of `docs` in segments of `segment` documents, every seventh
    /// deleted.
    fn index_of(docs: &[Doc], segment: usize) -> (tempfile::TempDir, SearchIndex) {
        let dir = tempfile::tempdir().unwrap();
        let index = SearchIndex::open(&dir.path().join("i"), 15 << 20).unwrap();
        let commit = |seq: usize| {
            index.commit(&IndexState { schema: SCHEMA_VERSION, feed_id: "f".into(), seq: seq as i64, complete: true })
        };
        for (i, doc) in docs.iter().enumerate() {
            let mut record = sample_record(&format!("a-{i}"), &text(&doc.title), 1_500_000_000 + doc.publish);
            record.author = AUTHORS[doc.author].into();
            let article = IndexedArticle { record, body: text(&doc.body), captions: Vec::new() };
            index.put(&article.record.id, Some(&article)).unwrap();
            if i % segment == segment - 1 {
                commit(i).unwrap();
            }
        }
        for i in (0..docs.len()).step_by(7) {
            index.put(&ArticleId::parse(&format!("a-{i}")).unwrap(), None).unwrap();
        }
        commit(docs.len()).unwrap();
        (dir, index)
    }

    fn docs() -> impl Strategy<Value = Vec<Doc>> {
        let doc = (
            prop::collection::vec(0..WORDS.len(), 1..6),
            prop::collection::vec(0..WORDS.len(), 0..25),
            0..AUTHORS.len(),
            0..50i64,
        )
            .prop_map(|(title, body, author, publish)| Doc { title, body, author, publish });
        prop::collection::vec(doc, 60..160)
    }

    /// A query of one to three parts: words, phrases, exclusions, `OR`.
    fn queries() -> impl Strategy<Value = String> {
        let part = (prop::collection::vec(0..WORDS.len(), 1..4), 0..6u8).prop_map(|(words, kind)| match kind {
            0 => format!("\"{}\"", text(&words)),
            1 => format!("-{}", WORDS[words[0]]),
            2 => format!("{} OR \"{}\"", WORDS[words[0]], text(&words)),
            _ => WORDS[words[0]].to_owned(),
        });
        prop::collection::vec(part, 1..4).prop_map(|parts| parts.join(" "))
    }

    fn keys(hits: &[Hit]) -> Vec<(String, u32, i64, u64)> {
        hits.iter().map(|h| (h.id.to_string(), h.key.score.to_bits(), h.key.publish_us, h.key.tiebreak)).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Pruning never changes what ranks, in what order, with what
        /// score, on any page; and what ranks is what the search counts.
        #[test]
        fn pruning_changes_no_result(docs in docs(), texts in prop::collection::vec(queries(), 8), filtered in any::<bool>()) {
            let (_dir, index) = index_of(&docs, 40);
            let filters = Filters { authors: if filtered { vec![AUTHORS[0].into()] } else { Vec::new() }, ..Filters::default() };
            for text in texts {
                let Ok(query) = query::parse(&text) else { continue };
                let all = index.ranked(&query, &filters, 10_000, None, Pruning::Off).unwrap();
                let counted = index.search(&IndexSearch {
                    query: query.clone(), filters: filters.clone(), order: Order::Relevance, limit: 1,
                    after: None, facets: vec![Facet::HasMedia], facet_size: 10,
                }).unwrap();
                prop_assert_eq!(all.len() as u64, counted.total, "{}: ranked and counted alike", text);
                for limit in [1, 3, 10] {
                    let mut pages = Vec::new();
                    let mut after = None;
                    loop {
                        let page = index.ranked(&query, &filters, limit, after.as_ref(), Pruning::MaxScore).unwrap();
                        prop_assert!(page.len() <= limit);
                        let Some(last) = page.last() else { break };
                        after = Some(last.key);
                        pages.extend(page);
                    }
                    prop_assert_eq!(keys(&pages), keys(&all), "{} by pages of {}", text, limit);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

        /// Over full blocks of postings (128 documents) in segments whose
        /// texts differ in length, where each block's best score is read
        /// from the index rather than computed.
        #[test]
        fn pruning_holds_over_full_blocks(mut docs in prop::collection::vec(docs(), 6).prop_map(|d| d.concat()), texts in prop::collection::vec(queries(), 12)) {
            for (i, doc) in docs.iter_mut().enumerate() {
                // Segments of 300: short, long, short, …
                if (i / 300) % 2 == 0 {
                    doc.body.truncate(3);
                } else {
                    let words = doc.body.clone();
                    doc.body.extend(words.iter().chain(&words));
                }
            }
            let (_dir, index) = index_of(&docs, 300);
            for text in texts {
                let Ok(query) = query::parse(&text) else { continue };
                let all = index.ranked(&query, &Filters::default(), 10_000, None, Pruning::Off).unwrap();
                for limit in [1, 10] {
                    let pruned = index.ranked(&query, &Filters::default(), limit, None, Pruning::MaxScore).unwrap();
                    prop_assert_eq!(keys(&pruned), keys(&all[..limit.min(all.len())]), "{} top {}", text, limit);
                }
            }
        }
    }

    fn ids(hits: &[Hit]) -> Vec<String> {
        hits.iter().map(|h| h.id.to_string()).collect()
    }

    fn doc(title: &str, body: &str, publish: i64) -> Doc {
        let words = |text: &str| text.split_whitespace().map(|w| WORDS.iter().position(|x| *x == w).unwrap()).collect();
        Doc { title: words(title), body: words(body), author: 1, publish }
    }

    #[test]
    fn exact_forms_rank_first_and_phrases_stay_inside_one_text() {
        let docs = [
            doc("nhà", "nhà", 0), // deleted (every seventh)
            doc("mà", "tin", 1),
            doc("má", "tin nhà", 2),
            doc("ma", "tin", 3),
            doc("chi bộ", "tin nhà", 4),
            doc("nhà", "chi bộ tin", 5),
            doc("tin chi", "bộ tin", 6),
        ];
        let (_dir, index) = index_of(&docs, 40);
        let rank = |text: &str| {
            ids(&index.ranked(&query::parse(text).unwrap(), &Filters::default(), 10, None, Pruning::MaxScore).unwrap())
        };
        assert_eq!(rank("má")[0], "a-2", "the exact form first");
        assert_eq!(rank("ma"), ["a-3", "a-2", "a-1"], "without diacritics: alike, newest first");
        // Adjacent in one text, never across the title and the body.
        assert_eq!(rank("\"chi bộ tin\""), ["a-5"]);
        let mut pair = rank("\"chi bo\"");
        pair.sort();
        assert_eq!(pair, ["a-4", "a-5"]);
        // An alternative written with diacritics: its exact form first.
        let either = rank("\"chi bo tin\" OR mà");
        assert_eq!(either[0], "a-1");
        let mut rest = either[1..].to_vec();
        rest.sort();
        assert_eq!(rest, ["a-2", "a-3", "a-5"]);
        assert!(!rank("nhà").contains(&"a-0".to_string()), "deleted");
    }
}
