//! Page tokens on any input: never a panic, and nothing but a token the
//! service made is accepted. The first byte picks the case: 0, a token made
//! for the input's position with one bit flipped at an input-chosen place,
//! which must be refused; otherwise the input itself as a token, which can
//! only be accepted if it is exactly what the service would write.
//! `scripts/fuzz.sh` runs it.
#![no_main]

use archive::domain::page_token::{PageTokens, fingerprint};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let tokens = PageTokens::new(vec![[7; 32]]);
    let mine = fingerprint(&("list", "fuzz"));
    let Some((&case, rest)) = data.split_first() else { return };
    if case == 0 {
        let Some((&bit, position)) = rest.split_first() else { return };
        let position: Vec<i64> = position.iter().map(|&b| i64::from(b) << (b % 40)).collect();
        let token = tokens.encode(position.clone(), mine.clone()).unwrap();
        assert_eq!(tokens.decode::<Vec<i64>>(&token, &mine).unwrap(), Some(position));
        let mut bytes = token.into_bytes();
        let at = usize::from(bit) % bytes.len();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        let changed = String::from_utf8(bytes).unwrap();
        assert!(tokens.decode::<Vec<i64>>(&changed, &mine).is_err(), "a changed token was accepted: {changed}");
    } else {
        let token = String::from_utf8_lossy(rest);
        if let Ok(Some(position)) = tokens.decode::<Vec<i64>>(&token, &mine) {
            assert_eq!(tokens.encode(position, mine.clone()).unwrap(), token, "a token the service did not make");
        }
    }
});
