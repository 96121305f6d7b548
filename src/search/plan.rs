//! A parsed query and filters as a tantivy query: what matches and how it
//! ranks.
//!
//! - A word matches in any text field (folded), scored by BM25 with the
//!   title weighted above keywords, author and body; a phrase matches its
//!   words adjacent in one field.
//! - A word or phrase written with diacritics also matches its exact form
//!   in the title or body; such a match adds [`EXACT_TIER`], more than BM25
//!   gives any article, so articles with the exact words rank first and
//!   BM25 orders each tier.
//! - Every clause is required, excluded atoms must not match, filters
//!   match without scoring.

use super::{
    Filters,
    query::{Atom, Query},
    schema::{self, Fields},
};
use std::ops::Bound;
use tantivy::{
    Term,
    query::{
        BooleanQuery, BoostQuery, ConstScoreQuery, Occur, PhraseQuery, Query as TantivyQuery, RangeQuery, TermQuery,
        TermSetQuery,
    },
    schema::{Field, IndexRecordOption},
};

/// What a match of an exact (diacritic) word adds to a score.
pub const EXACT_TIER: f32 = 1000.0;

/// The folded text fields and their weights.
fn weighted(fields: &Fields) -> [(Field, f32); 4] {
    [(fields.title, 3.0), (fields.keywords_text, 2.0), (fields.author_text, 1.5), (fields.body, 1.0)]
}

type Boxed = Box<dyn TantivyQuery>;

fn any(queries: Vec<Boxed>) -> Boxed {
    Box::new(BooleanQuery::new(queries.into_iter().map(|q| (Occur::Should, q)).collect()))
}

/// `terms` (one or more) in `field`: a term, or a phrase of them.
fn in_field(field: Field, terms: &[&str]) -> Boxed {
    let terms: Vec<Term> = terms.iter().map(|t| Term::from_field_text(field, t)).collect();
    match terms.as_slice() {
        [term] => Box::new(TermQuery::new(term.clone(), IndexRecordOption::WithFreqs)),
        _ => Box::new(PhraseQuery::new(terms)),
    }
}

/// Where `atom` matches (folded), scored by field.
fn matches(fields: &Fields, atom: &Atom) -> Boxed {
    let folded: Vec<&str> = atom.terms().iter().map(|t| t.folded.as_str()).collect();
    any(weighted(fields).into_iter().map(|(field, weight)| boosted(in_field(field, &folded), weight)).collect())
}

fn boosted(query: Boxed, weight: f32) -> Boxed {
    if weight == 1.0 { query } else { Box::new(BoostQuery::new(query, weight)) }
}

/// The exact-form bonus of `atom`, when it was written with diacritics.
fn exact_bonus(fields: &Fields, atom: &Atom) -> Option<Boxed> {
    let terms = atom.terms();
    if terms.iter().all(|t| t.exact.is_none()) {
        return None;
    }
    let exact: Vec<&str> = terms.iter().map(|t| t.exact.as_deref().unwrap_or(&t.folded)).collect();
    let either = any(vec![in_field(fields.title_exact, &exact), in_field(fields.body_exact, &exact)]);
    Some(Box::new(ConstScoreQuery::new(either, EXACT_TIER)))
}

/// A filter: matches without adding to the score.
fn filter(query: Boxed) -> (Occur, Boxed) {
    (Occur::Must, Box::new(ConstScoreQuery::new(query, 0.0)))
}

/// The clauses every match must pass for `filters` (none when unfiltered).
pub fn filter_clauses(fields: &Fields, filters: &Filters) -> Vec<(Occur, Boxed)> {
    let mut clauses = Vec::new();
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
        let term = Term::from_field_u64(fields.has_media, u64::from(has_media));
        clauses.push(filter(Box::new(TermQuery::new(term, IndexRecordOption::Basic))));
    }
    clauses
}

/// The whole query: clauses, exclusions, exact-form bonuses and filters.
pub fn plan(fields: &Fields, query: &Query, filters: &Filters) -> Boxed {
    let mut clauses: Vec<(Occur, Boxed)> = Vec::new();
    for clause in &query.required {
        let alternatives: Vec<Boxed> = clause.alternatives.iter().map(|atom| matches(fields, atom)).collect();
        clauses.push((
            Occur::Must,
            if alternatives.len() == 1 { alternatives.into_iter().next().expect("one") } else { any(alternatives) },
        ));
    }
    for atom in query.positive_atoms() {
        if let Some(bonus) = exact_bonus(fields, atom) {
            clauses.push((Occur::Should, bonus));
        }
    }
    for atom in &query.excluded {
        clauses.push((Occur::MustNot, matches(fields, atom)));
    }
    clauses.extend(filter_clauses(fields, filters));
    Box::new(BooleanQuery::new(clauses))
}
