//! What is served under a clip's prefix token (`/s/{token}/media/{id}/…`,
//! see [`crate::domain::signing`]): the clip's caption tracks as WebVTT
//! (`captions/{track}.vtt`) and its thumbnails
//! (`thumbnail.jpg?time=SECONDS&width=W&height=H`, or `thumbnail.webp`;
//! made on first request;
//! `Frame-Time` says when the frame shown starts), its `poster`, and its
//! storyboard (`storyboard.vtt` naming tiles of `storyboard.jpg`).
//! The token signs the prefix `/media/{id}/` exactly as requested, before
//! any decoding; what follows it names the file.

use super::{
    conditions::{self, Precondition, Validators},
    failed, plain,
};
use crate::{
    domain::{
        Archive, StoryboardFile, ThumbnailRequest,
        captions::WEBVTT_CONTENT_TYPE,
        clip_files::{POSTER_FILE, STORYBOARD_FILE, STORYBOARD_SPRITE_FILE, thumbnail_format, track_of_file},
        signing::SignatureError,
    },
    format::picture::Format,
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
        Ok(_) => {}
        Err(SignatureError::Expired) => return plain(StatusCode::FORBIDDEN, "the URL has expired\n"),
        Err(_) => return plain(StatusCode::FORBIDDEN, "the URL's signature is not valid\n"),
    }
    let Ok(id) = MediaId::parse(id) else {
        return plain(StatusCode::NOT_FOUND, "no such file\n");
    };
    if let Some(format) = thumbnail_format(file) {
        return serve_thumbnail(&archive, id, format, uri.query().unwrap_or_default()).await;
    }
    if file == POSTER_FILE {
        return serve_poster(&archive, id, &headers).await;
    }
    let storyboard = match file {
        STORYBOARD_FILE => Some(StoryboardFile::WebVtt),
        STORYBOARD_SPRITE_FILE => Some(StoryboardFile::Sprite),
        _ => None,
    };
    if let Some(storyboard) = storyboard {
        return match archive.storyboard_file(&id, storyboard).await {
            Ok((bytes, content_type)) => Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, content_type)
                .header(header::CONTENT_LENGTH, bytes.len())
                // A clip's frames never change, nor does its storyboard.
                .header(header::CACHE_CONTROL, "private, max-age=86400")
                .body(Body::from(bytes))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()),
            Err(error) => failed(error),
        };
    }
    let Some(track_id) = track_of_file(file) else {
        return plain(StatusCode::NOT_FOUND, "no such file\n");
    };
    let (track, bytes) = match archive.served_captions(&id, track_id).await {
        Ok(served) => served,
        Err(error) => return failed(error),
    };
    revalidated(&headers, &track.served.sha256, track.update_time, WEBVTT_CONTENT_TYPE, bytes, None)
}

/// A file that may change under its URL (a caption track, a poster): its
/// SHA-256 the ETag, its update time the Last-Modified, revalidated each
/// time (`no-cache`), conditional requests answered (304, 412); with the
/// time of the frame it shows, when it is one.
fn revalidated(
    request: &HeaderMap,
    sha256: &str,
    updated: chrono::DateTime<chrono::Utc>,
    content_type: &str,
    bytes: bytes::Bytes,
    frame_ms: Option<u64>,
) -> Response {
    let Ok(etag) = format!("\"{sha256}\"").parse() else {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "the file's record is damaged\n");
    };
    let validators =
        Validators { etag, last_modified: UNIX_EPOCH + Duration::from_secs(updated.timestamp().max(0) as u64) };
    let mut response = Response::builder().header(header::CACHE_CONTROL, "private, no-cache");
    if let Some(map) = response.headers_mut() {
        map.typed_insert(validators.etag.clone());
        map.typed_insert(LastModified::from(validators.last_modified));
        if let Some(value) = frame_ms.and_then(|ms| frame_time(ms).parse().ok()) {
            map.insert(FRAME_TIME, value);
        }
    }
    let response = match conditions::evaluate(request, &validators) {
        Precondition::Proceed => response
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, content_type)
            .header(header::CONTENT_LENGTH, bytes.len())
            .body(Body::from(bytes)),
        Precondition::NotModified => response.status(StatusCode::NOT_MODIFIED).body(Body::empty()),
        Precondition::Failed => {
            return plain(StatusCode::PRECONDITION_FAILED, "the file does not meet the request's preconditions\n");
        }
    };
    response.unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The response header that says when the frame shown starts (seconds).
pub const FRAME_TIME: &str = "frame-time";

/// `time` (seconds, default 0), `width` and `height` (pixels) of a
/// thumbnail's query, or what is wrong with them.
fn thumbnail_query(query: &str) -> Result<(u64, Option<u32>, Option<u32>), String> {
    let (mut at_ms, mut width, mut height) = (0, None, None);
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        let pixels = || value.parse::<u32>().map_err(|_| format!("{name} must be a whole number of pixels"));
        match name.as_ref() {
            "time" => {
                let seconds: f64 = value.parse().map_err(|_| "time must be a number of seconds".to_owned())?;
                if !(seconds.is_finite() && seconds >= 0.0) {
                    return Err("time must be a number of seconds, 0 or more".into());
                }
                at_ms = (seconds * 1000.0).round() as u64;
            }
            "width" => width = Some(pixels()?),
            "height" => height = Some(pixels()?),
            _ => {}
        }
    }
    Ok((at_ms, width, height))
}

async fn serve_thumbnail(archive: &Archive, media: MediaId, format: Format, query: &str) -> Response {
    let (at_ms, width, height) = match thumbnail_query(query) {
        Ok(asked) => asked,
        Err(why) => return (StatusCode::BAD_REQUEST, format!("{why}\n")).into_response(),
    };
    let request = ThumbnailRequest { media, at_ms, width, height, format };
    let thumbnail = match archive.thumbnail(&request).await {
        Ok(thumbnail) => thumbnail,
        Err(error) => return failed(error),
    };
    let shown = frame_time(thumbnail.shown_ms);
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, format.content_type())
        .header(header::CONTENT_LENGTH, thumbnail.image.len())
        // The same query of the same clip always shows the same frame.
        .header(header::CACHE_CONTROL, "private, max-age=86400")
        .header(FRAME_TIME, shown)
        .body(Body::from(thumbnail.image))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// `ms` as the seconds a `Frame-Time` header carries.
fn frame_time(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

async fn serve_poster(archive: &Archive, media: MediaId, headers: &HeaderMap) -> Response {
    let (poster, bytes) = match archive.poster(&media).await {
        Ok(poster) => poster,
        Err(error) => return failed(error),
    };
    // A poster may be set again under the same URL.
    revalidated(headers, &poster.object.sha256, poster.update_time, &poster.content_type, bytes, poster.time_ms)
}

#[cfg(test)]
mod tests {
    use super::{split, thumbnail_query};

    #[test]
    fn a_thumbnail_query_is_read_or_refused() {
        assert_eq!(thumbnail_query("time=1.04&width=160"), Ok((1040, Some(160), None)));
        assert_eq!(thumbnail_query(""), Ok((0, None, None)));
        for bad in ["time=-1", "time=x", "time=inf", "width=1.5", "height=-3"] {
            assert!(thumbnail_query(bad).is_err(), "{bad}");
        }
    }

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
