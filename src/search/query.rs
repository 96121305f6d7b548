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

/// Most words a phrase may hold.
pub const MAX_PHRASE_WORDS: usize = 32;

impl Atom {
    /// The atom's words in order: one for a word, two or more for a phrase.
    pub fn terms(&self) -> &[Term] {
        match self {
            Atom::Word(term) => std::slice::from_ref(term),
            Atom::Phrase(terms) => terms,
        }
    }

    /// A word when `words` is one, a phrase when more; `None` when empty.
    fn from_words(words: Vec<Word>) -> Result<Option<Atom>, QueryError> {
        if words.len() > MAX_PHRASE_WORDS {
            return Err(QueryError::TooLong);
        }
        let mut terms: Vec<Term> = words.into_iter().map(Term::from).collect();
        Ok(match terms.len() {
            0 => None,
            1 => terms.pop().map(Atom::Word),
            _ => Some(Atom::Phrase(terms)),
        })
    }
}

/// Quotes open and close phrases: the ASCII one and the typographic pair
/// (any of them closes a phrase any of them opened, as keyboards and
/// editors mix them).
fn is_quote(c: char) -> bool {
    matches!(c, '"' | '\u{201c}' | '\u{201d}')
}

/// A piece of the input: `OR`, or a word or phrase to find or to exclude.
enum Item {
    Or,
    Atom { atom: Atom, excluded: bool },
}

/// Reads `input` into its items, with the character (counted from 1) each
/// starts at. Words that split into no word (punctuation) are left out.
fn items(input: &str) -> Result<Vec<(usize, Item)>, QueryError> {
    let chars: Vec<(usize, char)> = input.char_indices().collect();
    let byte = |index: usize| chars.get(index).map_or(input.len(), |&(byte, _)| byte);
    let mut items = Vec::new();
    let mut atoms = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i].1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let at = i + 1;
        let excluded = c == '-';
        let start = if excluded { i + 1 } else { i };
        let atom = if chars.get(start).is_some_and(|&(_, c)| is_quote(c)) {
            let Some(close) = (start + 1..chars.len()).find(|&k| is_quote(chars[k].1)) else {
                return Err(QueryError::Malformed(format!(
                    "the quote opened at character {} is not closed; close it with \" or remove it",
                    start + 1
                )));
            };
            i = close + 1;
            let phrase = &input[byte(start + 1)..byte(close)];
            match Atom::from_words(text::words(phrase))? {
                Some(atom) => atom,
                None => {
                    return Err(QueryError::Malformed(format!(
                        "the quotes at character {} hold no word; put words between them or remove them",
                        start + 1
                    )));
                }
            }
        } else {
            let end = (start..chars.len())
                .find(|&k| chars[k].1.is_whitespace() || is_quote(chars[k].1))
                .unwrap_or(chars.len());
            i = end;
            let written = &input[byte(start)..byte(end)];
            if !excluded && written == "OR" {
                items.push((at, Item::Or));
                continue;
            }
            match Atom::from_words(text::words(written))? {
                Some(atom) => atom,
                None if excluded => {
                    return Err(QueryError::Malformed(format!(
                        "the minus at character {at} is not followed by a word; a minus must be followed \
                         directly by a word or a quoted phrase (-word, -\"a phrase\"): remove the minus, \
                         or the space after it"
                    )));
                }
                // Punctuation alone (`—`, `...`): nothing to find.
                None => continue,
            }
        };
        atoms += 1;
        if atoms > MAX_QUERY_TERMS {
            return Err(QueryError::TooLong);
        }
        items.push((at, Item::Atom { atom, excluded }));
    }
    Ok(items)
}

/// Parses `input` (see the module's docs). Quotes are `"` or `“ ”` (any
/// of them closes a phrase); a `-` excludes only at the start of a word;
/// `OR` only in capitals. Messages place what is wrong by character,
/// counted from 1.
pub fn parse(input: &str) -> Result<Query, QueryError> {
    /// What came before the current item.
    #[derive(PartialEq)]
    enum Previous {
        Nothing,
        Found,
        Excluded,
        Or,
    }
    let mut query = Query { required: Vec::new(), excluded: Vec::new() };
    let mut previous = Previous::Nothing;
    let mut last_or = 0;
    for (at, item) in items(input)? {
        let malformed = |message: String| Err(QueryError::Malformed(message));
        match item {
            Item::Or => {
                match previous {
                    Previous::Nothing => {
                        return malformed(format!(
                            "OR at character {at} has no word or phrase before it; OR goes between two, \
                             as in a OR b: add a word before it or remove it"
                        ));
                    }
                    Previous::Or => {
                        return malformed(format!("OR at character {at} follows another OR; remove one of them"));
                    }
                    Previous::Excluded => {
                        return malformed(format!(
                            "OR at character {at} follows an excluded word or phrase; OR joins words to \
                             find: remove the minus or the OR"
                        ));
                    }
                    Previous::Found => {}
                }
                previous = Previous::Or;
                last_or = at;
            }
            Item::Atom { atom, excluded: true } => {
                if previous == Previous::Or {
                    return malformed(format!(
                        "OR at character {last_or} is followed by an excluded word or phrase; OR joins \
                         words to find: remove the minus or the OR"
                    ));
                }
                query.excluded.push(atom);
                previous = Previous::Excluded;
            }
            Item::Atom { atom, excluded: false } => {
                match query.required.last_mut() {
                    Some(clause) if previous == Previous::Or => clause.alternatives.push(atom),
                    _ => query.required.push(Clause { alternatives: vec![atom] }),
                }
                previous = Previous::Found;
            }
        }
    }
    if previous == Previous::Or {
        return Err(QueryError::Malformed(format!(
            "OR at character {last_or} has no word or phrase after it; OR goes between two, as in a OR b: \
             add a word after it or remove it"
        )));
    }
    if query.required.is_empty() {
        return Err(if query.excluded.is_empty() {
            QueryError::Empty
        } else {
            QueryError::Malformed(
                "the query only excludes (-word); add at least one word to find; exclusions only narrow a search"
                    .into(),
            )
        });
    }
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;
    use unicode_normalization::UnicodeNormalization;

    /// A word without diacritics.
    fn plain(folded: &str) -> Term {
        Term { folded: folded.into(), exact: None }
    }

    /// A word with diacritics: its folded and exact forms.
    fn marked(folded: &str, exact: &str) -> Term {
        Term { folded: folded.into(), exact: Some(exact.into()) }
    }

    fn word(folded: &str) -> Atom {
        Atom::Word(plain(folded))
    }

    fn phrase(folded: &[&str]) -> Atom {
        Atom::Phrase(folded.iter().map(|f| plain(f)).collect())
    }

    fn clause(alternatives: &[Atom]) -> Clause {
        Clause { alternatives: alternatives.to_vec() }
    }

    fn query(required: &[Clause], excluded: &[Atom]) -> Query {
        Query { required: required.to_vec(), excluded: excluded.to_vec() }
    }

    /// The message of a malformed query.
    fn refused(input: &str) -> String {
        match parse(input) {
            Err(QueryError::Malformed(message)) => message,
            other => panic!("{input:?} should be malformed: {other:?}"),
        }
    }

    #[test]
    fn words_are_each_required() {
        assert_eq!(parse("thai binh").unwrap(), query(&[clause(&[word("thai")]), clause(&[word("binh")])], &[]));
        assert_eq!(parse("  a\u{a0}\tb \n").unwrap(), query(&[clause(&[word("a")]), clause(&[word("b")])], &[]));
        // Punctuation alone is no word; punctuation around a word is dropped.
        assert_eq!(parse("— a ... (b),").unwrap(), query(&[clause(&[word("a")]), clause(&[word("b")])], &[]));
        // Lower-case or is a word like any other.
        assert_eq!(
            parse("a or b").unwrap(),
            query(&[clause(&[word("a")]), clause(&[word("or")]), clause(&[word("b")])], &[])
        );
    }

    #[test]
    fn a_word_that_splits_is_a_phrase() {
        assert_eq!(
            parse("Thái-Bình 4.2019").unwrap(),
            query(
                &[
                    clause(&[Atom::Phrase(vec![marked("thai", "thai1"), marked("binh", "binh2")])]),
                    clause(&[phrase(&["4", "2019"])]),
                ],
                &[]
            )
        );
        assert_eq!(parse("a-b").unwrap(), query(&[clause(&[phrase(&["a", "b"])])], &[]), "a minus inside a word");
    }

    #[test]
    fn quotes_make_a_phrase() {
        let chi_bo = Atom::Phrase(vec![plain("chi"), marked("bo", "bô5")]);
        let alone = query(&[clause(std::slice::from_ref(&chi_bo))], &[]);
        assert_eq!(parse("\"chi bộ\"").unwrap(), alone);
        assert_eq!(parse("“chi bộ”").unwrap(), alone, "typographic quotes");
        assert_eq!(parse("“chi bộ\"").unwrap(), alone, "mixed quotes");
        assert_eq!(parse("\" chi, bộ! \"").unwrap(), alone);
        // One word between quotes is a word; quotes also end a word.
        assert_eq!(parse("\"Đảng\"").unwrap(), query(&[clause(&[Atom::Word(marked("dang", "đang3"))])], &[]));
        assert_eq!(
            parse("x\"chi bộ\"y").unwrap(),
            query(&[clause(&[word("x")]), clause(&[chi_bo]), clause(&[word("y")])], &[])
        );
        // OR between quotes is a word.
        assert_eq!(parse("\"OR\"").unwrap(), query(&[clause(&[word("or")])], &[]));
    }

    #[test]
    fn a_minus_excludes() {
        assert_eq!(
            parse("\"chi bộ\" -Thái -\"a b\" x-y").unwrap(),
            query(
                &[clause(&[Atom::Phrase(vec![plain("chi"), marked("bo", "bô5")])]), clause(&[phrase(&["x", "y"])]),],
                &[Atom::Word(marked("thai", "thai1")), phrase(&["a", "b"])]
            )
        );
        assert_eq!(parse("a -b-c").unwrap(), query(&[clause(&[word("a")])], &[phrase(&["b", "c"])]));
        assert_eq!(parse("a -OR").unwrap(), query(&[clause(&[word("a")])], &[word("or")]));
    }

    #[test]
    fn or_joins_alternatives() {
        assert_eq!(parse("a OR b").unwrap(), query(&[clause(&[word("a"), word("b")])], &[]));
        assert_eq!(
            parse("a OR b OR \"c d\"").unwrap(),
            query(&[clause(&[word("a"), word("b"), phrase(&["c", "d"])])], &[])
        );
        assert_eq!(
            parse("x a OR b c -z").unwrap(),
            query(&[clause(&[word("x")]), clause(&[word("a"), word("b")]), clause(&[word("c")])], &[word("z")])
        );
        assert_eq!(
            parse("a OR b OR c d OR e").unwrap(),
            query(&[clause(&[word("a"), word("b"), word("c")]), clause(&[word("d"), word("e")])], &[])
        );
        assert_eq!(
            parse("\"x y\"OR z").unwrap(),
            query(&[clause(&[phrase(&["x", "y"]), word("z")])], &[]),
            "a quote ends the phrase before OR"
        );
    }

    #[test]
    fn unclosed_and_empty_quotes_are_refused() {
        let message = refused("chi \"bộ");
        assert!(message.contains("quote opened at character 5 is not closed"), "{message}");
        assert!(message.contains("close it with \" or remove it"), "{message}");
        assert!(refused("a “b c").contains("character 3"));
        assert!(refused("\"a\" \"").contains("character 5"), "the second pair is not closed");
        for empty in ["\"\"", "a \"  \"", "“—”", "-\"\""] {
            let message = refused(empty);
            assert!(message.contains("hold no word") && message.contains("put words between them"), "{message}");
        }
    }

    #[test]
    fn a_minus_without_a_word_is_refused() {
        for input in ["a -", "a - b", "a -— b", "a -..."] {
            let message = refused(input);
            assert!(message.contains("minus at character 3"), "{input}: {message}");
            assert!(
                message.contains("a minus must be followed directly by a word or a quoted phrase"),
                "{input}: {message}"
            );
        }
    }

    #[test]
    fn or_out_of_place_is_refused() {
        let message = refused("OR a");
        assert!(message.contains("OR at character 1 has no word or phrase before it"), "{message}");
        assert!(message.contains("add a word before it or remove it"), "{message}");
        assert!(refused("— OR a").contains("before it"), "punctuation is no word");
        let message = refused("a OR");
        assert!(message.contains("OR at character 3 has no word or phrase after it"), "{message}");
        assert!(message.contains("add a word after it or remove it"), "{message}");
        assert!(refused("a OR ...").contains("after it"));
        let message = refused("a OR OR b");
        assert!(message.contains("OR at character 6 follows another OR; remove one of them"), "{message}");
        let message = refused("-a OR b");
        assert!(message.contains("OR at character 4 follows an excluded word"), "{message}");
        assert!(message.contains("remove the minus or the OR"), "{message}");
        let message = refused("a OR -b");
        assert!(message.contains("OR at character 3 is followed by an excluded word"), "{message}");
        assert!(message.contains("remove the minus or the OR"), "{message}");
        assert!(refused("OR").contains("before it"));
    }

    #[test]
    fn exclusions_alone_are_refused_and_nothing_is_empty() {
        for input in ["-a", "-a -\"b c\"", "— -a"] {
            let message = refused(input);
            assert!(message.contains("add at least one word to find; exclusions only narrow a search"), "{message}");
        }
        for input in ["", "   ", "—", "... , !", "\u{a0}\u{300}"] {
            assert_eq!(parse(input), Err(QueryError::Empty), "{input:?}");
        }
    }

    #[test]
    fn too_many_atoms_or_too_long_a_phrase_is_refused() {
        let most = vec!["w"; MAX_QUERY_TERMS].join(" ");
        assert_eq!(parse(&most).unwrap().required.len(), MAX_QUERY_TERMS);
        assert_eq!(parse(&format!("{most} x")), Err(QueryError::TooLong));
        assert_eq!(parse(&format!("{most} -x")), Err(QueryError::TooLong), "excluded atoms count");
        let or_chain = vec!["w"; MAX_QUERY_TERMS + 1].join(" OR ");
        assert_eq!(parse(&or_chain), Err(QueryError::TooLong), "alternatives count");
        // A phrase is one atom, of at most MAX_PHRASE_WORDS words.
        let longest = format!("\"{}\"", vec!["w"; MAX_PHRASE_WORDS].join(" "));
        assert_eq!(parse(&longest).unwrap().required[0].alternatives[0].terms().len(), MAX_PHRASE_WORDS);
        assert_eq!(parse(&format!("\"{}\"", vec!["w"; MAX_PHRASE_WORDS + 1].join(" "))), Err(QueryError::TooLong));
        assert_eq!(parse(&vec!["w"; MAX_PHRASE_WORDS + 1].join("-")), Err(QueryError::TooLong));
        assert_eq!(QueryError::TooLong.to_string(), "query has more than 32 words and phrases; remove some");
    }

    #[test]
    fn vietnamese_keeps_its_exact_form_only_when_written_with_diacritics() {
        assert_eq!(
            parse("Thái Bình thai binh").unwrap(),
            query(
                &[
                    clause(&[Atom::Word(marked("thai", "thai1"))]),
                    clause(&[Atom::Word(marked("binh", "binh2"))]),
                    clause(&[word("thai")]),
                    clause(&[word("binh")]),
                ],
                &[]
            )
        );
        assert_eq!(parse("ĐẢNG").unwrap(), query(&[clause(&[Atom::Word(marked("dang", "đang3"))])], &[]));
        assert_eq!(parse("hòa").unwrap(), parse("hoà").unwrap(), "either tone-mark placement");
        assert_eq!(parse("Ma").unwrap(), query(&[clause(&[word("ma")])], &[]), "case is no diacritic");
    }

    #[test]
    fn decomposed_input_parses_like_composed_input() {
        let nfc = "\"Sinh hoạt chi bộ\" Đảng OR “Thái-Bình” -hoà";
        let nfd: String = nfc.nfd().collect();
        let mixed = "\"Sinh hoa\u{323}t chi bộ\" Đảng OR “Thái-Bình” -hoa\u{300}";
        assert_eq!(parse(&nfd).unwrap(), parse(nfc).unwrap());
        assert_eq!(parse(mixed).unwrap(), parse(nfc).unwrap());
        assert_eq!(parse(nfc).unwrap().required.len(), 2);
    }

    #[test]
    fn positive_atoms_are_the_alternatives_in_order() {
        let parsed = parse("a OR b c -d").unwrap();
        assert_eq!(parsed.positive_atoms().cloned().collect::<Vec<_>>(), [word("a"), word("b"), word("c")]);
    }

    /// Any string: never a panic; a query has something to find, and keeps
    /// within its bounds.
    fn check(input: &str) -> Result<(), proptest::test_runner::TestCaseError> {
        if let Ok(parsed) = parse(input) {
            proptest::prop_assert!(!parsed.required.is_empty(), "{input:?}: {parsed:?}");
            let atoms: Vec<&Atom> = parsed.positive_atoms().chain(&parsed.excluded).collect();
            proptest::prop_assert!(atoms.len() <= MAX_QUERY_TERMS);
            for atom in atoms {
                let terms = atom.terms();
                let size_fits = match atom {
                    Atom::Word(_) => terms.len() == 1,
                    Atom::Phrase(_) => (2..=MAX_PHRASE_WORDS).contains(&terms.len()),
                };
                proptest::prop_assert!(size_fits, "{input:?}: {atom:?}");
                proptest::prop_assert!(terms.iter().all(|t| !t.folded.is_empty()), "{input:?}: {atom:?}");
            }
        }
        Ok(())
    }

    proptest::proptest! {
        #[test]
        fn any_string_parses_or_is_refused(input in proptest::prelude::any::<String>()) {
            check(&input)?;
        }

        #[test]
        fn any_mix_of_syntax_parses_or_is_refused(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    "a", "Đảng", "ho\u{323}a", "OR", "or", "-", "\"", "“", "”", " ", "\u{a0}", "—", "...",
                    "-x", "x-y", "\u{301}", "4.2019",
                ]),
                0..24,
            ),
        ) {
            check(&pieces.concat())?;
        }
    }
}
