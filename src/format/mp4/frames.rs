//! The pictures of an MP4's video track: its samples (read from `ftyp` and
//! `moov` alone), which of them to decode to show the frame at a time, and
//! decoding them to RGB with OpenH264 (built from source by the `openh264`
//! crate; H.264 only: any other codec is refused with its name, never
//! decoded into a garbage picture).
//!
//! Decoding starts at the sync sample at or before the frame shown at the
//! time asked, and feeds samples in decode order up to that frame, so the
//! picture returned is that exact frame (B-frames reordered), never the
//! keyframe before it. Every cost is bounded before any decoding: the
//! picture's size, the samples fed and the bytes they span.

use mp4parse::{
    CodecType, SampleEntry, TrackType, VideoCodecSpecific,
    unstable::{CheckedInteger, create_sample_table},
};
use std::ops::Range;

/// Why no picture can be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("the clip has no video track")]
    NoVideo,
    /// A codec this server does not decode, named by its sample entry.
    #[error("the clip's video is {0}; pictures are made from H.264 (avc1) video only")]
    Unsupported(String),
    #[error("the clip's video cannot be read: {0}")]
    Damaged(String),
    /// Over a bound of decoding work; the message names it.
    #[error("{0}")]
    TooCostly(String),
}

/// What decoding a frame may cost at most.
#[derive(Debug, Clone, Copy)]
pub struct FrameLimits {
    /// Pixels of the coded picture (width × height).
    pub max_pixels: u64,
    /// Samples fed to reach the frame (from its keyframe).
    pub max_samples: usize,
    /// Bytes of the clip those samples span.
    pub max_bytes: u64,
}

/// H.264's decoder configuration (`avcC`): NAL length size and parameter sets.
#[derive(Debug, Clone)]
struct AvcConfig {
    nal_length_size: usize,
    parameter_sets: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    start: u64,
    end: u64,
    /// Presentation time, in the track's timescale, from the clip's start.
    pts: i64,
    sync: bool,
}

/// A clip's video track, ready to decode from.
#[derive(Debug, Clone)]
pub struct VideoTrack {
    avc: AvcConfig,
    /// Coded picture size.
    pub width: u32,
    pub height: u32,
    /// Clockwise rotation to display it upright: 0, 90, 180 or 270.
    pub rotation: u16,
    timescale: u64,
    /// Decode order.
    samples: Vec<Sample>,
}

/// What to decode to show the frame at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodePlan {
    /// Samples to feed, in decode order: a sync sample up to the frame.
    samples: Range<usize>,
    /// How many of the fed samples are shown before the frame.
    rank: usize,
    /// The bytes of the clip the fed samples lie in.
    pub bytes: Range<u64>,
    /// When the frame shown starts, in milliseconds from the clip's start.
    pub shown_ms: u64,
}

/// The sample-entry codes of `head`, for a message.
fn entry_codes(head: &[u8]) -> String {
    let codes = super::probe::sample_entry_codes(head);
    if codes.is_empty() { "of an unknown codec".into() } else { codes.join(", ") }
}

fn avc_config(bytes: &[u8]) -> Result<AvcConfig, FrameError> {
    let damaged = || FrameError::Damaged("its avcC box is truncated".into());
    if bytes.len() < 7 || bytes[0] != 1 {
        return Err(FrameError::Damaged("its avcC box is not version 1".into()));
    }
    let nal_length_size = usize::from(bytes[4] & 3) + 1;
    let mut at = 5;
    let mut parameter_sets = Vec::new();
    for mask in [0x1f, 0xff] {
        let count = usize::from(*bytes.get(at).ok_or_else(damaged)? & mask);
        at += 1;
        for _ in 0..count {
            let length = usize::from(u16::from_be_bytes(
                bytes.get(at..at + 2).ok_or_else(damaged)?.try_into().map_err(|_| damaged())?,
            ));
            parameter_sets.push(bytes.get(at + 2..at + 2 + length).ok_or_else(damaged)?.to_vec());
            at += 2 + length;
        }
    }
    Ok(AvcConfig { nal_length_size, parameter_sets })
}

/// Clockwise rotation of the track header's matrix (16.16 `a`, `b`),
/// snapped to a quarter turn.
fn rotation(a: i32, b: i32) -> u16 {
    let degrees = f64::from(b).atan2(f64::from(a)).to_degrees().round() as i64;
    (((degrees.rem_euclid(360) + 45) / 90 * 90) % 360) as u16
}

/// The first video track of `head` (`ftyp` and `moov`, as
/// [`super::Layout::head`] gives them).
pub fn video_track(head: &[u8]) -> Result<VideoTrack, FrameError> {
    let context = mp4parse::read_mp4(&mut std::io::Cursor::new(head))
        .map_err(|error| FrameError::Damaged(format!("{error:?}")))?;
    let track = context.tracks.iter().find(|t| t.track_type == TrackType::Video).ok_or(FrameError::NoVideo)?;
    let entry = track.stsd.as_ref().and_then(|stsd| stsd.descriptions.first()).ok_or(FrameError::NoVideo)?;
    let (avc, width, height) = match entry {
        SampleEntry::Video(video) => match (&video.codec_type, &video.codec_specific) {
            (CodecType::H264, VideoCodecSpecific::AVCConfig(config)) => {
                (avc_config(config)?, u32::from(video.width), u32::from(video.height))
            }
            _ => return Err(FrameError::Unsupported(entry_codes(head))),
        },
        _ => return Err(FrameError::Unsupported(entry_codes(head))),
    };
    let timescale = track.timescale.map(|scale| scale.0).filter(|&scale| scale > 0);
    let timescale = timescale.ok_or_else(|| FrameError::Damaged("its video track has no timescale".into()))?;
    // The edit list's start: presentation times count from it.
    let media_time = track.media_time.map_or(0, |time| time.0 as i64);
    let table = create_sample_table(track, CheckedInteger(-media_time))
        .ok_or_else(|| FrameError::Damaged("its sample table does not add up".into()))?;
    let samples: Vec<Sample> = table
        .iter()
        .map(|indice| Sample {
            start: indice.start_offset.0,
            end: indice.end_offset.0,
            pts: indice.start_composition.0,
            sync: indice.sync,
        })
        .collect();
    if samples.is_empty() {
        return Err(FrameError::Damaged("its video track has no samples".into()));
    }
    let rotation = track.tkhd.as_ref().map_or(0, |tkhd| rotation(tkhd.matrix.a, tkhd.matrix.b));
    Ok(VideoTrack { avc, width, height, rotation, timescale, samples })
}

impl VideoTrack {
    fn ms(&self, pts: i64) -> u64 {
        (i128::from(pts.max(0)) * 1000 / i128::from(self.timescale)) as u64
    }

    /// When the track's last frame starts, in milliseconds.
    pub fn last_frame_ms(&self) -> u64 {
        self.ms(self.samples.iter().map(|s| s.pts).max().unwrap_or(0))
    }

    /// What to decode to show the frame at `at_ms` (the last frame past the
    /// end), within `limits`.
    pub fn plan(&self, at_ms: u64, limits: &FrameLimits) -> Result<DecodePlan, FrameError> {
        if u64::from(self.width) * u64::from(self.height) > limits.max_pixels {
            return Err(FrameError::TooCostly(format!(
                "the clip's pictures are {}x{}, over the {} pixels thumbnails are made from",
                self.width, self.height, limits.max_pixels
            )));
        }
        let at = (i128::from(at_ms) * i128::from(self.timescale) / 1000) as i64;
        let samples = &self.samples;
        // The frame shown at `at`: the latest to start by then (the first
        // frame before any starts).
        let target = (0..samples.len())
            .filter(|&i| samples[i].pts <= at)
            .max_by_key(|&i| (samples[i].pts, i))
            .or_else(|| (0..samples.len()).min_by_key(|&i| (samples[i].pts, i)))
            .expect("a track has samples");
        let key = (0..=target)
            .rev()
            .find(|&i| samples[i].sync)
            .ok_or_else(|| FrameError::Damaged("no sync sample comes before the frame".into()))?;
        if target - key + 1 > limits.max_samples {
            return Err(FrameError::TooCostly(format!(
                "the frame is {} frames after its keyframe; thumbnails decode at most {}",
                target - key,
                limits.max_samples - 1
            )));
        }
        let fed = &samples[key..=target];
        let bytes = fed.iter().map(|s| s.start).min().unwrap_or(0)..fed.iter().map(|s| s.end).max().unwrap_or(0);
        if bytes.end - bytes.start > limits.max_bytes {
            return Err(FrameError::TooCostly(format!(
                "the frame needs {} bytes of the clip decoded; thumbnails read at most {}",
                bytes.end - bytes.start,
                limits.max_bytes
            )));
        }
        let rank = fed.iter().filter(|s| s.pts < samples[target].pts).count();
        Ok(DecodePlan { samples: key..target + 1, rank, bytes, shown_ms: self.ms(samples[target].pts) })
    }

    /// Decodes the frame `plan` names from `bytes` (the clip's
    /// `plan.bytes`): RGB, as coded (not rotated).
    pub fn decode(&self, plan: &DecodePlan, bytes: &[u8]) -> Result<image::RgbImage, FrameError> {
        use openh264::{
            OpenH264API,
            decoder::{DecodedYUV, Decoder, DecoderConfig, Flush},
            formats::YUVSource,
        };
        let failed = |error: openh264::Error| FrameError::Damaged(format!("the decoder failed ({error})"));
        // The default flushes after every sample, which breaks B-frame order.
        let config = DecoderConfig::new().flush_after_decode(Flush::NoFlush);
        let mut decoder = Decoder::with_api_config(OpenH264API::from_source(), config).map_err(failed)?;
        let picture = |yuv: &DecodedYUV<'_>| {
            let (width, height) = yuv.dimensions();
            let mut rgb = vec![0; width * height * 3];
            yuv.write_rgb8(&mut rgb);
            image::RgbImage::from_raw(width as u32, height as u32, rgb)
                .ok_or_else(|| FrameError::Damaged("the decoded picture has no size".into()))
        };
        let mut shown = 0;
        let mut annex_b = Vec::new();
        for (n, sample) in self.samples[plan.samples.clone()].iter().enumerate() {
            annex_b.clear();
            if n == 0 {
                for set in &self.avc.parameter_sets {
                    annex_b.extend_from_slice(&[0, 0, 0, 1]);
                    annex_b.extend_from_slice(set);
                }
            }
            let range = (sample.start - plan.bytes.start) as usize..(sample.end - plan.bytes.start) as usize;
            let data =
                bytes.get(range).ok_or_else(|| FrameError::Damaged("a sample lies past the bytes read".into()))?;
            to_annex_b(data, self.avc.nal_length_size, &mut annex_b)?;
            if let Some(yuv) = decoder.decode(&annex_b).map_err(failed)? {
                if shown == plan.rank {
                    return picture(&yuv);
                }
                shown += 1;
            }
        }
        for yuv in decoder.flush_remaining().map_err(failed)? {
            if shown == plan.rank {
                return picture(&yuv);
            }
            shown += 1;
        }
        Err(FrameError::Damaged("the decoder gave no picture for the frame".into()))
    }
}

/// Length-prefixed NAL units (as MP4 stores them) with start codes instead.
fn to_annex_b(sample: &[u8], length_size: usize, out: &mut Vec<u8>) -> Result<(), FrameError> {
    let mut at = 0;
    while at + length_size <= sample.len() {
        let length = sample[at..at + length_size].iter().fold(0usize, |n, &byte| (n << 8) | usize::from(byte));
        at += length_size;
        let unit = sample
            .get(at..at.saturating_add(length))
            .ok_or_else(|| FrameError::Damaged("a NAL unit runs past its sample".into()))?;
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(unit);
        at += length;
    }
    Ok(())
}
