//! What a clip is: duration, codecs (RFC 6381 strings for `canPlayType`),
//! picture size, bitrate, and whether `moov` precedes `mdat`.

use super::Layout;
use mp4parse::{AudioCodecSpecific, CodecType, SampleEntry, TrackType, VideoCodecSpecific};

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Mp4Info {
    pub duration_ms: u64,
    /// e.g. `avc1.4D401E`; empty without a video track.
    pub video_codec: String,
    /// e.g. `mp4a.40.2`; empty without an audio track.
    pub audio_codec: String,
    pub width: u32,
    pub height: u32,
    pub bitrate_bps: u64,
    /// `moov` before `mdat`: playable while downloading.
    pub faststart: bool,
}

fn video_codec(codec: CodecType, specific: &VideoCodecSpecific) -> String {
    match (codec, specific) {
        // AVCDecoderConfigurationRecord: version, profile, constraints, level.
        (CodecType::H264, VideoCodecSpecific::AVCConfig(config)) if config.len() >= 4 => {
            format!("avc1.{:02X}{:02X}{:02X}", config[1], config[2], config[3])
        }
        (CodecType::AV1, _) => "av01".into(),
        (CodecType::VP9, _) => "vp09".into(),
        (CodecType::VP8, _) => "vp8".into(),
        (CodecType::MP4V, _) => "mp4v".into(),
        (other, _) => format!("{other:?}").to_lowercase(),
    }
}

fn audio_codec(codec: CodecType, specific: &AudioCodecSpecific) -> String {
    match (codec, specific) {
        (CodecType::AAC, AudioCodecSpecific::ES_Descriptor(es)) => {
            // The audio object type as signalled in the AudioSpecificConfig.
            let config = &es.decoder_specific_data;
            let object_type = match config.first().map(|b| b >> 3) {
                Some(31) if config.len() >= 2 => 32 + (u16::from(config[0] & 7) << 3 | u16::from(config[1] >> 5)),
                Some(object_type) => u16::from(object_type),
                None => es.audio_object_type.unwrap_or(2),
            };
            format!("mp4a.40.{object_type}")
        }
        (CodecType::MP3, _) => "mp4a.6B".into(),
        (CodecType::Opus, _) => "opus".into(),
        (CodecType::FLAC, _) => "flac".into(),
        (other, _) => format!("{other:?}").to_lowercase(),
    }
}

/// The code of each sample description's first entry (`avc1`, `hvc1`,
/// `mp4a`, ...) in `head` (`ftyp` and `moov`), in track order: mp4parse
/// does not keep the code of an entry it does not know.
pub(crate) fn sample_entry_codes(head: &[u8]) -> Vec<String> {
    head.windows(4)
        .enumerate()
        .filter(|(_, window)| window == b"stsd")
        // `stsd` | version, flags | entry count | entry size | entry code
        .filter_map(|(at, _)| head.get(at + 16..at + 20))
        .map(|code| String::from_utf8_lossy(code).into_owned())
        .collect()
}

/// Reads the metadata of a scanned MP4.
pub fn probe(layout: &Layout) -> Result<Mp4Info, String> {
    let head = layout.head();
    let context =
        mp4parse::read_mp4(&mut std::io::Cursor::new(&head)).map_err(|e| format!("not a valid MP4: {e:?}"))?;
    let mut info = Mp4Info { faststart: layout.moov_before_mdat(), ..Default::default() };
    let mut longest_track: f64 = 0.0;
    let codes = sample_entry_codes(&head);
    for (index, track) in context.tracks.iter().enumerate() {
        let seconds = match (&track.duration, &track.timescale) {
            (Some(duration), Some(scale)) if scale.0 > 0 => duration.0 as f64 / scale.0 as f64,
            _ => match (&track.tkhd, &context.timescale) {
                (Some(tkhd), Some(scale)) if scale.0 > 0 => tkhd.duration as f64 / scale.0 as f64,
                _ => 0.0,
            },
        };
        longest_track = longest_track.max(seconds);
        match track.stsd.as_ref().and_then(|stsd| stsd.descriptions.first()) {
            Some(SampleEntry::Video(video)) if info.video_codec.is_empty() => {
                info.video_codec = video_codec(video.codec_type, &video.codec_specific);
                info.width = u32::from(video.width);
                info.height = u32::from(video.height);
            }
            Some(SampleEntry::Audio(audio)) if info.audio_codec.is_empty() => {
                info.audio_codec = audio_codec(audio.codec_type, &audio.codec_specific);
            }
            // A video codec mp4parse does not know (HEVC's `hvc1`, ...): still
            // a clip, named by its code.
            _ if track.track_type == TrackType::Video && info.video_codec.is_empty() => {
                if let Some(tkhd) = &track.tkhd {
                    info.width = tkhd.width >> 16;
                    info.height = tkhd.height >> 16;
                }
                info.video_codec = codes.get(index).cloned().unwrap_or_else(|| "unknown".into());
            }
            _ => {}
        }
    }
    if info.video_codec.is_empty() && info.audio_codec.is_empty() {
        return Err("not a valid MP4: it has no audio or video track".into());
    }
    // The movie's own duration (what players show), else the longest track.
    let movie = layout.find(b"moov").and_then(|moov| moov.body.as_deref()).and_then(movie_duration);
    let duration_seconds = movie.filter(|seconds| *seconds > 0.0).unwrap_or(longest_track);
    info.duration_ms = (duration_seconds * 1000.0).round() as u64;
    if duration_seconds > 0.0 {
        info.bitrate_bps = (layout.total_len as f64 * 8.0 / duration_seconds).round() as u64;
    }
    Ok(info)
}

/// The duration `mvhd` gives the movie, in seconds (ISO/IEC 14496-12
/// §8.2.2), from the body of `moov`; mp4parse reads that box but keeps its
/// duration to itself. None without one, or with an unknown duration.
fn movie_duration(moov: &[u8]) -> Option<f64> {
    let be32 = |bytes: &[u8], at: usize| Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    let be64 = |bytes: &[u8], at: usize| Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?));
    let mut rest = moov;
    while rest.len() >= 8 {
        let (header, size) = match be32(rest, 0)? {
            0 => (8, rest.len() as u64),
            1 => (16, be64(rest, 8)?),
            size => (8, u64::from(size)),
        };
        if size < header as u64 || size > rest.len() as u64 {
            return None;
        }
        let body = &rest[header..size as usize];
        if &rest[4..8] == b"mvhd" {
            // version, flags, then creation and modification times of 4 or 8 bytes.
            let (timescale, duration) = match body.first()? {
                0 => (be32(body, 12)?, be32(body, 16).filter(|d| *d != u32::MAX)?.into()),
                1 => (be32(body, 20)?, be64(body, 24).filter(|d| *d != u64::MAX)?),
                _ => return None,
            };
            return (timescale > 0).then(|| duration as f64 / f64::from(timescale));
        }
        rest = &rest[size as usize..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::mp4::Scanner;

    fn scan(bytes: &[u8]) -> Layout {
        let mut scanner = Scanner::new(64 << 20);
        for chunk in bytes.chunks(4096) {
            scanner.feed(chunk);
        }
        scanner.finish().expect("scans")
    }

    #[test]
    fn probes_the_fixture_clips() {
        for (name, faststart) in [("clip-faststart.mp4", true), ("clip-moov-at-end.mp4", false)] {
            let bytes = std::fs::read(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
            let info = probe(&scan(&bytes)).expect("probes");
            assert_eq!(info.video_codec, "avc1.4D401E", "{name}");
            assert_eq!(info.audio_codec, "mp4a.40.2", "{name}");
            assert_eq!((info.width, info.height), (320, 240));
            assert!((8_950..=9_100).contains(&info.duration_ms), "{name}: {}", info.duration_ms);
            assert_eq!(info.faststart, faststart, "{name}");
            assert!((600_000..800_000).contains(&info.bitrate_bps), "{name}: {}", info.bitrate_bps);
        }
        let hevc = std::fs::read(format!("{}/tests/fixtures/frames/hevc.mp4", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let info = probe(&scan(&hevc)).expect("an HEVC clip is a clip");
        assert_eq!((info.video_codec.as_str(), info.width, info.height), ("hvc1", 320, 180));
    }

    /// The movie header's duration wins over a longer track (an audio
    /// track a few ms past the movie's end, as in the seed clip).
    #[test]
    fn the_duration_is_the_movies_not_the_longest_tracks() {
        let mut bytes =
            std::fs::read(format!("{}/tests/fixtures/clip-faststart.mp4", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let at = bytes.windows(4).position(|w| w == b"mvhd").expect("an mvhd") + 4;
        assert_eq!(bytes[at], 0, "a version 0 header");
        let timescale = u32::from_be_bytes(bytes[at + 12..at + 16].try_into().unwrap());
        let five_seconds = (5 * timescale).to_be_bytes();
        bytes[at + 16..at + 20].copy_from_slice(&five_seconds);
        let info = probe(&scan(&bytes)).expect("probes");
        assert_eq!(info.duration_ms, 5_000, "the tracks run ~9 s, the movie says 5");

        let moov_without_mvhd = [&[0, 0, 0, 8][..], b"free"].concat();
        assert_eq!(movie_duration(&moov_without_mvhd), None);
        let unknown = [&[0, 0, 0, 28][..], b"mvhd", &[0; 12], &1000u32.to_be_bytes(), &[0xff; 4]].concat();
        assert_eq!(movie_duration(&unknown), None, "an all-ones duration is unknown");
        let truncated = [&[0, 0, 0, 99][..], b"mvhd"].concat();
        assert_eq!(movie_duration(&truncated), None);
    }
}
