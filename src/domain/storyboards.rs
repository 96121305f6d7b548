//! Storyboards: the pictures a player shows while a viewer scrubs. One
//! sprite (tiles of frames every interval, ten to a row) and a WebVTT file
//! whose cues cover the clip from 0 to its end without gaps, each naming
//! its tile as `storyboard.jpg#xywh=x,y,w,h` (as video.js, Vidstack and
//! Shaka read them). The reference is relative, so it resolves under the
//! same prefix token as the WebVTT file itself (docs/design.md).
//!
//! Made in the background after upload with the poster, or on first
//! request; bounded: at most [`MAX_TILES`] tiles (the interval grows with
//! the clip, never below [`MIN_INTERVAL_MS`]), each a frame decoded within
//! the thumbnails' bounds. Derived like thumbnails (a clip's bytes never
//! change): kept as two of the clip's pictures (`pictures.rs`) named as the
//! gateway serves them, the sprite before the WebVTT that names it, made
//! again when missing.

use super::{
    Archive,
    clip_files::{STORYBOARD_FILE, STORYBOARD_SPRITE_FILE},
    thumbnails::LIMITS,
};
use crate::{
    error::Result,
    format::{captions::format_timestamp, mp4::frames::FrameError, picture},
    ids::MediaId,
    metadata::MediaRecord,
};
use bytes::Bytes;
use image::RgbImage;

/// Tiles of a storyboard, at most.
pub const MAX_TILES: u64 = 100;
/// The shortest interval between tiles.
pub const MIN_INTERVAL_MS: u64 = 1_000;
/// A tile's width (its height keeps the picture's aspect).
const TILE_WIDTH: u32 = 160;
const COLUMNS: u64 = 10;
const WEBVTT: &str = "text/vtt; charset=utf-8";

/// The interval between tiles of a clip of `duration_ms`: whole seconds,
/// at most [`MAX_TILES`] tiles.
fn interval_ms(duration_ms: u64) -> u64 {
    (duration_ms.div_ceil(MAX_TILES).div_ceil(1000) * 1000).max(MIN_INTERVAL_MS)
}

/// The WebVTT of `tiles` tiles of `tile` size every `interval` ms over
/// `duration` ms: cues from 0 to the end without gaps.
fn webvtt(duration_ms: u64, interval_ms: u64, tiles: u64, tile: (u32, u32)) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for i in 0..tiles {
        let start = i * interval_ms;
        let end = if i + 1 == tiles { duration_ms.max(start + 1) } else { start + interval_ms };
        let (x, y) = ((i % COLUMNS) as u32 * tile.0, (i / COLUMNS) as u32 * tile.1);
        out.push_str(&format!(
            "{} --> {}\n{STORYBOARD_SPRITE_FILE}#xywh={x},{y},{},{}\n\n",
            format_timestamp(start),
            format_timestamp(end),
            tile.0,
            tile.1
        ));
    }
    out
}

/// A file of a storyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoryboardFile {
    WebVtt,
    Sprite,
}

impl StoryboardFile {
    /// Its picture name, the file name the gateway serves it under.
    fn name(self) -> &'static str {
        match self {
            StoryboardFile::WebVtt => STORYBOARD_FILE,
            StoryboardFile::Sprite => STORYBOARD_SPRITE_FILE,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            StoryboardFile::WebVtt => WEBVTT,
            StoryboardFile::Sprite => picture::Format::Jpeg.content_type(),
        }
    }
}

impl Archive {
    /// A file of the clip's storyboard (made now when missing) and its type.
    pub async fn storyboard_file(&self, id: &MediaId, file: StoryboardFile) -> Result<(Bytes, &'static str)> {
        if let Some(bytes) = self.stored_picture(id, file.name()).await?.bytes {
            return Ok((bytes, file.content_type()));
        }
        let media = self.metadata.get_media(id).await?;
        let (vtt, sprite) = self.make_storyboard(&media).await?;
        let bytes = match file {
            StoryboardFile::WebVtt => vtt,
            StoryboardFile::Sprite => sprite,
        };
        Ok((bytes, file.content_type()))
    }

    /// Decodes a frame every interval, tiles them into the sprite, keeps
    /// it, then the WebVTT naming its tiles; gives both.
    pub(crate) async fn make_storyboard(&self, media: &MediaRecord) -> Result<(Bytes, Bytes)> {
        let track = self.video_track(media).await?;
        let duration = media.mp4.as_ref().map_or(0, |info| info.duration_ms).max(track.last_frame_ms() + 1);
        let interval = interval_ms(duration);
        let tiles = duration.div_ceil(interval).clamp(1, MAX_TILES);
        let (width, height) =
            if track.rotation % 180 == 90 { (track.height, track.width) } else { (track.width, track.height) };
        let tile = picture::fit(width, height, Some(TILE_WIDTH), None).map_err(FrameError::Damaged);
        let tile = tile.map_err(super::thumbnails::refused)?;
        let rows = tiles.div_ceil(COLUMNS) as u32;
        let columns = tiles.min(COLUMNS) as u32;
        let mut sprite = RgbImage::new(columns * tile.0, rows * tile.1);
        for i in 0..tiles {
            let plan = track.plan(i * interval, &LIMITS).map_err(super::thumbnails::refused)?;
            let frame = self.decode_frame(media, track.clone(), plan).await?;
            let frame = image::imageops::resize(&frame, tile.0, tile.1, image::imageops::FilterType::Triangle);
            let (x, y) = ((i % COLUMNS) as u32 * tile.0, (i / COLUMNS) as u32 * tile.1);
            image::imageops::replace(&mut sprite, &frame, i64::from(x), i64::from(y));
        }
        let size = sprite.dimensions();
        let jpeg = self
            .pictures
            .run(move || picture::encode(&sprite, size, picture::Format::Jpeg).map_err(FrameError::Damaged))
            .await?;
        let vtt = Bytes::from(webvtt(duration, interval, tiles, tile));
        let sprite = Bytes::from(jpeg);
        for (file, bytes) in [(StoryboardFile::Sprite, &sprite), (StoryboardFile::WebVtt, &vtt)] {
            self.keep_picture(media, file.name().to_owned(), bytes.clone(), file.content_type(), None).await?;
        }
        tracing::info!(media = %media.id, tiles, interval_ms = interval, "storyboard made");
        Ok((vtt, sprite))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_grow_with_the_clip_and_cues_tile_it() {
        assert_eq!(interval_ms(4_000), 1_000);
        assert_eq!(interval_ms(100_000), 1_000);
        assert_eq!(interval_ms(100_001), 2_000);
        assert_eq!(interval_ms(3_600_000), 36_000);
        let vtt = webvtt(25_500, 1_000, 26, (160, 90));
        let cues: Vec<&str> = vtt.split("\n\n").filter(|block| block.contains("-->")).collect();
        assert_eq!(cues.len(), 26);
        assert_eq!(cues[0], "00:00:00.000 --> 00:00:01.000\nstoryboard.jpg#xywh=0,0,160,90");
        assert_eq!(cues[11], "00:00:11.000 --> 00:00:12.000\nstoryboard.jpg#xywh=160,90,160,90");
        assert_eq!(cues[25], "00:00:25.000 --> 00:00:25.500\nstoryboard.jpg#xywh=800,180,160,90");
    }
}
