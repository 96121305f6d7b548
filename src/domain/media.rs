//! MediaService: what an upload header may say, ranged reads, signed
//! playback URLs, links to articles, deletion. The upload RPCs (UploadMedia,
//! StartUpload, QueryUpload, CancelUpload) are in [`super::upload`].

use super::{Archive, MediaUpload, clip_files, now, run_to_completion};
use crate::error::Reason;
use crate::format::media_type;
use crate::{
    blob::{BlobKey, ByteStream},
    error::{ArchiveError, ErrorKind, Result},
    ids::{ArticleId, MediaId},
    metadata::{ArticleRecord, MediaRecord},
};
use chrono::{DateTime, Utc};
use std::{ops::Range, time::Duration};

const MAX_FILENAME_CHARS: usize = 255;
/// How much of a refused content type a message repeats.
const MAX_CONTENT_TYPE_CHARS: usize = 64;

/// What an upload's first message says.
#[derive(Debug, Clone, Default)]
pub struct UploadHeader {
    pub filename: String,
    pub content_type: String,
    pub media_id: String,
    /// Optional SHA-256 and size declared up front, to skip sending bytes
    /// that are stored already.
    pub sha256: String,
    pub size_bytes: i64,
}

/// What DeleteMedia did.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaDeletion {
    /// Articles the clip was detached from (with `force`).
    pub detached: Vec<ArticleId>,
    /// False when another clip shares the bytes, which then stay.
    pub objects_deleted: bool,
}

/// A signed, time-limited URL, and the clip's tracks signed as long.
#[derive(Debug, Clone)]
pub struct PlaybackUrl {
    pub url: String,
    pub expire_time: DateTime<Utc>,
    pub content_type: String,
    pub tracks: Vec<super::PlaybackTrack>,
    /// The clip's thumbnails (an MP4 clip's), for `?time=&width=&height=`.
    pub thumbnail_url: Option<String>,
    /// The clip's poster (an MP4 clip's).
    pub poster_url: Option<String>,
    /// The clip's storyboard WebVTT (an MP4 clip's).
    pub storyboard_url: Option<String>,
    /// A page that plays the clip in an iframe (an MP4 clip's).
    pub embed_url: Option<String>,
}

/// The content type of a clip uploaded as `filename` with none declared.
fn guess_content_type(filename: &str) -> &'static str {
    media_type::guess(filename)
}

/// The type a declared content type is stored as ([`media_type::accept`]),
/// or why it is refused: not a media type at all (a wildcard, garbage), or
/// one the archive never serves as itself (HTML, SVG, ...).
fn check_content_type(content_type: &str) -> Result<&'static str> {
    media_type::accept(content_type).map_err(|refused| match refused {
        media_type::Refused::NotAMediaType => ArchiveError::new(
            Reason::InvalidContentType,
            format!("{:?} is not a media type (type/subtype)", echo(content_type)),
        ),
        media_type::Refused::NotStored(essence) => ArchiveError::new(
            Reason::UnsupportedMediaType,
            format!(
                "{:?} is not a type the archive stores: declare one of {}, or {} for bytes served only as a \
                 download (an empty content_type picks from the file name)",
                echo(&essence),
                media_type::INLINE.join(", "),
                media_type::OPAQUE
            ),
        ),
    })
}

/// At most [`MAX_CONTENT_TYPE_CHARS`] of a content type, for a message.
fn echo(content_type: &str) -> String {
    content_type.chars().take(MAX_CONTENT_TYPE_CHARS).collect()
}

fn check_filename(filename: &str) -> Result<()> {
    if filename.trim().is_empty() {
        return Err(ArchiveError::new(Reason::MissingFilename, "header.filename is required"));
    }
    if filename.chars().count() > MAX_FILENAME_CHARS || filename.chars().any(char::is_control) {
        return Err(ArchiveError::new(
            Reason::InvalidFilename,
            format!("header.filename must be at most {MAX_FILENAME_CHARS} characters without control characters"),
        ));
    }
    Ok(())
}

impl Archive {
    /// The id and content type of a new clip, checked.
    pub(crate) async fn new_media(&self, header: &UploadHeader) -> Result<(MediaId, String)> {
        check_filename(&header.filename)?;
        // A size declared up front is held to the limit before any byte moves.
        self.check_clip_size(header.size_bytes.max(0) as u64)?;
        let content_type = if header.content_type.is_empty() {
            guess_content_type(&header.filename)
        } else {
            check_content_type(&header.content_type)?
        }
        .to_owned();
        let id = MediaId::chosen_or_generated(&header.media_id)?;
        if !header.media_id.is_empty() {
            match self.metadata.get_media(&id).await {
                Ok(_) => {
                    return Err(ArchiveError::new(Reason::MediaExists, format!("media {} already exists", id.name())));
                }
                Err(e) if e.kind == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok((id, content_type))
    }

    /// When the header declares a SHA-256 and size already stored, records a
    /// new clip sharing those bytes at once: the client sends nothing more.
    pub async fn stored_copy(&self, header: &UploadHeader) -> Result<Option<MediaRecord>> {
        if header.sha256.is_empty() {
            return Ok(None);
        }
        let sha256 = header.sha256.to_ascii_lowercase();
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) || header.size_bytes < 0 {
            return Err(ArchiveError::new(
                Reason::InvalidSha256,
                "header.sha256 must be 64 hex digits, with header.size_bytes",
            ));
        }
        let Some(stored) = self.metadata.find_media_by_content(&sha256, header.size_bytes as u64).await? else {
            return Ok(None);
        };
        let (id, content_type) = self.new_media(header).await?;
        // Bytes never checked as MP4 do not become one by being shared: the
        // client sends them, and they are checked.
        if media_type::is_mp4(&content_type) && stored.mp4.is_none() {
            return Ok(None);
        }
        let record = MediaRecord {
            id,
            filename: header.filename.clone(),
            content_type,
            create_time: now(),
            revision: 1,
            ..stored
        };
        match self.metadata.insert_media_copy(&record).await {
            Ok(()) => {}
            // Deleted meanwhile: the client sends the bytes after all.
            Err(error) if error.reason == Reason::CopySourceGone => return Ok(None),
            Err(error) => return Err(error),
        }
        self.write_media_manifest_logged(&record).await;
        Ok(Some(record))
    }

    /// RESOURCE_EXHAUSTED when a clip of `size` bytes would be over
    /// `media.max_upload_bytes`: the one owner of that limit.
    pub(crate) fn check_clip_size(&self, size: u64) -> Result<()> {
        let max = self.media_settings.max_upload_bytes;
        if size <= max {
            return Ok(());
        }
        Err(ArchiveError::new(
            Reason::UploadTooLarge,
            format!("the clip would be over media.max_upload_bytes ({max} bytes)"),
        ))
    }

    /// How many uploads this process has in progress.
    pub(crate) fn uploads_in_flight(&self) -> usize {
        self.media_settings.max_concurrent_uploads.max(1).saturating_sub(self.upload_slots.available_permits())
    }

    /// A place among the uploads in progress; RESOURCE_EXHAUSTED when full,
    /// with a second to wait (uploads end all the time).
    pub(crate) fn upload_slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit> {
        self.upload_slots.clone().try_acquire_owned().map_err(|_| {
            let max = self.media_settings.max_concurrent_uploads;
            ArchiveError::new(
                Reason::TooManyUploads,
                format!("{max} uploads are in progress, as many as media.max_concurrent_uploads allows; retry later"),
            )
            .retry_after(std::time::Duration::from_secs(1))
        })
    }

    /// A one-shot upload: the clip is stored if this stream finishes it.
    pub async fn start_upload(&self, header: UploadHeader) -> Result<MediaUpload> {
        let slot = self.upload_slot()?;
        let (id, content_type) = self.new_media(&header).await?;
        Ok(MediaUpload::one_shot(self.clone(), id, header.filename, content_type, slot))
    }

    /// The bytes `offset..offset+limit` (limit 0: to the end) of a clip.
    pub async fn read_media(&self, id: &MediaId, offset: i64, limit: i64) -> Result<(Range<u64>, ByteStream)> {
        if offset < 0 || limit < 0 {
            return Err(ArchiveError::new(Reason::InvalidRange, "offset and limit must not be negative"));
        }
        let media = self.metadata.get_media(id).await?;
        let size = media.object.size_bytes;
        let offset = offset as u64;
        if offset > size || (offset == size && size > 0) {
            return Err(ArchiveError::new(
                Reason::OffsetPastEnd,
                format!("offset {offset} is past the end of media {} ({size} bytes)", id.name()),
            ));
        }
        let end = if limit == 0 { size } else { size.min(offset.saturating_add(limit as u64)) };
        let stream = self.blobs.get(&media.object.key, offset..end).await?;
        Ok((offset..end, crate::blob::rechunk(stream, self.media_settings.chunk_size_bytes)))
    }

    /// A URL a browser can play for `ttl` (server default when `None`),
    /// from `start` when given (a media fragment, `#t=`).
    pub async fn playback_url(
        &self,
        id: &MediaId,
        ttl: Option<Duration>,
        attachment: bool,
        start: Option<Duration>,
    ) -> Result<PlaybackUrl> {
        let settings = &self.media_settings;
        let ttl = ttl.unwrap_or(Duration::from_secs(settings.default_playback_ttl_seconds));
        if ttl.as_secs() < 1 || ttl.as_secs() > settings.max_playback_ttl_seconds {
            return Err(ArchiveError::new(
                Reason::InvalidTtl,
                format!("ttl must be between 1 s and {} s", settings.max_playback_ttl_seconds),
            ));
        }
        let media = self.metadata.get_media(id).await?;
        let fragment = start.map(|start| start_fragment(&media, start)).transpose()?.unwrap_or_default();
        // Only the allow-list plays inline; anything else is a download.
        let served = media_type::served(&media.content_type);
        let attachment = attachment || served.attachment;
        // Both kinds of URL carry whole seconds (`exp`, SigV4's X-Amz-Date):
        // sign as of a whole second, so that the expiry reported is theirs.
        let signed_at = Utc::now().timestamp();
        let expires = signed_at + ttl.as_secs() as i64;
        let expire_time = DateTime::from_timestamp(expires, 0).expect("a time within chrono's range");
        let url = match self.blobs.signer() {
            Some(presigner) => {
                let disposition = attachment.then(|| attachment_disposition(&media.filename));
                let object = media.playback_object();
                let signed_at = std::time::UNIX_EPOCH + Duration::from_secs(signed_at as u64);
                let (key, content_type) = (&object.key, served.content_type);
                presigner.presign_get(key, signed_at, ttl, content_type, disposition.as_deref()).await?
            }
            None => {
                let path = gateway_path(id);
                let query = self.signer.sign(&path, expires, attachment);
                format!("{}{path}?{query}", self.gateway_base_url)
            }
        };
        // The clip's files, under one token that signs its prefix.
        let prefix = clip_files::clip_prefix(id);
        let token = self.signer.sign_prefix(&prefix, expires);
        let files = format!("{}/s/{token}{prefix}", self.gateway_base_url);
        let tracks = self.playback_tracks(id, &files).await?;
        let thumbnail_url = media.mp4.is_some().then(|| format!("{files}{}", clip_files::THUMBNAIL_FILE));
        let poster_url = media.mp4.is_some().then(|| format!("{files}{}", clip_files::POSTER_FILE));
        let storyboard_url = media.mp4.is_some().then(|| format!("{files}{}", clip_files::STORYBOARD_FILE));
        let embed_url = media.mp4.is_some().then(|| {
            let start = start.map(|start| format!("?t={}", start.as_secs_f64())).unwrap_or_default();
            format!("{}/embed/{token}/media/{id}{start}", self.gateway_base_url)
        });
        let url = url + &fragment;
        let content_type = served.content_type.to_owned();
        Ok(PlaybackUrl { url, expire_time, content_type, tracks, thumbnail_url, poster_url, storyboard_url, embed_url })
    }

    /// Deletes a clip: its record (with `force`, after detaching it from the
    /// articles linking it), the manifests that named it, then its objects
    /// unless another clip shares them. Records go first, as in the purge: a
    /// crash afterwards leaves only objects no record names, which the sweep
    /// removes.
    pub async fn delete_media(&self, id: &MediaId, force: bool) -> Result<MediaDeletion> {
        let archive = self.clone();
        let id = id.clone();
        run_to_completion(async move {
            let deleted = archive.metadata.delete_media(&id, force).await?;
            // An article manifest still naming the clip keeps its bytes
            // (the sweep's rule) until the article's next write rewrites it.
            let mut manifests_current = true;
            for article in &deleted.detached {
                manifests_current &= archive.write_article_manifest(article).await;
            }
            let manifest = BlobKey::media_manifest(&id);
            if let Err(error) = archive.blobs.delete(&manifest).await {
                tracing::error!(media = %id, error = ?error, "manifest of a deleted clip not removed");
                manifests_current = false;
            }
            if manifests_current {
                for key in deleted.unreferenced.iter().chain(&deleted.files) {
                    archive.discard(key).await;
                }
            }
            tracing::info!(media = %id, detached = deleted.detached.len(), objects = deleted.unreferenced.len(), "deleted a clip");
            Ok(MediaDeletion { objects_deleted: !deleted.unreferenced.is_empty(), detached: deleted.detached })
        })
        .await
    }

    /// Unlinks the clip of an article's reference.
    pub async fn detach_media(&self, article: &ArticleId, reference: &str) -> Result<ArticleRecord> {
        if reference.is_empty() {
            return Err(ArchiveError::new(Reason::MissingReference, "reference is required"));
        }
        let record = self.metadata.detach_media(article, reference).await?;
        self.write_article_manifest(article).await;
        Ok(record)
    }

    /// Links a clip to an article's reference (the clip's file name when empty).
    pub async fn attach_media(&self, article: &ArticleId, media: &MediaId, reference: &str) -> Result<ArticleRecord> {
        let record = self.metadata.get_media(media).await?;
        let reference = if reference.is_empty() { record.filename.as_str() } else { reference };
        super::bounds::check_clip_reference(reference)?;
        let links = self.metadata.get_article(article, None).await?.media;
        if links.len() >= super::bounds::MAX_CLIP_REFERENCES && !links.iter().any(|link| link.reference == reference) {
            return Err(super::bounds::too_many_references());
        }
        let record = self.metadata.attach_media(article, reference, media).await?;
        self.write_article_manifest(article).await;
        Ok(record)
    }
}

/// `Content-Disposition` that saves a clip under its uploaded name (RFC 6266:
/// an ASCII fallback plus the UTF-8 name).
pub fn attachment_disposition(filename: &str) -> String {
    let fallback: String =
        filename.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' { c } else { '_' }).collect();
    let encoded = percent_encoding::utf8_percent_encode(filename, percent_encoding::NON_ALPHANUMERIC);
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// `#t=SECONDS.mmm` (W3C Media Fragments): where playback starts, within
/// the clip when its duration is known.
fn start_fragment(media: &MediaRecord, start: Duration) -> Result<String> {
    let ms = start.as_millis();
    let duration = media.mp4.as_ref().map(|info| u128::from(info.duration_ms));
    if duration.is_some_and(|duration| ms >= duration) {
        return Err(ArchiveError::new(
            Reason::InvalidStart,
            format!("start {}.{:03} s is not before the end of media {}", ms / 1000, ms % 1000, media.id.name()),
        ));
    }
    Ok(format!("#t={}.{:03}", ms / 1000, ms % 1000))
}

/// Path of a clip on the media gateway.
pub fn gateway_path(id: &MediaId) -> String {
    format!("/media/{id}")
}
