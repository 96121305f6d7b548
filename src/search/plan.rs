//! What a parsed query and its filters match, as tantivy queries without
//! scores (how matches rank is [`super::rank`]'s job):
//!
//! - a word matches in any text (the `all` field);
//! - a phrase matches its words adjacent in one text: the pair of two
//!   words, or, for three and more, its pairs at adjacent positions;
//! - a clause matches when any of its alternatives does; every clause is
//!   required, no excluded atom may match, and every filter must pass.

use super::{
    Filters,
    query::{Atom, Query},
    schema::{self, Fields},
    text::pair_of,
};
use std::ops::Bound;
use tantivy::{
    Term,
    query::{
        BooleanQuery, ConstScoreQuery, Occur, PhraseQuery, Query as TantivyQuery, RangeQuery, TermQuery, TermSetQuery,
    },
    schema::{Field, IndexRecordOption},
};

pub type Boxed = Box<dyn TantivyQuery>;

fn any(queries: Vec<Boxed>) -> Boxed {
    match queries.len() {
        1 => queries.into_iter().next().expect("one"),
        _ => Box::new(BooleanQuery::new(queries.into_iter().map(|q| (Occur::Should, q)).collect())),
    }
}

fn term(term: Term) -> Boxed {
    Box::new(TermQuery::new(term, IndexRecordOption::Basic))
}

/// A phrase's adjacent words as pair terms of `field`: the one pair, or
/// its pairs at adjacent positions.
fn pairs(field: Field, words: &[&str]) -> Boxed {
    let mut pairs: Vec<Term> =
        words.windows(2).map(|pair| Term::from_field_text(field, &pair_of(pair[0], pair[1]))).collect();
    match pairs.len() {
        1 => term(pairs.pop().expect("one pair")),
        _ => Box::new(PhraseQuery::new(pairs)),
    }
}

/// Where `atom` matches, folded.
pub fn atom(fields: &Fields, atom: &Atom) -> Boxed {
    match atom {
        Atom::Word(word) => term(Term::from_field_text(fields.all, &word.folded)),
        Atom::Phrase(terms) => pairs(fields.pairs, &terms.iter().map(|t| t.folded.as_str()).collect::<Vec<_>>()),
    }
}

/// Where the exact form of `atom` is (in the title or body), when it was
/// written with diacritics; its words written without keep that form.
pub fn exact(fields: &Fields, atom: &Atom) -> Option<Boxed> {
    let terms = atom.terms();
    if terms.iter().all(|t| t.exact.is_none()) {
        return None;
    }
    let exact: Vec<&str> = terms.iter().map(|t| t.exact.as_deref().unwrap_or(&t.folded)).collect();
    Some(match exact.as_slice() {
        [word] => any(vec![
            term(Term::from_field_text(fields.title_exact, word)),
            term(Term::from_field_text(fields.body_exact, word)),
        ]),
        _ => pairs(fields.pairs_exact, &exact),
    })
}

/// Where any of `alternatives` matches.
pub fn clause(fields: &Fields, alternatives: &[Atom]) -> Boxed {
    any(alternatives.iter().map(|a| atom(fields, a)).collect())
}

/// A filter: required, adding nothing to a score.
fn filter(query: Boxed) -> (Occur, Boxed) {
    (Occur::Must, Box::new(ConstScoreQuery::new(query, 0.0)))
}

/// The clauses every match must pass for `filters` (none when unfiltered).
pub fn filter_clauses(fields: &Fields, filters: &Filters) -> Vec<(Occur, Boxed)> {
    let mut clauses: Vec<(Occur, Boxed)> = Vec::new();
    if filters.publish_start_us.is_some() || filters.publish_end_us.is_some() {
        let bound = |value: Option<i64>, inclusive: bool| match value {
            None => Bound::Unbounded,
            Some(us) if inclusive => Bound::Included(Term::from_field_i64(fields.publish_us, us)),
            Some(us) => Bound::Excluded(Term::from_field_i64(fields.publish_us, us)),
        };
        let range = RangeQuery::new(bound(filters.publish_start_us, true), bound(filters.publish_end_us, false));
        clauses.push(filter(Box::new(range)));
    }
    for (field, values) in [(fields.author, &filters.authors), (fields.keywords, &filters.keywords)] {
        if !values.is_empty() {
            let terms = values.iter().map(|v| Term::from_field_text(field, &schema::exact_value(v)));
            clauses.push(filter(Box::new(TermSetQuery::new(terms))));
        }
    }
    if let Some(has_media) = filters.has_media {
        clauses.push(filter(term(Term::from_field_u64(fields.has_media, u64::from(has_media)))));
    }
    clauses
}

/// What passes `filters` and none of `query`'s exclusions (`None` when
/// nothing is filtered or excluded).
pub fn restrictions(fields: &Fields, query: &Query, filters: &Filters) -> Option<Boxed> {
    let mut clauses = filter_clauses(fields, filters);
    clauses.extend(query.excluded.iter().map(|a| (Occur::MustNot, atom(fields, a))));
    if clauses.is_empty() {
        return None;
    }
    if clauses.iter().all(|(occur, _)| *occur == Occur::MustNot) {
        // A boolean query of exclusions alone matches nothing.
        clauses.push((Occur::Must, Box::new(tantivy::query::AllQuery)));
    }
    Some(Box::new(BooleanQuery::new(clauses)))
}

/// Everything `query` and `filters` match.
pub fn matching(fields: &Fields, query: &Query, filters: &Filters) -> Boxed {
    let mut clauses: Vec<(Occur, Boxed)> =
        query.required.iter().map(|c| (Occur::Must, clause(fields, &c.alternatives))).collect();
    clauses.extend(query.excluded.iter().map(|a| (Occur::MustNot, atom(fields, a))));
    clauses.extend(filter_clauses(fields, filters));
    Box::new(BooleanQuery::new(clauses))
}
