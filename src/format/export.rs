//! Reader of the news portal's export format (`tests/fixtures/seed-README.md`):
//!
//! ```text
//! TITLE
//!
//! Thứ 2, 30.09.2019 | 17:20:59
//! 89 lượt xem
//!
//! BODY PARAGRAPHS (a `Video: NAME.mp4` line places a clip)
//!
//!  BYLINE
//!
//!   •  Từ khóa[: keyword, keyword]
//! ```
//!
//! Lines may carry trailing or leading spaces (also U+00A0) and end in CRLF.
//! Body lines are kept byte for byte; only CRLF becomes LF. The header
//! words (weekday, `lượt xem`, `Từ khóa`) are recognised in any Unicode
//! form and either tone-mark placement (NFC or NFD, `khóa` or `khoá`);
//! what the fields hold is kept as sent.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, Weekday};

/// Vietnam time, the portal's time zone.
pub const VIETNAM_UTC_OFFSET_SECONDS: i32 = 7 * 3600;

/// Longest line still taken as a byline when no keyword line follows.
const MAX_BYLINE_CHARS: usize = 80;

/// Longest clip name a `Video:` line may give: a file name on every
/// common file system (ext4, NTFS, APFS: 255).
pub const MAX_CLIP_NAME_BYTES: usize = 255;

#[derive(Debug, Clone, PartialEq)]
pub struct ParsedExport {
    pub title: String,
    pub publish_time: DateTime<FixedOffset>,
    pub view_count: i64,
    pub body: String,
    pub author: String,
    pub keywords: Vec<String>,
    /// File names of the `Video: NAME` lines, in body order.
    pub video_references: Vec<String>,
}

/// What is wrong, and on which line (1-based) of the export.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ExportError {
    pub line: usize,
    pub message: String,
}

fn error(line: usize, message: impl Into<String>) -> ExportError {
    ExportError { line, message: message.into() }
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

/// Decodes raw export bytes, naming the line of the first invalid UTF-8 byte.
pub fn decode(bytes: &[u8]) -> Result<&str, ExportError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
        error(line, format!("not valid UTF-8 (byte {})", e.valid_up_to()))
    })
}

pub fn parse(text: &str) -> Result<ParsedExport, ExportError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let normalized = text.replace("\r\n", "\n");
    let lines: Vec<&str> = normalized.split('\n').collect();
    let mut cursor = Lines { lines: &lines, next: 0 };

    let (title_line, title) = cursor.next_non_blank().ok_or_else(|| error(1, "the export is empty"))?;
    let (date_line, date) =
        cursor.next_non_blank().ok_or_else(|| error(title_line + 1, "missing publication date line"))?;
    let publish_time = parse_publish_time(date).map_err(|message| error(date_line, message))?;
    let (views_line, views) = cursor.next_non_blank().ok_or_else(|| error(date_line + 1, "missing view count line"))?;
    let view_count = parse_view_count(views).map_err(|message| error(views_line, message))?;

    let rest = &lines[cursor.next..];
    let mut end = last_non_blank(rest, rest.len());
    let mut keywords = Vec::new();
    if let Some(last) = end.map(|i| rest[i])
        && let Some(list) = keyword_list(last)
    {
        keywords = list;
        end = last_non_blank(rest, end.unwrap_or(0));
    }
    let mut author = String::new();
    if let Some(i) = end {
        let candidate = rest[i].trim();
        if candidate.chars().count() <= MAX_BYLINE_CHARS && video_reference(candidate).is_none() {
            author = candidate.to_owned();
            end = last_non_blank(rest, i);
        }
    }
    let body_lines = match end {
        Some(last) => {
            let first = rest.iter().position(|line| !is_blank(line)).unwrap_or(0);
            &rest[first..=last]
        }
        None => &rest[..0],
    };
    let video_references = body_lines.iter().filter_map(|line| video_reference(line)).map(str::to_owned).collect();
    Ok(ParsedExport {
        title: title.trim().to_owned(),
        publish_time,
        view_count,
        body: body_lines.join("\n"),
        author,
        keywords,
        video_references,
    })
}

struct Lines<'a> {
    lines: &'a [&'a str],
    next: usize,
}

impl<'a> Lines<'a> {
    /// The next non-blank line with its 1-based number.
    fn next_non_blank(&mut self) -> Option<(usize, &'a str)> {
        while self.next < self.lines.len() {
            let index = self.next;
            self.next += 1;
            if !is_blank(self.lines[index]) {
                return Some((index + 1, self.lines[index]));
            }
        }
        None
    }
}

/// Index of the last non-blank line before `before`.
fn last_non_blank(lines: &[&str], before: usize) -> Option<usize> {
    lines[..before].iter().rposition(|line| !is_blank(line))
}

/// `Thứ 2, 30.09.2019 | 17:20:59` → 2019-09-30T17:20:59+07:00, weekday checked.
fn parse_publish_time(line: &str) -> Result<DateTime<FixedOffset>, String> {
    let line = line.trim();
    let (weekday_text, rest) = line
        .split_once(',')
        .ok_or_else(|| format!("expected `Thứ N, DD.MM.YYYY | HH:MM:SS`, found {}", quoted(line)))?;
    let weekday = parse_weekday(weekday_text.trim())?;
    let (date_text, time_text) = rest
        .split_once('|')
        .ok_or_else(|| format!("expected `DD.MM.YYYY | HH:MM:SS` after the weekday in {}", quoted(line)))?;
    let date = NaiveDate::parse_from_str(date_text.trim(), "%d.%m.%Y")
        .map_err(|_| format!("{} is not a valid date (DD.MM.YYYY)", quoted(date_text.trim())))?;
    let time = NaiveTime::parse_from_str(time_text.trim(), "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(time_text.trim(), "%H:%M"))
        .map_err(|_| format!("{} is not a valid time (HH:MM:SS)", quoted(time_text.trim())))?;
    if date.weekday() != weekday {
        return Err(format!(
            "{} does not match {}, which is a {}",
            quoted(weekday_text.trim()),
            date_text.trim(),
            weekday_name(date.weekday())
        ));
    }
    let vietnam = FixedOffset::east_opt(VIETNAM_UTC_OFFSET_SECONDS).expect("+07:00 is a valid offset");
    date.and_time(time)
        .and_local_timezone(vietnam)
        .single()
        .ok_or_else(|| format!("{} is not a valid Vietnam time", quoted(line)))
}

/// Text from the export as written, in backticks, for a message: only
/// control characters are escaped (Debug would escape combining marks
/// too, turning `Thứ` in NFD into `Thu\u{31b}\u{301}`).
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('`');
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('`');
    out
}

/// A weekday as the export writes it.
fn weekday_name(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Mon => "Thứ 2",
        Weekday::Tue => "Thứ 3",
        Weekday::Wed => "Thứ 4",
        Weekday::Thu => "Thứ 5",
        Weekday::Fri => "Thứ 6",
        Weekday::Sat => "Thứ 7",
        Weekday::Sun => "Chủ nhật",
    }
}

/// A label's letters without their marks, lower case: `Thứ`, its NFD form
/// and `THỨ` all give `thu`; `khóa` and `khoá` give `khoa`. For recognising
/// the format's own words only, never for what a field holds.
fn fold(text: &str) -> String {
    use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};
    text.nfd()
        .filter(|c| !is_combining_mark(*c))
        .map(|c| match c {
            'đ' | 'Đ' => 'd',
            c => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

fn parse_weekday(text: &str) -> Result<Weekday, String> {
    let folded = fold(text);
    let weekday = match folded.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["chu", "nhat"] | ["cn"] => Weekday::Sun,
        ["thu", "2" | "hai"] => Weekday::Mon,
        ["thu", "3" | "ba"] => Weekday::Tue,
        ["thu", "4" | "tu"] => Weekday::Wed,
        ["thu", "5" | "nam"] => Weekday::Thu,
        ["thu", "6" | "sau"] => Weekday::Fri,
        ["thu", "7" | "bay"] => Weekday::Sat,
        _ => return Err(format!("{} is not a weekday (Thứ 2 … Thứ 7, Chủ nhật)", quoted(text))),
    };
    Ok(weekday)
}

/// `89 lượt xem`, `1.234 lượt xem` → 89, 1234.
fn parse_view_count(line: &str) -> Result<i64, String> {
    let line = line.trim();
    // The number is what comes before the words `lượt xem` (in any form).
    let words = line.char_indices().rev().filter(|(_, c)| c.is_whitespace()).nth(1).map(|(i, _)| i);
    let (number, label) = words.map_or(("", line), |i| line.split_at(i));
    if fold(label).split_whitespace().ne(["luot", "xem"]) {
        return Err(format!("expected `N lượt xem`, found {}", quoted(line)));
    }
    let number = number.trim();
    let digits: String = number.chars().filter(|c| !matches!(c, '.' | ',' | ' ')).collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{} is not a view count", quoted(number)));
    }
    digits.parse().map_err(|_| format!("{} is too large a view count", quoted(number)))
}

/// The keywords of a `•  Từ khóa[: a, b]` line (any form of the label).
fn keyword_list(line: &str) -> Option<Vec<String>> {
    let line = line.trim().strip_prefix('•')?.trim_start();
    // The label is the first two words, up to a colon.
    let second_word_end = line
        .char_indices()
        .skip_while(|(_, c)| !c.is_whitespace())
        .skip_while(|(_, c)| c.is_whitespace())
        .find(|(_, c)| c.is_whitespace() || *c == ':')
        .map_or(line.len(), |(i, _)| i);
    let (label, rest) = line.split_at(second_word_end);
    if fold(label).split_whitespace().ne(["tu", "khoa"]) {
        return None;
    }
    let rest = rest.trim_start().strip_prefix(':').unwrap_or(rest);
    Some(rest.split([',', ';']).map(str::trim).filter(|k| !k.is_empty()).map(str::to_owned).collect())
}

/// Why `name` cannot name a clip, if it cannot. A clip reference is a file
/// name, never a path: whoever resolves it (archivectl, in the media
/// directory it was given) must not be led out of that directory. The
/// server refuses articles whose `Video:` lines break this rule.
pub fn check_clip_name(name: &str) -> Result<(), String> {
    let why = if name.is_empty() {
        "names no clip"
    } else if name.len() > MAX_CLIP_NAME_BYTES {
        return Err(format!("names a clip longer than {MAX_CLIP_NAME_BYTES} bytes"));
    } else if name.contains(['/', '\\']) {
        "is a path: a clip is named by its file name only, without `/` or `\\`"
    } else if name == "." || name == ".." {
        "is not a file name"
    } else if name.contains(':') {
        "holds `:` (a drive or stream name), which a clip name may not"
    } else if name.chars().any(char::is_control) {
        "holds control characters"
    } else {
        return Ok(());
    };
    Err(why.to_owned())
}

/// `Video: 93019_OHAI1.mp4` → `93019_OHAI1.mp4`: the name as written,
/// checked by [`check_clip_name`] where it is used.
pub fn video_reference(line: &str) -> Option<&str> {
    let line = line.trim();
    let prefix = line.get(..6)?;
    if !prefix.eq_ignore_ascii_case("video:") {
        return None;
    }
    let name = line[6..].trim();
    (!name.is_empty() && !name.contains(char::is_whitespace)).then_some(name)
}

#[cfg(test)]
mod tests;
