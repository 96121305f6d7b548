//! Words as search sees them: the one place text becomes index terms, for
//! documents and queries alike.
//!
//! Each word of a text has two forms:
//! - **folded**: transliterated to ASCII (deunicode: `ạ`→`a`, `Đ`→`D`,
//!   `ư`→`u`), lower case, letters and digits only. `sinh hoat chi bo`
//!   matches `sinh hoạt chi bộ`, `duong` matches `Đường`, and both tone-mark
//!   placements (`hòa`/`hoà`) fold alike. Every search matches on it.
//! - **exact**: lower case with its letters' marks (`â ă ê ô ơ ư đ`) kept
//!   and its tone marks moved to the end as digits (`má` → `ma1`, `mà` →
//!   `ma2`, `hòa` and `hoà` → `hoa2`), NFC. A query word written with
//!   diacritics ranks articles holding that exact word first.
//!
//! A word is a run of characters that fold to letters or digits, with the
//! combining marks that follow them (decomposed text), so NFC, NFD and
//! partly composed input split and fold identically.

use std::ops::Range;
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use unicode_normalization::UnicodeNormalization;

/// A word of a text: where it is and its two forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// Byte range in the text.
    pub span: Range<usize>,
    pub folded: String,
    pub exact: String,
}

impl Word {
    /// True when the word as written carries marks that folding drops.
    pub fn has_diacritics(&self) -> bool {
        self.exact != self.folded
    }
}

/// The folded form of one character, appended to `out`: lower-case ASCII
/// letters and digits, or nothing for a character that separates words.
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

fn is_combining_mark(c: char) -> bool {
    matches!(c, '\u{300}'..='\u{36f}' | '\u{1dc0}'..='\u{1dff}' | '\u{20d0}'..='\u{20ff}')
}

/// The Vietnamese tone marks (decomposed) and the digit each becomes:
/// sắc, huyền, hỏi, ngã, nặng.
fn tone_digit(c: char) -> Option<char> {
    match c {
        '\u{301}' | '\u{341}' => Some('1'),
        '\u{300}' | '\u{340}' => Some('2'),
        '\u{309}' => Some('3'),
        '\u{303}' => Some('4'),
        '\u{323}' => Some('5'),
        _ => None,
    }
}

/// The exact form of a word as written (see the module's docs).
fn exact_form(written: &str) -> String {
    if written.is_ascii() {
        // No marks to keep or move: most words of most texts.
        return written.to_ascii_lowercase();
    }
    let mut tones = String::new();
    let mut letters = String::with_capacity(written.len());
    for c in written.nfd().flat_map(char::to_lowercase) {
        match tone_digit(c) {
            Some(digit) => tones.push(digit),
            None => letters.push(c),
        }
    }
    let mut exact: String = letters.nfc().collect();
    exact.push_str(&tones);
    exact
}

/// A word of a text in its folded form only: what matching and snippets
/// need (the exact form costs a normalisation per word).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folded {
    /// Byte range in the text.
    pub span: Range<usize>,
    pub folded: String,
}

/// Splits `text` into words, in order, folded.
pub fn folded(text: &str) -> Vec<Folded> {
    let mut words = Vec::new();
    let mut current: Option<Folded> = None;
    let mut folded = String::new();
    for (index, c) in text.char_indices() {
        folded.clear();
        fold_char(c, &mut folded);
        // Combining marks fold to nothing but belong to the word before them.
        let joins_word = !folded.is_empty() || (is_combining_mark(c) && current.is_some());
        if joins_word {
            let word = current.get_or_insert_with(|| Folded { span: index..index, folded: String::new() });
            word.span.end = index + c.len_utf8();
            word.folded.push_str(&folded);
        } else if let Some(word) = current.take() {
            words.push(word);
        }
    }
    words.extend(current);
    words
}

/// Splits `text` into words, in order, with both forms.
pub fn words(text: &str) -> Vec<Word> {
    folded(text)
        .into_iter()
        .map(|Folded { span, folded }| Word { exact: exact_form(&text[span.clone()]), span, folded })
        .collect()
}

/// The folded words of `text`, in order.
pub fn folded_words(text: &str) -> Vec<String> {
    folded(text).into_iter().map(|w| w.folded).collect()
}

/// The token of two adjacent folded words ([`Form::Pairs`]).
pub fn pair_of(first: &str, second: &str) -> String {
    format!("{first} {second}")
}

/// Which form of each word a tokenizer emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Folded,
    Exact,
    /// Each two adjacent folded words as one token (`chi bo`): a phrase's
    /// candidates from one posting list instead of every article holding
    /// its words.
    Pairs,
    /// Each two adjacent exact words as one token (`chi bô5`): where a
    /// phrase typed with diacritics is, exactly.
    ExactPairs,
}

/// The tantivy tokenizer of one form: words as [`words`] splits them, one
/// position each, so phrases match alike in both forms.
#[derive(Debug, Clone, Copy)]
pub struct VietnameseTokenizer(pub Form);

impl VietnameseTokenizer {
    /// The name each form is registered under in the index.
    pub fn name(self) -> &'static str {
        match self.0 {
            Form::Folded => "vi_folded",
            Form::Exact => "vi_exact",
            Form::Pairs => "vi_pairs",
            Form::ExactPairs => "vi_exact_pairs",
        }
    }
}

/// The tokens of one text, made at once.
pub struct WordStream {
    tokens: std::vec::IntoIter<Token>,
    current: Token,
}

impl Tokenizer for VietnameseTokenizer {
    type TokenStream<'a> = WordStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> WordStream {
        // A document's title and body go through five fields each: on the
        // index writer's thread they are split once for all of them.
        let cached = (CACHED_TEXT_BYTES..=MAX_CACHED_TEXT_BYTES).contains(&text.len())
            && std::thread::current().name().is_some_and(|name| name.starts_with(INDEXING_THREAD));
        let tokens = if cached {
            RECENT.with(|recent| recent.borrow_mut().analysed(text).tokens(self.0))
        } else {
            match self.0 {
                Form::Folded | Form::Pairs => Analysed::folded(text).tokens(self.0),
                Form::Exact | Form::ExactPairs => Analysed::new(text).tokens(self.0),
            }
        };
        WordStream { tokens: tokens.into_iter(), current: Token::default() }
    }
}

/// Texts of these sizes are split once for all their fields (shorter
/// ones cost little to split again; longer ones are not kept).
const CACHED_TEXT_BYTES: usize = 32;
const MAX_CACHED_TEXT_BYTES: usize = 256 << 10;
/// How tantivy names its indexing threads (tantivy 0.26,
/// `index_writer.rs`): the only threads that keep texts.
const INDEXING_THREAD: &str = "thrd-tantivy-index";
/// Texts split lately, per indexing thread: a document's title and body
/// each pass through several fields, field after field.
const RECENT_TEXTS: usize = 4;

thread_local! {
    static RECENT: std::cell::RefCell<Recent> = const { std::cell::RefCell::new(Recent(Vec::new())) };
}

/// The last [`RECENT_TEXTS`] texts split, newest last.
struct Recent(Vec<(String, std::rc::Rc<Analysed>)>);

impl Recent {
    fn analysed(&mut self, text: &str) -> std::rc::Rc<Analysed> {
        if let Some((_, analysed)) = self.0.iter().find(|(cached, _)| cached == text) {
            return analysed.clone();
        }
        let analysed = std::rc::Rc::new(Analysed::new(text));
        if self.0.len() == RECENT_TEXTS {
            self.0.remove(0);
        }
        self.0.push((text.to_owned(), analysed.clone()));
        analysed
    }
}

/// A text split into words, in the forms a tokenizer emits.
struct Analysed {
    words: Vec<Word>,
}

impl Analysed {
    /// Both forms of each word.
    fn new(text: &str) -> Self {
        Self { words: words(text) }
    }

    /// The folded form alone (the exact forms are left empty).
    fn folded(text: &str) -> Self {
        Self {
            words: folded(text)
                .into_iter()
                .map(|Folded { span, folded }| Word { span, folded, exact: String::new() })
                .collect(),
        }
    }

    /// The tokens of `form`: one per word, or one per two adjacent words,
    /// each at its own position.
    fn tokens(&self, form: Form) -> Vec<Token> {
        let token = |position, span: Range<usize>, text| Token {
            offset_from: span.start,
            offset_to: span.end,
            position,
            text,
            position_length: 1,
        };
        let pairs = |of: fn(&Word) -> &str| {
            self.words
                .windows(2)
                .enumerate()
                .map(|(i, pair)| token(i, pair[0].span.start..pair[1].span.end, pair_of(of(&pair[0]), of(&pair[1]))))
                .collect()
        };
        match form {
            Form::Folded => {
                self.words.iter().enumerate().map(|(i, w)| token(i, w.span.clone(), w.folded.clone())).collect()
            }
            Form::Exact => {
                self.words.iter().enumerate().map(|(i, w)| token(i, w.span.clone(), w.exact.clone())).collect()
            }
            Form::Pairs => pairs(|w| &w.folded),
            Form::ExactPairs => pairs(|w| &w.exact),
        }
    }
}

impl TokenStream for WordStream {
    fn advance(&mut self) -> bool {
        match self.tokens.next() {
            Some(token) => {
                self.current = token;
                true
            }
            None => false,
        }
    }

    fn token(&self) -> &Token {
        &self.current
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(text: &str) -> String {
        folded_words(text).join(" ")
    }

    fn exact(text: &str) -> Vec<String> {
        words(text).into_iter().map(|w| w.exact).collect()
    }

    #[test]
    fn vietnamese_folds_without_diacritics_and_tone_placement() {
        assert_eq!(folded("Sinh hoạt chi bộ"), "sinh hoat chi bo");
        assert_eq!(folded("Đảng"), "dang");
        assert_eq!(folded("Đường"), "duong");
        assert_eq!(folded("hòa"), folded("hoà"));
        assert_eq!(folded("thuý"), folded("thúy"));
        assert_eq!(folded("quý 4.2019, Thái-Bình"), "quy 4 2019 thai binh");
        // Decomposed (NFD) input folds like composed input.
        assert_eq!(folded("Đa\u{300}ng ho\u{323}a"), "dang hoa");
        assert_eq!(folded("  \u{a0}— …"), "");
    }

    #[test]
    fn exact_forms_keep_letters_and_move_tones_to_the_end() {
        assert_eq!(exact("má mà mả mã mạ ma"), ["ma1", "ma2", "ma3", "ma4", "ma5", "ma"]);
        assert_eq!(exact("hòa hoà"), ["hoa2", "hoa2"], "either tone-mark placement");
        assert_eq!(exact("thuý thúy"), ["thuy1", "thuy1"]);
        assert_eq!(exact("Đảng ĐẢNG"), ["đang3", "đang3"]);
        assert_eq!(exact("Thái Bình"), ["thai1", "binh2"]);
        assert_eq!(exact("ưa ua"), ["ưa", "ua"], "letter marks are kept");
        // NFD, NFC and a mix of the two give the same exact form.
        let nfc = "Sinh hoạt chi bộ";
        let nfd: String = nfc.nfd().collect();
        let mixed = "Sinh hoa\u{323}t chi bộ";
        assert_eq!(exact(nfc), exact(&nfd));
        assert_eq!(exact(nfc), exact(mixed));
        assert_eq!(exact(nfc), ["sinh", "hoat5", "chi", "bô5"]);
    }

    #[test]
    fn diacritics_are_told_from_their_absence() {
        let found = words("má ma Ma Đi di 2019");
        let marked: Vec<bool> = found.iter().map(Word::has_diacritics).collect();
        assert_eq!(marked, [true, false, false, true, false, false]);
    }

    #[test]
    fn tokens_carry_positions_and_offsets_of_the_original_text() {
        let text = "Thái-Bình, ngày 4.2019";
        let mut tokenizer = VietnameseTokenizer(Form::Exact);
        let mut stream = tokenizer.token_stream(text);
        let mut seen = Vec::new();
        while stream.advance() {
            let token = stream.token();
            seen.push((token.position, token.text.clone(), &text[token.offset_from..token.offset_to]));
        }
        assert_eq!(
            seen,
            [
                (0, "thai1".to_string(), "Thái"),
                (1, "binh2".into(), "Bình"),
                (2, "ngay2".into(), "ngày"),
                (3, "4".into(), "4"),
                (4, "2019".into(), "2019"),
            ]
        );
    }

    #[test]
    fn pairs_are_adjacent_folded_words() {
        let text = "Chi bộ Thái-Bình";
        let mut tokenizer = VietnameseTokenizer(Form::Pairs);
        let mut stream = tokenizer.token_stream(text);
        let mut seen = Vec::new();
        while stream.advance() {
            let token = stream.token();
            seen.push((token.text.clone(), &text[token.offset_from..token.offset_to]));
        }
        assert_eq!(
            seen,
            [
                (pair_of("chi", "bo"), "Chi bộ"),
                (pair_of("bo", "thai"), "bộ Thái"),
                (pair_of("thai", "binh"), "Thái-Bình")
            ]
        );
        assert!(VietnameseTokenizer(Form::Pairs).token_stream("một").next().is_none(), "one word: no pair");
        let mut exact = VietnameseTokenizer(Form::ExactPairs);
        let mut stream = exact.token_stream(text);
        let mut seen = Vec::new();
        while stream.advance() {
            seen.push(stream.token().text.clone());
        }
        assert_eq!(seen, [pair_of("chi", "bô5"), pair_of("bô5", "thai1"), pair_of("thai1", "binh2")]);
    }
}
