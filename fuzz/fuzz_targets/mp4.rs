//! Everything archived runs on an uploaded clip's bytes: the box scanner (in
//! arbitrary chunkings), the mp4parse probe, the mp4san faststart plan and
//! the frame path (video track, decode plan, OpenH264 on the first frame).
//! Any panic is a bug. `scripts/fuzz.sh` runs it with the others.
#![no_main]

use archive::format::mp4::{Scanner, faststart, frames, probe};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, bytes)) = data.split_first() else { return };
    let mut scanner = Scanner::new(1 << 20);
    for piece in bytes.chunks(usize::from(chunk).max(1)) {
        scanner.feed(piece);
    }
    if let Ok(layout) = scanner.finish() {
        let _ = probe::probe(&layout);
        let _ = faststart::plan(&layout, 1 << 20);
        let limits = frames::FrameLimits { max_pixels: 1 << 22, max_samples: 30, max_bytes: 1 << 22 };
        if let Ok(track) = frames::video_track(&layout.head())
            && let Ok(plan) = track.plan(0, &limits)
            && let Some(range) = bytes.get(plan.bytes.start as usize..plan.bytes.end as usize)
        {
            let _ = track.decode(&plan, range);
        }
    }
});
