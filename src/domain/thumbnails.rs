//! Thumbnails: the frame a clip shows at a time, upright, at a size asked
//! (aspect kept, bounded), as JPEG or WebP, made on first request in a
//! bounded pool, then kept as one of the clip's pictures (`pictures.rs`)
//! and served from there.
//!
//! A thumbnail is named by the frame it shows, its size and its format
//! (`thumbnails/{shown_ms}-{w}x{h}.jpg`), so every time that shows the same
//! frame shares one picture; finding that frame reads the clip's `moov`
//! (ranged reads), never its media data. Decoding reads only
//! the samples from the frame's keyframe, bounded by [`LIMITS`], on a
//! blocking thread under a permit of the pool (one per core), within
//! [`DECODE_TIMEOUT`]; a panic in a parser or the decoder is an error. At
//! most [`MAX_STORED_THUMBNAILS`] are stored per clip.

use super::{Archive, stored_clip::scan_stored};
use crate::{
    error::{ArchiveError, Reason, Result},
    format::{
        mp4::frames::{self, DecodePlan, FrameError, FrameLimits, VideoTrack},
        picture,
    },
    ids::MediaId,
    metadata::MediaRecord,
};
use bytes::Bytes;
use futures::TryStreamExt;
use std::{sync::Arc, time::Duration};

/// What one thumbnail may cost: a 4K picture, 10 s of 30 fps after its
/// keyframe, 64 MiB of the clip.
pub const LIMITS: FrameLimits = FrameLimits { max_pixels: 3840 * 2160, max_samples: 300, max_bytes: 64 << 20 };
/// Longest a thumbnail's decoding may take before the request fails.
pub const DECODE_TIMEOUT: Duration = Duration::from_secs(20);
/// Thumbnails stored per clip, at most; past it they are made on each
/// request (the pool bounds that work), so a viewer holding a URL cannot
/// fill the bucket by asking every frame at every size.
pub const MAX_STORED_THUMBNAILS: u32 = 500;

/// A thumbnail asked for.
#[derive(Debug, Clone)]
pub struct ThumbnailRequest {
    pub media: MediaId,
    pub at_ms: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub format: picture::Format,
}

/// A thumbnail made (or found stored).
#[derive(Debug, Clone)]
pub struct Thumbnail {
    pub image: Bytes,
    pub format: picture::Format,
    /// When the frame shown starts in the clip (the exact frame at the time
    /// asked: the last to start by then).
    pub shown_ms: u64,
    pub width: u32,
    pub height: u32,
}

/// Decoding slots: one per core, shared by every picture this server makes
/// on request; and one for the background (the pictures made after
/// uploads), whose work runs on one thread at a lower priority, so that it
/// takes at most one core, and only what uploads and requests leave.
#[derive(Debug)]
pub struct PicturePool {
    slots: tokio::sync::Semaphore,
    background: tokio::sync::Semaphore,
}

impl Default for PicturePool {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self { slots: tokio::sync::Semaphore::new(cores), background: tokio::sync::Semaphore::new(1) }
    }
}

tokio::task_local! {
    /// Set while a job made after an upload runs: its work goes to the
    /// background thread.
    static BACKGROUND: ();
}

type Job = Box<dyn FnOnce() + Send>;

/// The one thread background pictures are decoded on, at a lower CPU
/// priority (nice 10), so that the work after uploads yields to requests
/// and to the uploads themselves.
fn background_thread() -> &'static std::sync::mpsc::Sender<Job> {
    static JOBS: std::sync::OnceLock<std::sync::mpsc::Sender<Job>> = std::sync::OnceLock::new();
    JOBS.get_or_init(|| {
        let (sender, jobs) = std::sync::mpsc::channel::<Job>();
        let spawned = std::thread::Builder::new().name("pictures-background".into()).spawn(move || {
            lower_priority();
            for job in jobs {
                job();
            }
        });
        if let Err(error) = spawned {
            tracing::error!(%error, "the background picture thread did not start");
        }
        sender
    })
}

/// Nice 10 for the calling thread (Linux: niceness is per thread).
#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: setpriority reads no memory of ours; `who` 0 is this thread.
    let done = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) };
    if done != 0 {
        tracing::warn!("the background picture thread keeps its priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

impl PicturePool {
    /// Runs `job` (a job made after an upload) with the background's one
    /// slot held throughout, its decoding on the background thread.
    pub(super) async fn background<T>(&self, job: impl std::future::Future<Output = T>) -> T {
        let _one_at_a_time = self.background.acquire().await;
        BACKGROUND.scope((), job).await
    }

    /// Runs `work` on a blocking thread under a slot (on the background
    /// thread for a background job), within [`DECODE_TIMEOUT`]; a panic is
    /// an error.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> std::result::Result<T, FrameError> + Send + 'static,
    ) -> Result<T> {
        let guarded = move || std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
        let (sender, answer) = tokio::sync::oneshot::channel();
        let _slot;
        if BACKGROUND.try_with(|_| ()).is_ok() {
            let job: Job = Box::new(move || {
                let _ = sender.send(guarded());
            });
            background_thread().send(job).map_err(|_| {
                ArchiveError::internal("the background pictures", anyhow::anyhow!("the background thread is gone"))
            })?;
        } else {
            _slot = self.slots.acquire().await.map_err(|e| ArchiveError::internal("the picture pool", e))?;
            tokio::task::spawn_blocking(move || {
                let _ = sender.send(guarded());
            });
        }
        match tokio::time::timeout(DECODE_TIMEOUT, answer).await {
            Ok(Ok(Ok(result))) => result.map_err(refused),
            Ok(Ok(Err(_))) => Err(refused(FrameError::Damaged("the decoder failed on this clip".into()))),
            Ok(Err(error)) => Err(ArchiveError::internal("decoding a frame", error)),
            Err(_) => Err(ArchiveError::new(
                Reason::PictureUnavailable,
                format!("decoding the frame took over {} s", DECODE_TIMEOUT.as_secs()),
            )),
        }
    }
}

/// A frame that cannot be made, as FAILED_PRECONDITION with its reason.
pub(super) fn refused(error: FrameError) -> ArchiveError {
    ArchiveError::new(Reason::PictureUnavailable, error.to_string())
}

/// The picture name of a thumbnail (`pictures.rs`).
fn thumbnail_name(shown_ms: u64, size: (u32, u32), format: picture::Format) -> String {
    format!("thumbnails/{shown_ms}-{}x{}.{}", size.0, size.1, format.extension())
}

impl Archive {
    /// The video track of a clip (its playback copy: `moov` first).
    pub(super) async fn video_track(&self, media: &MediaRecord) -> Result<Arc<VideoTrack>> {
        if media.mp4.is_none() {
            return Err(ArchiveError::new(
                Reason::PictureUnavailable,
                format!("media {} is not an MP4 clip; it has no frames", media.id.name()),
            ));
        }
        let object = media.playback_object();
        let layout =
            scan_stored(self.blobs.as_ref(), &object.key, object.size_bytes, self.media_settings.max_moov_bytes)
                .await
                .map_err(|why| refused(FrameError::Damaged(why)))?;
        let head = layout.head();
        Ok(Arc::new(self.pictures.run(move || frames::video_track(&head)).await?))
    }

    /// The frame of `track` that `plan` names, read from the clip, decoded
    /// and turned upright.
    pub(super) async fn decode_frame(
        &self,
        media: &MediaRecord,
        track: Arc<VideoTrack>,
        plan: DecodePlan,
    ) -> Result<image::RgbImage> {
        let object = media.playback_object();
        let stream = self.blobs.get(&object.key, plan.bytes.clone()).await?;
        let bytes: Vec<Bytes> =
            stream.try_collect().await.map_err(|error| ArchiveError::unavailable("reading the clip", error))?;
        let bytes = bytes.concat();
        self.pictures
            .run(move || track.decode(&plan, &bytes).map(|frame| picture::upright(frame, track.rotation)))
            .await
    }

    /// The thumbnail `request` asks for: stored, or made now and kept.
    pub async fn thumbnail(&self, request: &ThumbnailRequest) -> Result<Thumbnail> {
        let media = self.metadata.get_media(&request.media).await?;
        let track = self.video_track(&media).await?;
        let plan = track.plan(request.at_ms, &LIMITS).map_err(refused)?;
        let (width, height) =
            if track.rotation % 180 == 90 { (track.height, track.width) } else { (track.width, track.height) };
        let size = picture::fit(width, height, request.width, request.height)
            .map_err(|why| ArchiveError::new(Reason::InvalidPictureSize, why))?;
        let (format, shown_ms) = (request.format, plan.shown_ms);
        let made = |image| Thumbnail { image, format, shown_ms, width: size.0, height: size.1 };
        let name = thumbnail_name(shown_ms, size, format);
        let stored = self.stored_picture(&media.id, &name).await?;
        if let Some(image) = stored.bytes {
            return Ok(made(image));
        }
        let frame = self.decode_frame(&media, track, plan).await?;
        let image =
            self.pictures.run(move || picture::encode(&frame, size, format).map_err(FrameError::Damaged)).await?;
        let image = Bytes::from(image);
        // Kept for the next request while the clip's bound allows; past it,
        // made on each request.
        if stored.stored < MAX_STORED_THUMBNAILS {
            let bound = Some(MAX_STORED_THUMBNAILS);
            if let Err(error) = self.keep_picture(&media, name, image.clone(), format.content_type(), bound).await {
                tracing::warn!(media = %media.id, "thumbnail not kept: {}", error.message);
            }
        }
        Ok(made(image))
    }
}
