//! Posters: the picture a player shows before a clip plays. Made after an
//! upload (in the background: the upload answers without waiting) from the
//! first frame at or after `media.poster_time_ms` that is not blank, among
//! a few candidates (the time, then 0.5, 1, 2, 4 and 8 s later; the first
//! if all are blank); made on first request when missing; set by a client
//! as a frame at a time it names (that exact frame) or as its own JPEG or
//! PNG (validated, bounded, kept byte for byte). Stored like the clip's
//! other files: object first, then the record (the clip's revision and the
//! change in one transaction), then the manifest, then the replaced object.

use super::{Archive, now, run_to_completion, thumbnails::LIMITS};
use crate::{
    blob::BlobKey,
    error::{ArchiveError, Reason, Result},
    format::{mp4::frames::FrameError, picture},
    ids::MediaId,
    metadata::{MediaRecord, ObjectRef, PosterChange, PosterRecord},
};
use bytes::Bytes;

/// Offsets after the poster time that are tried, in order, for a frame
/// that is not blank.
const CANDIDATE_OFFSETS_MS: [u64; 6] = [0, 500, 1_000, 2_000, 4_000, 8_000];
/// The largest poster image a client may set, in bytes and pixels.
pub const MAX_POSTER_BYTES: usize = 4 * 1024 * 1024;
const MAX_POSTER_PIXELS: u64 = 3840 * 2160;
/// Longest the pictures made after an upload wait for this process's
/// uploads in flight to end: they yield to uploads, yet a clip has its
/// poster within this under a steady stream of them.
const QUIET_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// How the frame of a poster is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    /// The first frame that is not blank from this time on.
    Near(u64),
    /// The frame shown at this time, whatever it shows.
    Exact(u64),
}

fn poster_refused(why: impl Into<String>) -> ArchiveError {
    ArchiveError::new(Reason::InvalidPoster, why)
}

/// The type of a poster image, checked: JPEG or PNG, within bounds, and
/// decodable whole.
fn check_image(bytes: &[u8]) -> Result<&'static str> {
    if bytes.len() > MAX_POSTER_BYTES {
        return Err(poster_refused(format!(
            "the poster image is {} bytes; at most {MAX_POSTER_BYTES} are kept",
            bytes.len()
        )));
    }
    let (format, content_type) = match image::guess_format(bytes) {
        Ok(image::ImageFormat::Jpeg) => (image::ImageFormat::Jpeg, "image/jpeg"),
        Ok(image::ImageFormat::Png) => (image::ImageFormat::Png, "image/png"),
        _ => return Err(poster_refused("a poster image must be a JPEG or a PNG")),
    };
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(7680);
    limits.max_image_height = Some(7680);
    limits.max_alloc = Some(MAX_POSTER_PIXELS * 4);
    reader.limits(limits);
    let picture =
        reader.decode().map_err(|error| poster_refused(format!("the poster image does not decode: {error}")))?;
    if u64::from(picture.width()) * u64::from(picture.height()) > MAX_POSTER_PIXELS {
        return Err(poster_refused(format!("a poster image has at most {MAX_POSTER_PIXELS} pixels")));
    }
    Ok(content_type)
}

impl Archive {
    /// Makes the poster and the storyboard of a clip just stored, in the
    /// background once no upload is in flight (or after [`QUIET_WAIT`]);
    /// clips with no H.264 video get neither: a player shows its first
    /// frame.
    pub(crate) fn spawn_poster(&self, media: &MediaRecord) {
        let h264 = media.mp4.as_ref().is_some_and(|info| info.video_codec.starts_with("avc1"));
        if !h264 || !self.media_settings.poster_at_upload {
            return;
        }
        let (archive, media) = (self.clone(), media.clone());
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + QUIET_WAIT;
            while archive.uploads_in_flight() > 0 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            let pictures = archive.pictures.clone();
            pictures
                .background(async {
                    let at = Pick::Near(archive.media_settings.poster_time_ms);
                    if let Err(error) = archive.make_poster(&media, at, true, None).await {
                        tracing::warn!(media = %media.id, "poster not made: {}", error.message);
                    }
                    if let Err(error) = archive.make_storyboard(&media).await.map(drop) {
                        tracing::warn!(media = %media.id, "storyboard not made: {}", error.message);
                    }
                })
                .await;
        });
    }

    /// The frame `pick` chooses, as a JPEG at its own size (bounded).
    async fn poster_frame(&self, media: &MediaRecord, pick: Pick) -> Result<(Bytes, u64)> {
        let track = self.video_track(media).await?;
        let (at, offsets): (u64, &[u64]) = match pick {
            Pick::Near(at) => (at, &CANDIDATE_OFFSETS_MS),
            Pick::Exact(at) => (at, &CANDIDATE_OFFSETS_MS[..1]),
        };
        let last = track.last_frame_ms();
        let mut first = None;
        let mut tried = Vec::new();
        for offset in offsets {
            let plan = track.plan((at + offset).min(last), &LIMITS).map_err(super::thumbnails::refused)?;
            if tried.contains(&plan.shown_ms) {
                continue;
            }
            tried.push(plan.shown_ms);
            let shown_ms = plan.shown_ms;
            let frame = self.decode_frame(media, track.clone(), plan).await?;
            let blank = picture::is_blank(&frame);
            if !blank || first.is_none() {
                let (width, height) = frame.dimensions();
                let size = picture::fit(width, height, None, None).map_err(FrameError::Damaged);
                let size = size.map_err(super::thumbnails::refused)?;
                let jpeg = self
                    .pictures
                    .run(move || picture::encode(&frame, size, picture::Format::Jpeg).map_err(FrameError::Damaged))
                    .await?;
                if !blank {
                    return Ok((Bytes::from(jpeg), shown_ms));
                }
                first = Some((Bytes::from(jpeg), shown_ms));
            }
        }
        first.ok_or_else(|| super::thumbnails::refused(FrameError::NoVideo))
    }

    /// Makes a poster from a frame and records it (with `only_if_none`,
    /// only while the clip has none: `None` then).
    async fn make_poster(
        &self,
        media: &MediaRecord,
        pick: Pick,
        only_if_none: bool,
        expected_etag: Option<String>,
    ) -> Result<Option<(PosterRecord, String)>> {
        let (jpeg, shown_ms) = self.poster_frame(media, pick).await?;
        let poster = PosterRecord {
            object: ObjectRef::of(BlobKey::new_poster(&media.id, "jpg"), &jpeg),
            media_id: media.id.clone(),
            content_type: "image/jpeg".into(),
            time_ms: Some(shown_ms),
            update_time: now(),
        };
        self.record_poster(poster, jpeg, only_if_none, expected_etag).await
    }

    /// Stores the poster's bytes, records it, then the manifest, then drops
    /// the poster it replaced; all or nothing, whatever the caller does.
    async fn record_poster(
        &self,
        poster: PosterRecord,
        bytes: Bytes,
        only_if_none: bool,
        expected_etag: Option<String>,
    ) -> Result<Option<(PosterRecord, String)>> {
        let archive = self.clone();
        run_to_completion(async move {
            archive.blobs.put(&poster.object.key, bytes, &poster.content_type).await?;
            let change = archive.metadata.set_poster(&poster, only_if_none, expected_etag.as_deref()).await;
            let Some(PosterChange { media, previous }) = (match change {
                Ok(change) => change,
                Err(error) => {
                    archive.discard(&poster.object.key).await;
                    return Err(error);
                }
            }) else {
                archive.discard(&poster.object.key).await;
                return Ok(None);
            };
            let written = archive.write_media_manifest(&media).await;
            if let Err(error) = &written {
                tracing::error!(media = %media.id, error = ?error.source, "manifest not written: {}", error.message);
            }
            if let (Ok(()), Some(previous)) = (written, previous) {
                archive.discard(&previous.object.key).await;
            }
            tracing::info!(media = %media.id, time_ms = ?poster.time_ms, "poster set");
            Ok(Some((poster, media.etag())))
        })
        .await
    }

    /// A clip's poster and its bytes, made now when it has none yet.
    pub async fn poster(&self, id: &MediaId) -> Result<(PosterRecord, Bytes)> {
        let poster = match self.metadata.poster(id).await? {
            Some(poster) => poster,
            None => {
                let media = self.metadata.get_media(id).await?;
                let at = Pick::Near(self.media_settings.poster_time_ms);
                match self.make_poster(&media, at, true, None).await? {
                    Some((poster, _)) => poster,
                    // Another request made it meanwhile.
                    None => self.metadata.poster(id).await?.ok_or_else(|| {
                        ArchiveError::new(Reason::PictureUnavailable, "the clip's poster was removed meanwhile")
                    })?,
                }
            }
        };
        let bytes = self.blobs.get_bytes(&poster.object.key, poster.object.size_bytes).await?;
        Ok((poster, bytes))
    }

    /// Sets a clip's poster to the frame shown at `at_ms` (within its
    /// duration); the poster and the clip's new etag.
    pub async fn set_poster_time(
        &self,
        id: &MediaId,
        at_ms: u64,
        expected_etag: Option<String>,
    ) -> Result<(PosterRecord, String)> {
        let media = self.metadata.get_media(id).await?;
        let duration = media.mp4.as_ref().map_or(0, |info| info.duration_ms);
        if at_ms >= duration {
            return Err(poster_refused(format!(
                "a poster time must be from 0 to before the clip's end ({}.{:03} s)",
                duration / 1000,
                duration % 1000
            )));
        }
        let made = self.make_poster(&media, Pick::Exact(at_ms), false, expected_etag).await?;
        made.ok_or_else(|| ArchiveError::internal("setting a poster", anyhow::anyhow!("replacing wrote nothing")))
    }

    /// Sets a clip's poster to an image of the client's (JPEG or PNG, kept
    /// as sent); the poster and the clip's new etag.
    pub async fn set_poster_image(
        &self,
        id: &MediaId,
        image: Bytes,
        expected_etag: Option<String>,
    ) -> Result<(PosterRecord, String)> {
        let content_type = check_image(&image)?;
        self.metadata.get_media(id).await?;
        let extension = if content_type == "image/png" { "png" } else { "jpg" };
        let poster = PosterRecord {
            object: ObjectRef::of(BlobKey::new_poster(id, extension), &image),
            media_id: id.clone(),
            content_type: content_type.into(),
            time_ms: None,
            update_time: now(),
        };
        let recorded = self.record_poster(poster, image, false, expected_etag).await?;
        recorded.ok_or_else(|| ArchiveError::internal("setting a poster", anyhow::anyhow!("replacing wrote nothing")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bounded_jpeg_and_png_images_are_posters() {
        let mut png = Vec::new();
        image::RgbImage::new(16, 9).write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        assert_eq!(check_image(&png).unwrap(), "image/png");
        let jpeg = picture::encode(&image::RgbImage::new(16, 9), (16, 9), picture::Format::Jpeg).unwrap();
        assert_eq!(check_image(&jpeg).unwrap(), "image/jpeg");
        for bad in [&b"GIF89a...."[..], b"not an image", &png[..png.len() / 2]] {
            assert_eq!(check_image(bad).unwrap_err().reason, Reason::InvalidPoster);
        }
        assert_eq!(check_image(&vec![0; MAX_POSTER_BYTES + 1]).unwrap_err().reason, Reason::InvalidPoster);
    }
}
