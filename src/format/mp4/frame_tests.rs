//! Frames against FFmpeg's: the fixtures of `tests/fixtures/frames` (made
//! by `scripts/make-frame-fixtures.py`) decoded at a time match the frame
//! FFmpeg shows then (PSNR ≥ 30 dB), upright; HEVC is refused by name;
//! damaged media data never panics the decoder.

use super::frames::{DecodePlan, FrameError, FrameLimits, VideoTrack, video_track};
use super::{Layout, Scanner};
use crate::format::picture;

const LIMITS: FrameLimits = FrameLimits { max_pixels: 3840 * 2160, max_samples: 300, max_bytes: 64 << 20 };

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/frames/{name}", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
}

fn layout(bytes: &[u8]) -> Layout {
    let mut scanner = Scanner::new(1 << 24);
    scanner.feed(bytes);
    scanner.finish().expect("scans")
}

fn frame(clip: &[u8], track: &VideoTrack, at_ms: u64) -> (DecodePlan, image::RgbImage) {
    let plan = track.plan(at_ms, &LIMITS).expect("plans");
    let bytes = &clip[plan.bytes.start as usize..plan.bytes.end as usize];
    let frame = track.decode(&plan, bytes).expect("decodes");
    (plan, picture::upright(frame, track.rotation))
}

/// Peak signal-to-noise ratio of two pictures of one size, in dB.
fn psnr(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let squares: f64 = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum();
    let mse = squares / a.as_raw().len() as f64;
    if mse == 0.0 { f64::INFINITY } else { 10.0 * (255.0f64 * 255.0 / mse).log10() }
}

fn reference(name: &str) -> image::RgbImage {
    image::load_from_memory(&fixture(name)).expect("a PNG").to_rgb8()
}

#[test]
fn frames_match_ffmpegs_at_each_time_and_say_when_they_start() {
    let clip = fixture("counter.mp4");
    let track = video_track(&layout(&clip).head()).expect("an H.264 track");
    assert_eq!((track.width, track.height, track.rotation), (320, 180, 0));
    // 25 fps: frame N starts at N × 40 ms.
    for (at_ms, shown_ms) in [(0, 0), (520, 520), (1000, 1000), (1040, 1040), (2999, 2960), (3960, 3960)] {
        let (plan, got) = frame(&clip, &track, at_ms);
        assert_eq!(plan.shown_ms, shown_ms, "at {at_ms} ms");
        let quality = psnr(&got, &reference(&format!("counter-{at_ms}.png")));
        assert!(quality >= 30.0, "at {at_ms} ms: {quality:.1} dB");
        // Not merely alike: the neighbouring frame is much further off.
        if at_ms >= 1000 {
            let (_, neighbour) = frame(&clip, &track, at_ms - 40);
            assert!(psnr(&neighbour, &reference(&format!("counter-{at_ms}.png"))) < quality - 3.0, "at {at_ms} ms");
        }
    }
    let (plan, _) = frame(&clip, &track, 60_000);
    assert_eq!(plan.shown_ms, 3960, "past the end: the last frame");
    assert_eq!(track.last_frame_ms(), 3960);
    assert!(picture::is_blank(&frame(&clip, &track, 0).1), "the fade-in is black");
    assert!(!picture::is_blank(&frame(&clip, &track, 1000).1));
}

#[test]
fn a_rotated_track_comes_out_upright() {
    let clip = fixture("portrait.mp4");
    let track = video_track(&layout(&clip).head()).expect("an H.264 track");
    assert_eq!((track.width, track.height, track.rotation), (320, 180, 90));
    let (_, got) = frame(&clip, &track, 1000);
    assert_eq!(got.dimensions(), (180, 320));
    let quality = psnr(&got, &reference("portrait-1000.png"));
    assert!(quality >= 30.0, "{quality:.1} dB");
}

#[test]
fn other_codecs_and_costly_frames_are_refused() {
    let clip = fixture("hevc.mp4");
    let refused = video_track(&layout(&clip).head()).unwrap_err();
    assert!(matches!(&refused, FrameError::Unsupported(codes) if codes.contains("hvc1")), "{refused}");
    assert!(refused.to_string().contains("H.264"), "{refused}");
    let clip = fixture("counter.mp4");
    let track = video_track(&layout(&clip).head()).unwrap();
    let small = FrameLimits { max_pixels: 320 * 180 - 1, ..LIMITS };
    assert!(matches!(track.plan(1000, &small), Err(FrameError::TooCostly(_))));
    let short = FrameLimits { max_samples: 3, ..LIMITS };
    assert!(matches!(track.plan(1400, &short), Err(FrameError::TooCostly(_))), "10 frames after its keyframe");
    assert!(track.plan(1040, &short).is_ok(), "1 frame after its keyframe");
    let narrow = FrameLimits { max_bytes: 100, ..LIMITS };
    assert!(matches!(track.plan(1000, &narrow), Err(FrameError::TooCostly(_))));
}

/// Bit flips, overwritten bytes and cut samples in the media data reach
/// OpenH264 itself: a picture or an error, never a panic or a crash.
#[test]
fn damaged_media_data_never_panics_the_decoder() {
    let clip = fixture("counter.mp4");
    let track = video_track(&layout(&clip).head()).unwrap();
    let mut seed = 0x7ace_2026_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut pictures, mut errors) = (0, 0);
    for round in 0..120 {
        let at_ms = next() % 4000;
        let plan = track.plan(at_ms, &LIMITS).unwrap();
        let mut bytes = clip[plan.bytes.start as usize..plan.bytes.end as usize].to_vec();
        for _ in 0..1 + next() % 8 {
            let at = (next() as usize) % bytes.len();
            match round % 3 {
                0 => bytes[at] ^= 1 << (next() % 8),
                1 => bytes[at] = next() as u8,
                _ => bytes.truncate(at.max(1)),
            }
        }
        match track.decode(&plan, &bytes) {
            Ok(_) => pictures += 1,
            Err(_) => errors += 1,
        }
    }
    assert_eq!(pictures + errors, 120);
}
