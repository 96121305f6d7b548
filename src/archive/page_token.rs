//! Opaque page tokens: a position plus a fingerprint of the request it
//! belongs to, so a token reused with other filters is refused.

use super::sha256_hex;
use crate::error::Reason;
use crate::error::{ArchiveError, Result};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Serialize, de::DeserializeOwned};

/// Page size of a listing that names none.
pub(crate) const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest page of a listing.
pub(crate) const MAX_PAGE_SIZE: u32 = 1000;

#[derive(serde::Serialize, serde::Deserialize)]
struct Token<T> {
    #[serde(rename = "p")]
    position: T,
    #[serde(rename = "f")]
    fingerprint: String,
}

/// A short digest of everything that must not change between pages.
pub(crate) fn fingerprint(request: &impl std::fmt::Debug) -> String {
    sha256_hex(format!("{request:?}").as_bytes())[..16].to_owned()
}

pub(crate) fn encode<T: Serialize>(position: T, fingerprint: String) -> Result<String> {
    let json = serde_json::to_vec(&Token { position, fingerprint })
        .map_err(|e| ArchiveError::internal("encoding a page token", e))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

/// The position in `token`, `None` for the first page.
pub(crate) fn decode<T: DeserializeOwned>(token: &str, fingerprint: &str) -> Result<Option<T>> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad_token =
        || ArchiveError::invalid(Reason::InvalidPageToken, "page_token is not a token this listing returned");
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad_token())?;
    let token: Token<T> = serde_json::from_slice(&raw).map_err(|_| bad_token())?;
    if token.fingerprint != fingerprint {
        return Err(ArchiveError::invalid(
            Reason::PageTokenFilterMismatch,
            "page_token belongs to a request with another query or other filters",
        ));
    }
    Ok(Some(token.position))
}

/// A requested page size: `default` for 0, at most `max`, never negative.
pub(crate) fn page_size(requested: i32, default: u32, max: u32) -> Result<u32> {
    match requested {
        n if n < 0 => Err(ArchiveError::invalid(Reason::InvalidPageSize, "page_size must not be negative")),
        0 => Ok(default),
        n => Ok((n as u32).min(max)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// A token answers only the request it was made for; anything else
        /// is refused with INVALID_ARGUMENT, never a panic or a position.
        #[test]
        fn tokens_serve_only_their_request(
            position in proptest::collection::vec(0i64..i64::MAX, 0..3),
            query in ".{0,20}",
            other in ".{0,20}",
            garbage in ".{0,64}",
        ) {
            let mine = fingerprint(&("list", &query));
            let token = encode(position.clone(), mine.clone()).unwrap();
            proptest::prop_assert_eq!(decode::<Vec<i64>>(&token, &mine).unwrap(), Some(position));
            let theirs = fingerprint(&("list", &other));
            if theirs != mine {
                let refused = decode::<Vec<i64>>(&token, &theirs).unwrap_err();
                proptest::prop_assert_eq!(refused.reason, Reason::PageTokenFilterMismatch);
            }
            if let Err(refused) = decode::<Vec<i64>>(&garbage, &mine) {
                proptest::prop_assert!(
                    matches!(refused.reason, Reason::InvalidPageToken | Reason::PageTokenFilterMismatch)
                );
            }
        }
    }
}
