//! Thumbnails (issue 30) through the playback answer's URL on both stacks:
//! the frame FFmpeg shows at a time (PSNR ≥ 30 dB against its reference),
//! the time it starts in a header, any size with the aspect kept, upright
//! for a rotated track, made once and then served as stored; the
//! storyboard's cues tile the clip and each tile matches its frame; a clip
//! that is not H.264 is refused with its codec named; a deleted clip takes
//! its pictures with it.

use super::*;
use archive::{blob::BlobKey, domain::manifest::MediaManifest, ids::MediaId};
use futures::TryStreamExt;

async fn thumbnail_url(server: &TestServer, media: &pb::Media) -> String {
    let url = playback_url(server, &media.name, None).await.thumbnail_url;
    assert!(url.ends_with("/thumbnail.jpg"), "{url}");
    url
}

async fn upload(server: &TestServer, name: &str) -> pb::Media {
    server.upload(name, frames_fixture(name)).await.unwrap_or_else(|e| panic!("{name} uploads: {e:?}"))
}

async fn thumbnails_show_the_frame_at_a_time(stack: Stack) {
    let server = TestServer::start(stack).await;
    let media = upload(&server, "counter.mp4").await;
    let media_id = media.name.trim_start_matches("media/").to_owned();
    let base = thumbnail_url(&server, &media).await;
    for (time, shown, reference) in [("1.04", "1.040", "counter-1040.png"), ("2.999", "2.960", "counter-2999.png")] {
        let (status, headers, body) = http_get(&format!("{base}?time={time}"), None).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert_eq!(headers["content-type"], "image/jpeg");
        assert_eq!(headers["frame-time"], shown, "the frame shown starts then");
        let got = image::load_from_memory(&body).unwrap().to_rgb8();
        let expected = image::load_from_memory(&frames_fixture(reference)).unwrap().to_rgb8();
        let quality = psnr(&got, &expected);
        assert!(quality >= 30.0, "{time} s: {quality:.1} dB");
    }
    // Stored once made, and served from there.
    let thumbnails = |left: Vec<String>| left.into_iter().filter(|key| key.contains("/pictures/")).collect::<Vec<_>>();
    assert_eq!(thumbnails(leftovers_of(&server, &media_id).await).len(), 2);
    let (_, _, first) = http_get(&format!("{base}?time=1.04"), None).await;
    let (_, _, again) = http_get(&format!("{base}?time=1.05"), None).await;
    assert_eq!(first, again, "the same frame, from the same object");
    assert_eq!(thumbnails(leftovers_of(&server, &media_id).await).len(), 2);
    // Any size, the aspect kept.
    let (status, _, small) = http_get(&format!("{base}?time=1&width=160"), None).await;
    assert_eq!(status, 200);
    assert_eq!(image::load_from_memory(&small).unwrap().to_rgb8().dimensions(), (160, 90));
    let (_, _, boxed) = http_get(&format!("{base}?time=1&width=100&height=100"), None).await;
    assert_eq!(image::load_from_memory(&boxed).unwrap().to_rgb8().dimensions(), (100, 56));
    for bad in ["time=-1", "time=soon", "width=0", "width=5000"] {
        let (status, _, body) = http_get(&format!("{base}?{bad}"), None).await;
        assert_eq!(status, 400, "{bad}: {}", String::from_utf8_lossy(&body));
    }
    let forged = base.replace(&format!("/media/{media_id}/"), "/media/someone-else/");
    assert_eq!(http_get(&forged, None).await.0, 403);

    // A rotated track comes out upright.
    let portrait = upload(&server, "portrait.mp4").await;
    let (status, _, body) = http_get(&format!("{}?time=1", thumbnail_url(&server, &portrait).await), None).await;
    assert_eq!(status, 200);
    let got = image::load_from_memory(&body).unwrap().to_rgb8();
    let expected = image::load_from_memory(&frames_fixture("portrait-1000.png")).unwrap().to_rgb8();
    assert!(psnr(&got, &expected) >= 30.0, "upright: {:.1} dB", psnr(&got, &expected));

    // HEVC is stored, and refused a picture with its codec named.
    let hevc = upload(&server, "hevc.mp4").await;
    let (status, _, body) = http_get(&format!("{}?time=0", thumbnail_url(&server, &hevc).await), None).await;
    let message = String::from_utf8_lossy(&body);
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("hvc1") && message.contains("H.264"), "{message}");

    // The storyboard: cues from 0 to the end without gaps, each naming a
    // tile of the sprite, which resolves beside the WebVTT (same token).
    let playback = playback_url(&server, &media.name, None).await;
    let (status, headers, body) = http_get(&playback.storyboard_url, None).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["content-type"], "text/vtt; charset=utf-8");
    let vtt = String::from_utf8(body).unwrap();
    let cues: Vec<(String, String, String)> = vtt
        .split("\n\n")
        .filter_map(|block| {
            let (timing, target) = block.split_once('\n')?;
            let (start, end) = timing.split_once(" --> ")?;
            Some((start.to_owned(), end.to_owned(), target.to_owned()))
        })
        .collect();
    let duration = media.mp4.as_ref().unwrap().duration.unwrap();
    let end = format!("00:00:{:02}.{:03}", duration.seconds, duration.nanos / 1_000_000);
    assert_eq!(cues.first().map(|c| c.0.as_str()), Some("00:00:00.000"), "{vtt}");
    assert_eq!(cues.last().map(|c| c.1.clone()), Some(end), "{vtt}");
    assert!(cues.windows(2).all(|pair| pair[0].1 == pair[1].0), "no gaps: {vtt}");
    assert_eq!(cues[1].2, "storyboard.jpg#xywh=160,0,160,90", "{vtt}");
    let sprite_url = reqwest::Url::parse(&playback.storyboard_url).unwrap().join("storyboard.jpg").unwrap();
    let (status, headers, body) = http_get(sprite_url.as_str(), None).await;
    assert_eq!((status, headers["content-type"].to_str().unwrap()), (200, "image/jpeg"));
    let sprite = image::load_from_memory(&body).unwrap().to_rgb8();
    assert_eq!(sprite.dimensions(), (160 * cues.len() as u32, 90));
    for (tile, reference) in [(0, "counter-0.png"), (1, "counter-1000.png")] {
        let got = image::imageops::crop_imm(&sprite, tile * 160, 0, 160, 90).to_image();
        let expected = image::load_from_memory(&frames_fixture(reference)).unwrap().to_rgb8();
        let expected = image::imageops::resize(&expected, 160, 90, image::imageops::FilterType::Triangle);
        let quality = psnr(&got, &expected);
        assert!(quality >= 30.0, "tile {tile}: {quality:.1} dB");
    }

    // A deleted clip takes its thumbnails and storyboard with it.
    let delete = pb::DeleteMediaRequest { name: media.name.clone(), force: false };
    server.media().delete_media(delete).await.unwrap();
    common::assert_nothing_left(&server, &media_id).await;
}

/// An RGB picture from WebP bytes.
fn decode_webp(bytes: &[u8]) -> image::RgbImage {
    let decoded = webp::Decoder::new(bytes).decode().expect("a WebP picture");
    assert!(!decoded.is_alpha(), "a frame has no alpha");
    image::RgbImage::from_raw(decoded.width(), decoded.height(), decoded.to_vec()).expect("RGB bytes")
}

/// The objects stored under a clip's prefix, as the server's own store
/// lists them (its bucket may be one of its own).
async fn objects_of(server: &TestServer, media: &MediaId) -> Vec<String> {
    let listed: Vec<BlobKey> = server.archive.blobs().list(&format!("media/{media}/")).try_collect().await.unwrap();
    let mut keys: Vec<String> = listed.iter().map(|key| key.to_string()).collect();
    keys.sort();
    keys
}

/// The problems a fixity audit of the whole archive reports.
async fn fixity_problems(server: &TestServer) -> Vec<pb::FixityProblem> {
    let request = pb::AuditFixityRequest::default();
    let mut events = server.metadata().audit_fixity(request).await.expect("audit starts").into_inner();
    let mut problems = Vec::new();
    while let Some(event) = events.message().await.expect("audit runs") {
        if let Some(pb::audit_fixity_response::Result::Problem(problem)) = event.result {
            problems.push(problem);
        }
    }
    problems
}

/// Thumbnails as WebP (over the gateway and GetThumbnail), and every
/// picture made from a clip archived like its other files: recorded,
/// named by its manifest, audited, restored by a rebuild from the bucket
/// (served from there, not made again), deleted with the clip.
async fn pictures_are_archived_like_the_clip(stack: Stack) {
    // The rebuild reads the whole bucket: this test's objects only.
    let server = TestServer::start_isolated(stack, |_| {}).await;
    let media = upload(&server, "counter.mp4").await;
    let media_id = MediaId::from_name(&media.name).unwrap();
    let jpeg_url = thumbnail_url(&server, &media).await;
    let webp_url = jpeg_url.replace("/thumbnail.jpg", "/thumbnail.webp");
    let (_, _, jpeg) = http_get(&format!("{jpeg_url}?time=1.04"), None).await;
    let (status, headers, webp) = http_get(&format!("{webp_url}?time=1.04"), None).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&webp));
    assert_eq!(
        (headers["content-type"].to_str().unwrap(), headers["frame-time"].to_str().unwrap()),
        ("image/webp", "1.040")
    );
    let expected = image::load_from_memory(&frames_fixture("counter-1040.png")).unwrap().to_rgb8();
    let quality = psnr(&decode_webp(&webp), &expected);
    assert!(quality >= 30.0, "WebP: {quality:.1} dB");
    assert!(webp.len() < jpeg.len(), "WebP {} bytes, JPEG {}", webp.len(), jpeg.len());
    let playback = playback_url(&server, &media.name, None).await;
    assert_eq!(http_get(&playback.storyboard_url, None).await.0, 200);

    // Four viewers asking a new thumbnail at once: the same picture for all,
    // kept once (the others' objects discarded by their makers).
    let asked = format!("{jpeg_url}?time=2&width=160");
    let answers = futures::future::join_all((0..4).map(|_| http_get(&asked, None))).await;
    assert!(answers.iter().all(|(status, _, body)| *status == 200 && *body == answers[0].2), "the same picture");
    let prefix = format!("media/{media_id}/pictures/");
    let mut objects = 0;
    for _ in 0..50 {
        let listed: Vec<BlobKey> = server.archive.blobs().list(&prefix).try_collect().await.unwrap();
        objects = listed.len();
        if objects == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(objects, 5, "two thumbnails, the storyboard's two files and this one, once");

    // The same thumbnail through GetThumbnail, from the stored picture; a
    // format that is none is refused.
    let asked = |format: i32| pb::GetThumbnailRequest {
        media: media.name.clone(),
        time: Some(pbjson_types::Duration { seconds: 1, nanos: 40_000_000 }),
        format,
        ..Default::default()
    };
    let answer = server.media().get_thumbnail(asked(pb::ImageFormat::Webp as i32)).await.unwrap().into_inner();
    assert_eq!((answer.content_type.as_str(), answer.image.as_ref()), ("image/webp", webp.as_slice()));
    let refused = server.media().get_thumbnail(asked(9)).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("ImageFormat"), "{}", refused.message());

    // Recorded, and named by the clip's manifest.
    let metadata = server.archive.metadata();
    let pictures = metadata.pictures(&media_id).await.unwrap();
    let names: Vec<&str> = pictures.iter().map(|picture| picture.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "storyboard.jpg",
            "storyboard.vtt",
            "thumbnails/1040-320x180.jpg",
            "thumbnails/1040-320x180.webp",
            "thumbnails/2000-160x90.jpg"
        ]
    );
    let blobs = server.archive.blobs();
    let manifest_key = BlobKey::media_manifest(&media_id);
    let manifest = blobs.get_bytes(&manifest_key, blobs.head(&manifest_key).await.unwrap().unwrap()).await.unwrap();
    let manifest: MediaManifest = serde_json::from_slice(&manifest).unwrap();
    let named: Vec<_> = manifest.pictures().unwrap().into_iter().map(Result::unwrap).collect();
    assert_eq!(named, pictures, "the manifest names every picture");

    // Audited: a flipped byte in a thumbnail is reported as the clip's.
    assert!(fixity_problems(&server).await.is_empty());
    let thumbnail = &pictures[2].object;
    let mut damaged = blobs.get_bytes(&thumbnail.key, thumbnail.size_bytes).await.unwrap().to_vec();
    damaged[100] ^= 0x01;
    blobs.put(&thumbnail.key, damaged.clone().into(), "image/jpeg").await.unwrap();
    let (_, _, served) = http_get(&format!("{jpeg_url}?time=1.04"), None).await;
    assert_eq!(served, damaged, "a kept thumbnail is served from its object");
    let problems = fixity_problems(&server).await;
    let [problem] = problems.as_slice() else { panic!("one problem: {problems:?}") };
    assert_eq!(
        (problem.object_kind(), problem.problem()),
        (pb::StoredObjectKind::Picture, pb::FixityProblemKind::Mismatched)
    );
    assert_eq!((problem.owner.as_str(), problem.object_key.as_str()), (media.name.as_str(), thumbnail.key.as_str()));
    blobs.put(&thumbnail.key, jpeg.clone().into(), "image/jpeg").await.unwrap();

    // A kept picture whose object is lost is made again under a new record.
    let lost = pictures[3].object.clone();
    blobs.delete(&lost.key).await.unwrap();
    let (status, _, again) = http_get(&format!("{webp_url}?time=1.04"), None).await;
    assert_eq!((status, again.as_slice()), (200, webp.as_slice()));
    let pictures = metadata.pictures(&media_id).await.unwrap();
    assert_ne!(pictures[3].object.key, lost.key, "a new object, recorded");
    assert_eq!(pictures[3].object.sha256, lost.sha256);
    assert!(fixity_problems(&server).await.is_empty(), "nothing missing");

    // A rebuild from the bucket restores them; they are served, not remade.
    let objects_before = objects_of(&server, &media_id).await;
    assert_eq!(objects_before.len(), 3 + 5, "manifest, original, rendition, five pictures: {objects_before:?}");
    let (settings, fresh_dir) = server.with_fresh_database().await;
    let rebuilt_blobs = archive::blob::open(&settings.storage, 65536).await.unwrap().store;
    let rebuilt_metadata = archive::metadata::open(&settings.metadata).await.unwrap();
    let report = archive::domain::reindex::rebuild(rebuilt_blobs.as_ref(), rebuilt_metadata.as_ref()).await.unwrap();
    assert_eq!((report.media, report.skipped.len()), (1, 0), "{report:?}");
    let rebuilt = TestServer::start_from(stack, settings, fresh_dir).await;
    assert_eq!(rebuilt.archive.metadata().pictures(&media_id).await.unwrap(), pictures);
    let jpeg_url = thumbnail_url(&rebuilt, &media).await;
    let (status, _, again) = http_get(&format!("{}?time=1.04", jpeg_url.replace(".jpg", ".webp")), None).await;
    assert_eq!((status, again), (200, webp));
    // (The first server's view of the same bucket.)
    assert_eq!(objects_of(&server, &media_id).await, objects_before, "nothing made again");

    let delete = pb::DeleteMediaRequest { name: media.name.clone(), force: false };
    rebuilt.media().delete_media(delete).await.unwrap();
    assert_eq!(objects_of(&server, &media_id).await, Vec::<String>::new(), "the clip took its pictures");
}

on_both_stacks!(thumbnails_show_the_frame_at_a_time, pictures_are_archived_like_the_clip);
