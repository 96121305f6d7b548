//! Clips stored and read back: ranges, links, probing, listing, dedup.

use super::*;

async fn real_clip_round_trips_ranged_and_through_its_url(stack: Stack) {
    let server = TestServer::start(stack).await;
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

async fn clip_links_to_the_imported_article(stack: Stack) {
    let server = TestServer::start(stack).await;
    let export = fixture("article-2019-09-30-giao-ban-truc-tuyen.txt");
    let request = pb::ImportArticleRequest {
        request_id: String::new(),
        export_text: export.into(),
        article_id: "giao-ban-2019".into(),
    };
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

async fn empty_clip(stack: Stack) {
    let server = TestServer::start(stack).await;
    let media = server.upload("empty.bin", Vec::new()).await.expect("an empty clip is a clip");
    assert_eq!(media.size_bytes, 0);
    assert_eq!(server.read_all(&media.name, 0, 0).await.unwrap(), Vec::<u8>::new());
    assert_eq!(server.read_all(&media.name, 1, 0).await.unwrap_err().code(), Code::OutOfRange);
}

async fn health_and_reflection_are_served(stack: Stack) {
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
    let server = TestServer::start(stack).await;
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

async fn mp4_clips_are_probed_and_moov_moved_first_for_playback(stack: Stack) {
    let server = TestServer::start(stack).await;
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
    let mut scanner = archive::format::mp4::Scanner::new(64 << 20);
    scanner.feed(&played);
    let layout = scanner.finish().expect("the rendition is an MP4");
    assert!(layout.moov_before_mdat(), "moov first in the rendition");
    let replayed = archive::format::mp4::probe::probe(&layout).unwrap();
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

async fn crc32c_end_to_end(stack: Stack) {
    // Chunks smaller than the clip, so that it comes back in several.
    let server = TestServer::start_with(stack, |settings| settings.media.chunk_size_bytes = 64 * 1024).await;
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

/// ListMedia pages through every clip, newest first; the statistics count
/// clips, the bytes they store (shared bytes once) and open uploads.
async fn clips_are_listed_and_counted(stack: Stack) {
    let server = TestServer::start(stack).await;
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

async fn identical_bytes_are_stored_once(stack: Stack) {
    let server = TestServer::start(stack).await;
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

async fn size_classes_round_trip(stack: Stack) {
    let server = TestServer::start(stack).await;
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

on_both_stacks!(
    real_clip_round_trips_ranged_and_through_its_url,
    clip_links_to_the_imported_article,
    empty_clip,
    health_and_reflection_are_served,
    mp4_clips_are_probed_and_moov_moved_first_for_playback,
    crc32c_end_to_end,
    clips_are_listed_and_counted,
    identical_bytes_are_stored_once,
    size_classes_round_trip,
);
