//! Opaque page tokens: a position, a fingerprint of the request it belongs
//! to, and a MAC. A token reused with other filters is refused
//! (PAGE_TOKEN_FILTER_MISMATCH), and one a client made or changed does not
//! verify (INVALID_PAGE_TOKEN): it cannot be forged into another query.
//! The MAC key is derived from the gateway signing keys, so every replica
//! reads every other's tokens, and they rotate together.

use super::sha256_hex;
use crate::error::Reason;
use crate::error::{ArchiveError, Result};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Serialize, de::DeserializeOwned};

/// Page size of a listing that names none.
pub(crate) const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest page of a listing.
pub(crate) const MAX_PAGE_SIZE: u32 = 1000;
/// What the signing keys are derived for (see [`super::signing::UrlSigner`]).
pub(crate) const KEY_PURPOSE: &str = "archive.v1 page tokens";
/// Bytes of the HMAC-SHA256 a token carries.
const MAC_BYTES: usize = 16;

type HmacSha256 = Hmac<sha2::Sha256>;

#[derive(serde::Serialize, serde::Deserialize)]
struct Token<T> {
    #[serde(rename = "p")]
    position: T,
    #[serde(rename = "f")]
    fingerprint: String,
}

/// Makes and reads page tokens under a list of keys: the first signs, any
/// verifies.
pub struct PageTokens {
    keys: Vec<[u8; 32]>,
}

impl std::fmt::Debug for PageTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageTokens").field("keys", &self.keys.len()).finish()
    }
}

impl PageTokens {
    /// `keys` must not be empty.
    pub fn new(keys: Vec<[u8; 32]>) -> Self {
        assert!(!keys.is_empty(), "page tokens need a key");
        Self { keys }
    }

    fn mac(key: &[u8; 32], json: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(json);
        mac
    }

    /// The token of `position` in the request with `fingerprint`.
    pub fn encode<T: Serialize>(&self, position: T, fingerprint: String) -> Result<String> {
        let mut bytes = serde_json::to_vec(&Token { position, fingerprint })
            .map_err(|e| ArchiveError::internal("encoding a page token", e))?;
        let mac = Self::mac(&self.keys[0], &bytes).finalize().into_bytes();
        bytes.extend_from_slice(&mac[..MAC_BYTES]);
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The position in `token`, `None` for the first page (an empty token).
    pub fn decode<T: DeserializeOwned>(&self, token: &str, fingerprint: &str) -> Result<Option<T>> {
        if token.is_empty() {
            return Ok(None);
        }
        let bad_token =
            || ArchiveError::new(Reason::InvalidPageToken, "page_token is not a token this listing returned");
        let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad_token())?;
        let split = raw.len().checked_sub(MAC_BYTES).ok_or_else(bad_token)?;
        let (json, mac) = raw.split_at(split);
        // Constant time, under any of the keys.
        if !self.keys.iter().any(|key| Self::mac(key, json).verify_truncated_left(mac).is_ok()) {
            return Err(bad_token());
        }
        let token: Token<T> = serde_json::from_slice(json).map_err(|_| bad_token())?;
        if token.fingerprint != fingerprint {
            return Err(ArchiveError::new(
                Reason::PageTokenFilterMismatch,
                "page_token belongs to a request with another query or other filters",
            ));
        }
        Ok(Some(token.position))
    }
}

/// A short digest of everything that must not change between pages.
pub fn fingerprint(request: &impl std::fmt::Debug) -> String {
    sha256_hex(format!("{request:?}").as_bytes())[..16].to_owned()
}

/// A requested page size: `default` for 0, at most `max`, never negative.
pub(crate) fn page_size(requested: i32, default: u32, max: u32) -> Result<u32> {
    match requested {
        n if n < 0 => Err(ArchiveError::new(Reason::InvalidPageSize, "page_size must not be negative")),
        0 => Ok(default),
        n => Ok((n as u32).min(max)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// A token answers only the request it was made for, under the keys
        /// that made it; a changed or made-up token, one for another
        /// request or under another key is refused with INVALID_ARGUMENT,
        /// never a panic or a position.
        #[test]
        fn tokens_serve_only_their_request(
            position in proptest::collection::vec(0i64..i64::MAX, 0..3),
            query in ".{0,20}",
            other in ".{0,20}",
            garbage in ".{0,64}",
            flip in (0usize..512, 0u8..8),
        ) {
            let tokens = PageTokens::new(vec![[7; 32]]);
            let mine = fingerprint(&("list", &query));
            let token = tokens.encode(position.clone(), mine.clone()).unwrap();
            proptest::prop_assert_eq!(tokens.decode::<Vec<i64>>(&token, &mine).unwrap(), Some(position.clone()));
            let theirs = fingerprint(&("list", &other));
            if theirs != mine {
                let refused = tokens.decode::<Vec<i64>>(&token, &theirs).unwrap_err();
                proptest::prop_assert_eq!(refused.reason, Reason::PageTokenFilterMismatch);
                // Rewriting the fingerprint inside the token does not help.
                let mut raw = URL_SAFE_NO_PAD.decode(&token).unwrap();
                let json = String::from_utf8(raw[..raw.len() - MAC_BYTES].to_vec()).unwrap();
                let mac = raw.split_off(raw.len() - MAC_BYTES);
                let mut forged = json.replace(&mine, &theirs).into_bytes();
                forged.extend_from_slice(&mac);
                let refused = tokens.decode::<Vec<i64>>(&URL_SAFE_NO_PAD.encode(forged), &theirs).unwrap_err();
                proptest::prop_assert_eq!(refused.reason, Reason::InvalidPageToken);
            }
            // Any one bit changed.
            let mut raw = URL_SAFE_NO_PAD.decode(&token).unwrap();
            let at = flip.0 % raw.len();
            raw[at] ^= 1 << flip.1;
            let refused = tokens.decode::<Vec<i64>>(&URL_SAFE_NO_PAD.encode(&raw), &mine).unwrap_err();
            proptest::prop_assert_eq!(refused.reason, Reason::InvalidPageToken);
            // Another key (another deployment) does not read it; a rotated-in key still does.
            let foreign = PageTokens::new(vec![[8; 32]]);
            proptest::prop_assert!(foreign.decode::<Vec<i64>>(&token, &mine).is_err());
            let rotated = PageTokens::new(vec![[8; 32], [7; 32]]);
            proptest::prop_assert_eq!(rotated.decode::<Vec<i64>>(&token, &mine).unwrap(), Some(position));
            if let Err(refused) = tokens.decode::<Vec<i64>>(&garbage, &mine) {
                proptest::prop_assert_eq!(refused.reason, Reason::InvalidPageToken);
            } else {
                proptest::prop_assert!(garbage.is_empty(), "made-up token {:?} accepted", garbage);
            }
        }
    }
}
