//! The related-articles query: the words that set an article apart (term
//! frequency × idf over its title, keywords and body), each a boosted
//! optional clause, as Lucene's MoreLikeThis builds it.
//!
//! Written here rather than through tantivy's `MoreLikeThisQuery`: that one
//! weighs a term's document frequency (which counts deleted documents until
//! their segment merges) against the live document count, and asserts the
//! first is not larger, so it panicked a search worker after deletions.
//! Here both counts include deleted documents, as the index's own BM25 does.

use std::collections::HashMap;
use tantivy::{
    Searcher, Term,
    query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery},
    schema::{Field, IndexRecordOption},
    tokenizer::TokenStream,
};

/// A word shorter than this (in characters) says nothing about a subject.
const MIN_WORD_CHARS: usize = 2;
/// A word no other article has cannot relate two articles.
const MIN_DOC_FREQ: u64 = 2;

/// Builds the query from `fields` (each field with its texts), keeping the
/// `max_terms` best-scoring words; `None` when no word qualifies.
pub fn like_query(
    searcher: &Searcher,
    fields: &[(Field, Vec<&str>)],
    max_terms: usize,
) -> tantivy::Result<Option<BooleanQuery>> {
    let mut frequencies: HashMap<Term, u32> = HashMap::new();
    for (field, texts) in fields {
        let mut analyzer = searcher.index().tokenizer_for_field(*field)?;
        for text in texts {
            analyzer.token_stream(text).process(&mut |token| {
                if token.text.chars().count() >= MIN_WORD_CHARS {
                    *frequencies.entry(Term::from_field_text(*field, &token.text)).or_default() += 1;
                }
            });
        }
    }
    let doc_count: u64 = searcher.segment_readers().iter().map(|s| u64::from(s.max_doc())).sum();
    let mut scored = Vec::with_capacity(frequencies.len());
    for (term, frequency) in frequencies {
        let doc_freq = searcher.doc_freq(&term)?;
        if doc_freq < MIN_DOC_FREQ {
            continue;
        }
        scored.push((frequency as f32 * idf(doc_freq, doc_count), term));
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    scored.truncate(max_terms);
    let Some(best) = scored.first().map(|(score, _)| *score) else {
        return Ok(None);
    };
    let clauses = scored
        .into_iter()
        .map(|(score, term)| {
            let term: Box<dyn Query> = Box::new(TermQuery::new(term, IndexRecordOption::Basic));
            (Occur::Should, Box::new(BoostQuery::new(term, score / best)) as Box<dyn Query>)
        })
        .collect::<Vec<_>>();
    Ok(Some(BooleanQuery::new(clauses)))
}

/// BM25's inverse document frequency, `doc_freq` clamped to `doc_count`.
fn idf(doc_freq: u64, doc_count: u64) -> f32 {
    let doc_freq = doc_freq.min(doc_count) as f32;
    (1.0 + (doc_count as f32 - doc_freq + 0.5) / (doc_freq + 0.5)).ln()
}

#[cfg(test)]
mod tests {
    use super::idf;

    #[test]
    fn idf_falls_with_document_frequency_and_never_panics() {
        assert!(idf(2, 100) > idf(50, 100));
        assert!(idf(200, 100).is_finite());
        assert!(idf(200, 100) > 0.0);
    }
}
