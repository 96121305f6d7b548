//! The browser files built into archived (web/dist: the embeddable player
//! and the console), served one way: a strong ETag from their bytes, 304 to
//! a browser that has them, and the gzip copy that scripts/build-web.sh
//! made beside each to a browser that takes gzip.

use axum::{
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// One built file: its bytes, their gzip copy, its type.
pub(super) struct Asset {
    pub name: &'static str,
    pub bytes: &'static [u8],
    pub gzip: &'static [u8],
    pub content_type: &'static str,
    /// The strong ETags of the bytes and of their gzip copy (another
    /// representation, so another tag).
    etags: OnceLock<[HeaderValue; 2]>,
}

/// An [`Asset`] of `web/dist/{name}` and its `.gz`.
macro_rules! asset {
    ($name:literal, $content_type:literal) => {
        $crate::gateway::assets::Asset::new(
            $name,
            include_bytes!(concat!("../../web/dist/", $name)),
            include_bytes!(concat!("../../web/dist/", $name, ".gz")),
            $content_type,
        )
    };
}
pub(super) use asset;

impl Asset {
    pub const fn new(
        name: &'static str,
        bytes: &'static [u8],
        gzip: &'static [u8],
        content_type: &'static str,
    ) -> Self {
        Self { name, bytes, gzip, content_type, etags: OnceLock::new() }
    }
}

fn etags_of(bytes: &[u8]) -> [HeaderValue; 2] {
    let digest = hex::encode(&Sha256::digest(bytes)[..16]);
    [format!("\"{digest}\""), format!("\"{digest}-gz\"")]
        .map(|tag| HeaderValue::from_str(&tag).expect("hex is a header value"))
}

/// Whether the request takes gzip (`Accept-Encoding: gzip`, not `gzip;q=0`).
fn takes_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|p| p.strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()) == Some(0.0));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        },
    )
}

/// `asset` as an answer to a request with `headers`, revalidated by
/// browsers before each use (`no-cache`): a new release changes it under
/// the same name.
pub(super) fn serve(asset: &Asset, headers: &HeaderMap) -> Response {
    let gzip = takes_gzip(headers);
    let etag = &asset.etags.get_or_init(|| etags_of(asset.bytes))[usize::from(gzip)];
    let held = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim().trim_start_matches("W/").as_bytes() == etag.as_bytes());
    let mut response = if held {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], if gzip { asset.gzip } else { asset.bytes }).into_response()
    };
    let headers = response.headers_mut();
    if gzip {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    headers.insert(header::ETAG, etag.clone());
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    response
}

/// The asset named `name` among `assets`.
pub(super) fn find<'a>(assets: &'a [Asset], name: &str) -> Option<&'a Asset> {
    assets.iter().find(|asset| asset.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs.iter().map(|(name, value)| (name.clone(), value.parse().unwrap())).collect()
    }

    #[test]
    fn gzip_when_taken_and_304_when_held() {
        let asset = Asset::new("a.js", b"console.log(1)", b"\x1f\x8bgz", "text/javascript");
        let plain = serve(&asset, &HeaderMap::new());
        assert_eq!(plain.status(), 200);
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        let etag = plain.headers()[header::ETAG].to_str().unwrap().to_owned();
        for (accept, gzip) in
            [("gzip, deflate, br", true), ("br;q=1, gzip;q=0", false), ("identity", false), ("*", true)]
        {
            let response = serve(&asset, &headers(&[(header::ACCEPT_ENCODING, accept)]));
            assert_eq!(response.headers().get(header::CONTENT_ENCODING).is_some(), gzip, "{accept}");
            assert_eq!(response.headers()[header::ETAG].to_str().unwrap() == etag, !gzip, "a tag per coding");
        }
        let held = serve(&asset, &headers(&[(header::IF_NONE_MATCH, &format!("W/{etag}"))]));
        assert_eq!(held.status(), 304);
        let gzip_tag = etag.replace("\"", "").to_owned() + "-gz";
        let held = serve(
            &asset,
            &headers(&[(header::IF_NONE_MATCH, &format!("\"{gzip_tag}\"")), (header::ACCEPT_ENCODING, "gzip")]),
        );
        assert_eq!(held.status(), 304);
        let other = serve(&asset, &headers(&[(header::IF_NONE_MATCH, "\"old\"")]));
        assert_eq!(other.status(), 200);
    }
}
