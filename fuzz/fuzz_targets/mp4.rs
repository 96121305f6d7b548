//! Everything archived runs on an uploaded clip's bytes: the box scanner (in
//! arbitrary chunkings), the mp4parse probe and the mp4san faststart plan.
//! Any panic is a bug. `scripts/fuzz.sh` runs it with the others.
#![no_main]

use archive::format::mp4::{Scanner, faststart, probe};
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
    }
});
