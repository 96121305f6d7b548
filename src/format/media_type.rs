//! Which media types the archive stores, and as what it serves each: the
//! one list of them. A clip is served as its own type only when browsers
//! display that type inline without running script (never HTML, SVG, XML
//! or JavaScript); anything else is opaque bytes, served as
//! `application/octet-stream` and as an attachment, so that nothing an
//! uploader sends ever renders on the media origin.
//!
//! Types are compared by their essence (`type/subtype`, lowercase, as RFC
//! 9110 §8.3.1 says), parsed with the `mime` crate: parameters, case and
//! surrounding whitespace change nothing.

use mime::Mime;

/// The type whose bytes are checked (and probed) at upload.
pub const MP4: &str = "video/mp4";

/// Bytes the archive does not interpret: stored, and served only as a
/// download.
pub const OPAQUE: &str = "application/octet-stream";

/// The types served inline as themselves: the allow-list. (Images and
/// subtitles, `image/jpeg`, `image/png`, `image/webp`, `text/vtt`, join it
/// with the media work that checks their bytes.)
pub const INLINE: &[&str] = &[MP4];

/// Why a declared content type is not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Not `type/subtype` (a wildcard such as `*/*` or `video/*` is a range
    /// of types, not a type).
    NotAMediaType,
    /// A media type the archive does not store: its essence.
    NotStored(String),
}

/// The type a clip declared as `declared` is stored as: one of [`INLINE`]
/// or [`OPAQUE`], without parameters.
pub fn accept(declared: &str) -> Result<&'static str, Refused> {
    let essence = essence(declared).ok_or(Refused::NotAMediaType)?;
    stored_type(&essence).ok_or(Refused::NotStored(essence))
}

/// The type of a clip uploaded as `filename` without a declared type: the
/// stored type its extension names, else [`OPAQUE`]; never a refusal.
pub fn guess(filename: &str) -> &'static str {
    mime_guess::from_path(filename).iter().find_map(|guessed| stored_type(guessed.essence_str())).unwrap_or(OPAQUE)
}

/// How a clip recorded as `stored` goes out (records made before this rule
/// may hold any type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    /// The `Content-Type` sent.
    pub content_type: &'static str,
    /// Whether it must go out as `Content-Disposition: attachment`.
    pub attachment: bool,
}

pub fn served(stored: &str) -> Served {
    match essence(stored).and_then(|essence| INLINE.iter().find(|inline| **inline == essence)) {
        Some(inline) => Served { content_type: inline, attachment: false },
        None => Served { content_type: OPAQUE, attachment: true },
    }
}

/// Whether `content_type` is MP4, whatever its parameters or case.
pub fn is_mp4(content_type: &str) -> bool {
    essence(content_type).is_some_and(|essence| essence == MP4)
}

/// `type/subtype` in lowercase; `None` for what is not one media type.
fn essence(content_type: &str) -> Option<String> {
    let parsed: Mime = content_type.trim().parse().ok()?;
    if parsed.type_() == mime::STAR || parsed.subtype() == mime::STAR {
        return None;
    }
    Some(parsed.essence_str().to_ascii_lowercase())
}

fn stored_type(essence: &str) -> Option<&'static str> {
    INLINE.iter().chain(&[OPAQUE]).find(|stored| **stored == essence).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_case_and_whitespace_do_not_hide_mp4() {
        for declared in ["video/mp4", "VIDEO/MP4", " video/mp4 ", "video/mp4; codecs=\"avc1\"", "Video/Mp4;codecs=x"] {
            assert_eq!(accept(declared), Ok(MP4), "{declared:?}");
            assert!(is_mp4(declared), "{declared:?}");
        }
        assert!(!is_mp4("video/mp4x") && !is_mp4("video/*") && !is_mp4(""));
    }

    #[test]
    fn only_listed_types_are_stored_and_wildcards_are_no_type() {
        assert_eq!(accept("application/octet-stream"), Ok(OPAQUE));
        for wildcard in ["*/*", "*", "video/*", "*/mp4", "", "video", "video/mp4/x", "a b/c"] {
            assert_eq!(accept(wildcard), Err(Refused::NotAMediaType), "{wildcard:?}");
        }
        for active in ["text/html", "TEXT/HTML; charset=utf-8", "image/svg+xml", "application/javascript"] {
            assert!(matches!(accept(active), Err(Refused::NotStored(_))), "{active:?}");
        }
        assert_eq!(accept("Text/HTML"), Err(Refused::NotStored("text/html".into())));
    }

    #[test]
    fn guesses_never_name_a_type_that_is_not_stored() {
        assert_eq!(guess("93019_OHAI1.mp4"), MP4);
        assert_eq!(guess("CLIP.MP4"), MP4);
        for other in ["page.html", "logo.svg", "app.js", "notes.txt", "clip.bin", "no-extension", "x.xhtml"] {
            assert_eq!(guess(other), OPAQUE, "{other}");
        }
    }

    #[test]
    fn only_the_allow_list_is_served_inline() {
        assert_eq!(served("video/mp4"), Served { content_type: MP4, attachment: false });
        assert_eq!(served("video/MP4; codecs=avc1"), Served { content_type: MP4, attachment: false });
        for other in ["text/html", "image/svg+xml", "application/javascript", "*/*", "text/x-toml", "garbage", ""] {
            assert_eq!(served(other), Served { content_type: OPAQUE, attachment: true }, "{other:?}");
        }
    }
}
