//! What one article may carry, checked before anything is written, and
//! what an answer carrying it can then weigh. Every bound of an article's
//! fields has its owner here.
//!
//! The bounds keep a write linear in its size and its answer under the
//! message limit: an article whose answer could not be sent is refused
//! before its commit, never committed and then reported as failed.

use super::ArticleFields;
use crate::{
    error::{ArchiveError, Reason, Result, quoted},
    format::export,
    metadata::ArticleRecord,
};

pub const MAX_TITLE_CHARS: usize = 2_000;
pub const MAX_AUTHOR_CHARS: usize = 500;
pub const MAX_KEYWORDS: usize = 100;
pub const MAX_KEYWORD_CHARS: usize = 200;
/// An article's text, bytes of UTF-8: a hundred times the longest news
/// article (the seed's body is ~6 KB), and small enough that a full answer
/// stays under the 4 MiB most gRPC clients accept by default.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
/// Clips one article names or links (its `Video:` lines and attached clips).
pub const MAX_CLIP_REFERENCES: usize = 100;
pub use crate::metadata::MAX_VIEW_COUNT;
/// The largest export accepted: a body at its limit plus its header and
/// byline lines, checked before the export is parsed.
pub const MAX_EXPORT_BYTES: usize = MAX_BODY_BYTES + 64 * 1024;
/// UTC offsets span −12:00 … +14:00; allow the ISO 8601 range.
const MAX_UTC_OFFSET_SECONDS: i32 = 18 * 3600;

/// A listing's page holds at most this many bytes of articles, whatever its
/// page size: under the 4 MiB a default gRPC client accepts, with room.
pub const MAX_PAGE_BYTES: usize = 2 * 1024 * 1024;

/// Checks every field of an article against its bound; cheap bounds first,
/// so an oversized field is refused without reading it all.
pub fn check_fields(fields: &ArticleFields) -> Result<()> {
    if fields.title.trim().is_empty() {
        return Err(ArchiveError::new(Reason::MissingTitle, "article.title is required"));
    }
    check_chars("article.title", &fields.title, MAX_TITLE_CHARS)?;
    check_chars("article.author", &fields.author, MAX_AUTHOR_CHARS)?;
    if fields.keywords.len() > MAX_KEYWORDS {
        return Err(ArchiveError::new(Reason::TooManyKeywords, format!("at most {MAX_KEYWORDS} keywords")));
    }
    if fields.keywords.iter().any(|k| k.trim().is_empty()) {
        return Err(ArchiveError::new(Reason::EmptyKeyword, "article.keywords must not contain empty keywords"));
    }
    for keyword in &fields.keywords {
        check_chars("a keyword", keyword, MAX_KEYWORD_CHARS)?;
    }
    if fields.body.len() > MAX_BODY_BYTES {
        return Err(ArchiveError::new(
            Reason::BodyTooLarge,
            format!("article.body is {} bytes; at most {MAX_BODY_BYTES} are stored", fields.body.len()),
        ));
    }
    check_body_references(&fields.body)?;
    if fields.publish_utc_offset_seconds.abs() > MAX_UTC_OFFSET_SECONDS {
        return Err(ArchiveError::new(Reason::InvalidUtcOffset, "article.publish_utc_offset_seconds is beyond ±18:00"));
    }
    check_view_count(fields.view_count)
}

/// A text field of at most `max` characters (a byte length over four times
/// that is refused without counting).
fn check_chars(field: &str, text: &str, max: usize) -> Result<()> {
    if text.len() > max && (text.len() > 4 * max || text.chars().count() > max) {
        return Err(ArchiveError::new(Reason::FieldTooLong, format!("{field} is longer than {max} characters")));
    }
    Ok(())
}

pub fn check_view_count(view_count: i64) -> Result<()> {
    if view_count < 0 {
        return Err(ArchiveError::new(Reason::NegativeViewCount, "article.view_count must not be negative"));
    }
    if view_count > MAX_VIEW_COUNT {
        return Err(ArchiveError::new(
            Reason::ViewCountTooLarge,
            format!("article.view_count is over {MAX_VIEW_COUNT}, the largest count stored"),
        ));
    }
    Ok(())
}

/// The `Video:` lines of a body: file names only, at most
/// [`MAX_CLIP_REFERENCES`] distinct ones.
fn check_body_references(body: &str) -> Result<()> {
    let mut names = std::collections::HashSet::new();
    for name in body.lines().filter_map(export::video_reference) {
        check_clip_reference(name)?;
        names.insert(name);
        if names.len() > MAX_CLIP_REFERENCES {
            return Err(too_many_references());
        }
    }
    Ok(())
}

/// A clip reference (a `Video:` line's name, AttachMedia's reference).
pub fn check_clip_reference(name: &str) -> Result<()> {
    export::check_clip_name(name).map_err(|why| {
        ArchiveError::new(Reason::InvalidClipReference, format!("clip reference {} {why}", quoted(name)))
    })
}

pub fn too_many_references() -> ArchiveError {
    ArchiveError::new(
        Reason::TooManyClipReferences,
        format!("an article names or links at most {MAX_CLIP_REFERENCES} clips"),
    )
}

/// Bytes of protobuf an article takes in an answer, at most: its text
/// fields, each link and fixed fields, with every tag and length prefix
/// counted at its largest (`service::convert` tests it against the real
/// encoding).
pub fn answer_bytes(record: &ArticleRecord, body_bytes: usize) -> usize {
    /// Tag, length prefix and fixed-size fields of one message or field.
    const FIELD: usize = 16;
    /// Name, etag, timestamps, numbers, body size and SHA-256.
    const FIXED: usize = 512;
    let text = record.title.len() + record.author.len() + body_bytes;
    let keywords: usize = record.keywords.iter().map(|k| k.len() + FIELD).sum();
    let links: usize = record.media.iter().map(|link| link.reference.len() + 64 + 3 * FIELD).sum();
    FIXED + text + 3 * FIELD + keywords + links
}

/// Refuses, before its commit, a write whose answer would be over
/// `limit` bytes (`server.max_message_bytes`).
pub fn check_answer(record: &ArticleRecord, body_bytes: usize, limit: usize) -> Result<()> {
    let bytes = answer_bytes(record, body_bytes);
    if bytes > limit {
        return Err(ArchiveError::new(
            Reason::MessageTooLarge,
            format!(
                "the article's answer would be ~{bytes} bytes, over server.max_message_bytes ({limit} bytes); \
                 nothing was written"
            ),
        ));
    }
    Ok(())
}

/// Cuts `items` so that their answers weigh at most [`MAX_PAGE_BYTES`]
/// (keeping at least one); true when it cut.
pub fn cut_to_page_bytes<T>(items: &mut Vec<T>, bytes: impl Fn(&T) -> usize) -> bool {
    let mut total = 0;
    let fits = items
        .iter()
        .position(|item| {
            total += bytes(item);
            total > MAX_PAGE_BYTES
        })
        .map_or(items.len(), |over| over.max(1));
    let cut = fits < items.len();
    items.truncate(fits);
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_cut_by_bytes_keeping_at_least_one() {
        let mut sizes = vec![MAX_PAGE_BYTES / 2, MAX_PAGE_BYTES / 2, 1, 1];
        assert!(cut_to_page_bytes(&mut sizes, |&size| size));
        assert_eq!(sizes.len(), 2);
        let mut huge = vec![MAX_PAGE_BYTES * 3, 1];
        assert!(cut_to_page_bytes(&mut huge, |&size| size));
        assert_eq!(huge, [MAX_PAGE_BYTES * 3], "one article per page at least");
        let mut small = vec![1; 1000];
        assert!(!cut_to_page_bytes(&mut small, |&size| size));
        assert_eq!(small.len(), 1000);
    }

    #[test]
    fn fields_are_checked_against_every_bound() {
        let fields = |change: &dyn Fn(&mut ArticleFields)| {
            let mut fields = ArticleFields { title: "Tiêu đề".into(), ..Default::default() };
            change(&mut fields);
            check_fields(&fields).err().map(|e| e.reason)
        };
        assert_eq!(fields(&|_| {}), None);
        assert_eq!(fields(&|f| f.title = "đ".repeat(MAX_TITLE_CHARS)), None, "characters, not bytes");
        assert_eq!(fields(&|f| f.title = "đ".repeat(MAX_TITLE_CHARS + 1)), Some(Reason::FieldTooLong));
        assert_eq!(fields(&|f| f.body = "a".repeat(MAX_BODY_BYTES + 1)), Some(Reason::BodyTooLarge));
        assert_eq!(fields(&|f| f.view_count = MAX_VIEW_COUNT + 1), Some(Reason::ViewCountTooLarge));
        assert_eq!(fields(&|f| f.view_count = i64::MAX), Some(Reason::ViewCountTooLarge));
        assert_eq!(fields(&|f| f.body = "Video: ../x.mp4".into()), Some(Reason::InvalidClipReference));
        let many: String = (0..=MAX_CLIP_REFERENCES).map(|i| format!("Video: {i}.mp4\n")).collect();
        assert_eq!(fields(&|f| f.body = many.clone()), Some(Reason::TooManyClipReferences));
        let repeated = "Video: mot.mp4\n".repeat(MAX_CLIP_REFERENCES * 3);
        assert_eq!(fields(&|f| f.body = repeated.clone()), None, "a clip named twice counts once");
    }
}
