//! Caption tracks of clips: a file checked and stored twice (as uploaded,
//! byte for byte, and as served, normalised WebVTT), recorded, the clip's
//! manifest rewritten, and the files a replaced or deleted track had
//! removed; the served file for the gateway; the gateway paths and their
//! signed prefix.
//!
//! Order of a change, as for articles: files, then the record (one
//! transaction with the clip's new revision and the change), then the
//! manifest, then the files nothing names any more. A crash between two
//! steps leaves only files no record names, which the sweep removes.

use super::{Archive, clip_files::track_file, now, run_to_completion};
use crate::{
    blob::BlobKey,
    error::{ArchiveError, Reason, Result, quoted},
    format::captions::{self, TrackKind},
    ids::MediaId,
    metadata::{CaptionTrackRecord, ObjectRef, TrackChange},
};
use bytes::Bytes;

/// The largest caption file accepted: a feature film's subtitles are
/// ~100 KB; this leaves room for many times that.
pub const MAX_CAPTION_BYTES: usize = 2 * 1024 * 1024;
const MAX_TRACK_ID_CHARS: usize = 64;
const MAX_LABEL_CHARS: usize = 200;
/// How a served track is typed, on the gateway and in the bucket.
pub const WEBVTT_CONTENT_TYPE: &str = "text/vtt; charset=utf-8";
const SOURCE_CONTENT_TYPE: &str = "application/octet-stream";

/// A caption file to put on a clip.
#[derive(Debug, Clone)]
pub struct CaptionUpload {
    pub media: MediaId,
    /// Empty: the language tag in lower case.
    pub track_id: String,
    pub language: String,
    pub kind: TrackKind,
    /// Empty: the language tag.
    pub label: String,
    pub content: Bytes,
    /// The clip's etag the caller read, when it asks for a check.
    pub expected_etag: Option<String>,
}

/// What PutCaptionTrack did.
#[derive(Debug, Clone)]
pub struct PutTrack {
    pub track: CaptionTrackRecord,
    pub media_etag: String,
    pub replaced: bool,
}

/// A track with its signed URL, for a playback answer.
#[derive(Debug, Clone)]
pub struct PlaybackTrack {
    pub track: CaptionTrackRecord,
    pub url: String,
}

/// `[a-z0-9-]`, starting with a letter or digit, at most [`MAX_TRACK_ID_CHARS`].
fn check_track_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= MAX_TRACK_ID_CHARS
        && !id.starts_with('-')
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        return Ok(());
    }
    Err(ArchiveError::new(
        Reason::InvalidTrack,
        format!(
            "track id {} must be 1 to {MAX_TRACK_ID_CHARS} characters of a-z, 0-9 and -, not starting with -",
            quoted(id)
        ),
    ))
}

fn check_label(label: &str) -> Result<()> {
    if label.chars().count() <= MAX_LABEL_CHARS && !label.chars().any(char::is_control) {
        return Ok(());
    }
    Err(ArchiveError::new(
        Reason::InvalidTrack,
        format!("a track's label must be at most {MAX_LABEL_CHARS} characters without control characters"),
    ))
}

fn language(tag: &str) -> Result<String> {
    captions::language(tag).map_err(|why| {
        ArchiveError::new(
            Reason::InvalidLanguage,
            format!("language {} is refused: {why}; write a tag such as `vi`, `en` or `vi-VN`", quoted(tag)),
        )
    })
}

impl Archive {
    /// Checks and stores a caption file as a track of its clip.
    pub async fn put_caption_track(&self, upload: CaptionUpload) -> Result<PutTrack> {
        if upload.content.len() > MAX_CAPTION_BYTES {
            return Err(ArchiveError::new(
                Reason::CaptionsTooLarge,
                format!("the caption file is {} bytes; at most {MAX_CAPTION_BYTES} are stored", upload.content.len()),
            ));
        }
        let language = language(&upload.language)?;
        let track_id = if upload.track_id.is_empty() { language.to_ascii_lowercase() } else { upload.track_id };
        check_track_id(&track_id)?;
        check_label(&upload.label)?;
        let label = if upload.label.trim().is_empty() { language.clone() } else { upload.label };
        let read = captions::read(&upload.content).map_err(|fault| {
            ArchiveError::new(Reason::InvalidCaptions, format!("the caption file is not valid: {fault}"))
        })?;
        let served = Bytes::from(read.to_webvtt());
        let cues = read.timed_texts();
        // A clip that is not there takes no files (the record checks again).
        self.metadata.get_media(&upload.media).await?;
        let track = CaptionTrackRecord {
            source: ObjectRef::of(BlobKey::new_caption_source(&upload.media), &upload.content),
            served: ObjectRef::of(BlobKey::new_caption_served(&upload.media), &served),
            media_id: upload.media,
            track_id,
            language,
            kind: upload.kind,
            label,
            source_format: read.format,
            cue_count: read.cues.len().try_into().unwrap_or(u32::MAX),
            end_ms: read.end_ms(),
            update_time: now(),
        };
        let archive = self.clone();
        let expected = upload.expected_etag;
        let content = upload.content;
        run_to_completion(async move {
            let files = [(&track.source.key, content), (&track.served.key, served)];
            for (key, bytes) in files.iter().cloned() {
                let content_type = if key == &track.served.key { WEBVTT_CONTENT_TYPE } else { SOURCE_CONTENT_TYPE };
                if let Err(error) = archive.blobs.put(key, bytes, content_type).await {
                    archive.discard_all([&track.source.key, &track.served.key]).await;
                    return Err(error.into());
                }
            }
            let change = match archive.metadata.put_caption_track(&track, &cues, expected.as_deref()).await {
                Ok(change) => change,
                Err(error) => {
                    archive.discard_all([&track.source.key, &track.served.key]).await;
                    return Err(error);
                }
            };
            let replaced = change.previous.is_some();
            let media_etag = change.media.etag();
            archive.after_track_change(change).await;
            tracing::info!(track = %track.name(), replaced, cues = track.cue_count, "caption track stored");
            Ok(PutTrack { track, media_etag, replaced })
        })
        .await
    }

    /// Deletes a clip's track and its files; the clip's new etag.
    pub async fn delete_caption_track(
        &self,
        media: &MediaId,
        track_id: &str,
        expected_etag: Option<String>,
    ) -> Result<String> {
        check_track_id(track_id)?;
        let archive = self.clone();
        let (media, track_id) = (media.clone(), track_id.to_owned());
        run_to_completion(async move {
            let change = archive.metadata.delete_caption_track(&media, &track_id, expected_etag.as_deref()).await?;
            let media_etag = change.media.etag();
            archive.after_track_change(change).await;
            tracing::info!(media = %media, track = %track_id, "caption track deleted");
            Ok(media_etag)
        })
        .await
    }

    /// A clip's tracks and its etag.
    pub async fn caption_tracks(&self, media: &MediaId) -> Result<(Vec<CaptionTrackRecord>, String)> {
        let record = self.metadata.get_media(media).await?;
        Ok((self.metadata.caption_tracks(media).await?, record.etag()))
    }

    /// The served WebVTT of a clip's track.
    pub async fn served_captions(&self, media: &MediaId, track_id: &str) -> Result<(CaptionTrackRecord, Bytes)> {
        let tracks = self.metadata.caption_tracks(media).await?;
        let Some(track) = tracks.into_iter().find(|track| track.track_id == track_id) else {
            return Err(ArchiveError::new(
                Reason::CaptionTrackNotFound,
                format!("media {} has no caption track {}", media.name(), quoted(track_id)),
            ));
        };
        let bytes = self.blobs.get_bytes(&track.served.key, track.served.size_bytes).await?;
        Ok((track, bytes))
    }

    /// Every track of a clip with its URL below `files` (the clip's signed
    /// prefix on the gateway).
    pub(crate) async fn playback_tracks(&self, media: &MediaId, files: &str) -> Result<Vec<PlaybackTrack>> {
        let tracks = self.metadata.caption_tracks(media).await?;
        Ok(tracks
            .into_iter()
            .map(|track| {
                let url = format!("{files}{}", track_file(&track.track_id));
                PlaybackTrack { track, url }
            })
            .collect())
    }

    /// The manifest, then the files the change left unnamed (kept when the
    /// manifest could not be written: it may still name them).
    async fn after_track_change(&self, change: TrackChange) {
        let written = match self.write_media_manifest(&change.media).await {
            Ok(()) => true,
            Err(error) => {
                tracing::error!(media = %change.media.id, error = ?error.source, "manifest not written: {}", error.message);
                false
            }
        };
        if let (true, Some(previous)) = (written, &change.previous) {
            self.discard_all([&previous.source.key, &previous.served.key]).await;
        }
    }

    async fn discard_all(&self, keys: [&BlobKey; 2]) {
        for key in keys {
            self.discard(key).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_ids_and_labels_follow_their_rules() {
        for good in ["vi", "vi-vn", "en-2", "0"] {
            assert!(check_track_id(good).is_ok(), "{good}");
        }
        for bad in ["", "Vi", "vi_vn", "-vi", "vi/x", &"a".repeat(65)] {
            assert_eq!(check_track_id(bad).unwrap_err().reason, Reason::InvalidTrack, "{bad}");
        }
        assert!(check_label("Tiếng Việt").is_ok());
        assert!(check_label("a\nb").is_err());
        assert!(check_label(&"a".repeat(201)).is_err());
        assert_eq!(language("Vietnamese").unwrap_err().reason, Reason::InvalidLanguage);
        assert_eq!(language("vi-vn").unwrap(), "vi-VN");
    }
}
