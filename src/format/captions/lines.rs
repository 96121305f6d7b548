//! A caption file's bytes as numbered lines: a UTF-8 byte order mark
//! dropped, CR, LF and CRLF each ending a line, anything but UTF-8 refused
//! at the line it starts on.

use super::CaptionError;

/// One line of the file, without its line end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// 1-based.
    pub number: usize,
    pub text: &'a str,
}

impl Line<'_> {
    pub fn is_blank(&self) -> bool {
        self.text.trim().is_empty()
    }
}

const BOM: &str = "\u{feff}";

pub fn split(bytes: &[u8]) -> Result<Vec<Line<'_>>, CaptionError> {
    let text = std::str::from_utf8(bytes).map_err(|error| {
        let valid = &bytes[..error.valid_up_to()];
        // Lines before the fault, counted as `lines` below counts them.
        let line = std::str::from_utf8(valid).map(|text| numbered(text).count().max(1)).unwrap_or(1);
        let line = if valid.ends_with(b"\n") || valid.ends_with(b"\r") { line + 1 } else { line };
        CaptionError::at(line, "the file is not UTF-8 text (save it as UTF-8)")
    })?;
    Ok(numbered(text.strip_prefix(BOM).unwrap_or(text)).collect())
}

fn numbered(text: &str) -> impl Iterator<Item = Line<'_>> {
    let mut rest = Some(text);
    let mut number = 0;
    std::iter::from_fn(move || {
        let current = rest?;
        number += 1;
        match current.find(['\r', '\n']) {
            Some(end) => {
                let after = if current[end..].starts_with("\r\n") { end + 2 } else { end + 1 };
                rest = Some(&current[after..]);
                Some(Line { number, text: &current[..end] })
            }
            None => {
                rest = None;
                // A final line end does not start another line.
                (!current.is_empty()).then_some(Line { number, text: current })
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(bytes: &[u8]) -> Vec<(usize, String)> {
        split(bytes).unwrap().into_iter().map(|line| (line.number, line.text.to_owned())).collect()
    }

    #[test]
    fn every_line_end_ends_a_line_and_the_bom_goes() {
        let expected = [(1, "WEBVTT".to_owned()), (2, String::new()), (3, "a".to_owned()), (4, "b".to_owned())];
        assert_eq!(texts(b"WEBVTT\n\na\nb\n"), expected);
        assert_eq!(texts(b"\xef\xbb\xbfWEBVTT\r\n\r\na\r\nb"), expected);
        assert_eq!(texts(b"WEBVTT\r\ra\rb\r"), expected);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused_at_their_line() {
        let error = split(b"1\r\n00:00:01,000 --> 00:00:02,000\r\nT\xe1o\r\n").unwrap_err();
        assert_eq!(error.line, 3, "{error}");
        assert!(error.to_string().contains("UTF-8"), "{error}");
        assert_eq!(split(b"\xff").unwrap_err().line, 1);
        assert_eq!(split(b"a\n\xff").unwrap_err().line, 2);
    }
}
