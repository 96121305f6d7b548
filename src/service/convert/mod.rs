//! Between protobuf messages and the service's own types (clips and
//! their files in `media`).

mod media;
pub use media::*;

use crate::error::Reason;
use crate::{
    blob::KeyOwner,
    domain::{
        ArticleFields, ChangeBatch, Damage, FixityEvent, FixityProblem, FixityReport, ListArticles, SearchResult,
        WatchChanges,
    },
    error::{ArchiveError, Result},
    metadata::{ArticleRecord, ObjectKind, changes::ChangeKind},
    proto::v1 as pb,
    search::{Facet, FacetCounts, Filters, Order},
};
use chrono::{DateTime, Utc};
use std::sync::LazyLock;

pub fn timestamp(time: &DateTime<Utc>) -> pbjson_types::Timestamp {
    pbjson_types::Timestamp { seconds: time.timestamp(), nanos: time.timestamp_subsec_nanos() as i32 }
}

pub fn from_timestamp(field: &str, value: &pbjson_types::Timestamp) -> Result<DateTime<Utc>> {
    u32::try_from(value.nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(value.seconds, nanos))
        .ok_or_else(|| ArchiveError::new(Reason::InvalidTimestamp, format!("{field} is not a valid timestamp")))
}

pub fn optional_timestamp(field: &str, value: Option<&pbjson_types::Timestamp>) -> Result<Option<DateTime<Utc>>> {
    value.map(|v| from_timestamp(field, v)).transpose()
}

/// The settable fields of a client's article.
pub fn article_fields(article: pb::Article) -> Result<ArticleFields> {
    Ok(ArticleFields {
        publish_time: optional_timestamp("article.publish_time", article.publish_time.as_ref())?,
        title: article.title,
        body: article.body,
        author: article.author,
        keywords: article.keywords,
        publish_utc_offset_seconds: article.publish_utc_offset_seconds,
        view_count: article.view_count,
    })
}

pub fn article(record: &ArticleRecord, body: Option<String>) -> pb::Article {
    pb::Article {
        name: record.id.name(),
        title: record.title.clone(),
        body: body.unwrap_or_default(),
        author: record.author.clone(),
        keywords: record.keywords.clone(),
        publish_time: Some(timestamp(&record.publish_time)),
        publish_utc_offset_seconds: record.publish_utc_offset_seconds,
        view_count: record.view_count,
        revision: record.revision,
        etag: record.etag.clone(),
        create_time: Some(timestamp(&record.create_time)),
        update_time: Some(timestamp(&record.update_time)),
        media: record
            .media
            .iter()
            .map(|link| pb::MediaReference {
                reference: link.reference.clone(),
                media: link.media_id.as_ref().map(|m| m.name()).unwrap_or_default(),
                in_body: link.in_body,
            })
            .collect(),
        body_size_bytes: record.body.size_bytes as i64,
        body_sha256: record.body.sha256.clone(),
        legal_hold: record.legal_hold,
    }
}

/// The filters of ListArticles.
pub fn list_filters(
    publish_time_start: Option<&pbjson_types::Timestamp>,
    publish_time_end: Option<&pbjson_types::Timestamp>,
    author: String,
    keyword: String,
) -> Result<ListArticles> {
    Ok(ListArticles {
        publish_time_start: optional_timestamp("publish_time_start", publish_time_start)?,
        publish_time_end: optional_timestamp("publish_time_end", publish_time_end)?,
        author,
        keyword,
        ..Default::default()
    })
}

fn text_ranges(ranges: Vec<std::ops::Range<usize>>) -> Vec<pb::TextRange> {
    ranges.into_iter().map(|range| pb::TextRange { start: range.start as i32, end: range.end as i32 }).collect()
}

/// Milliseconds as a protobuf Duration: the one conversion of clip times.
fn duration_ms(ms: u64) -> pbjson_types::Duration {
    pbjson_types::Duration { seconds: (ms / 1000) as i64, nanos: ((ms % 1000) * 1_000_000) as i32 }
}

pub fn search_result(result: SearchResult) -> pb::SearchResult {
    pb::SearchResult {
        article: Some(article(&result.article, None)),
        snippet: result.snippet,
        highlights: text_ranges(result.highlights),
        score: result.score,
        title_highlights: text_ranges(result.title_highlights),
        moments: result
            .moments
            .into_iter()
            .map(|moment| pb::SearchMoment {
                media: moment.media_id.name(),
                track: crate::metadata::track_name(&moment.media_id, &moment.track_id),
                language: moment.language,
                start: Some(duration_ms(moment.start_ms)),
                end: Some(duration_ms(moment.end_ms)),
                text: moment.text,
                highlights: text_ranges(moment.highlights),
            })
            .collect(),
    }
}

/// The search filters of SearchArticles and ListRelatedArticles.
pub fn search_filters(
    publish_time_start: Option<&pbjson_types::Timestamp>,
    publish_time_end: Option<&pbjson_types::Timestamp>,
    mut authors: Vec<String>,
    mut keywords: Vec<String>,
    has_media: Option<bool>,
) -> Result<Filters> {
    let micros = |name, value| optional_timestamp(name, value).map(|t| t.map(|t: DateTime<Utc>| t.timestamp_micros()));
    authors.retain(|a| !a.is_empty());
    keywords.retain(|k| !k.is_empty());
    Ok(Filters {
        publish_start_us: micros("publish_time_start", publish_time_start)?,
        publish_end_us: micros("publish_time_end", publish_time_end)?,
        authors,
        keywords,
        has_media,
    })
}

fn invalid_option(message: String) -> ArchiveError {
    ArchiveError::new(Reason::InvalidSearchOption, message)
}

pub fn search_order(order: i32) -> Result<Order> {
    match pb::SearchOrder::try_from(order) {
        Ok(pb::SearchOrder::Unspecified | pb::SearchOrder::Relevance) => Ok(Order::Relevance),
        Ok(pb::SearchOrder::Newest) => Ok(Order::Newest),
        Ok(pb::SearchOrder::Oldest) => Ok(Order::Oldest),
        Err(_) => Err(invalid_option(format!("order_by {order} is not a SearchOrder"))),
    }
}

pub fn search_facets(facets: &[i32]) -> Result<Vec<Facet>> {
    let mut wanted = Vec::with_capacity(facets.len());
    for &facet in facets {
        let facet = match pb::SearchFacet::try_from(facet) {
            Ok(pb::SearchFacet::Author) => Facet::Author,
            Ok(pb::SearchFacet::Keyword) => Facet::Keyword,
            Ok(pb::SearchFacet::PublishYear) => Facet::PublishYear,
            Ok(pb::SearchFacet::PublishMonth) => Facet::PublishMonth,
            Ok(pb::SearchFacet::HasMedia) => Facet::HasMedia,
            Ok(pb::SearchFacet::Unspecified) | Err(_) => {
                return Err(invalid_option(format!("facets holds {facet}, which is not a SearchFacet")));
            }
        };
        if !wanted.contains(&facet) {
            wanted.push(facet);
        }
    }
    Ok(wanted)
}

pub fn facet_counts(counts: FacetCounts) -> pb::FacetCounts {
    let facet = match counts.facet {
        Facet::Author => pb::SearchFacet::Author,
        Facet::Keyword => pb::SearchFacet::Keyword,
        Facet::PublishYear => pb::SearchFacet::PublishYear,
        Facet::PublishMonth => pb::SearchFacet::PublishMonth,
        Facet::HasMedia => pb::SearchFacet::HasMedia,
    };
    pb::FacetCounts {
        facet: facet.into(),
        values: counts.values.into_iter().map(|(value, count)| pb::FacetValue { value, count: count as i64 }).collect(),
        other_count: counts.other_count as i64,
    }
}

/// A required message field, or INVALID_ARGUMENT naming it.
pub fn required<T>(field: &str, value: Option<T>) -> Result<T> {
    value.ok_or_else(|| ArchiveError::new(Reason::MissingField, format!("{field} is required")))
}

pub fn fixity_event(event: FixityEvent) -> pb::AuditFixityResponse {
    use pb::audit_fixity_response::Result as Kind;
    let result = match event {
        FixityEvent::Problem(problem) => Kind::Problem(fixity_problem(problem)),
        FixityEvent::Finished(report) => Kind::Report(fixity_report(&report)),
    };
    pb::AuditFixityResponse { result: Some(result) }
}

pub fn fixity_report(report: &FixityReport) -> pb::FixityReport {
    pb::FixityReport {
        checked_count: report.checked as i64,
        mismatched_count: report.mismatched as i64,
        missing_count: report.missing as i64,
        skipped_count: report.skipped as i64,
        bytes_read: report.bytes_read as i64,
        start_time: Some(timestamp(&report.start_time)),
        duration: Some(pbjson_types::Duration {
            seconds: report.duration.as_secs() as i64,
            nanos: report.duration.subsec_nanos() as i32,
        }),
    }
}

fn fixity_problem(problem: FixityProblem) -> pb::FixityProblem {
    let object_kind = match problem.kind {
        ObjectKind::ArticleBody => pb::StoredObjectKind::ArticleBody,
        ObjectKind::MediaOriginal => pb::StoredObjectKind::MediaOriginal,
        ObjectKind::MediaRendition => pb::StoredObjectKind::MediaRendition,
        ObjectKind::CaptionSource => pb::StoredObjectKind::CaptionSource,
        ObjectKind::CaptionServed => pb::StoredObjectKind::CaptionWebvtt,
        ObjectKind::Poster => pb::StoredObjectKind::Poster,
        ObjectKind::Picture => pb::StoredObjectKind::Picture,
    };
    let owner = match problem.expected.key.origin().map(|origin| origin.owner) {
        Some(KeyOwner::Article(id)) => id.name(),
        Some(KeyOwner::Media(id)) => id.name(),
        None => String::new(),
    };
    let (kind, actual_size_bytes, actual_sha256) = match problem.damage {
        Damage::Missing => (pb::FixityProblemKind::Missing, 0, String::new()),
        Damage::Mismatched { size_bytes, sha256 } => {
            (pb::FixityProblemKind::Mismatched, size_bytes as i64, sha256.unwrap_or_default())
        }
    };
    pb::FixityProblem {
        problem: kind.into(),
        object_kind: object_kind.into(),
        object_key: problem.expected.key.as_str().to_owned(),
        owner,
        expected_size_bytes: problem.expected.size_bytes as i64,
        expected_sha256: problem.expected.sha256,
        actual_size_bytes,
        actual_sha256,
    }
}

/// Each change kind and its protobuf value: the one named `CHANGE_KIND_`
/// and the kind's stored name in capitals (the test
/// `every_change_kind_has_its_protobuf_value` holds both lists to it).
static CHANGE_KINDS: LazyLock<Vec<(ChangeKind, pb::ChangeKind)>> = LazyLock::new(|| {
    ChangeKind::ALL
        .iter()
        .filter_map(|&kind| {
            let name = format!("CHANGE_KIND_{}", kind.as_str().to_ascii_uppercase());
            pb::ChangeKind::from_str_name(&name).map(|value| (kind, value))
        })
        .collect()
});

pub fn watch_changes(request: pb::WatchChangesRequest) -> Result<WatchChanges> {
    let kinds = request
        .kinds
        .iter()
        .map(|&value| {
            CHANGE_KINDS.iter().find(|(_, kind)| *kind as i32 == value).map(|(kind, _)| *kind).ok_or_else(|| {
                ArchiveError::new(Reason::InvalidChangeKind, format!("kinds holds {value}, which is no change kind"))
            })
        })
        .collect::<Result<_>>()?;
    Ok(WatchChanges { cursor: request.cursor, kinds, names: request.names })
}

pub fn change_batch(batch: ChangeBatch) -> pb::WatchChangesResponse {
    let changes = batch
        .changes
        .into_iter()
        .map(|change| {
            let (event, detail) = (&change.event, &change.event.change.detail);
            let kind = CHANGE_KINDS.iter().find(|(kind, _)| *kind == event.change.kind).map(|(_, pb)| *pb);
            pb::Change {
                cursor: change.cursor.clone(),
                commit_time: Some(timestamp(&event.commit_time)),
                kind: kind.unwrap_or(pb::ChangeKind::Unspecified).into(),
                name: event.change.name.clone(),
                etag: detail.etag.clone(),
                revision: detail.revision,
                title: detail.title.clone(),
                publish_time: detail
                    .publish_time_us
                    .and_then(DateTime::<Utc>::from_timestamp_micros)
                    .map(|time| timestamp(&time)),
                view_count: detail.view_count,
                media: detail.media.clone(),
                reference: detail.reference.clone(),
                filename: detail.filename.clone(),
                content_type: detail.content_type.clone(),
                size_bytes: detail.size_bytes,
                sha256: detail.sha256.clone(),
                track: detail.track.clone(),
            }
        })
        .collect();
    pb::WatchChangesResponse { changes, cursor: batch.cursor }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        blob::BlobKey,
        domain::bounds::{
            self, MAX_AUTHOR_CHARS, MAX_CLIP_REFERENCES, MAX_KEYWORD_CHARS, MAX_KEYWORDS, MAX_TITLE_CHARS,
        },
        ids::{ArticleId, MediaId},
        metadata::{MediaLink, ObjectRef},
    };
    use prost::Message;

    /// Every change kind has the protobuf value of its name, and every
    /// protobuf value but UNSPECIFIED is a change kind's.
    #[test]
    fn every_change_kind_has_its_protobuf_value() {
        let kinds: Vec<ChangeKind> = CHANGE_KINDS.iter().map(|(kind, _)| *kind).collect();
        assert_eq!(kinds, ChangeKind::ALL, "a kind without a protobuf value");
        let mut values: Vec<i32> = CHANGE_KINDS.iter().map(|(_, value)| *value as i32).collect();
        values.sort_unstable();
        let declared: Vec<i32> = (1..=255).filter(|value| pb::ChangeKind::try_from(*value).is_ok()).collect();
        assert_eq!(values, declared, "a protobuf value without a kind");
    }

    /// The article bounds' estimate of an answer is never below the real
    /// encoding, for an article at every limit at once (4-byte characters)
    /// and for an empty one.
    #[test]
    fn the_answer_estimate_bounds_the_real_encoding() {
        let wide = |chars: usize| "𝔸".repeat(chars);
        let id = ArticleId::parse(&"a".repeat(63)).unwrap();
        let time = chrono::DateTime::from_timestamp(i64::from(i32::MAX), 999_999_000).unwrap();
        let full = ArticleRecord {
            body: ObjectRef { key: BlobKey::new_article_body(&id), size_bytes: u64::MAX >> 1, sha256: "f".repeat(64) },
            id: id.clone(),
            revision: i64::MAX,
            etag: "e".repeat(16),
            title: wide(MAX_TITLE_CHARS),
            author: wide(MAX_AUTHOR_CHARS),
            keywords: vec![wide(MAX_KEYWORD_CHARS); MAX_KEYWORDS],
            publish_time: time,
            publish_utc_offset_seconds: -18 * 3600,
            view_count: bounds::MAX_VIEW_COUNT,
            create_time: time,
            update_time: time,
            delete_time: None,
            legal_hold: true,
            media: (0..MAX_CLIP_REFERENCES)
                .map(|i| MediaLink {
                    reference: format!("{i:0>255}"),
                    media_id: Some(MediaId::parse(&"m".repeat(63)).unwrap()),
                    in_body: true,
                })
                .collect(),
        };
        let body = wide(1000);
        let empty =
            ArticleRecord { title: "t".into(), author: String::new(), keywords: vec![], media: vec![], ..full.clone() };
        for record in [full, empty] {
            let real = article(&record, Some(body.clone())).encoded_len();
            let estimate = bounds::answer_bytes(&record, body.len());
            assert!(real <= estimate, "{real} bytes encoded, {estimate} estimated");
            assert!(estimate < real + 64 * 1024, "close enough to be useful: {real} vs {estimate}");
        }
    }
}
