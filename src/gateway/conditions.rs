//! What part of a clip a GET or HEAD asks for: its preconditions
//! (RFC 9110 §13.2.2: If-Match, If-Unmodified-Since, If-None-Match,
//! If-Modified-Since, If-Range) and its byte range (§14).

use axum::http::{HeaderMap, header};
use headers::{ETag, HeaderMapExt, IfMatch, IfModifiedSince, IfNoneMatch, IfRange, IfUnmodifiedSince};
use http_range_header::RangeUnsatisfiableError;
use std::time::SystemTime;

/// The validators of the representation the gateway would send.
pub struct Validators {
    pub etag: ETag,
    /// Whole seconds, as HTTP dates carry them.
    pub last_modified: SystemTime,
}

/// What the preconditions make of a GET or HEAD.
#[derive(Debug, PartialEq, Eq)]
pub enum Precondition {
    /// Send the clip (or the range, when it applies).
    Proceed,
    /// 304: the client's copy is current.
    NotModified,
    /// 412: If-Match or If-Unmodified-Since failed.
    Failed,
}

/// Evaluates If-Match, If-Unmodified-Since, If-None-Match and
/// If-Modified-Since in the order RFC 9110 §13.2.2 gives. A malformed date
/// is ignored, like a missing header (§13.1.3); an ETag list without a
/// valid tag matches nothing.
pub fn evaluate(headers: &HeaderMap, validators: &Validators) -> Precondition {
    let Validators { etag, last_modified } = validators;
    if let Some(if_match) = headers.typed_get::<IfMatch>() {
        if !if_match.precondition_passes(etag) {
            return Precondition::Failed;
        }
    } else if let Some(since) = headers.typed_get::<IfUnmodifiedSince>()
        && !since.precondition_passes(*last_modified)
    {
        return Precondition::Failed;
    }
    if let Some(if_none_match) = headers.typed_get::<IfNoneMatch>() {
        if !if_none_match.precondition_passes(etag) {
            return Precondition::NotModified;
        }
    } else if let Some(since) = headers.typed_get::<IfModifiedSince>()
        && !since.is_modified(*last_modified)
    {
        return Precondition::NotModified;
    }
    Precondition::Proceed
}

/// Whether a Range header applies: with no If-Range, or with one holding
/// the strong ETag or exactly the Last-Modified date (§13.1.5); otherwise the
/// whole clip goes out.
pub fn range_applies(headers: &HeaderMap, validators: &Validators) -> bool {
    headers.typed_get::<IfRange>().is_none_or(|if_range| {
        if_range == IfRange::etag(validators.etag.clone()) || if_range == IfRange::date(validators.last_modified)
    })
}

/// A Range header no byte of the clip satisfies (HTTP 416).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsatisfiable;

/// The byte range to serve, first and last byte: `Ok(None)` for the whole clip.
pub fn requested_range(headers: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, Unsatisfiable> {
    let Some(value) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let parsed = match http_range_header::parse_range_header(value) {
        Ok(parsed) => parsed,
        // A malformed Range header is ignored (RFC 9110 §14.2).
        Err(RangeUnsatisfiableError::Invalid(_)) => return Ok(None),
        Err(_) => return Err(Unsatisfiable),
    };
    match parsed.validate(size) {
        // Several ranges: serve the first, never a multipart body.
        Ok(ranges) => Ok(ranges.first().map(|r| (*r.start(), *r.end()))),
        Err(_) => Err(Unsatisfiable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use std::time::{Duration, UNIX_EPOCH};

    fn validators() -> Validators {
        Validators { etag: "\"abc\"".parse().unwrap(), last_modified: UNIX_EPOCH + Duration::from_secs(1_700_000_000) }
    }

    fn with(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn the_order_of_rfc_9110_is_kept() {
        let v = validators();
        use Precondition::{Failed, NotModified, Proceed};
        assert_eq!(evaluate(&with(&[]), &v), Proceed);
        // 2023-11-14T22:13:20Z is the last modification.
        let at = "Tue, 14 Nov 2023 22:13:20 GMT";
        let before = "Tue, 14 Nov 2023 22:13:19 GMT";
        let later = "Tue, 14 Nov 2023 22:13:21 GMT";
        assert_eq!(evaluate(&with(&[("if-modified-since", at)]), &v), NotModified);
        assert_eq!(evaluate(&with(&[("if-modified-since", before)]), &v), Proceed);
        assert_eq!(evaluate(&with(&[("if-unmodified-since", before)]), &v), Failed);
        assert_eq!(evaluate(&with(&[("if-unmodified-since", at)]), &v), Proceed);
        // If-Match wins over If-Unmodified-Since, If-None-Match over If-Modified-Since.
        assert_eq!(evaluate(&with(&[("if-match", "\"abc\""), ("if-unmodified-since", before)]), &v), Proceed);
        assert_eq!(evaluate(&with(&[("if-none-match", "\"x\""), ("if-modified-since", at)]), &v), Proceed);
        // If-Match is evaluated first, then If-None-Match.
        assert_eq!(evaluate(&with(&[("if-match", "\"abc\""), ("if-none-match", "\"abc\"")]), &v), NotModified);
        assert_eq!(evaluate(&with(&[("if-match", "\"x\""), ("if-none-match", "\"abc\"")]), &v), Failed);
        // A weak ETag matches for If-None-Match (weak comparison).
        assert_eq!(evaluate(&with(&[("if-none-match", "W/\"abc\"")]), &v), NotModified);
        // Malformed dates are ignored; a list without a valid tag matches nothing.
        assert_eq!(evaluate(&with(&[("if-modified-since", "yesterday")]), &v), Proceed);
        assert_eq!(evaluate(&with(&[("if-unmodified-since", "yesterday")]), &v), Proceed);
        assert_eq!(evaluate(&with(&[("if-match", "abc")]), &v), Failed);
        assert_eq!(evaluate(&with(&[("if-none-match", "abc")]), &v), Proceed);

        // If-Range: a strong ETag match or exactly the date.
        assert!(range_applies(&with(&[]), &v));
        assert!(range_applies(&with(&[("if-range", "\"abc\"")]), &v));
        assert!(range_applies(&with(&[("if-range", at)]), &v));
        for stale in ["W/\"abc\"", "\"x\"", before, later] {
            assert!(!range_applies(&with(&[("if-range", stale)]), &v), "{stale}");
        }
    }

    proptest::proptest! {
        /// Any Range header, valid or not, gives the whole clip, a range
        /// inside it, or "unsatisfiable"; never a panic or a range past
        /// the end. A well-formed `bytes=A-B` inside the clip is served as asked.
        #[test]
        fn any_range_header_gives_a_range_inside_the_clip(
            value in "(bytes=)?[0-9,\\- ]{0,24}|.{0,24}",
            size in 0u64..10_000,
            start in 0u64..10_000,
            length in 1u64..10_000,
        ) {
            let mut headers = HeaderMap::new();
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(header::RANGE, value);
            }
            if let Ok(Some((first, last))) = requested_range(&headers, size) {
                proptest::prop_assert!(first <= last && last < size, "{value:?} on {size}: {first}-{last}");
            }
            let end = start + length - 1;
            let mut exact = HeaderMap::new();
            exact.insert(header::RANGE, HeaderValue::from_str(&format!("bytes={start}-{end}")).unwrap());
            let served = requested_range(&exact, size);
            if end < size {
                proptest::prop_assert_eq!(served, Ok(Some((start, end))));
            } else if start >= size {
                proptest::prop_assert_eq!(served, Err(Unsatisfiable));
            }
        }
    }
}
