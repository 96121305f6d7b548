//! The gateway's Range header handling on any header value and clip size:
//! never a panic, and a range served is always inside the clip. The first
//! 8 bytes are the clip size (little endian, below 2^40), the rest the
//! header value. `scripts/fuzz.sh` runs it.
#![no_main]

use archive::gateway::conditions::requested_range;
use axum::http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((size, value)) = data.split_first_chunk::<8>() else { return };
    let size = u64::from_le_bytes(*size) % (1 << 40);
    let mut headers = HeaderMap::new();
    let Ok(value) = HeaderValue::from_bytes(value) else { return };
    headers.insert(header::RANGE, value);
    if let Ok(Some((first, last))) = requested_range(&headers, size) {
        assert!(first <= last && last < size, "{headers:?} on {size} bytes gave {first}-{last}");
    }
});
