//! Unicode normal forms of field values. Editors save the same Vietnamese
//! text precomposed (NFC: `ộ` as one code point) or decomposed (NFD: `o`,
//! U+0323, U+0302, as macOS and some CMSes do). Text is stored as sent; an
//! exact filter matches a value in either form.

use unicode_normalization::UnicodeNormalization;

/// `text` precomposed (NFC): the one form filter tokens are made of.
pub fn nfc(text: &str) -> String {
    text.nfc().collect()
}

/// The spellings an exact filter for `value` matches: as sent, NFC and NFD,
/// each once.
pub fn equivalent_forms(value: &str) -> Vec<String> {
    let mut forms = vec![value.to_owned()];
    for form in [nfc(value), value.nfd().collect()] {
        if !forms.contains(&form) {
            forms.push(form);
        }
    }
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_of_a_value_are_matched_once_each() {
        let precomposed = "Phạm Ngọc";
        let decomposed: String = precomposed.nfd().collect();
        assert_ne!(precomposed, decomposed);
        assert_eq!(equivalent_forms(precomposed), [precomposed.to_owned(), decomposed.clone()]);
        assert_eq!(equivalent_forms(&decomposed), [decomposed, precomposed.to_owned()]);
        assert_eq!(equivalent_forms("Tuyen giao"), ["Tuyen giao"]);
    }
}
