//! The served form of a caption file, and the plain text of a cue.

use super::{Captions, time::format_timestamp};
use crate::format::forms::nfc;

/// Tags SRT and WebVTT share; any other SRT tag (`<font …>`) is dropped.
const SHARED_TAGS: [&str; 3] = ["i", "b", "u"];
/// Character references WebVTT cue text has, and what each shows.
const ENTITIES: [(&str, &str); 6] =
    [("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"), ("&nbsp;", "\u{a0}"), ("&lrm;", "\u{200e}"), ("&rlm;", "\u{200f}")];

pub fn write(captions: &Captions) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for block in &captions.blocks {
        out.push_str(&nfc(block));
        out.push_str("\n\n");
    }
    for cue in &captions.cues {
        if let Some(id) = &cue.id {
            out.push_str(&nfc(id));
            out.push('\n');
        }
        out.push_str(&format_timestamp(cue.start_ms));
        out.push_str(" --> ");
        out.push_str(&format_timestamp(cue.end_ms));
        if !cue.settings.is_empty() {
            out.push(' ');
            out.push_str(&nfc(&cue.settings));
        }
        out.push('\n');
        if !cue.text.is_empty() {
            out.push_str(&nfc(&cue.text));
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// One line of SRT cue text as WebVTT cue text: `<i>`, `<b>`, `<u>` kept,
/// other tags and `{\…}` overrides dropped, a bare `&` or `<` escaped.
pub fn from_srt_markup(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find(['<', '&', '{']) {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if rest.starts_with('{') {
            match rest.strip_prefix("{\\").and_then(|after| after.find('}')) {
                Some(close) => rest = &rest[close + 3..],
                None => {
                    out.push('{');
                    rest = &rest[1..];
                }
            }
        } else if rest.starts_with('&') {
            let entity = ENTITIES.iter().find(|(name, _)| rest.starts_with(name));
            out.push_str(if entity.is_some() { "&" } else { "&amp;" });
            rest = &rest[1..];
        } else {
            match tag(rest) {
                Some((length, name, closing)) => {
                    if SHARED_TAGS.contains(&name.as_str()) {
                        out.push_str(if closing { "</" } else { "<" });
                        out.push_str(&name);
                        out.push('>');
                    }
                    rest = &rest[length..];
                }
                None => {
                    out.push_str("&lt;");
                    rest = &rest[1..];
                }
            }
        }
    }
    out.push_str(rest);
    out
}

/// A tag at the start of `text` (`<name …>` or `</name>`): its length, its
/// name in lower case and whether it closes.
fn tag(text: &str) -> Option<(usize, String, bool)> {
    let end = text.find('>')?;
    let inner = &text[1..end];
    let (closing, inner) = match inner.strip_prefix('/') {
        Some(inner) => (true, inner),
        None => (false, inner),
    };
    let name: String = inner.chars().take_while(char::is_ascii_alphanumeric).collect();
    let starts_with_letter = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    starts_with_letter.then(|| (end + 1, name.to_ascii_lowercase(), closing))
}

/// WebVTT cue text as the words shown: tags (and inner timestamps) dropped,
/// character references decoded, lines joined by a space, in NFC.
pub fn plain_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(['<', '&', '\n']) {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix('\n') {
            out.push(' ');
            rest = after;
        } else if rest.starts_with('<') {
            rest = rest.find('>').map_or("", |end| &rest[end + 1..]);
        } else if let Some((name, shown)) = ENTITIES.iter().find(|(name, _)| rest.starts_with(name)) {
            out.push_str(shown);
            rest = &rest[name.len()..];
        } else {
            out.push('&');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    nfc(&out)
}
