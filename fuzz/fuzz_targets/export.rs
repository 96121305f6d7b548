//! The export importer on any bytes: decode (UTF-8, naming the line of a
//! bad byte) and parse. Any panic is a bug; an error must name a line of
//! the text. `scripts/fuzz.sh` runs it.
#![no_main]

use archive::format::export::{decode, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = match decode(data) {
        Ok(text) => text,
        Err(error) => {
            assert!(error.line >= 1 && error.line <= data.iter().filter(|&&b| b == b'\n').count() + 1);
            return;
        }
    };
    if let Err(error) = parse(text) {
        assert!(error.line >= 1 && error.line <= text.split('\n').count() + 1, "{error}");
    }
});
