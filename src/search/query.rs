//! The query language: Google's and Lucene's simple syntax, as people
//! already type it.
//!
//! | input | means |
//! | --- | --- |
//! | `thái bình` | both words, anywhere in the article (all words are required) |
//! | `"chi bộ"` | the words adjacent, in this order |
//! | `-word`, `-"a phrase"` | articles without it |
//! | `a OR b`, `"x y" OR z` | either (`OR` in capitals, between two words or phrases) |
//!
//! A word that splits into several (`Thái-Bình`, `4.2019`) is a phrase.
//! Matching folds case and diacritics ([`super::text`]); a word written
//! with diacritics also ranks its exact form first. Malformed input is
//! refused with a message that says what to change, never reinterpreted.

use super::text::{self, Word};

/// Most words and phrases a query may hold, excluded ones included.
pub const MAX_QUERY_TERMS: usize = 32;

/// One word of a query, in both forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub folded: String,
    /// The exact form when the word was written with diacritics (so exact
    /// matches rank first); `None` when it was written without.
    pub exact: Option<String>,
}

impl From<Word> for Term {
    fn from(word: Word) -> Self {
        let exact = word.has_diacritics().then_some(word.exact);
        Term { folded: word.folded, exact }
    }
}

/// A word or a phrase (two or more adjacent words).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Atom {
    Word(Term),
    Phrase(Vec<Term>),
}

/// What must match: any one of `alternatives` (joined by `OR`; one when
/// the query has no `OR` there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    pub alternatives: Vec<Atom>,
}

/// A parsed query: every clause required, no excluded atom present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub required: Vec<Clause>,
    pub excluded: Vec<Atom>,
}

/// Why a query was refused; the message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Nothing to search for (empty, or only punctuation).
    #[error("query has no word to search for")]
    Empty,
    #[error("{0}")]
    Malformed(String),
    #[error("query has more than {MAX_QUERY_TERMS} words and phrases; remove some")]
    TooLong,
}

impl Query {
    /// Every atom the query looks for (not the excluded ones), in order.
    pub fn positive_atoms(&self) -> impl Iterator<Item = &Atom> {
        self.required.iter().flat_map(|clause| clause.alternatives.iter())
    }
}

/// Parses `input` (see the module's docs).
pub fn parse(input: &str) -> Result<Query, QueryError> {
    let _ = (input, text::words);
    todo!("issue 27: the query parser")
}
