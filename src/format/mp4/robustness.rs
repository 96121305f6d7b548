//! The MP4 path must never panic, whatever the bytes: thousands of mutants
//! of the fixture clips (bytes flipped, sizes set to extremes, boxes cut
//! short) and random inputs go through scan, probe, faststart planning and
//! the frame path (track, plan, decode of the first frame) with no
//! `catch_unwind` in between. (`fuzz/` holds the cargo-fuzz target
//! for longer runs.)

use super::{Scanner, faststart, frames, probe};

/// Deterministic xorshift, so a failure names a reproducible case.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }
}

/// Everything the service runs on an upload's bytes, in every chunking;
/// true when the parsers got to see it (it scanned as an MP4).
fn exercise(bytes: &[u8], chunk: usize) -> bool {
    let mut scanner = Scanner::new(1 << 20);
    for piece in bytes.chunks(chunk.max(1)) {
        scanner.feed(piece);
    }
    let Ok(layout) = scanner.finish() else { return false };
    let _ = probe::probe(&layout);
    let _ = faststart::plan(&layout, 1 << 20);
    let limits = frames::FrameLimits { max_pixels: 1 << 22, max_samples: 30, max_bytes: 1 << 22 };
    if let Ok(track) = frames::video_track(&layout.head()) {
        for at_ms in [0, 4_000, u64::MAX / 4] {
            let Ok(plan) = track.plan(at_ms, &limits) else { continue };
            if let Some(range) = bytes.get(plan.bytes.start as usize..plan.bytes.end as usize)
                && at_ms == 0
            {
                let _ = track.decode(&plan, range);
            }
        }
    }
    true
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
}

/// Byte ranges of the boxes the parsers read (ftyp and moov), where
/// mutations reach the parsers instead of the media data.
fn metadata_ranges(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut scanner = Scanner::new(1 << 24);
    scanner.feed(bytes);
    let layout = scanner.finish().expect("the fixture scans");
    layout
        .boxes
        .iter()
        .filter(|b| b.body.is_some())
        .map(|b| b.offset as usize..(b.offset + b.header.len() as u64 + b.body_len) as usize)
        .collect()
}

fn mutate(original: &[u8], ranges: &[std::ops::Range<usize>], rng: &mut Rng) -> Vec<u8> {
    let mut bytes = original.to_vec();
    for _ in 0..1 + rng.below(4) {
        let range = &ranges[rng.below(ranges.len())];
        // Offsets of the original; earlier cuts may have shortened the copy.
        let at = (range.start + rng.below(range.len())).min(bytes.len() - 4);
        match rng.below(5) {
            0 => bytes[at] ^= 1 << rng.below(8),
            1 => bytes[at] = rng.next() as u8,
            2 => {
                // A 32-bit field (box sizes, counts, offsets) set to an extreme.
                let value: u32 = [0, 1, 7, 8, 0x7fff_ffff, 0xffff_ffff][rng.below(6)];
                let at = at & !3;
                bytes[at..at + 4].copy_from_slice(&value.to_be_bytes());
            }
            3 => bytes.truncate(at),
            _ => {
                let end = (at + rng.below(64)).min(bytes.len());
                bytes.drain(at..end);
            }
        }
        if bytes.len() < 8 {
            break;
        }
    }
    bytes
}

#[test]
fn mutated_clips_never_panic() {
    let mut rng = Rng(0x5eed_2026);
    for name in ["clip-moov-at-end.mp4", "clip-faststart.mp4"] {
        let original = fixture(name);
        let ranges = metadata_ranges(&original);
        let mut parsed = 0;
        for _ in 0..1500 {
            let mutant = mutate(&original, &ranges, &mut rng);
            parsed += usize::from(exercise(&mutant, [4096, 65536, 1 << 20][rng.below(3)]));
        }
        // Many mutants must get past the scanner, or mp4parse and mp4san go untested.
        assert!(parsed > 250, "{name}: only {parsed} of 1500 mutants reached the parsers");
    }
}

#[test]
fn random_and_tiny_inputs_never_panic() {
    let mut rng = Rng(42);
    for len in 0..64 {
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        assert!(!exercise(&bytes, 1) || len >= 16);
        exercise(&bytes, 7);
    }
    for _ in 0..300 {
        // A plausible ftyp, then random boxes with random sizes.
        let mut bytes = b"\0\0\0\x10ftypisom\0\0\0\x01".to_vec();
        for _ in 0..rng.below(6) {
            let kind = [b"moov", b"mdat", b"free", b"trak", b"mvhd"][rng.below(5)];
            let body: Vec<u8> = (0..rng.below(200)).map(|_| rng.next() as u8).collect();
            let size = if rng.below(4) == 0 { rng.next() as u32 } else { body.len() as u32 + 8 };
            bytes.extend_from_slice(&size.to_be_bytes());
            bytes.extend_from_slice(kind);
            bytes.extend_from_slice(&body);
        }
        exercise(&bytes, 1 + rng.below(100));
    }
}
