//! Snippets and highlights: where a query's words and phrases are in a
//! result's title and body, as byte ranges of the text as stored.
// TEMP stubs until the snippet module lands (branch i27-query).
use super::query::Query;
use std::ops::Range;
pub const SNIPPET_BYTES: usize = 12 * 222;
pub struct Snippet {
    pub text: String,
    pub highlights: Vec<Range<usize>>,
}
pub fn snippet(text: &str, _query: &Query) -> Snippet {
    Snippet { text: text.chars().take(220).collect(), highlights: Vec::new() }
}
pub fn highlights(_text: &str, _query: &Query) -> Vec<Range<usize>> {
    Vec::new()
}
