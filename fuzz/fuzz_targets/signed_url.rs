//! The signed-URL verifier on any query: never a panic, and nothing but
//! what the signer produced verifies. The input is split into path, exp,
//! kid, sig and disposition at NUL bytes.
//! `scripts/fuzz.sh` runs it.
#![no_main]

use archive::domain::signing::{SignedQuery, SigningKey, UrlSigner};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\0');
    let path = parts.next().unwrap_or_default().to_owned();
    let mut field = || parts.next().map(str::to_owned);
    let query = SignedQuery { exp: field(), kid: field(), sig: field(), disposition: field() };
    let signer = UrlSigner::new(vec![SigningKey { id: "k1".into(), secret: vec![7u8; 32].into() }]).unwrap();
    if signer.verify(&path, &query, 0).is_ok() {
        // Then it must be exactly what the signer writes for that path and expiry.
        let expires: i64 = query.exp.as_deref().unwrap().parse().unwrap();
        let attachment = query.disposition.as_deref() == Some("attachment");
        let signed = signer.sign(&path, expires, attachment);
        assert!(signed.contains(&format!("sig={}", query.sig.as_deref().unwrap())), "forged: {query:?}");
    }
});
