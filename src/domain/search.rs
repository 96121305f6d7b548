//! Vietnamese-aware text folding for search, and snippets.
//!
//! Text and queries are folded the same way: every character is
//! transliterated to ASCII (deunicode: `ạ`→`a`, `Đ`→`D`, `ư`→`u`), lowercased,
//! and split into runs of letters and digits. So `sinh hoat chi bo` matches
//! `sinh hoạt chi bộ`, `duong` matches `Đường`, and both tone-mark placements
//! (`hòa`/`hoà`, `thuý`/`thúy`) fold to the same word. Both databases index
//! the folded words separated by single spaces, so they tokenize identically.
//!
//! This module also decides what a search means ([`query`]) and what is
//! indexed for an article ([`indexed_text`]); the stores only execute it.

use crate::metadata::{ArticleQuery, ArticleRecord, FilterTerms, SearchQuery, SearchText, TokenFormat};
use std::ops::Range;

/// Longest snippet, in characters of the original text (plus ellipses).
const SNIPPET_CHARS: usize = 220;
/// What a snippet and its highlights weigh in an answer, at most: four
/// bytes a character, the ellipses, and a highlight every other character.
pub const SNIPPET_BYTES: usize = 12 * (SNIPPET_CHARS + 2);
/// Words of context kept before the first match.
const CONTEXT_WORDS_BEFORE: usize = 8;
const ELLIPSIS: &str = "…";

/// The folded form of one character: lowercase ASCII letters and digits, or
/// an empty string for anything that separates words.
fn fold_char(c: char, out: &mut String) {
    if c.is_ascii() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        }
        return;
    }
    if let Some(ascii) = deunicode::deunicode_char(c) {
        out.extend(ascii.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()));
    }
}

/// A word of the original text: its byte range and folded form.
struct Word {
    span: Range<usize>,
    folded: String,
}

/// Splits `text` into words, keeping where each came from.
fn words(text: &str) -> Vec<Word> {
    let mut words = Vec::new();
    let mut current: Option<Word> = None;
    let mut folded = String::new();
    for (index, c) in text.char_indices() {
        folded.clear();
        fold_char(c, &mut folded);
        // Combining marks (decomposed text) fold to nothing but belong to the word.
        let joins_word = !folded.is_empty() || (is_combining_mark(c) && current.is_some());
        if joins_word {
            let word = current.get_or_insert_with(|| Word { span: index..index, folded: String::new() });
            word.span.end = index + c.len_utf8();
            word.folded.push_str(&folded);
        } else if let Some(word) = current.take() {
            words.push(word);
        }
    }
    words.extend(current);
    words
}

fn is_combining_mark(c: char) -> bool {
    matches!(c, '\u{300}'..='\u{36f}' | '\u{1dc0}'..='\u{1dff}' | '\u{20d0}'..='\u{20ff}')
}

/// The folded words of `text`, in order.
pub fn tokens(text: &str) -> Vec<String> {
    words(text).into_iter().map(|w| w.folded).collect()
}

/// The folded words of `text` joined by single spaces: what the databases index.
pub fn fold(text: &str) -> String {
    tokens(text).join(" ")
}

/// Everything an article is found by: title, author, keywords and body.
pub fn document_text(title: &str, author: &str, keywords: &[String], body: &str) -> String {
    let mut folded = fold(title);
    for part in [fold(author), fold(&keywords.join(" ")), fold(body)] {
        if !part.is_empty() {
            if !folded.is_empty() {
                folded.push(' ');
            }
            folded.push_str(&part);
        }
    }
    folded
}

/// Which derivation of [`filter_tokens`] this code writes. A store whose
/// index holds an older one derives every article's tokens again when it
/// opens; change the derivation, raise this.
/// 2: tokens of the NFC form (1 took the bytes as sent).
pub const TOKENS_FORMAT: i64 = 2;

/// This code's filter tokens, as the metadata store is opened with them.
pub const FILTER_TOKENS: TokenFormat = TokenFormat { version: TOKENS_FORMAT, derive: filter_tokens };

/// The index token that stands for one exact filter value: its kind, then
/// the lower-case hex of the UTF-8 bytes of the value's NFC form. Hex is
/// one-to-one and only letters and digits, so every tokenizer the databases
/// use keeps the token whole, and it matches exactly that value in either
/// normal form. (A searched word spelled like a token finds its articles'
/// tags; the stores' exact filters still apply.)
fn filter_token(kind: &str, value: &str) -> String {
    format!("{kind}{}", hex::encode(crate::format::forms::nfc(value)))
}

fn author_token(author: &str) -> String {
    filter_token("author", author)
}

fn keyword_token(keyword: &str) -> String {
    filter_token("keyword", keyword)
}

/// An article's filter tokens, space-separated: its author's (when it has
/// one) and each of its keywords'. Stores index them beside its words, so
/// a filtered search intersects posting lists instead of testing every
/// match of its words against the filters.
pub fn filter_tokens(author: &str, keywords: &[String]) -> String {
    let author = (!author.is_empty()).then(|| author_token(author));
    let keywords = keywords.iter().filter(|k| !k.is_empty()).map(|k| keyword_token(k));
    author.into_iter().chain(keywords).collect::<Vec<_>>().join(" ")
}

/// What the stores index for an article revision: the body (for
/// snippets), the folded words of all its text, and its filter tokens.
pub fn indexed_text(record: &ArticleRecord, body: String) -> SearchText {
    let folded = document_text(&record.title, &record.author, &record.keywords, &body);
    SearchText { tags: filter_tokens(&record.author, &record.keywords), body, folded }
}

/// The search a store executes for the folded `terms` under `filters`:
/// the author and keyword filters also as their words and tokens.
pub fn query(terms: Vec<String>, filters: ArticleQuery, offset: u64) -> SearchQuery {
    let index_form = |value: &Option<String>, token: fn(&str) -> String| {
        value.as_deref().filter(|v| !v.is_empty()).map(|v| FilterTerms { words: tokens(v), token: token(v) })
    };
    SearchQuery {
        author: index_form(&filters.author, author_token),
        keyword: index_form(&filters.keyword, keyword_token),
        terms,
        filters,
        offset,
    }
}

/// A piece of text with the byte ranges of the words that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    pub text: String,
    pub highlights: Vec<Range<usize>>,
}

/// Words considered together when choosing where a snippet starts.
const WINDOW_WORDS: usize = 24;

/// The matching word that starts the best window: most distinct terms, then
/// the longest run of consecutive matches (a phrase), then the earliest.
fn best_match(words: &[Word], terms: &[String]) -> Option<usize> {
    let matches = |w: &Word| terms.contains(&w.folded);
    let mut best: Option<(usize, usize, usize)> = None; // (distinct, run, index)
    for (index, _) in words.iter().enumerate().filter(|(_, w)| matches(w)) {
        let window = &words[index..(index + WINDOW_WORDS).min(words.len())];
        let mut distinct: Vec<&str> = window.iter().filter(|w| matches(w)).map(|w| w.folded.as_str()).collect();
        distinct.sort_unstable();
        distinct.dedup();
        let run = window.iter().take_while(|w| matches(w)).count();
        let score = (distinct.len(), run);
        if best.is_none_or(|(d, r, _)| score > (d, r)) {
            best = Some((score.0, score.1, index));
        }
    }
    best.map(|(_, _, index)| index)
}

/// The part of `text` around the best-matching words of `terms` (folded), with
/// those words highlighted; the beginning of `text` when nothing matches.
pub fn snippet(text: &str, terms: &[String]) -> Snippet {
    let words = words(text);
    let start_word = best_match(&words, terms).map_or(0, |i| i.saturating_sub(CONTEXT_WORDS_BEFORE));
    let start = words.get(start_word).map_or(0, |w| w.span.start);
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
    let highlights = words
        .iter()
        .filter(|w| w.span.start >= start && w.span.end <= end && terms.contains(&w.folded))
        .map(|w| map(w.span.start)..map(w.span.end))
        .collect();
    if end < text.len() {
        snippet.push_str(ELLIPSIS);
    }
    Snippet { text: snippet, highlights }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnamese_folds_without_diacritics_and_tone_placement() {
        assert_eq!(fold("Sinh hoạt chi bộ"), "sinh hoat chi bo");
        assert_eq!(fold("Đảng"), "dang");
        assert_eq!(fold("Đường"), "duong");
        assert_eq!(fold("hòa"), fold("hoà"));
        assert_eq!(fold("thuý"), fold("thúy"));
        assert_eq!(fold("quý 4.2019, Thái-Bình"), "quy 4 2019 thai binh");
        // Decomposed (NFD) input folds like composed input.
        assert_eq!(fold("Đa\u{300}ng ho\u{323}a"), "dang hoa");
        assert_eq!(fold("  \u{a0}— …"), "");
    }

    #[test]
    fn filter_tokens_are_one_per_exact_value_and_survive_tokenizers() {
        let keywords = vec!["Thái Bình".to_string(), String::new(), "Đảng".into()];
        let tokens = filter_tokens("Phạm Ngọc", &keywords);
        assert_eq!(
            tokens,
            format!(
                "author{} keyword{} keyword{}",
                hex::encode("Phạm Ngọc"),
                hex::encode("Thái Bình"),
                hex::encode("Đảng")
            )
        );
        // Letters and digits only, lower case: one word to every tokenizer.
        assert!(tokens.split(' ').all(|t| t.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())));
        assert_eq!(fold(&tokens), tokens, "folding keeps each token whole");
        assert_ne!(author_token("Hòa"), author_token("Hoà"), "exact values, not folded ones");
        assert_eq!(filter_tokens("", &[]), "");

        let filters =
            ArticleQuery { author: Some("Phạm Ngọc".into()), keyword: Some(String::new()), ..Default::default() };
        let planned = query(vec!["dang".into()], filters, 0);
        assert_eq!(
            planned.author,
            Some(FilterTerms { words: vec!["pham".into(), "ngoc".into()], token: author_token("Phạm Ngọc") })
        );
        assert_eq!(planned.keyword, None, "an empty keyword filters nothing");
        assert_eq!(planned.all_words(), ["dang", "pham", "ngoc"]);
        assert!(tokens.contains(&planned.author.unwrap().token));
    }

    #[test]
    fn snippets_highlight_matches_in_the_original_text() {
        let text = "Chiều 30-9, đồng chí Phạm Minh Chính chủ trì Hội nghị về công tác tổ chức xây dựng Đảng.";
        let found = snippet(text, &["dang".into()]);
        let highlighted: Vec<&str> = found.highlights.iter().map(|r| &found.text[r.clone()]).collect();
        assert_eq!(highlighted, ["Đảng"]);
        assert!(found.text.starts_with(ELLIPSIS));

        let long = format!("{} Thái Bình {}", "mở đầu ".repeat(10), "kết thúc ".repeat(100));
        let found = snippet(&long, &["thai".into(), "binh".into()]);
        let highlighted: Vec<&str> = found.highlights.iter().map(|r| &found.text[r.clone()]).collect();
        assert_eq!(highlighted, ["Thái", "Bình"]);
        assert!(found.text.ends_with(ELLIPSIS));
        assert!(found.text.chars().count() <= SNIPPET_CHARS + 2);

        let nbsp = "a\u{a0}\u{a0}Đảng";
        let found = snippet(nbsp, &["dang".into()]);
        assert_eq!(&found.text[found.highlights[0].clone()], "Đảng");

        assert_eq!(snippet("không khớp", &["x".into()]).highlights, Vec::<Range<usize>>::new());
    }
}
