//! MediaService, GetMedia and the playback URLs over a real server, on
//! both stacks, by concern.

use crate::common;

use archive::proto::v1::{self as pb, upload_media_request::Kind};
use common::{Stack, TEST_PART_SIZE, TestServer, fixture, leftovers_of, pseudo_random_bytes, sha256_hex};
use futures::StreamExt;
use std::time::Duration;
use tonic::Code;

const CLIP: &str = "clip-faststart.mp4";

async fn playback_url(server: &TestServer, name: &str, ttl_seconds: Option<i64>) -> pb::GetPlaybackUrlResponse {
    let ttl = ttl_seconds.map(|seconds| pbjson_types::Duration { seconds, nanos: 0 });
    let request = pb::GetPlaybackUrlRequest { name: name.into(), ttl, ..Default::default() };
    server.media().get_playback_url(request).await.expect("playback url").into_inner()
}

async fn http_get(url: &str, range: Option<&str>) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    http_get_with(url, &range.map(|range| ("Range", range)).into_iter().collect::<Vec<_>>()).await
}

/// A GET with the given request headers: status, response headers and body.
async fn http_get_with(url: &str, headers: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = reqwest::Client::new().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("HTTP answer");
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, headers, response.bytes().await.expect("body").to_vec())
}

/// Sends `messages` as one UploadMedia call.
async fn upload_raw(server: &TestServer, messages: Vec<pb::UploadMediaRequest>) -> Result<pb::Media, tonic::Status> {
    let response = server.media().upload_media(futures::stream::iter(messages)).await?;
    Ok(response.into_inner().media.unwrap())
}

fn header(media_id: &str) -> pb::UploadMediaRequest {
    // Not declared as MP4: these tests send arbitrary bytes.
    let header = pb::UploadHeader {
        filename: "clip.bin".into(),
        content_type: String::new(),
        media_id: media_id.into(),
        ..Default::default()
    };
    pb::UploadMediaRequest { kind: Some(Kind::Header(header)) }
}

fn chunks(data: &[u8]) -> Vec<pb::UploadMediaRequest> {
    data.chunks(1 << 20).map(|c| pb::UploadMediaRequest { kind: Some(Kind::Chunk(c.to_vec().into())) }).collect()
}

fn finish(size: usize, sha256: String) -> pb::UploadMediaRequest {
    pb::UploadMediaRequest {
        kind: Some(Kind::Finish(pb::UploadFinish { size_bytes: size as i64, sha256, crc32c: None })),
    }
}

/// A clip or reference frame of `tests/fixtures/frames`.
fn frames_fixture(name: &str) -> Vec<u8> {
    fixture(&format!("frames/{name}"))
}

/// Peak signal-to-noise ratio of two pictures of one size, in dB.
fn psnr(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let squares: f64 = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum();
    let mse = squares / a.as_raw().len() as f64;
    if mse == 0.0 { f64::INFINITY } else { 10.0 * (255.0f64 * 255.0 / mse).log10() }
}

async fn assert_nothing_stored(server: &TestServer, media_id: &str) {
    let get = server.metadata().get_media(pb::GetMediaRequest { name: format!("media/{media_id}") }).await;
    assert_eq!(get.unwrap_err().code(), Code::NotFound, "no record for {media_id}");
    common::assert_nothing_left(server, media_id).await;
}

mod captions;
mod clips;
mod one_shot;
mod playback;
mod posters;
mod thumbnails;
mod tus;
mod tus_clients;

mod deletion;
mod resumable;
