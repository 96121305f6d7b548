//! What is served under a clip's prefix token (`/s/{token}/media/{id}/…`,
//! see [`crate::domain::signing`]): the clip's caption tracks as WebVTT.
//! The token signs the prefix `/media/{id}/` exactly as requested, before
//! any decoding; what follows it names the file.

use super::{
    conditions::{self, Precondition, Validators},
    failed, plain,
};
use crate::{
    domain::{Archive, captions::WEBVTT_CONTENT_TYPE, signing::SignatureError},
    ids::MediaId,
};
use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use headers::{HeaderMapExt, LastModified};
use std::time::{Duration, UNIX_EPOCH};

/// `/s/{token}/media/{id}/{file}` split into the token, the signed prefix,
/// the clip's id and the file.
fn split(path: &str) -> Option<(&str, &str, &str, &str)> {
    let (token, rest) = path.strip_prefix("/s/")?.split_once('/')?;
    let (id, file) = rest.strip_prefix("media/")?.split_once('/')?;
    // From the `/` before `media` through the `/` after the id.
    let start = path.len() - rest.len() - 1;
    let prefix = &path[start..start + "/media/".len() + id.len() + 1];
    Some((token, prefix, id, file))
}

pub(super) async fn serve_signed(State(archive): State<Archive>, uri: Uri, headers: HeaderMap) -> Response {
    let Some((token, prefix, id, file)) = split(uri.path()) else {
        return plain(StatusCode::NOT_FOUND, "no such file\n");
    };
    match archive.signer().verify_prefix(prefix, token, chrono::Utc::now().timestamp()) {
        Ok(()) => {}
        Err(SignatureError::Expired) => return plain(StatusCode::FORBIDDEN, "the URL has expired\n"),
        Err(_) => return plain(StatusCode::FORBIDDEN, "the URL's signature is not valid\n"),
    }
    let (Ok(id), Some(track_id)) =
        (MediaId::parse(id), file.strip_prefix("captions/").and_then(|name| name.strip_suffix(".vtt")))
    else {
        return plain(StatusCode::NOT_FOUND, "no such file\n");
    };
    let (track, bytes) = match archive.served_captions(&id, track_id).await {
        Ok(served) => served,
        Err(error) => return failed(error),
    };
    let Ok(etag) = format!("\"{}\"", track.served.sha256).parse() else {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "the track's record is damaged\n");
    };
    let validators = Validators {
        etag,
        last_modified: UNIX_EPOCH + Duration::from_secs(track.update_time.timestamp().max(0) as u64),
    };
    // A track may be replaced under the same URL: revalidate each time.
    let mut response = Response::builder().header(header::CACHE_CONTROL, "private, no-cache");
    if let Some(headers) = response.headers_mut() {
        headers.typed_insert(validators.etag.clone());
        headers.typed_insert(LastModified::from(validators.last_modified));
    }
    let response = match conditions::evaluate(&headers, &validators) {
        Precondition::Proceed => response
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, WEBVTT_CONTENT_TYPE)
            .header(header::CONTENT_LENGTH, bytes.len())
            .body(Body::from(bytes)),
        Precondition::NotModified => response.status(StatusCode::NOT_MODIFIED).body(Body::empty()),
        Precondition::Failed => {
            return plain(StatusCode::PRECONDITION_FAILED, "the track does not meet the request's preconditions\n");
        }
    };
    response.unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn a_path_splits_into_token_prefix_id_and_file() {
        assert_eq!(
            split("/s/1.k.sig/media/clip-1/captions/vi.vtt"),
            Some(("1.k.sig", "/media/clip-1/", "clip-1", "captions/vi.vtt"))
        );
        for bad in ["/s/t/media/clip-1", "/s/t/other/clip-1/x", "/media/clip-1/captions/vi.vtt", "/s/t"] {
            assert_eq!(split(bad), None, "{bad}");
        }
    }
}
