//! MediaService, GetMedia and the playback URLs over a real server, on both backends.

mod common;

use archive::proto::v1::{self as pb, upload_media_request::Kind};
use common::{Backend, TEST_PART_SIZE, TestServer, fixture, leftovers_of, pseudo_random_bytes, sha256_hex};
use futures::StreamExt;
use std::time::Duration;
use tonic::Code;

const CLIP: &str = "clip-faststart.mp4";

async fn playback_url(server: &TestServer, name: &str, ttl_seconds: Option<i64>) -> pb::GetPlaybackUrlResponse {
    let ttl = ttl_seconds.map(|seconds| prost_types::Duration { seconds, nanos: 0 });
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

async fn real_clip_round_trips_ranged_and_through_its_url(backend: Backend) {
    let server = TestServer::start(backend).await;
    let clip = fixture(CLIP);
    let media = server.upload(CLIP, clip.clone()).await.expect("uploads");
    assert_eq!(media.size_bytes as usize, clip.len());
    assert_eq!(media.sha256, sha256_hex(&clip));
    assert_eq!(media.content_type, "video/mp4");

    let described = server.metadata().get_media(pb::GetMediaRequest { name: media.name.clone() }).await.unwrap();
    assert_eq!(described.into_inner().media.unwrap(), media);

    assert_eq!(server.read_all(&media.name, 0, 0).await.unwrap(), clip, "whole clip");
    assert_eq!(server.read_all(&media.name, 1000, 5000).await.unwrap(), clip[1000..6000]);
    let tail_start = clip.len() as i64 - 10;
    assert_eq!(
        server.read_all(&media.name, tail_start, 1 << 20).await.unwrap(),
        clip[clip.len() - 10..],
        "limit past the end is clamped"
    );
    let past_end = server.read_all(&media.name, clip.len() as i64, 0).await.unwrap_err();
    assert_eq!(past_end.code(), Code::OutOfRange, "{past_end:?}");
    assert_eq!(server.read_all(&media.name, -1, 0).await.unwrap_err().code(), Code::InvalidArgument);

    let url = playback_url(&server, &media.name, Some(600)).await;
    assert_eq!(url.content_type, "video/mp4");
    assert!(url.url.starts_with("http://127.0.0.1:"), "{}", url.url);
    let (status, headers, body) = http_get(&url.url, None).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "video/mp4");
    assert_eq!(body, clip, "played bytes identical");
    let (status, headers, body) = http_get(&url.url, Some("bytes=100-1099")).await;
    assert_eq!(status, 206);
    assert_eq!(headers["content-range"], format!("bytes 100-1099/{}", clip.len()).as_str());
    assert_eq!(body, clip[100..1100]);
    let (status, _, body) = http_get(&url.url, Some(&format!("bytes={}-", clip.len() - 5))).await;
    assert_eq!((status, body.as_slice()), (206, &clip[clip.len() - 5..]));
    let (status, _, _) = http_get(&url.url, Some(&format!("bytes={}-", clip.len() + 10))).await;
    assert_eq!(status, 416, "range past the end");
}

async fn clip_links_to_the_imported_article(backend: Backend) {
    let server = TestServer::start(backend).await;
    let export = fixture("article-2019-09-30-giao-ban-truc-tuyen.txt");
    let request = pb::ImportArticleRequest { export_text: export.into(), article_id: "giao-ban-2019".into() };
    let article = server.articles().import_article(request).await.unwrap().into_inner().article.unwrap();
    let media = server.upload("93019_OHAI1.mp4", fixture(CLIP)).await.unwrap();
    let attach = pb::AttachMediaRequest {
        article: article.name.clone(),
        media: media.name.clone(),
        reference: "93019_OHAI1.mp4".into(),
    };
    let linked = server.media().attach_media(attach).await.expect("attaches").into_inner().article.unwrap();
    assert_eq!(linked.media.len(), 1);
    assert_eq!(
        (linked.media[0].reference.as_str(), linked.media[0].media.as_str()),
        ("93019_OHAI1.mp4", media.name.as_str())
    );
    assert!(linked.media[0].in_body);

    let extra = pb::AttachMediaRequest {
        article: article.name.clone(),
        media: media.name.clone(),
        reference: "extra.mp4".into(),
    };
    let linked = server.media().attach_media(extra).await.unwrap().into_inner().article.unwrap();
    assert_eq!(linked.media.len(), 2);
    assert!(!linked.media[1].in_body);

    let unknown_media =
        pb::AttachMediaRequest { article: article.name.clone(), media: "media/nope".into(), reference: String::new() };
    assert_eq!(server.media().attach_media(unknown_media).await.unwrap_err().code(), Code::NotFound);
    let unknown_article =
        pb::AttachMediaRequest { article: "articles/nope".into(), media: media.name.clone(), reference: String::new() };
    assert_eq!(server.media().attach_media(unknown_article).await.unwrap_err().code(), Code::NotFound);
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

async fn assert_nothing_stored(server: &TestServer, media_id: &str) {
    let get = server.metadata().get_media(pb::GetMediaRequest { name: format!("media/{media_id}") }).await;
    assert_eq!(get.unwrap_err().code(), Code::NotFound, "no record for {media_id}");
    assert_eq!(leftovers_of(server, media_id).await, Vec::<String>::new(), "no bytes left for {media_id}");
}

async fn failed_uploads_leave_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    // Big enough to have started a multipart upload on S3 (two parts).
    let data = pseudo_random_bytes(TEST_PART_SIZE * 2 + 123, 7);
    let sha = sha256_hex(&data);

    let with = |id: &str, tail: Vec<pb::UploadMediaRequest>| [vec![header(id)], chunks(&data), tail].concat();
    let size_mismatch =
        upload_raw(&server, with("size-mismatch", vec![finish(data.len() + 1, sha.clone())])).await.unwrap_err();
    assert_eq!(size_mismatch.code(), Code::InvalidArgument);
    assert!(size_mismatch.message().contains("nothing was stored"), "{}", size_mismatch.message());
    assert_nothing_stored(&server, "size-mismatch").await;

    let sha_mismatch =
        upload_raw(&server, with("sha-mismatch", vec![finish(data.len(), sha256_hex(b"other"))])).await.unwrap_err();
    assert_eq!(sha_mismatch.code(), Code::InvalidArgument);
    assert_nothing_stored(&server, "sha-mismatch").await;

    let unfinished = upload_raw(&server, with("unfinished", vec![])).await.unwrap_err();
    assert_eq!(unfinished.code(), Code::InvalidArgument, "{unfinished:?}");
    assert_nothing_stored(&server, "unfinished").await;

    let bad_sha = upload_raw(&server, with("bad-sha", vec![finish(data.len(), "xyz".into())])).await.unwrap_err();
    assert_eq!(bad_sha.code(), Code::InvalidArgument);
    assert_nothing_stored(&server, "bad-sha").await;

    let no_header = upload_raw(&server, chunks(b"abc")).await.unwrap_err();
    assert_eq!(no_header.code(), Code::InvalidArgument);
    let two_headers = upload_raw(&server, vec![header("two-headers"), header("two-headers")]).await.unwrap_err();
    assert_eq!(two_headers.code(), Code::InvalidArgument);
    assert_nothing_stored(&server, "two-headers").await;
    let no_filename = pb::UploadMediaRequest { kind: Some(Kind::Header(pb::UploadHeader::default())) };
    assert_eq!(upload_raw(&server, vec![no_filename]).await.unwrap_err().code(), Code::InvalidArgument);

    // A good upload with a chosen id, then a retry of it: refused, not duplicated.
    let stored = upload_raw(&server, with("chosen-id", vec![finish(data.len(), sha.clone())])).await.expect("stores");
    assert_eq!(stored.name, "media/chosen-id");
    let retry = upload_raw(&server, with("chosen-id", vec![finish(data.len(), sha)])).await.unwrap_err();
    assert_eq!(retry.code(), Code::AlreadyExists);
}

async fn cancelled_upload_is_discarded(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (sender, receiver) = tokio::sync::mpsc::channel::<pb::UploadMediaRequest>(4);
    let mut client = server.media();
    let call =
        tokio::spawn(async move { client.upload_media(tokio_stream::wrappers::ReceiverStream::new(receiver)).await });
    sender.send(header("cancelled")).await.unwrap();
    for chunk in chunks(&pseudo_random_bytes(TEST_PART_SIZE * 2, 3)) {
        sender.send(chunk).await.unwrap();
    }
    // Let the server take in the parts, then the client goes away mid-stream.
    tokio::time::sleep(Duration::from_millis(500)).await;
    call.abort();
    drop(sender);
    let mut left = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = leftovers_of(&server, "cancelled").await;
        if left.is_empty() {
            break;
        }
    }
    assert_eq!(left, Vec::<String>::new(), "a cancelled upload left bytes behind");
    assert_nothing_stored(&server, "cancelled").await;
}

async fn uploads_beyond_the_configured_limit_are_refused(backend: Backend) {
    let server = TestServer::start_with(backend, |s| s.media.max_concurrent_uploads = 1).await;
    let (sender, receiver) = tokio::sync::mpsc::channel::<pb::UploadMediaRequest>(4);
    let mut client = server.media();
    let first =
        tokio::spawn(async move { client.upload_media(tokio_stream::wrappers::ReceiverStream::new(receiver)).await });
    let data = b"first clip".to_vec();
    sender.send(header("first")).await.unwrap();
    sender.send(chunks(&data).remove(0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = upload_raw(&server, vec![header("second"), finish(0, sha256_hex(b""))]).await.unwrap_err();
    assert_eq!(second.code(), Code::ResourceExhausted, "{second:?}");
    sender.send(finish(data.len(), sha256_hex(&data))).await.unwrap();
    drop(sender);
    first.await.unwrap().expect("the first upload completes");
    assert_nothing_stored(&server, "second").await;
    let third = upload_raw(&server, vec![header("third"), finish(0, sha256_hex(b""))]).await;
    assert!(third.is_ok(), "the slot is free again: {third:?}");
}

/// A one-shot stream has a time limit (its object's key dates from its
/// start, and the sweep of unreferenced objects goes by that date).
async fn one_shot_uploads_have_a_time_limit(backend: Backend) {
    let server = TestServer::start_with(backend, |s| s.media.max_one_shot_upload_seconds = 1).await;
    let data = pseudo_random_bytes(TEST_PART_SIZE + 99, 5);
    let (first, rest) = (chunks(&data[..TEST_PART_SIZE]), chunks(&data[TEST_PART_SIZE..]));
    let late = [rest, vec![finish(data.len(), sha256_hex(&data))]].concat();
    let messages = futures::stream::iter([vec![header("slow")], first].concat()).chain(
        futures::stream::once(tokio::time::sleep(Duration::from_millis(1100)))
            .flat_map(move |()| futures::stream::iter(late.clone())),
    );
    let refused = server.media().upload_media(messages).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains("StartUpload"), "{refused:?}");
    assert_nothing_stored(&server, "slow").await;
    let quick = upload_raw(
        &server,
        [vec![header("quick")], chunks(&data), vec![finish(data.len(), sha256_hex(&data))]].concat(),
    );
    assert_eq!(quick.await.expect("a quick stream is in time").size_bytes as usize, data.len());
}

async fn upload_of_more_than_three_parts(backend: Backend) {
    let server = TestServer::start(backend).await;
    let data = pseudo_random_bytes(TEST_PART_SIZE * 3 + 777_777, 11);
    let media = server.upload("big.bin", data.clone()).await.expect("uploads");
    assert_eq!(media.sha256, sha256_hex(&data));
    let offset = TEST_PART_SIZE as i64 - 10;
    assert_eq!(
        server.read_all(&media.name, offset, 20).await.unwrap(),
        data[offset as usize..offset as usize + 20],
        "across a part boundary"
    );
    assert_eq!(sha256_hex(&server.read_all(&media.name, 0, 0).await.unwrap()), media.sha256);
    if backend == Backend::S3 {
        let (client, bucket) = common::s3_client().await;
        let id = media.name.trim_start_matches("media/");
        let (objects, _) = common::s3_leftovers(&format!("media/{id}/original")).await;
        assert_eq!(objects.len(), 1, "{objects:?}");
        let head = client.head_object().bucket(bucket).key(&objects[0]).part_number(4).send().await.unwrap();
        assert_eq!(head.parts_count(), Some(4), "stored as a 4-part multipart object");
    }
}

async fn empty_clip(backend: Backend) {
    let server = TestServer::start(backend).await;
    let media = server.upload("empty.bin", Vec::new()).await.expect("an empty clip is a clip");
    assert_eq!(media.size_bytes, 0);
    assert_eq!(server.read_all(&media.name, 0, 0).await.unwrap(), Vec::<u8>::new());
    assert_eq!(server.read_all(&media.name, 1, 0).await.unwrap_err().code(), Code::OutOfRange);
}

async fn playback_urls_expire_and_resist_tampering(backend: Backend) {
    let server = TestServer::start(backend).await;
    let media = server.upload(CLIP, fixture(CLIP)).await.unwrap();
    // Long enough to stay valid across a second boundary on a loaded machine.
    let short = playback_url(&server, &media.name, Some(3)).await;
    let expire = short.expire_time.unwrap().seconds;
    assert!(expire > chrono::Utc::now().timestamp() - 2);
    let (status, _, _) = http_get(&short.url, Some("bytes=0-9")).await;
    assert_eq!(status, 206, "valid before expiry");
    tokio::time::sleep(Duration::from_millis(4100)).await;
    let (status, _, _) = http_get(&short.url, Some("bytes=0-9")).await;
    assert_eq!(status, 403, "expired URL refused");

    let url = playback_url(&server, &media.name, None).await.url;
    let tampered = if backend == Backend::Fs {
        // Flip the last character of the signature.
        let last = url.chars().last().unwrap();
        format!("{}{}", &url[..url.len() - 1], if last == 'A' { 'B' } else { 'A' })
    } else {
        url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    };
    assert_eq!(http_get(&tampered, None).await.0, 403, "tampered signature refused");
    if backend == Backend::Fs {
        let other_media = url.replace(&media.name.replace("media/", ""), "someone-else");
        assert_eq!(http_get(&other_media, None).await.0, 403, "signature bound to the path");
        let unsigned = url.split('?').next().unwrap().to_owned();
        assert_eq!(http_get(&unsigned, None).await.0, 403);
    }

    let unknown = server
        .media()
        .get_playback_url(pb::GetPlaybackUrlRequest { name: "media/nope".into(), ..Default::default() })
        .await;
    assert_eq!(unknown.unwrap_err().code(), Code::NotFound);
    let too_long = pb::GetPlaybackUrlRequest {
        disposition: pb::Disposition::Unspecified.into(),
        name: media.name.clone(),
        ttl: Some(prost_types::Duration { seconds: 8 * 24 * 3600, nanos: 0 }),
    };
    assert_eq!(server.media().get_playback_url(too_long).await.unwrap_err().code(), Code::InvalidArgument);
}

async fn health_and_reflection_are_served(backend: Backend) {
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
    let server = TestServer::start(backend).await;
    let mut health = HealthClient::new(server.channel.clone());
    for service in ["archive.v1.ArticleService", "archive.v1.MetadataService", "archive.v1.MediaService"] {
        let answer = health.check(HealthCheckRequest { service: service.into() }).await.expect("health answers");
        assert_eq!(answer.into_inner().status(), ServingStatus::Serving, "{service}");
    }
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut reflection = ServerReflectionClient::new(server.channel.clone());
    let mut answers = reflection.server_reflection_info(futures::stream::iter([request])).await.unwrap().into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) = answers.message().await.unwrap().unwrap().message_response
    else {
        panic!("no service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for service in
        ["archive.v1.ArticleService", "archive.v1.MetadataService", "archive.v1.MediaService", "grpc.health.v1.Health"]
    {
        assert!(names.iter().any(|n| n == service), "{service} missing from {names:?}");
    }
}

async fn mp4_clips_are_probed_and_moov_moved_first_for_playback(backend: Backend) {
    let server = TestServer::start(backend).await;
    let faststart = server.upload(CLIP, fixture(CLIP)).await.expect("uploads");
    let info = faststart.mp4.clone().expect("probed");
    assert_eq!((info.video_codec.as_str(), info.audio_codec.as_str()), ("avc1.4D401E", "mp4a.40.2"));
    assert_eq!((info.width, info.height), (320, 240));
    let duration = info.duration.unwrap();
    assert!((8..=9).contains(&duration.seconds), "{duration:?}");
    assert!(info.faststart && info.bitrate_bps > 500_000);
    assert_eq!(faststart.playback_rendition, None, "moov already first: played as is");

    let original = fixture("clip-moov-at-end.mp4");
    let media = server.upload("93019_OHAI1.mp4", original.clone()).await.expect("uploads");
    let info = media.mp4.clone().expect("probed");
    assert!(!info.faststart);
    let rendition = media.playback_rendition.clone().expect("a faststart rendition");
    assert_eq!(rendition.kind, "faststart");
    assert_eq!(media.sha256, sha256_hex(&original), "the original stays byte-exact");
    assert_eq!(server.read_all(&media.name, 0, 0).await.unwrap(), original, "ReadMedia serves the original");

    let url = playback_url(&server, &media.name, Some(600)).await.url;
    let (status, _, played) = http_get(&url, None).await;
    assert_eq!(status, 200);
    assert_eq!(played.len() as i64, rendition.size_bytes);
    assert_eq!(sha256_hex(&played), rendition.sha256, "playback serves the rendition");
    let mut scanner = archive::mp4::Scanner::new(64 << 20);
    scanner.feed(&played);
    let layout = scanner.finish().expect("the rendition is an MP4");
    assert!(layout.moov_before_mdat(), "moov first in the rendition");
    let replayed = archive::mp4::probe::probe(&layout).unwrap();
    let duration = info.duration.unwrap();
    let original_ms = duration.seconds as u64 * 1000 + duration.nanos as u64 / 1_000_000;
    assert_eq!(
        (replayed.duration_ms, replayed.width, replayed.video_codec.as_str()),
        (original_ms, 320, "avc1.4D401E")
    );
    let (status, headers, _) = http_get(&url, Some("bytes=0-99")).await;
    assert_eq!(status, 206);
    assert_eq!(headers["content-range"], format!("bytes 0-99/{}", rendition.size_bytes).as_str());
}

async fn uploads_declared_mp4_must_be_mp4(backend: Backend) {
    let server = TestServer::start(backend).await;
    let declared = |media_id: &str| {
        let header = pb::UploadHeader {
            filename: "fake.mp4".into(),
            content_type: "video/mp4".into(),
            media_id: media_id.into(),
            ..Default::default()
        };
        pb::UploadMediaRequest { kind: Some(Kind::Header(header)) }
    };
    let garbage = pseudo_random_bytes(300_000, 9);
    let refused = upload_raw(
        &server,
        [vec![declared("garbage")], chunks(&garbage), vec![finish(garbage.len(), sha256_hex(&garbage))]].concat(),
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("nothing was stored"), "{}", refused.message());
    assert_nothing_stored(&server, "garbage").await;

    let truncated = fixture(CLIP)[..400_000].to_vec();
    let refused = upload_raw(
        &server,
        [vec![declared("truncated")], chunks(&truncated), vec![finish(truncated.len(), sha256_hex(&truncated))]]
            .concat(),
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert_nothing_stored(&server, "truncated").await;
}

async fn crc32c_end_to_end(backend: Backend) {
    // Chunks smaller than the clip, so that it comes back in several.
    let server = TestServer::start_with(backend, |settings| settings.media.chunk_size_bytes = 64 * 1024).await;
    let clip = fixture(CLIP);
    let media = server.upload(CLIP, clip.clone()).await.unwrap();
    assert_eq!(media.crc32c, crc32c::crc32c(&clip));
    let request = pb::ReadMediaRequest { name: media.name.clone(), offset: 5, limit: 0 };
    let mut stream = server.media().read_media(request).await.unwrap().into_inner();
    let (mut chunks_seen, mut next) = (0, 5);
    while let Some(chunk) = stream.message().await.unwrap() {
        assert_eq!(chunk.crc32c, crc32c::crc32c(&chunk.data), "chunk at {}", chunk.offset);
        assert!(chunk.data.len() <= 64 * 1024);
        assert_eq!(chunk.offset as usize, next, "chunks follow each other");
        next += chunk.data.len();
        chunks_seen += 1;
    }
    assert_eq!(next, clip.len());
    assert!(chunks_seen >= (clip.len() - 5).div_ceil(64 * 1024));

    let data = b"du lieu".to_vec();
    let wrong = pb::UploadMediaRequest {
        kind: Some(Kind::Finish(pb::UploadFinish {
            size_bytes: data.len() as i64,
            sha256: sha256_hex(&data),
            crc32c: Some(crc32c::crc32c(&data) ^ 1),
        })),
    };
    let refused =
        upload_raw(&server, [vec![header("bad-crc")], chunks(&data), vec![wrong]].concat()).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_nothing_stored(&server, "bad-crc").await;
}

async fn playback_urls_can_download_and_share_cross_origin(backend: Backend) {
    let server = TestServer::start(backend).await;
    let media = server.upload("Thái Bình.mp4", fixture(CLIP)).await.unwrap();
    let request = pb::GetPlaybackUrlRequest {
        name: media.name.clone(),
        ttl: None,
        disposition: pb::Disposition::Attachment.into(),
    };
    let url = server.media().get_playback_url(request).await.unwrap().into_inner().url;
    let (status, headers, _) = http_get(&url, Some("bytes=0-9")).await;
    assert_eq!(status, 206);
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(disposition.contains("filename*=UTF-8''Th%C3%A1i%20B%C3%ACnh%2Emp4"), "{disposition}");
    if backend == Backend::Fs {
        let client = reqwest::Client::new();
        let answer = client
            .get(&url)
            .header("Origin", "https://news.example")
            .header("Range", "bytes=0-0")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.headers()["access-control-allow-origin"], "*");
        assert!(answer.headers()["access-control-expose-headers"].to_str().unwrap().contains("Content-Range"));
        let preflight = client
            .request(reqwest::Method::OPTIONS, &url)
            .header("Origin", "https://news.example")
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "range")
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status().as_u16(), 204);
        let allowed = preflight.headers()["access-control-allow-headers"].to_str().unwrap();
        for needed in ["Range", "If-Range", "If-None-Match"] {
            assert!(allowed.split(", ").any(|h| h == needed), "{needed} not in {allowed}");
        }
        let inline = url.replace("&disposition=attachment", "");
        assert_eq!(http_get(&inline, None).await.0, 403, "the disposition is part of the signature");
    }
}

/// Browsers and caches revalidate what they hold with the validators the URL
/// served (RFC 9110 §13): If-None-Match and If-Modified-Since answer 304
/// without a body, If-Range sends the range only while the ETag still
/// matches, a failed If-Match is 412. On S3 the store answers them itself.
async fn playback_urls_answer_conditional_requests(backend: Backend) {
    let server = TestServer::start(backend).await;
    let clip = fixture(CLIP);
    let media = server.upload(CLIP, clip.clone()).await.unwrap();
    let url = playback_url(&server, &media.name, None).await.url;
    let (status, headers, body) = http_get(&url, None).await;
    assert_eq!((status, body.len()), (200, clip.len()));
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let last_modified = headers["last-modified"].to_str().unwrap().to_owned();
    let other = "\"0123456789abcdef\"";
    let long_ago = "Mon, 01 Jan 2001 00:00:00 GMT";

    let (status, headers, body) = http_get_with(&url, &[("If-None-Match", &etag)]).await;
    assert_eq!((status, body.len()), (304, 0), "If-None-Match with the current ETag");
    assert_eq!(headers["etag"].to_str().unwrap(), etag, "a 304 repeats the validators");
    if backend == Backend::Fs {
        // The gateway repeats both validators; SeaweedFS only the ETag (as
        // RFC 9110 requires); a presigned URL is signed for GET alone.
        assert_eq!(headers["last-modified"].to_str().unwrap(), last_modified);
        let head = reqwest::Client::new().head(&url).header("If-None-Match", &etag).send().await.unwrap();
        assert_eq!(head.status().as_u16(), 304, "HEAD is conditional too");
    }
    assert_eq!(http_get_with(&url, &[("If-None-Match", "*")]).await.0, 304);
    let (status, _, body) = http_get_with(&url, &[("If-None-Match", other)]).await;
    assert_eq!((status, body.as_slice()), (200, clip.as_slice()), "another ETag gets the clip");

    assert_eq!(http_get_with(&url, &[("If-Modified-Since", &last_modified)]).await.0, 304);
    assert_eq!(http_get_with(&url, &[("If-Modified-Since", long_ago)]).await.0, 200);
    let both = [("If-None-Match", other), ("If-Modified-Since", last_modified.as_str())];
    assert_eq!(http_get_with(&url, &both).await.0, 200, "If-None-Match takes precedence over If-Modified-Since");

    let (status, _, body) = http_get_with(&url, &[("Range", "bytes=10-19"), ("If-Range", &etag)]).await;
    assert_eq!((status, body.as_slice()), (206, &clip[10..20]), "If-Range with the current ETag");
    if backend == Backend::Fs {
        // S3 stores (SeaweedFS, as AWS) ignore If-Range and send the range.
        let (status, _, body) = http_get_with(&url, &[("Range", "bytes=10-19"), ("If-Range", other)]).await;
        assert_eq!((status, body.len()), (200, clip.len()), "If-Range with another ETag gets the whole clip");
    }

    let (status, _, body) = http_get_with(&url, &[("If-Match", &etag)]).await;
    assert_eq!((status, body.len()), (200, clip.len()));
    assert_eq!(http_get_with(&url, &[("If-Match", other)]).await.0, 412);
    if backend == Backend::Fs {
        // RFC 9110 §13.2.1 (SeaweedFS answers 304 here).
        let unsatisfiable = format!("bytes={}-", clip.len() + 10);
        let status = http_get_with(&url, &[("Range", &unsatisfiable), ("If-None-Match", &etag)]).await.0;
        assert_eq!(status, 416, "a request that would be 416 ignores its preconditions");
        let (status, _, body) = http_get_with(&url, &[("Range", &unsatisfiable), ("If-Range", other)]).await;
        assert_eq!((status, body.len()), (200, clip.len()), "a stale If-Range drops even an unsatisfiable range");
    }
    assert_eq!(http_get_with(&url, &[("If-Unmodified-Since", long_ago)]).await.0, 412);
}

/// ListMedia pages through every clip, newest first; the statistics count
/// clips, the bytes they store (shared bytes once) and open uploads.
async fn clips_are_listed_and_counted(backend: Backend) {
    let server = TestServer::start(backend).await;
    let datas: Vec<Vec<u8>> = (0..3).map(|i| pseudo_random_bytes(1000 + i * 10, i as u64)).collect();
    let mut uploaded = Vec::new();
    for (i, data) in datas.iter().enumerate() {
        uploaded.push(server.upload(&format!("clip-{i}.bin"), data.clone()).await.unwrap());
    }
    let copy = server.upload("ban-sao.bin", datas[0].clone()).await.unwrap();
    uploaded.push(copy);
    let header = pb::UploadHeader { filename: "dang-tai.bin".into(), ..Default::default() };
    server.media().start_upload(pb::StartUploadRequest { header: Some(header) }).await.unwrap();

    let list = |page_token: String| {
        let mut metadata = server.metadata();
        async move { metadata.list_media(pb::ListMediaRequest { page_size: 3, page_token }).await }
    };
    let first = list(String::new()).await.unwrap().into_inner();
    assert!(!first.next_page_token.is_empty());
    let second = list(first.next_page_token.clone()).await.unwrap().into_inner();
    assert!(second.next_page_token.is_empty(), "two pages");
    let listed: Vec<pb::Media> = first.media.into_iter().chain(second.media).collect();
    uploaded.reverse();
    assert_eq!(listed, uploaded, "every clip, newest first, as GetMedia shows it");
    let bad = list("not-a-token".into()).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");

    let counts = server.metadata().get_archive_statistics(pb::GetArchiveStatisticsRequest {}).await.unwrap();
    let counts = counts.into_inner();
    let stored: usize = datas.iter().map(Vec::len).sum();
    assert_eq!(
        (counts.media_count, counts.media_stored_bytes, counts.open_upload_count, counts.article_count),
        (4, stored as i64, 1, 0)
    );
}

async fn identical_bytes_are_stored_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let clip = fixture("clip-moov-at-end.mp4");
    let first = server.upload_with_id("a.mp4", "first", clip.clone()).await.unwrap();
    // Declared up front: answered from what is stored, no chunk sent.
    let declared = pb::UploadHeader {
        filename: "b.mp4".into(),
        media_id: "declared".into(),
        sha256: sha256_hex(&clip),
        size_bytes: clip.len() as i64,
        ..Default::default()
    };
    let shared = upload_raw(&server, vec![pb::UploadMediaRequest { kind: Some(Kind::Header(declared)) }])
        .await
        .expect("answered before any bytes");
    assert_eq!((shared.name.as_str(), shared.filename.as_str()), ("media/declared", "b.mp4"));
    assert_eq!((shared.sha256.as_str(), shared.size_bytes), (first.sha256.as_str(), first.size_bytes));
    assert_eq!(shared.playback_rendition, first.playback_rendition);
    // Sent in full: stored once all the same.
    let again = server.upload_with_id("c.mp4", "again", clip.clone()).await.unwrap();
    assert_eq!(again.sha256, first.sha256);
    for name in [&shared.name, &again.name] {
        assert_eq!(server.read_all(name, 0, 0).await.unwrap(), clip, "{name} reads the shared bytes");
        let id = name.trim_start_matches("media/");
        let own: Vec<String> =
            leftovers_of(&server, id).await.into_iter().filter(|k| !k.ends_with("manifest.json")).collect();
        assert_eq!(own, Vec::<String>::new(), "{name} stores no bytes of its own");
    }
    let unknown = pb::UploadHeader {
        filename: "d.bin".into(),
        sha256: sha256_hex(b"never stored"),
        size_bytes: 12,
        ..Default::default()
    };
    let data = b"never stored".to_vec();
    let messages = [
        vec![pb::UploadMediaRequest { kind: Some(Kind::Header(unknown)) }],
        chunks(&data),
        vec![finish(data.len(), sha256_hex(&data))],
    ]
    .concat();
    let stored = upload_raw(&server, messages).await.expect("unknown bytes are uploaded as usual");
    assert_eq!(stored.size_bytes, 12);
}

async fn size_classes_round_trip(backend: Backend) {
    let server = TestServer::start(backend).await;
    const MIB: usize = 1024 * 1024;
    for (seed, size) in [0, 1, 5 * MIB - 1, 5 * MIB, 5 * MIB + 1, 65 * MIB].into_iter().enumerate() {
        let data = pseudo_random_bytes(size, 100 + seed as u64);
        let media =
            server.upload(&format!("size-{size}.bin"), data.clone()).await.unwrap_or_else(|e| panic!("{size}: {e}"));
        assert_eq!((media.size_bytes as usize, media.sha256.as_str()), (size, sha256_hex(&data).as_str()));
        // The CRC32C is combined from the parts' own.
        assert_eq!(media.crc32c, crc32c::crc32c(&data), "size {size}");
        let back = server.read_all(&media.name, 0, 0).await.unwrap();
        assert_eq!(sha256_hex(&back), media.sha256, "size {size}");
    }
}

/// Every URL that differs from a signed one by one bit in its path, expiry,
/// key id or signature is refused with 403. Gateway URLs are what the file
/// system backend hands out (S3 signs its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_one_bit_change_of_a_gateway_url_is_refused() {
    let server = TestServer::start(Backend::Fs).await;
    let media = server.upload(CLIP, fixture(CLIP)).await.unwrap();
    let url = playback_url(&server, &media.name, Some(600)).await.url;
    let (base, query) = url.split_once('?').unwrap();
    let (origin, path) = base.split_at(base.find("/media/").unwrap());
    let params: Vec<(String, String)> =
        query.split('&').map(|p| p.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).unwrap()).collect();
    let encode = |bytes: &[u8]| percent_encoding::percent_encode(bytes, percent_encoding::NON_ALPHANUMERIC).to_string();
    let client = reqwest::Client::new();
    let mut checked = 0;
    let mut parts: Vec<(usize, Vec<u8>)> = vec![(usize::MAX, path.trim_start_matches("/media/").as_bytes().to_vec())];
    parts.extend(params.iter().enumerate().map(|(i, (_, v))| (i, v.as_bytes().to_vec())));
    for (part, value) in &parts {
        for byte in 0..value.len() {
            for bit in 0..8 {
                let mut flipped = value.clone();
                flipped[byte] ^= 1 << bit;
                let (path, query) = if *part == usize::MAX {
                    (format!("/media/{}", encode(&flipped)), query.to_owned())
                } else {
                    let query = params
                        .iter()
                        .enumerate()
                        .map(
                            |(i, (k, v))| {
                                if i == *part { format!("{k}={}", encode(&flipped)) } else { format!("{k}={v}") }
                            },
                        )
                        .collect::<Vec<_>>()
                        .join("&");
                    (path.to_owned(), query)
                };
                let status = client.get(format!("{origin}{path}?{query}")).send().await.unwrap().status().as_u16();
                assert_eq!(status, 403, "part {part} byte {byte} bit {bit}: {path}?{query}");
                checked += 1;
            }
        }
    }
    assert!(checked > 700, "{checked} mutations checked");
    assert_eq!(http_get(&url, Some("bytes=0-0")).await.0, 206, "the unmodified URL still works");
}

on_both_backends!(
    identical_bytes_are_stored_once,
    size_classes_round_trip,
    mp4_clips_are_probed_and_moov_moved_first_for_playback,
    uploads_declared_mp4_must_be_mp4,
    crc32c_end_to_end,
    playback_urls_can_download_and_share_cross_origin,
    playback_urls_answer_conditional_requests,
    real_clip_round_trips_ranged_and_through_its_url,
    clip_links_to_the_imported_article,
    failed_uploads_leave_nothing,
    cancelled_upload_is_discarded,
    uploads_beyond_the_configured_limit_are_refused,
    one_shot_uploads_have_a_time_limit,
    clips_are_listed_and_counted,
    upload_of_more_than_three_parts,
    empty_clip,
    playback_urls_expire_and_resist_tampering,
    health_and_reflection_are_served,
);
