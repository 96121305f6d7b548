//! Snippets and highlights: where a query's words and phrases are in a
//! result's title and body, as byte ranges of the text as stored.
//!
//! Matching is on folded words ([`super::text`]), so `thai binh` marks
//! `Thái Bình`. A word of the query marks each of its occurrences; a
//! phrase marks each place its words stand adjacent and in order, as one
//! range from its first word to its last (what lies between included).
//! Excluded words and phrases are never marked.

use super::query::Query;
use super::text::{self, Folded as Word};
use std::ops::Range;

/// Longest snippet, in characters of the original text (plus ellipses).
pub const SNIPPET_CHARS: usize = 220;
/// What a snippet and its highlights weigh in an answer, at most: four
/// bytes a character, the ellipses, and a highlight every other character.
pub const SNIPPET_BYTES: usize = 12 * (SNIPPET_CHARS + 2);
/// Words of context kept before the first match.
const CONTEXT_WORDS_BEFORE: usize = 8;
/// Words considered together when choosing where a snippet starts.
const WINDOW_WORDS: usize = 24;
const ELLIPSIS: &str = "…";

/// A piece of text with the byte ranges of what matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    pub text: String,
    pub highlights: Vec<Range<usize>>,
}

/// One occurrence of something the query looks for.
struct Match {
    /// The words it covers (one for a word, all of a phrase's).
    words: Range<usize>,
    /// Which of the query's distinct words and phrases it is.
    atom: usize,
}

/// Every occurrence in `words` of the query's words and phrases (not the
/// excluded ones), in the order they start.
fn matches(words: &[Word], query: &Query) -> Vec<Match> {
    // The distinct folded word sequences sought: `a OR a` is one.
    let mut sought: Vec<Vec<&str>> = Vec::new();
    for atom in query.positive_atoms() {
        let folded: Vec<&str> = atom.terms().iter().map(|term| term.folded.as_str()).collect();
        if !sought.contains(&folded) {
            sought.push(folded);
        }
    }
    let mut found = Vec::new();
    for start in 0..words.len() {
        for (atom, sequence) in sought.iter().enumerate() {
            let end = start + sequence.len();
            let here = words.get(start..end);
            if here.is_some_and(|here| here.iter().zip(sequence).all(|(word, sought)| word.folded == *sought)) {
                found.push(Match { words: start..end, atom });
            }
        }
    }
    found
}

/// The byte range of a match in the text its words came from.
fn span(words: &[Word], found: &Match) -> Range<usize> {
    words[found.words.start].span.start..words[found.words.end - 1].span.end
}

/// `ranges` sorted, overlapping and touching ones merged.
fn merged(ranges: impl Iterator<Item = Range<usize>>) -> Vec<Range<usize>> {
    let mut ranges: Vec<Range<usize>> = ranges.collect();
    ranges.sort_unstable_by_key(|range| (range.start, range.end));
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    merged
}

/// The word that starts the best window: most distinct words and phrases
/// of the query, then the longest run of matched words (a phrase, or words
/// side by side), then the earliest.
fn best_match(words: &[Word], found: &[Match]) -> Option<usize> {
    let mut covered = vec![false; words.len()];
    for found in found {
        covered[found.words.clone()].fill(true);
    }
    let mut best: Option<(usize, usize, usize)> = None; // (distinct, run, index)
    for (at, first) in found.iter().enumerate() {
        let index = first.words.start;
        let mut distinct: Vec<usize> =
            found[at..].iter().take_while(|m| m.words.start < index + WINDOW_WORDS).map(|m| m.atom).collect();
        distinct.sort_unstable();
        distinct.dedup();
        let run = covered[index..].iter().take_while(|covered| **covered).count();
        let score = (distinct.len(), run);
        if best.is_none_or(|(d, r, _)| score > (d, r)) {
            best = Some((score.0, score.1, index));
        }
    }
    best.map(|(_, _, index)| index)
}

/// The part of `text` (an article's body) around the best matches of
/// `query`, at most [`SNIPPET_CHARS`] characters with an ellipsis where
/// cut, whitespace as single spaces, and what matched highlighted; the
/// beginning of `text` when nothing matches.
pub fn snippet(text: &str, query: &Query) -> Snippet {
    let words = text::folded(text);
    let found = matches(&words, query);
    let start_word = best_match(&words, &found).map_or(0, |i| i.saturating_sub(CONTEXT_WORDS_BEFORE));
    // From the first word on, the text is kept from its very beginning.
    let start = if start_word == 0 { 0 } else { words[start_word].span.start };
    let end = text[start..].char_indices().nth(SNIPPET_CHARS).map_or(text.len(), |(i, _)| start + i);
    // End on a word boundary when cut.
    let end = if end < text.len() {
        words.iter().rev().find(|w| w.span.end <= end && w.span.start >= start).map_or(end, |w| w.span.end)
    } else {
        end
    };
    let mut snippet = String::new();
    if start > 0 {
        snippet.push_str(ELLIPSIS);
    }
    let offset = snippet.len();
    snippet.extend(text[start..end].chars().map(|c| if c.is_whitespace() { ' ' } else { c }));
    // Whitespace may change byte length (e.g. U+00A0 → ' '): map positions.
    let map = |position: usize| {
        offset + text[start..position].chars().map(|c| if c.is_whitespace() { 1 } else { c.len_utf8() }).sum::<usize>()
    };
    let highlights = merged(
        found
            .iter()
            .map(|found| span(&words, found))
            .filter(|range| range.start >= start && range.end <= end)
            .map(|range| map(range.start)..map(range.end)),
    );
    if end < text.len() {
        snippet.push_str(ELLIPSIS);
    }
    Snippet { text: snippet, highlights }
}

/// Every match of `query` in `text` (a title, shown whole), as byte ranges
/// of `text`, sorted and not overlapping.
pub fn highlights(text: &str, query: &Query) -> Vec<Range<usize>> {
    let words = text::folded(text);
    merged(matches(&words, query).iter().map(|found| span(&words, found)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::query::parse;
    use unicode_normalization::UnicodeNormalization;

    /// The snippet of `text` for `query`, and the highlighted parts of it.
    fn marked(text: &str, query: &str) -> (Snippet, Vec<String>) {
        let found = snippet(text, &parse(query).unwrap());
        let highlighted = found.highlights.iter().map(|r| found.text[r.clone()].to_string()).collect();
        (found, highlighted)
    }

    /// The highlighted parts of a title.
    fn title<'a>(text: &'a str, query: &str) -> Vec<&'a str> {
        highlights(text, &parse(query).unwrap()).into_iter().map(|r| &text[r]).collect()
    }

    const BODY: &str = "Chiều 30-9, đồng chí Phạm Minh Chính chủ trì Hội nghị về công tác tổ chức xây dựng Đảng.";

    #[test]
    fn snippets_highlight_matches_in_the_original_text() {
        let (found, highlighted) = marked(BODY, "dang");
        assert_eq!(highlighted, ["Đảng"]);
        assert!(found.text.starts_with(ELLIPSIS));

        let long = format!("{} Thái Bình {}", "mở đầu ".repeat(10), "kết thúc ".repeat(100));
        let (found, highlighted) = marked(&long, "thai binh");
        assert_eq!(highlighted, ["Thái", "Bình"]);
        assert!(found.text.ends_with(ELLIPSIS));
        assert!(found.text.chars().count() <= SNIPPET_CHARS + 2);
        assert!(found.text.len() + found.highlights.len() * 2 * size_of::<usize>() <= SNIPPET_BYTES);

        let nbsp = "a\u{a0}\u{a0}Đảng";
        let (found, highlighted) = marked(nbsp, "dang");
        assert_eq!(found.text, "a  Đảng", "whitespace as single spaces");
        assert_eq!(highlighted, ["Đảng"]);

        let (found, highlighted) = marked("không khớp", "x");
        assert_eq!((found.text.as_str(), highlighted), ("không khớp", Vec::<String>::new()));
    }

    #[test]
    fn a_snippet_from_the_first_word_keeps_the_text_from_its_beginning() {
        let (found, highlighted) = marked("«Thái Bình» ngày mới", "ngay");
        assert_eq!(found.text, "«Thái Bình» ngày mới");
        assert_eq!(highlighted, ["ngày"]);
    }

    #[test]
    fn a_phrase_is_one_highlight() {
        let text = "Sinh hoạt chi bộ: Đảng bộ xã giao nhiệm vụ cho chi bộ thôn, bộ chi.";
        let (_, highlighted) = marked(text, "\"chi bộ\" Đảng");
        assert_eq!(highlighted, ["chi bộ", "Đảng", "chi bộ"]);
        // Between the words of a phrase, what the text holds is included.
        let (_, highlighted) = marked("tỉnh Thái-Bình, Thái,  Bình", "\"thai binh\"");
        assert_eq!(highlighted, ["Thái-Bình", "Thái,  Bình"]);
        // A phrase's words apart or out of order are not marked.
        let (_, highlighted) = marked("bộ chi, chi và bộ", "\"chi bộ\"");
        assert!(highlighted.is_empty(), "{highlighted:?}");
        // A word that splits is a phrase too.
        assert_eq!(title("Thái Bình và Thái, Bình", "Thái-Bình"), ["Thái Bình", "Thái, Bình"]);
    }

    #[test]
    fn excluded_words_are_not_highlighted_and_overlaps_merge() {
        assert_eq!(title("Đảng bộ Thái Bình", "dang -thai -\"binh\""), ["Đảng"]);
        assert_eq!(title("a b c d b", "\"a b\" \"b c\" b"), ["a b c", "b"]);
        assert_eq!(title("a b a b", "a OR \"a b\" OR a"), ["a b", "a b"]);
    }

    #[test]
    fn titles_mark_every_match_in_place() {
        let text = "Đảng bộ tỉnh Thái Bình: đảng viên mới";
        let ranges = highlights(text, &parse("dang \"thai binh\"").unwrap());
        let lower = text.find("đảng").unwrap();
        assert_eq!(ranges, [0.."Đảng".len(), text.find("Thái").unwrap()..text.find(':').unwrap(), lower..lower + 7]);
        assert_eq!(title(text, "dang \"thai binh\""), ["Đảng", "Thái Bình", "đảng"]);
        assert!(title(text, "khong").is_empty());
        // Decomposed text: ranges of the text as stored, marks included.
        let nfd: String = text.nfd().collect();
        assert_eq!(title(&nfd, "Đảng"), ["Đa\u{309}ng", "đa\u{309}ng"]);
        assert_eq!(title(&nfd, "Đảng").concat().nfc().collect::<String>(), "Đảngđảng");
    }

    #[test]
    fn the_window_with_most_of_the_query_wins() {
        let filler = vec!["lời"; 60].join(" ");
        // Alone early, together later: the later window holds both.
        let text = format!("Đảng {filler} Thái Bình và Đảng {filler}");
        let (found, highlighted) = marked(&text, "dang \"thai binh\"");
        assert_eq!(highlighted, ["Thái Bình", "Đảng"]);
        assert!(found.text.starts_with(&format!("{ELLIPSIS}{}Thái Bình", "lời ".repeat(8))), "{}", found.text);
        // As many in each: the longer run of matched words wins.
        let text = format!("Thái lời Bình {filler} Thái Bình {filler}");
        let (found, highlighted) = marked(&text, "thai binh");
        assert_eq!(highlighted, ["Thái", "Bình"]);
        assert!(found.text.starts_with(&format!("{ELLIPSIS}{}Thái Bình", "lời ".repeat(8))), "{}", found.text);
        // All else alike, the earliest.
        let text = format!("{filler} Đảng {filler} Đảng {filler}");
        let (found, highlighted) = marked(&text, "dang");
        assert_eq!(highlighted, ["Đảng"]);
        assert!(found.text.starts_with(&format!("{ELLIPSIS}{}Đảng", "lời ".repeat(8))), "{}", found.text);
        assert!(found.text.ends_with(ELLIPSIS));
    }
}
