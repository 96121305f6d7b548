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
//! How the best are found: every source of score (a word in one field, an
//! atom's exact form) has a maximum. Sorted by it, the sources whose
//! maxima sum to less than the worst score kept cannot put an article in
//! the top on their own, so only the others (the essential sources)
//! propose candidates; a candidate that does not match every clause is
//! skipped to the next that does, and one is dropped as soon as what it
//! has plus what it could still get falls below the worst kept. Ties go
//! on: an article scoring exactly the worst kept may still come first (it
//! may be newer).

use super::{
    Filters, Order, SortKey,
    collect::{SortColumns, TopK},
    plan,
    query::{Atom, Query},
    schema::Fields,
};
use tantivy::{
    DocAddress, DocId, DocSet, Score, Searcher, SegmentReader, TERMINATED, Term,
    fieldnorm::FieldNormReader,
    postings::{Postings, SegmentPostings},
    query::{Bm25Weight, BooleanQuery, EnableScoring, Occur, Scorer, Weight},
    schema::{Field, IndexRecordOption},
};

/// What a match of an atom's exact (diacritic) form adds to a score.
pub const EXACT_TIER: Score = 1000.0;

/// The folded text fields' weights, by name: title, keywords, author,
/// body.
pub const WEIGHTS: [Score; 4] = [3.0, 2.0, 1.5, 1.0];

fn weighted(fields: &Fields) -> [(Field, Score); 4] {
    [fields.title, fields.keywords_text, fields.author_text, fields.body]
        .into_iter()
        .zip(WEIGHTS)
        .collect::<Vec<_>>()
        .try_into()
        .expect("four fields")
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
    /// A folded word in one field: its BM25, weighted.
    Word { term: Term, bm25: Bm25Weight },
    /// An atom's exact form: `candidates` holds every article that may
    /// have it; `verify`, when set, confirms (phrases).
    Exact { candidates: Box<dyn Weight>, verify: Option<Box<dyn Weight>> },
}

struct Planned {
    source: Source,
    atom: usize,
    max: Score,
}

/// A folded word's postings in one field of one segment, scored.
struct WordCursor {
    postings: SegmentPostings,
    norms: FieldNormReader,
    bm25: Bm25Weight,
}

/// A source's cursor in one segment.
enum Cursor {
    Word(Box<WordCursor>),
    Exact { candidates: Box<dyn Scorer>, verify: Option<Box<dyn Scorer>> },
    Empty,
}

impl Cursor {
    fn doc(&self) -> DocId {
        match self {
            Cursor::Word(word) => word.postings.doc(),
            Cursor::Exact { candidates, .. } => candidates.doc(),
            Cursor::Empty => TERMINATED,
        }
    }

    fn advance(&mut self) {
        match self {
            Cursor::Word(word) => {
                word.postings.advance();
            }
            Cursor::Exact { candidates, .. } => {
                candidates.advance();
            }
            Cursor::Empty => {}
        }
    }

    /// Moves to the first document at or after `target`; true when it is
    /// `target`.
    fn reach(&mut self, target: DocId) -> bool {
        let doc = self.doc();
        if doc < target {
            match self {
                Cursor::Word(word) => word.postings.seek(target) == target,
                Cursor::Exact { candidates, .. } => candidates.seek(target) == target,
                Cursor::Empty => false,
            }
        } else {
            doc == target
        }
    }

    /// What the current document gets (an exact form: before verifying).
    fn score(&mut self) -> Score {
        match self {
            Cursor::Word(word) => {
                let doc = word.postings.doc();
                word.bm25.score(word.norms.fieldnorm_id(doc), word.postings.term_freq())
            }
            Cursor::Exact { .. } => EXACT_TIER,
            Cursor::Empty => 0.0,
        }
    }

    /// False when the exact form proposed at `doc` is not there after all.
    fn verified(&mut self, doc: DocId) -> bool {
        match self {
            Cursor::Exact { verify: Some(verify), .. } => reaches(verify.as_mut(), doc),
            _ => true,
        }
    }
}

fn reaches(docs: &mut dyn DocSet, target: DocId) -> bool {
    let doc = docs.doc();
    if doc < target { docs.seek(target) == target } else { doc == target }
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
                        let max = bm25.max_score();
                        sources.push(Planned { source: Source::Word { term, bm25 }, atom: index, max });
                    }
                }
                if let Some(exact) = exact_source(fields, atom, &weight)? {
                    sources.push(Planned { source: exact, atom: index, max: EXACT_TIER });
                }
            }
        }
        sources.sort_by(|a, b| a.max.total_cmp(&b.max));
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
            Source::Word { term, bm25 } => {
                let postings =
                    reader.inverted_index(term.field())?.read_postings(term, IndexRecordOption::WithFreqs)?;
                match postings {
                    Some(postings) => Cursor::Word(Box::new(WordCursor {
                        postings,
                        norms: reader.get_fieldnorms_reader(term.field())?,
                        bm25: bm25.clone(),
                    })),
                    None => Cursor::Empty,
                }
            }
            Source::Exact { candidates, verify } => Cursor::Exact {
                candidates: candidates.scorer(reader, 1.0)?,
                verify: match verify {
                    Some(verify) => Some(verify.scorer(reader, 1.0)?),
                    None => None,
                },
            },
        })
    }

    fn segment(&self, ord: u32, reader: &SegmentReader, top: &mut TopK, pruning: Pruning) -> tantivy::Result<()> {
        let mut cursors: Vec<Cursor> =
            self.sources.iter().map(|s| self.cursor(reader, &s.source)).collect::<tantivy::Result<_>>()?;
        let atom_of: Vec<usize> = self.sources.iter().map(|s| s.atom).collect();
        // prefix[i]: what sources 0..i can add at most.
        let mut prefix = vec![0.0; cursors.len() + 1];
        for (i, source) in self.sources.iter().enumerate() {
            prefix[i + 1] = prefix[i] + bound(source.max);
        }
        let mut clauses: Vec<Box<dyn Scorer>> =
            self.clauses.iter().map(|w| w.scorer(reader, 1.0)).collect::<tantivy::Result<_>>()?;
        let mut atoms: Vec<Option<Box<dyn Scorer>>> = self
            .atoms
            .iter()
            .map(|w| w.as_ref().map(|w| w.scorer(reader, 1.0)).transpose())
            .collect::<tantivy::Result<_>>()?;
        let mut restrictions = self.restrictions.as_ref().map(|w| w.scorer(reader, 1.0)).transpose()?;
        let columns = SortColumns::of(reader, self.fields)?;
        let alive = reader.alive_bitset();
        let threshold = |top: &TopK| match pruning {
            Pruning::MaxScore => top.threshold(),
            Pruning::Off => None,
        };
        // Sources below `essential` cannot rank an article on their own.
        let essential_from = |threshold: Option<Score>| match threshold {
            Some(t) => prefix.partition_point(|p| *p < t).saturating_sub(1),
            None => 0,
        };
        let count = cursors.len();
        let mut essential = essential_from(threshold(top));
        let mut scores = vec![0.0; count];
        let mut atom_matched = vec![false; atoms.len()];
        while essential < count {
            let doc = cursors[essential..].iter().map(Cursor::doc).min().unwrap_or(TERMINATED);
            if doc == TERMINATED {
                break;
            }
            // The first document at or after it that every clause matches.
            let mut target = doc;
            for clause in &mut clauses {
                if clause.doc() < target {
                    clause.seek(target);
                }
                target = target.max(clause.doc());
            }
            if target == TERMINATED {
                break;
            }
            if target > doc {
                for cursor in &mut cursors[essential..] {
                    cursor.reach(target);
                }
                continue;
            }
            // What it has from the essential sources, then the others,
            // the largest first, while it can still rank.
            let floor = threshold(top);
            scores.fill(0.0);
            let mut has = 0.0;
            for (i, cursor) in cursors.iter_mut().enumerate().skip(essential) {
                if cursor.doc() == doc {
                    scores[i] = cursor.score();
                    has += scores[i];
                }
            }
            let mut can_rank = true;
            for i in (0..essential).rev() {
                if floor.is_some_and(|floor| below(has + prefix[i + 1], floor)) {
                    can_rank = false;
                    break;
                }
                if cursors[i].reach(doc) {
                    scores[i] = cursors[i].score();
                    has += scores[i];
                }
            }
            if can_rank && floor.is_none_or(|floor| !below(has, floor)) && alive.is_none_or(|bits| bits.is_alive(doc)) {
                let mut passes = restrictions.as_mut().is_none_or(|r| reaches(r.as_mut(), doc));
                if passes {
                    for (matched, atom) in atom_matched.iter_mut().zip(&mut atoms) {
                        *matched = atom.as_mut().is_none_or(|a| reaches(a.as_mut(), doc));
                    }
                    // In source order, so that pruning never changes a sum.
                    let mut score = 0.0;
                    for (i, cursor) in cursors.iter_mut().enumerate() {
                        if scores[i] > 0.0 && atom_matched[atom_of[i]] && cursor.verified(doc) {
                            score += scores[i];
                        }
                    }
                    passes = score > 0.0;
                    if passes {
                        top.offer(columns.key(doc, score), DocAddress::new(ord, doc));
                    }
                }
            }
            for cursor in &mut cursors[essential..] {
                if cursor.doc() == doc {
                    cursor.advance();
                }
            }
            essential = essential.max(essential_from(threshold(top)));
        }
        Ok(())
    }
}

/// The exact-form source of `atom`, when it was written with diacritics:
/// the exact word in the title or body; for a phrase, its folded match
/// confirmed by the exact phrase in the title or body.
fn exact_source(
    fields: &Fields,
    atom: &Atom,
    weight: &impl Fn(&dyn tantivy::query::Query) -> tantivy::Result<Box<dyn Weight>>,
) -> tantivy::Result<Option<Source>> {
    let terms = atom.terms();
    if terms.iter().all(|t| t.exact.is_none()) {
        return Ok(None);
    }
    let exact: Vec<&str> = terms.iter().map(|t| t.exact.as_deref().unwrap_or(&t.folded)).collect();
    let either = BooleanQuery::new(vec![
        (Occur::Should, plan::in_field(fields.title_exact, &exact)),
        (Occur::Should, plan::in_field(fields.body_exact, &exact)),
    ]);
    Ok(Some(match atom {
        Atom::Word(_) => Source::Exact { candidates: weight(&either)?, verify: None },
        Atom::Phrase(_) => {
            Source::Exact { candidates: weight(plan::atom(fields, atom).as_ref())?, verify: Some(weight(&either)?) }
        }
    }))
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

    /// An index of `docs` in several segments, every seventh deleted.
    fn index_of(docs: &[Doc]) -> (tempfile::TempDir, SearchIndex) {
        let dir = tempfile::tempdir().unwrap();
        let index = SearchIndex::open(&dir.path().join("i"), 15 << 20).unwrap();
        let commit = |seq: usize| {
            index.commit(&IndexState { schema: SCHEMA_VERSION, feed_id: "f".into(), seq: seq as i64, complete: true })
        };
        for (i, doc) in docs.iter().enumerate() {
            let mut record = sample_record(&format!("a-{i}"), &text(&doc.title), 1_500_000_000 + doc.publish);
            record.author = AUTHORS[doc.author].into();
            let article = IndexedArticle { record, body: text(&doc.body) };
            index.put(&article.record.id, Some(&article)).unwrap();
            if i % 40 == 39 {
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
            let (_dir, index) = index_of(&docs);
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
        let (_dir, index) = index_of(&docs);
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
