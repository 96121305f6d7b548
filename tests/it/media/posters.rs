//! Posters (issue 30) on both stacks: made after upload from the first
//! frame near `media.poster_time_ms` that is not blank (the counter clip's
//! fade-in is skipped), upright for a rotated track; set by a client as
//! the exact frame at a time, or as its own image kept byte for byte; each
//! change bumps the clip's etag; refused for HEVC; gone with the clip.

use super::*;
use crate::common::reason;

fn like(body: &[u8], reference: &str) -> f64 {
    let got = image::load_from_memory(body).unwrap().to_rgb8();
    psnr(&got, &image::load_from_memory(&frames_fixture(reference)).unwrap().to_rgb8())
}

async fn poster_url(server: &TestServer, media: &pb::Media) -> String {
    let url = playback_url(server, &media.name, None).await.poster_url;
    assert!(url.ends_with("/poster"), "{url}");
    url
}

async fn media_etag(server: &TestServer, name: &str) -> String {
    let request = pb::GetMediaRequest { name: name.into() };
    server.metadata().get_media(request).await.unwrap().into_inner().media.unwrap().etag
}

fn set(media: &str, source: pb::set_poster_request::Source) -> pb::SetPosterRequest {
    pb::SetPosterRequest { media: media.into(), source: Some(source), etag: String::new() }
}

async fn posters_are_made_set_and_kept(stack: Stack) {
    // From 0 s: the fade-in (frames 0-12) is black, so 0.5 s (frame 12)
    // is too, and the poster is the frame at 1 s.
    let server = TestServer::start_with(stack, |settings| {
        settings.media.poster_time_ms = 0;
        settings.media.poster_at_upload = true;
    })
    .await;
    let clip = server.upload("counter.mp4", frames_fixture("counter.mp4")).await.unwrap();
    let media_id = clip.name.trim_start_matches("media/").to_owned();
    let url = poster_url(&server, &clip).await;
    let (status, headers, body) = http_get(&url, None).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["content-type"], "image/jpeg");
    assert_eq!(headers["frame-time"], "1.000", "the first frame that is not blank");
    let quality = like(&body, "counter-1000.png");
    assert!(quality >= 30.0, "{quality:.1} dB");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(http_get_with(&url, &[("If-None-Match", etag.as_str())]).await.0, 304);
    let posters = |left: Vec<String>| left.into_iter().filter(|key| key.contains("/poster-")).count();
    // The poster made after upload and the one this request made race;
    // the one not recorded is removed by its maker, perhaps a moment later.
    let mut count = posters(leftovers_of(&server, &media_id).await);
    for _ in 0..100 {
        if count == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        count = posters(leftovers_of(&server, &media_id).await);
    }
    assert_eq!(count, 1, "one poster, however many asked");

    // A time the client names: that exact frame, even a black one.
    let before = media_etag(&server, &clip.name).await;
    let time = pbjson_types::Duration { seconds: 2, nanos: 999_000_000 };
    let answer = server.media().set_poster(set(&clip.name, pb::set_poster_request::Source::Time(time))).await.unwrap();
    let answer = answer.into_inner();
    let poster = answer.poster.unwrap();
    assert_eq!(poster.time.map(|t| (t.seconds, t.nanos)), Some((2, 960_000_000)), "the frame shown then");
    assert_ne!(answer.media_etag, before);
    let (_, headers, body) = http_get(&url, None).await;
    assert_eq!(headers["frame-time"], "2.960");
    assert!(like(&body, "counter-2999.png") >= 30.0);
    assert_eq!(posters(leftovers_of(&server, &media_id).await), 1, "the replaced poster is gone");

    // An image of the client's, kept as sent.
    let png = frames_fixture("counter-520.png");
    let answer = server
        .media()
        .set_poster(set(&clip.name, pb::set_poster_request::Source::Image(png.clone().into())))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.poster.unwrap().content_type, "image/png");
    let (_, headers, body) = http_get(&url, None).await;
    assert_eq!((headers["content-type"].to_str().unwrap(), body), ("image/png", png));
    assert!(headers.get("frame-time").is_none());

    // Refusals, each with its reason.
    let late = pb::set_poster_request::Source::Time(pbjson_types::Duration { seconds: 4, nanos: 0 });
    let refusals = [
        (set(&clip.name, late), "INVALID_POSTER"),
        (set(&clip.name, pb::set_poster_request::Source::Image(b"GIF89a".to_vec().into())), "INVALID_POSTER"),
        (pb::SetPosterRequest { media: clip.name.clone(), source: None, etag: String::new() }, "MISSING_FIELD"),
        (
            pb::SetPosterRequest {
                etag: "0-1".into(),
                ..set(&clip.name, pb::set_poster_request::Source::Image(frames_fixture("counter-520.png").into()))
            },
            "ETAG_MISMATCH",
        ),
    ];
    for (request, expected) in refusals {
        let status = server.media().set_poster(request).await.unwrap_err();
        assert_eq!(reason(&status), expected, "{status:?}");
    }

    // Upright for a rotated track.
    let portrait = server.upload("portrait.mp4", frames_fixture("portrait.mp4")).await.unwrap();
    let (status, _, body) = http_get(&poster_url(&server, &portrait).await, None).await;
    assert_eq!(status, 200);
    assert_eq!(image::load_from_memory(&body).unwrap().to_rgb8().dimensions(), (180, 320));
    assert!(like(&body, "portrait-1000.png") >= 30.0);

    // HEVC: no poster can be made.
    let hevc = server.upload("hevc.mp4", frames_fixture("hevc.mp4")).await.unwrap();
    let (status, _, body) = http_get(&poster_url(&server, &hevc).await, None).await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let time = pb::set_poster_request::Source::Time(pbjson_types::Duration { seconds: 0, nanos: 0 });
    let refused = server.media().set_poster(set(&hevc.name, time)).await.unwrap_err();
    assert_eq!(reason(&refused), "PICTURE_UNAVAILABLE");

    // Gone with the clip.
    server.media().delete_media(pb::DeleteMediaRequest { name: clip.name.clone(), force: false }).await.unwrap();
    common::assert_nothing_left(&server, &media_id).await;
}

/// The pictures made after an upload yield to the uploads in flight: a
/// clip's poster waits while another upload streams, and comes once it ends.
async fn background_pictures_wait_for_uploads_in_flight(stack: Stack) {
    let server = TestServer::start_with(stack, |settings| settings.media.poster_at_upload = true).await;
    let (sender, receiver) = tokio::sync::mpsc::channel::<pb::UploadMediaRequest>(4);
    let mut client = server.media();
    let streaming =
        tokio::spawn(async move { client.upload_media(tokio_stream::wrappers::ReceiverStream::new(receiver)).await });
    sender.send(header("still-streaming")).await.unwrap();
    sender.send(chunks(&pseudo_random_bytes(1000, 5)).remove(0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let clip = server.upload("counter.mp4", frames_fixture("counter.mp4")).await.unwrap();
    let id = archive::ids::MediaId::from_name(&clip.name).unwrap();
    let metadata = server.archive.metadata();
    for _ in 0..15 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(metadata.poster(&id).await.unwrap(), None, "no poster while an upload streams");
    }
    streaming.abort();
    drop(sender);
    let mut poster = None;
    for _ in 0..100 {
        poster = metadata.poster(&id).await.unwrap();
        if poster.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(poster.is_some(), "the poster is made once no upload is in flight");
}

on_both_stacks!(posters_are_made_set_and_kept, background_pictures_wait_for_uploads_in_flight);
