//! The bucket describes itself: every article has a manifest object with its
//! fields, every revision and its linked clips (with sha256); every clip has
//! one too. `archivectl reindex` rebuilds an empty metadata database from
//! these alone.

mod repair;
mod write;

pub use repair::REPAIR_LAG;

use crate::error::Reason;
use crate::{
    blob::{BlobKey, BlobStore},
    error::{ArchiveError, Result},
    format::{
        captions::{CaptionFormat, TrackKind},
        mp4::Mp4Info,
    },
    ids::{ArticleId, MediaId},
    metadata::{
        ArticleExport, ArticleRecord, CaptionTrackRecord, MediaLink, MediaRecord, ObjectRef, PictureRecord,
        PosterRecord,
    },
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const ARTICLE_FORMAT: &str = "archive.article-manifest/v1";
pub const MEDIA_FORMAT: &str = "archive.media-manifest/v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArticleManifest {
    pub format: String,
    pub id: String,
    pub create_time_us: i64,
    pub view_count: i64,
    pub legal_hold: bool,
    pub delete_time_us: Option<i64>,
    /// Oldest first; the last one is current.
    pub revisions: Vec<RevisionEntry>,
    pub media: Vec<MediaLinkEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevisionEntry {
    pub revision: i64,
    pub etag: String,
    pub title: String,
    pub author: String,
    pub keywords: Vec<String>,
    pub publish_time_us: i64,
    pub publish_utc_offset_seconds: i32,
    pub body: ObjectEntry,
    pub time_us: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectEntry {
    pub key: String,
    pub size_bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaLinkEntry {
    pub reference: String,
    pub in_body: bool,
    pub media: Option<MediaManifest>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaManifest {
    pub format: String,
    pub id: String,
    pub filename: String,
    pub content_type: String,
    pub object: ObjectEntry,
    pub create_time_us: i64,
    #[serde(default)]
    pub crc32c: u32,
    #[serde(default)]
    pub mp4: Option<Mp4Info>,
    #[serde(default)]
    pub rendition: Option<ObjectEntry>,
    /// The clip's revision (1 in manifests from before it was kept).
    #[serde(default = "first_revision")]
    pub revision: i64,
    /// Its caption tracks, by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub captions: Vec<CaptionEntry>,
    /// Its poster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poster: Option<PosterEntry>,
    /// The pictures made from it so far (thumbnails, storyboard), by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pictures: Vec<PictureEntry>,
}

/// A picture derived from a clip, in its manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PictureEntry {
    pub name: String,
    pub object: ObjectEntry,
    pub content_type: String,
    pub create_time_us: i64,
}

/// A clip's poster in its manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PosterEntry {
    pub object: ObjectEntry,
    pub content_type: String,
    /// The frame's time; none for an image a client set.
    pub time_ms: Option<u64>,
    pub update_time_us: i64,
}

fn first_revision() -> i64 {
    1
}

impl PictureEntry {
    fn to_record(&self, media_id: &MediaId) -> Result<PictureRecord> {
        Ok(PictureRecord {
            media_id: media_id.clone(),
            name: self.name.clone(),
            object: self.object.to_object()?,
            content_type: self.content_type.clone(),
            create_time: time(self.create_time_us)?,
        })
    }
}

/// A caption track in its clip's manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptionEntry {
    pub track_id: String,
    pub language: String,
    pub kind: String,
    pub label: String,
    pub source_format: String,
    pub source: ObjectEntry,
    pub served: ObjectEntry,
    pub cue_count: u32,
    pub end_ms: u64,
    pub update_time_us: i64,
}

impl From<&CaptionTrackRecord> for CaptionEntry {
    fn from(track: &CaptionTrackRecord) -> Self {
        Self {
            track_id: track.track_id.clone(),
            language: track.language.clone(),
            kind: track.kind.as_str().to_owned(),
            label: track.label.clone(),
            source_format: track.source_format.as_str().to_owned(),
            source: (&track.source).into(),
            served: (&track.served).into(),
            cue_count: track.cue_count,
            end_ms: track.end_ms,
            update_time_us: track.update_time.timestamp_micros(),
        }
    }
}

impl CaptionEntry {
    fn to_record(&self, media_id: &MediaId) -> Result<CaptionTrackRecord> {
        Ok(CaptionTrackRecord {
            media_id: media_id.clone(),
            track_id: self.track_id.clone(),
            language: self.language.clone(),
            kind: TrackKind::parse(&self.kind).ok_or_else(|| corrupt("caption kind"))?,
            label: self.label.clone(),
            source_format: CaptionFormat::parse(&self.source_format).ok_or_else(|| corrupt("caption format"))?,
            source: self.source.to_object()?,
            served: self.served.to_object()?,
            cue_count: self.cue_count,
            end_ms: self.end_ms,
            update_time: time(self.update_time_us)?,
        })
    }
}

/// Reads and decodes the manifest at `key`; `None` when there is none.
pub async fn read<T: serde::de::DeserializeOwned>(blobs: &dyn BlobStore, key: &BlobKey) -> Result<Option<T>> {
    let Some(size) = blobs.head(key).await? else {
        return Ok(None);
    };
    let bytes = blobs.get_bytes(key, size).await?;
    serde_json::from_slice(&bytes).map(Some).map_err(|e| corrupt(&format!("encoding ({e})")))
}

fn corrupt(what: &str) -> ArchiveError {
    ArchiveError::new(Reason::ManifestInvalid, format!("manifest has an invalid {what}"))
}

fn time(micros: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| corrupt("time"))
}

impl From<&ObjectRef> for ObjectEntry {
    fn from(object: &ObjectRef) -> Self {
        Self { key: object.key.to_string(), size_bytes: object.size_bytes, sha256: object.sha256.clone() }
    }
}

impl ObjectEntry {
    fn to_object(&self) -> Result<ObjectRef> {
        Ok(ObjectRef {
            key: BlobKey::parse(&self.key).ok_or_else(|| corrupt("object key"))?,
            size_bytes: self.size_bytes,
            sha256: self.sha256.clone(),
        })
    }
}

impl From<&MediaRecord> for MediaManifest {
    fn from(media: &MediaRecord) -> Self {
        Self {
            format: MEDIA_FORMAT.into(),
            id: media.id.to_string(),
            filename: media.filename.clone(),
            content_type: media.content_type.clone(),
            object: (&media.object).into(),
            create_time_us: media.create_time.timestamp_micros(),
            crc32c: media.crc32c,
            mp4: media.mp4.clone(),
            rendition: media.rendition.as_ref().map(ObjectEntry::from),
            revision: media.revision,
            captions: Vec::new(),
            poster: None,
            pictures: Vec::new(),
        }
    }
}

impl MediaManifest {
    pub fn to_record(&self) -> Result<MediaRecord> {
        if self.format != MEDIA_FORMAT {
            return Err(corrupt("format"));
        }
        Ok(MediaRecord {
            id: MediaId::parse(&self.id)?,
            filename: self.filename.clone(),
            content_type: self.content_type.clone(),
            object: self.object.to_object()?,
            crc32c: self.crc32c,
            mp4: self.mp4.clone(),
            rendition: self.rendition.as_ref().map(ObjectEntry::to_object).transpose()?,
            create_time: time(self.create_time_us)?,
            revision: self.revision,
        })
    }

    /// The clip's manifest with its caption tracks, poster and pictures.
    pub fn with_files(
        media: &MediaRecord,
        tracks: &[CaptionTrackRecord],
        poster: Option<&PosterRecord>,
        pictures: &[PictureRecord],
    ) -> Self {
        Self {
            pictures: pictures
                .iter()
                .map(|picture| PictureEntry {
                    name: picture.name.clone(),
                    object: (&picture.object).into(),
                    content_type: picture.content_type.clone(),
                    create_time_us: picture.create_time.timestamp_micros(),
                })
                .collect(),
            captions: tracks.iter().map(CaptionEntry::from).collect(),
            poster: poster.map(|poster| PosterEntry {
                object: (&poster.object).into(),
                content_type: poster.content_type.clone(),
                time_ms: poster.time_ms,
                update_time_us: poster.update_time.timestamp_micros(),
            }),
            ..Self::from(media)
        }
    }

    /// The poster it describes.
    pub fn poster(&self) -> Result<Option<PosterRecord>> {
        let Some(entry) = &self.poster else { return Ok(None) };
        Ok(Some(PosterRecord {
            media_id: MediaId::parse(&self.id)?,
            object: entry.object.to_object()?,
            content_type: entry.content_type.clone(),
            time_ms: entry.time_ms,
            update_time: time(entry.update_time_us)?,
        }))
    }

    /// The pictures it describes, each read on its own (a picture is
    /// derived: one entry that does not read costs that picture only).
    pub fn pictures(&self) -> Result<Vec<Result<PictureRecord>>> {
        let id = MediaId::parse(&self.id)?;
        Ok(self.pictures.iter().map(|entry| entry.to_record(&id)).collect())
    }

    /// Every object it names: the clip's bytes, its rendition, its caption
    /// files, poster and pictures.
    pub fn object_keys(&self) -> impl Iterator<Item = &str> {
        let tracks = self.captions.iter().flat_map(|track| [track.source.key.as_str(), track.served.key.as_str()]);
        std::iter::once(self.object.key.as_str())
            .chain(self.rendition.as_ref().map(|rendition| rendition.key.as_str()))
            .chain(tracks)
            .chain(self.poster.as_ref().map(|poster| poster.object.key.as_str()))
            .chain(self.pictures.iter().map(|picture| picture.object.key.as_str()))
    }

    /// The caption tracks it describes.
    pub fn caption_tracks(&self) -> Result<Vec<CaptionTrackRecord>> {
        let id = MediaId::parse(&self.id)?;
        self.captions.iter().map(|entry| entry.to_record(&id)).collect()
    }
}

impl From<&ArticleExport> for ArticleManifest {
    fn from(export: &ArticleExport) -> Self {
        let current = &export.current;
        Self {
            format: ARTICLE_FORMAT.into(),
            id: current.id.to_string(),
            create_time_us: current.create_time.timestamp_micros(),
            view_count: current.view_count,
            legal_hold: current.legal_hold,
            delete_time_us: current.delete_time.map(|t| t.timestamp_micros()),
            revisions: export
                .revisions
                .iter()
                .map(|r| RevisionEntry {
                    revision: r.revision,
                    etag: r.etag.clone(),
                    title: r.title.clone(),
                    author: r.author.clone(),
                    keywords: r.keywords.clone(),
                    publish_time_us: r.publish_time.timestamp_micros(),
                    publish_utc_offset_seconds: r.publish_utc_offset_seconds,
                    body: (&r.body).into(),
                    time_us: r.update_time.timestamp_micros(),
                })
                .collect(),
            media: current
                .media
                .iter()
                .map(|link| MediaLinkEntry {
                    reference: link.reference.clone(),
                    in_body: link.in_body,
                    media: link
                        .media_id
                        .as_ref()
                        .and_then(|id| export.media.iter().find(|m| &m.id == id))
                        .map(MediaManifest::from),
                })
                .collect(),
        }
    }
}

impl ArticleManifest {
    /// The records this manifest describes.
    pub fn to_export(&self) -> Result<ArticleExport> {
        if self.format != ARTICLE_FORMAT {
            return Err(corrupt("format"));
        }
        let id = ArticleId::parse(&self.id)?;
        let media = self
            .media
            .iter()
            .filter_map(|link| link.media.as_ref())
            .map(MediaManifest::to_record)
            .collect::<Result<Vec<_>>>()?;
        let links = self
            .media
            .iter()
            .map(|link| MediaLink {
                reference: link.reference.clone(),
                media_id: link.media.as_ref().and_then(|m| MediaId::parse(&m.id).ok()),
                in_body: link.in_body,
            })
            .collect::<Vec<_>>();
        let create_time = time(self.create_time_us)?;
        let revisions = self
            .revisions
            .iter()
            .map(|r| {
                Ok(ArticleRecord {
                    id: id.clone(),
                    revision: r.revision,
                    etag: r.etag.clone(),
                    title: r.title.clone(),
                    author: r.author.clone(),
                    keywords: r.keywords.clone(),
                    publish_time: time(r.publish_time_us)?,
                    publish_utc_offset_seconds: r.publish_utc_offset_seconds,
                    view_count: self.view_count,
                    body: r.body.to_object()?,
                    create_time,
                    update_time: time(r.time_us)?,
                    media: links.clone(),
                    delete_time: self.delete_time_us.map(time).transpose()?,
                    legal_hold: self.legal_hold,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let current = revisions.last().cloned().ok_or_else(|| corrupt("revision list"))?;
        Ok(ArticleExport { current, revisions, media })
    }
}
