//! What is stored, and where: articles, their revisions, clips and the links
//! between them. A trait per concern (`store.rs`) and [`MetadataStore`] for
//! them all; one SQL implementation that runs on SQLite and PostgreSQL (each
//! with its own migrations); one shared test suite.

pub mod changes;
mod sql;
mod store;
mod uploads;

pub use sql::SqlMetadataStore;
pub use store::{
    ArticleReads, ArticleStore, CaptionStore, ChangeFeed, LinkStore, MediaStore, MetadataStore, ObjectIndex,
    PictureStore, PosterChange, PosterStore, SearchSource, StoreStatus, TrackChange, ViewStore,
};
pub use uploads::{UploadProgress, UploadSession, UploadSessionStore};

use crate::{
    blob::BlobKey,
    config::MetadataSettings,
    format::{
        captions::{CaptionFormat, TimedText, TrackKind},
        mp4::Mp4Info,
    },
    ids::{ArticleId, MediaId},
};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// The current (or a past) revision of an article, without its body text.
#[derive(Debug, Clone, PartialEq)]
pub struct ArticleRecord {
    pub id: ArticleId,
    pub revision: i64,
    pub etag: String,
    pub title: String,
    pub author: String,
    pub keywords: Vec<String>,
    pub publish_time: DateTime<Utc>,
    pub publish_utc_offset_seconds: i32,
    pub view_count: i64,
    pub body: ObjectRef,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    pub media: Vec<MediaLink>,
    /// Set when soft-deleted; the article is then invisible but restorable.
    pub delete_time: Option<DateTime<Utc>>,
    /// Blocks deletion and purge while set.
    pub legal_hold: bool,
}

/// Everything known about one article in any state: its current revision
/// (with links, views, deletion and hold), every revision oldest first, and
/// the clips it links to. What a manifest holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ArticleExport {
    pub current: ArticleRecord,
    pub revisions: Vec<ArticleRecord>,
    pub media: Vec<MediaRecord>,
}

/// The text of an article's current revision the search index reads: its
/// body as stored (also where snippets are cut from).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchText {
    pub body: String,
}

/// A live article record for unit tests: `title`, by Phạm Ngọc, keyword
/// Thái Bình, published at `publish_seconds`, 89 views, no links.
#[cfg(test)]
pub(crate) fn sample_record(id: &str, title: &str, publish_seconds: i64) -> ArticleRecord {
    let id = ArticleId::parse(id).expect("a valid id");
    let time = DateTime::from_timestamp(publish_seconds, 0).expect("a valid time");
    ArticleRecord {
        body: ObjectRef { key: BlobKey::new_article_body(&id), size_bytes: 0, sha256: String::new() },
        id,
        revision: 1,
        etag: "e".into(),
        title: title.into(),
        author: "Phạm Ngọc".into(),
        keywords: vec!["Thái Bình".into()],
        publish_time: time,
        publish_utc_offset_seconds: 25_200,
        view_count: 89,
        create_time: time,
        update_time: time,
        media: Vec::new(),
        delete_time: None,
        legal_hold: false,
    }
}

/// A live article as the search index holds it: its current revision, with
/// links, its body, and the words of its clips' caption tracks.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedArticle {
    pub record: ArticleRecord,
    pub body: String,
    pub captions: Vec<ClipCaptions>,
}

/// The words of one caption track of a clip an article links.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipCaptions {
    pub media_id: MediaId,
    pub track_id: String,
    pub language: String,
    pub cues: Vec<TimedText>,
}

/// A stored object with its size and checksum.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectRef {
    pub key: BlobKey,
    pub size_bytes: u64,
    pub sha256: String,
}

impl ObjectRef {
    /// The object `bytes` make, stored at `key`.
    pub fn of(key: BlobKey, bytes: &[u8]) -> Self {
        Self { key, size_bytes: bytes.len() as u64, sha256: crate::domain::sha256_hex(bytes) }
    }
}

/// What a stored object is to the records naming it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// The text of an article revision.
    ArticleBody,
    /// A clip's bytes as uploaded.
    MediaOriginal,
    /// A clip's playback copy.
    MediaRendition,
    /// A caption file as uploaded.
    CaptionSource,
    /// A caption track as served (WebVTT).
    CaptionServed,
    /// A clip's poster.
    Poster,
    /// A picture derived from a clip: a thumbnail, a storyboard's file.
    Picture,
}

impl ObjectKind {
    pub const ALL: [ObjectKind; 7] = [
        ObjectKind::ArticleBody,
        ObjectKind::MediaOriginal,
        ObjectKind::MediaRendition,
        ObjectKind::CaptionSource,
        ObjectKind::CaptionServed,
        ObjectKind::Poster,
        ObjectKind::Picture,
    ];

    /// Its label in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::ArticleBody => "article_body",
            ObjectKind::MediaOriginal => "media_original",
            ObjectKind::MediaRendition => "media_rendition",
            ObjectKind::CaptionSource => "caption_source",
            ObjectKind::CaptionServed => "caption_served",
            ObjectKind::Poster => "poster",
            ObjectKind::Picture => "picture",
        }
    }
}

/// A clip an article names, linked to stored media once uploaded.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaLink {
    pub reference: String,
    pub media_id: Option<MediaId>,
    pub in_body: bool,
}

/// A stored clip.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaRecord {
    pub id: MediaId,
    pub filename: String,
    pub content_type: String,
    /// The original bytes, kept exactly as uploaded.
    pub object: ObjectRef,
    /// CRC32C of the original.
    pub crc32c: u32,
    pub mp4: Option<Mp4Info>,
    /// A copy derived for playback (moov first), when the original needs one.
    pub rendition: Option<ObjectRef>,
    pub create_time: DateTime<Utc>,
    /// 1 when stored; one more at each change of what belongs to the clip
    /// (its caption tracks). See [`MediaRecord::etag`].
    pub revision: i64,
}

/// A caption track of a clip: the file as uploaded and as served.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptionTrackRecord {
    pub media_id: MediaId,
    /// `[a-z0-9-]`, unique within the clip.
    pub track_id: String,
    /// A registered BCP 47 tag.
    pub language: String,
    pub kind: TrackKind,
    pub label: String,
    pub source_format: CaptionFormat,
    /// The file as uploaded, byte for byte.
    pub source: ObjectRef,
    /// The file as served: normalised WebVTT.
    pub served: ObjectRef,
    pub cue_count: u32,
    /// When the last cue ends.
    pub end_ms: u64,
    pub update_time: DateTime<Utc>,
}

impl CaptionTrackRecord {
    /// `media/{media_id}/captions/{track_id}`.
    pub fn name(&self) -> String {
        track_name(&self.media_id, &self.track_id)
    }
}

/// A clip's poster: a frame of it, or an image a client set.
#[derive(Debug, Clone, PartialEq)]
pub struct PosterRecord {
    pub media_id: MediaId,
    pub object: ObjectRef,
    /// `image/jpeg` or `image/png`.
    pub content_type: String,
    /// The frame's time in the clip; `None` for an image a client set.
    pub time_ms: Option<u64>,
    pub update_time: DateTime<Utc>,
}

/// A picture derived from a clip (a thumbnail, a storyboard's file),
/// stored and recorded so that it is archived like the clip's other files.
#[derive(Debug, Clone, PartialEq)]
pub struct PictureRecord {
    pub media_id: MediaId,
    /// The picture within its clip: `thumbnails/{ms}-{w}x{h}.jpg`,
    /// `storyboard.vtt`, … (one per clip).
    pub name: String,
    pub object: ObjectRef,
    pub content_type: String,
    pub create_time: DateTime<Utc>,
}

/// A clip's picture looked up by name, and how many it has stored.
#[derive(Debug, Clone, PartialEq)]
pub struct PictureLookup {
    pub found: Option<PictureRecord>,
    pub stored: u32,
}

/// What recording a picture did.
#[derive(Debug, Clone, PartialEq)]
pub enum PictureAdded {
    Added,
    /// The clip has a picture of that name already (made meanwhile): this one
    /// is not recorded.
    Exists(PictureRecord),
    /// The clip has as many pictures as the bound allows.
    Full,
    /// The clip is gone.
    MediaGone,
}

/// The resource name of a clip's track: `media/{media_id}/captions/{track_id}`.
pub fn track_name(media: &MediaId, track_id: &str) -> String {
    format!("{}/captions/{track_id}", media.name())
}

/// Links for a body: one per `Video:` line, keeping existing links by
/// reference; linked clips the body no longer names stay, out of the body.
pub fn links_for_body(body: &str, existing: &[MediaLink]) -> Vec<MediaLink> {
    fit_links(body.lines().filter_map(crate::format::export::video_reference), existing)
}

/// The links an update derived (from the links it read) refitted to the
/// links committed since: the same references of the body, each with the
/// clip linked to it now, then the clips linked elsewhere now. An attach or
/// detach landing between an update's read and its write is kept.
pub fn refit_links(derived: &[MediaLink], committed: &[MediaLink]) -> Vec<MediaLink> {
    fit_links(derived.iter().filter(|link| link.in_body).map(|link| link.reference.as_str()), committed)
}

/// Linear in the references and links: every lookup is a hash lookup.
fn fit_links<'a>(body_references: impl Iterator<Item = &'a str>, existing: &[MediaLink]) -> Vec<MediaLink> {
    use std::collections::{HashMap, HashSet};
    let linked: HashMap<&str, &MediaLink> = existing.iter().rev().map(|l| (l.reference.as_str(), l)).collect();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut links: Vec<MediaLink> = Vec::new();
    for reference in body_references {
        if !seen.insert(reference) {
            continue;
        }
        let media_id = linked.get(reference).and_then(|l| l.media_id.clone());
        links.push(MediaLink { reference: reference.to_owned(), media_id, in_body: true });
    }
    for old in existing {
        if old.media_id.is_some() && seen.insert(old.reference.as_str()) {
            links.push(MediaLink { in_body: false, ..old.clone() });
        }
    }
    links
}

impl MediaRecord {
    /// Tells this state of the clip from any other: its revision, and its
    /// creation time (so a clip deleted and stored again under the same id
    /// never repeats an etag).
    pub fn etag(&self) -> String {
        format!("{:x}-{}", self.create_time.timestamp_micros(), self.revision)
    }

    /// What playback serves: the rendition when there is one.
    pub fn playback_object(&self) -> &ObjectRef {
        self.rendition.as_ref().unwrap_or(&self.object)
    }
}

/// What deleting a clip's record changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeletedMedia {
    /// Articles the clip was detached from (only with `force`), by id.
    pub detached: Vec<ArticleId>,
    /// The clip's original and rendition, when no record names them any more.
    pub unreferenced: Vec<BlobKey>,
    /// The clip's own files (caption tracks, poster): never shared.
    pub files: Vec<BlobKey>,
}

/// The largest view count stored: every backend keeps it, and the sum over
/// nine million articles at this count still fits the 64-bit integers both
/// databases sum in. Counts saturate here (RecordView) and are refused
/// above it (create, import).
pub const MAX_VIEW_COUNT: i64 = 1_000_000_000_000;

/// Position after the last article of a page (publish time, then id, descending).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ArticleCursor {
    pub publish_time_micros: i64,
    pub id: String,
}

impl ArticleCursor {
    /// The position just after `article`.
    pub fn after(article: &ArticleRecord) -> Self {
        Self { publish_time_micros: article.publish_time.timestamp_micros(), id: article.id.to_string() }
    }

    /// The position just after a listed article.
    pub fn after_listed(listed: &ListedArticle) -> Self {
        Self { publish_time_micros: listed.publish_time_micros, id: listed.id.to_string() }
    }
}

/// Position after the last clip of a page (creation time, then id, descending).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MediaCursor {
    pub create_time_micros: i64,
    pub id: String,
}

/// What the archive holds, counted in one read transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveStatistics {
    pub articles: i64,
    pub deleted_articles: i64,
    pub held_articles: i64,
    pub revisions: i64,
    pub views: i64,
    pub media: i64,
    /// Each stored original and rendition once, however many clips share it.
    pub media_stored_bytes: i64,
    pub open_uploads: i64,
    /// The last fixity audit that ran to its end, on any replica.
    pub last_fixity_audit: Option<FixityReport>,
}

/// What one audit found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixityReport {
    /// Objects read in full and compared, damaged ones included.
    pub checked: u64,
    pub mismatched: u64,
    pub missing: u64,
    /// Objects left out of the sample.
    pub skipped: u64,
    pub bytes_read: u64,
    pub start_time: chrono::DateTime<chrono::Utc>,
    pub duration: std::time::Duration,
}

impl FixityReport {
    /// Mismatched and missing objects.
    pub fn damaged(&self) -> u64 {
        self.mismatched + self.missing
    }
}

/// Filters and paging of a listing.
#[derive(Debug, Clone, Default)]
pub struct ArticleQuery {
    pub publish_time_start: Option<DateTime<Utc>>,
    pub publish_time_end: Option<DateTime<Utc>>,
    pub author: Option<String>,
    pub keyword: Option<String>,
    pub page_size: u32,
    pub after: Option<ArticleCursor>,
}

/// A full-text query: folded words that must all occur, plus listing filters.
impl ArticleQuery {
    /// True when any filter beyond "not deleted" applies.
    pub fn has_filters(&self) -> bool {
        self.publish_time_start.is_some()
            || self.publish_time_end.is_some()
            || self.author.is_some()
            || self.keyword.is_some()
    }
}

#[derive(Debug, Clone)]
pub struct ArticlePage {
    pub articles: Vec<ArticleRecord>,
    pub next: Option<ArticleCursor>,
}

/// One article of a listing, as the listing's index gives it: which
/// article, at which revision, at which position.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedArticle {
    pub id: ArticleId,
    pub revision: i64,
    pub publish_time_micros: i64,
}

/// A listing's page of [`ListedArticle`]s and the position after it when
/// more follow.
#[derive(Debug, Clone)]
pub struct ListedPage {
    pub listed: Vec<ListedArticle>,
    pub next: Option<ArticleCursor>,
}

/// Opens the database named by `settings.url` (`sqlite://…` or
/// `postgres://…`) and applies its migrations.
pub async fn open(settings: &MetadataSettings) -> anyhow::Result<Arc<dyn MetadataStore>> {
    let store = SqlMetadataStore::open(&settings.url, settings.max_connections).await?;
    Ok(Arc::new(store))
}
