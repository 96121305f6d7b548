//! Clips: streamed uploads committed only by an explicit, checked finish;
//! ranged reads; signed playback URLs; links to articles.

use super::{Archive, now, run_to_completion};
use crate::mp4::{self, FaststartPlan, Mp4Info, Scanner};
use crate::{
    blob::{BlobKey, BlobUpload, ByteStream},
    error::{ArchiveError, ErrorKind, Result},
    ids::{ArticleId, MediaId},
    metadata::{ArticleRecord, MediaRecord, ObjectRef},
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::{ops::Range, time::Duration};

const MAX_FILENAME_CHARS: usize = 255;
const MAX_CONTENT_TYPE_CHARS: usize = 255;

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

/// A signed, time-limited URL.
#[derive(Debug, Clone)]
pub struct PlaybackUrl {
    pub url: String,
    pub expire_time: DateTime<Utc>,
    pub content_type: String,
}

fn guess_content_type(filename: &str) -> &'static str {
    let extension = filename.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase()).unwrap_or_default();
    match extension.as_str() {
        "mp4" | "m4v" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        "m4a" => "audio/mp4",
        "mp3" => "audio/mpeg",
        _ => "application/octet-stream",
    }
}

fn check_content_type(content_type: &str) -> Result<()> {
    let valid = content_type.len() <= MAX_CONTENT_TYPE_CHARS
        && content_type.split_once('/').is_some_and(|(kind, sub)| !kind.is_empty() && !sub.is_empty())
        && content_type.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if valid {
        Ok(())
    } else {
        Err(ArchiveError::invalid("INVALID_CONTENT_TYPE", format!("{content_type:?} is not a MIME type")))
    }
}

fn check_filename(filename: &str) -> Result<()> {
    if filename.trim().is_empty() {
        return Err(ArchiveError::invalid("MISSING_FILENAME", "header.filename is required"));
    }
    if filename.chars().count() > MAX_FILENAME_CHARS || filename.chars().any(char::is_control) {
        return Err(ArchiveError::invalid(
            "INVALID_FILENAME",
            format!("header.filename must be at most {MAX_FILENAME_CHARS} characters without control characters"),
        ));
    }
    Ok(())
}

/// What the client says it sent, in its finish message.
#[derive(Debug, Clone, Default)]
pub struct Declared {
    pub size_bytes: i64,
    pub sha256: String,
    pub crc32c: Option<u32>,
}

const MP4_CONTENT_TYPE: &str = "video/mp4";

/// Probes a scanned MP4 and plans its faststart rendition when it needs one.
async fn inspect(
    scanner: Scanner,
    max_moov_bytes: u64,
) -> std::result::Result<(Mp4Info, Option<FaststartPlan>), String> {
    mp4::run_parser(move || {
        let layout = scanner.finish()?;
        let info = mp4::probe::probe(&layout)?;
        let plan = if info.faststart {
            None
        } else {
            match mp4::faststart::plan(&layout, max_moov_bytes) {
                Ok(plan) => plan,
                Err(reason) => {
                    // Still a valid archive entry; it just plays from the original.
                    tracing::warn!(%reason, "no faststart rendition");
                    None
                }
            }
        };
        Ok((info, plan))
    })
    .await
}

/// An upload in progress. Dropping it without [`MediaUpload::finish`]
/// discards everything written (the blob upload aborts itself on drop).
pub struct MediaUpload {
    archive: Archive,
    id: MediaId,
    filename: String,
    content_type: String,
    key: BlobKey,
    upload: Box<dyn BlobUpload>,
    hasher: Sha256,
    crc32c: u32,
    size: u64,
    /// Follows the boxes of a clip declared as MP4.
    mp4: Option<Scanner>,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl std::fmt::Debug for MediaUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaUpload").field("id", &self.id).field("key", &self.key).field("size", &self.size).finish()
    }
}

impl MediaUpload {
    pub fn media_id(&self) -> &MediaId {
        &self.id
    }

    pub async fn write(&mut self, chunk: Bytes) -> Result<()> {
        self.size += chunk.len() as u64;
        let max = self.archive.media_settings.max_upload_bytes;
        if self.size > max {
            return Err(ArchiveError::new(
                ErrorKind::ResourceExhausted,
                "UPLOAD_TOO_LARGE",
                format!("the clip exceeds the limit of {max} bytes"),
            ));
        }
        self.hasher.update(&chunk);
        self.crc32c = crc32c::crc32c_append(self.crc32c, &chunk);
        if let Some(scanner) = &mut self.mp4 {
            scanner.feed(&chunk);
        }
        self.upload.write(chunk).await
    }

    /// Commits the upload if `size`, `sha256` (and `crc32c` when given) match
    /// what was received and a clip declared as MP4 is one; otherwise
    /// discards it. An MP4 whose moov follows its mdat also gets a faststart
    /// rendition for playback.
    pub async fn finish(mut self, declared: Declared) -> Result<MediaRecord> {
        if let Err(error) = self.check(&declared) {
            self.abort().await;
            return Err(error);
        }
        let mp4 = match self.mp4.take() {
            Some(scanner) => match inspect(scanner, self.archive.media_settings.max_moov_bytes).await {
                Ok(inspected) => Some(inspected),
                Err(reason) => {
                    self.abort().await;
                    return Err(ArchiveError::invalid(
                        "NOT_MP4",
                        format!("the clip is declared as {} but {reason}; nothing was stored", MP4_CONTENT_TYPE),
                    ));
                }
            },
            None => None,
        };
        let sha256 = hex::encode(self.hasher.clone().finalize());
        let Self { archive, id, filename, content_type, key, upload, size, crc32c, _slot: slot, .. } = self;
        // The commit runs to its end even if the client goes away meanwhile
        // (the request future is then dropped): bytes and record together.
        let commit = async move {
            let _slot = slot; // held until the commit is done
            let (info, plan) = mp4.map_or((None, None), |(info, plan)| (Some(info), plan));
            // Identical bytes are stored once: reuse them and drop this copy.
            let (object, rendition) = match archive.metadata.find_media_by_content(&sha256, size).await? {
                Some(stored) => {
                    upload.abort().await?;
                    (stored.object, stored.rendition)
                }
                None => {
                    upload.commit().await?;
                    let object = ObjectRef { key, size_bytes: size, sha256 };
                    let rendition = match plan {
                        Some(plan) => archive.write_faststart_rendition(&id, &object, &content_type, plan).await,
                        None => None,
                    };
                    (object, rendition)
                }
            };
            let record =
                MediaRecord { id, filename, content_type, object, crc32c, mp4: info, rendition, create_time: now() };
            if let Err(error) = archive.metadata.insert_media(&record).await {
                // Only objects this upload wrote (keys carry the media id).
                let own = format!("media/{}/", record.id);
                for key in std::iter::once(&record.object).chain(&record.rendition).map(|o| &o.key) {
                    if key.as_str().starts_with(&own) {
                        archive.discard(key).await;
                    }
                }
                return Err(error);
            }
            if let Err(error) = archive.write_media_manifest(&record).await {
                tracing::error!(media = %record.id, error = ?error.source, "manifest not written: {}", error.message);
            }
            Ok(record)
        };
        run_to_completion(commit).await
    }

    /// The declared size and checksums against what arrived.
    fn check(&self, declared: &Declared) -> Result<()> {
        let declared_sha256 = declared.sha256.to_ascii_lowercase();
        if declared_sha256.len() != 64 || !declared_sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ArchiveError::invalid("INVALID_SHA256", "finish.sha256 must be 64 hex digits"));
        }
        if declared.size_bytes < 0 || declared.size_bytes as u64 != self.size {
            return Err(ArchiveError::invalid(
                "SIZE_MISMATCH",
                format!(
                    "finish.size_bytes is {} but {} bytes were received; nothing was stored",
                    declared.size_bytes, self.size
                ),
            ));
        }
        let sha256 = hex::encode(self.hasher.clone().finalize());
        if sha256 != declared_sha256 {
            return Err(ArchiveError::invalid(
                "SHA256_MISMATCH",
                format!("finish.sha256 does not match the bytes received (sha256 {sha256}); nothing was stored"),
            ));
        }
        if let Some(crc32c) = declared.crc32c.filter(|crc| *crc != self.crc32c) {
            return Err(ArchiveError::invalid(
                "CRC32C_MISMATCH",
                format!("finish.crc32c is {crc32c} but the bytes received have {}; nothing was stored", self.crc32c),
            ));
        }
        Ok(())
    }

    /// Discards the upload, to the end even if the request is cancelled meanwhile.
    pub async fn abort(self) {
        let key = self.key.clone();
        let aborted = tokio::spawn(self.upload.abort()).await;
        match aborted {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%key, error = ?error.source, "could not abort an upload"),
            Err(error) => tracing::warn!(%key, %error, "the abort of an upload panicked"),
        }
    }
}

impl Archive {
    /// The id and content type of a new clip, checked.
    async fn new_media(&self, header: &UploadHeader) -> Result<(MediaId, String)> {
        check_filename(&header.filename)?;
        let content_type = if header.content_type.is_empty() {
            guess_content_type(&header.filename).to_owned()
        } else {
            header.content_type.clone()
        };
        check_content_type(&content_type)?;
        let id = MediaId::chosen_or_generated(&header.media_id)?;
        if !header.media_id.is_empty() {
            match self.metadata.get_media(&id).await {
                Ok(_) => {
                    return Err(ArchiveError::new(
                        ErrorKind::AlreadyExists,
                        "MEDIA_EXISTS",
                        format!("media {} already exists", id.name()),
                    ));
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
            return Err(ArchiveError::invalid(
                "INVALID_SHA256",
                "header.sha256 must be 64 hex digits, with header.size_bytes",
            ));
        }
        let Some(stored) = self.metadata.find_media_by_content(&sha256, header.size_bytes as u64).await? else {
            return Ok(None);
        };
        let (id, content_type) = self.new_media(header).await?;
        let record = MediaRecord { id, filename: header.filename.clone(), content_type, create_time: now(), ..stored };
        self.metadata.insert_media(&record).await?;
        if let Err(error) = self.write_media_manifest(&record).await {
            tracing::error!(media = %record.id, error = ?error.source, "manifest not written: {}", error.message);
        }
        Ok(Some(record))
    }

    pub async fn start_upload(&self, header: UploadHeader) -> Result<MediaUpload> {
        let slot = self.upload_slots.clone().try_acquire_owned().map_err(|_| {
            ArchiveError::new(
                ErrorKind::ResourceExhausted,
                "TOO_MANY_UPLOADS",
                format!("{} uploads are in progress; retry later", self.media_settings.max_concurrent_uploads),
            )
        })?;
        let (id, content_type) = self.new_media(&header).await?;
        let key = BlobKey::new_media_original(&id);
        let upload = self.blobs.start_upload(&key, &content_type).await?;
        let mp4 = (content_type == MP4_CONTENT_TYPE).then(|| Scanner::new(self.media_settings.max_moov_bytes));
        Ok(MediaUpload {
            archive: self.clone(),
            id,
            filename: header.filename,
            content_type,
            key,
            upload,
            hasher: Sha256::new(),
            crc32c: 0,
            size: 0,
            mp4,
            _slot: slot,
        })
    }

    pub async fn get_media(&self, id: &MediaId) -> Result<MediaRecord> {
        self.metadata.get_media(id).await
    }

    /// The bytes `offset..offset+limit` (limit 0: to the end) of a clip.
    pub async fn read_media(&self, id: &MediaId, offset: i64, limit: i64) -> Result<(Range<u64>, ByteStream)> {
        if offset < 0 || limit < 0 {
            return Err(ArchiveError::invalid("INVALID_RANGE", "offset and limit must not be negative"));
        }
        let media = self.metadata.get_media(id).await?;
        let size = media.object.size_bytes;
        let offset = offset as u64;
        if offset > size || (offset == size && size > 0) {
            return Err(ArchiveError::new(
                ErrorKind::OutOfRange,
                "OFFSET_PAST_END",
                format!("offset {offset} is past the end of media {} ({size} bytes)", id.name()),
            ));
        }
        let end = if limit == 0 { size } else { size.min(offset.saturating_add(limit as u64)) };
        let stream = self.blobs.get(&media.object.key, offset..end).await?;
        Ok((offset..end, stream))
    }

    /// A URL a browser can play for `ttl` (server default when `None`).
    pub async fn playback_url(&self, id: &MediaId, ttl: Option<Duration>, attachment: bool) -> Result<PlaybackUrl> {
        let settings = &self.media_settings;
        let ttl = ttl.unwrap_or(Duration::from_secs(settings.default_playback_ttl_seconds));
        if ttl.as_secs() < 1 || ttl.as_secs() > settings.max_playback_ttl_seconds {
            return Err(ArchiveError::invalid(
                "INVALID_TTL",
                format!("ttl must be between 1 s and {} s", settings.max_playback_ttl_seconds),
            ));
        }
        let media = self.metadata.get_media(id).await?;
        let expire_time = Utc::now() + chrono::Duration::seconds(ttl.as_secs() as i64);
        let url = match self.blobs.presigner() {
            Some(presigner) => {
                let disposition = attachment.then(|| attachment_disposition(&media.filename));
                let object = media.playback_object();
                presigner.presign_get(&object.key, ttl, &media.content_type, disposition.as_deref()).await?
            }
            None => {
                let path = gateway_path(id);
                let query = self.signer.sign(&path, expire_time.timestamp(), attachment);
                format!("{}{path}?{query}", self.gateway_base_url)
            }
        };
        Ok(PlaybackUrl { url, expire_time, content_type: media.content_type })
    }

    /// Links a clip to an article's reference (the clip's file name when empty).
    pub async fn attach_media(&self, article: &ArticleId, media: &MediaId, reference: &str) -> Result<ArticleRecord> {
        let record = self.metadata.get_media(media).await?;
        let reference = if reference.is_empty() { record.filename.as_str() } else { reference };
        check_filename(reference)?;
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

/// Path of a clip on the media gateway.
pub fn gateway_path(id: &MediaId) -> String {
    format!("/media/{id}")
}
