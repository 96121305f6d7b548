//! Caption tracks (issue 30): a WebVTT or SRT file checked with faults named
//! by line, kept byte for byte, served as WebVTT on a prefix-signed URL with
//! CORS, listed, replaced and deleted, each change bumping the clip's etag
//! and in the change feed; a deleted clip takes its tracks with it.

use super::*;
use crate::common::reason;

const SRT: &str = "vi-bom-crlf.srt";
const VTT: &str = "vi-settings.vtt";

fn caption_fixture(name: &str) -> Vec<u8> {
    fixture(&format!("captions/{name}"))
}

fn put(media: &str, track_id: &str, language: &str, content: Vec<u8>) -> pb::PutCaptionTrackRequest {
    pb::PutCaptionTrackRequest {
        media: media.into(),
        track_id: track_id.into(),
        language: language.into(),
        kind: pb::CaptionKind::Captions.into(),
        label: "Tiếng Việt".into(),
        content: content.into(),
        etag: String::new(),
    }
}

async fn media_etag(server: &TestServer, name: &str) -> String {
    let request = pb::GetMediaRequest { name: name.into() };
    server.metadata().get_media(request).await.unwrap().into_inner().media.unwrap().etag
}

/// The bytes of a stored object, read from the store itself.
async fn stored_bytes(server: &TestServer, key: &str) -> Vec<u8> {
    match server.stack {
        Stack::Embedded => std::fs::read(server.blob_root().join(key)).unwrap(),
        Stack::Production => {
            let (client, bucket) = common::s3_client().await;
            let object = client.get_object().bucket(bucket).key(key).send().await.unwrap();
            object.body.collect().await.unwrap().into_bytes().to_vec()
        }
    }
}

fn caption_files(left: &[String]) -> Vec<&String> {
    left.iter().filter(|key| key.contains("/captions/")).collect()
}

async fn caption_tracks_are_kept_served_replaced_and_deleted(stack: Stack) {
    let server = TestServer::start(stack).await;
    let media = server.upload(CLIP, fixture(CLIP)).await.unwrap();
    let media_id = media.name.trim_start_matches("media/").to_owned();
    let mut client = server.media();
    let first_etag = media_etag(&server, &media.name).await;
    assert!(!first_etag.is_empty());
    let cursor = server.metadata().get_change_cursor(pb::GetChangeCursorRequest {}).await.unwrap().into_inner().cursor;

    // Refused, each with its reason, and nothing stored.
    let refusals = [
        (put(&media.name, "", "Vietnamese", caption_fixture(SRT)), "INVALID_LANGUAGE", "Vietnamese"),
        (put(&media.name, "", "vi", b"1\n00:00:01.000 --> 00:00:02.000\nhi\n".to_vec()), "INVALID_CAPTIONS", "line 1"),
        (
            put(&media.name, "", "vi", b"WEBVTT\n\n00:00:03.000 --> 00:00:02.000\nhi\n".to_vec()),
            "INVALID_CAPTIONS",
            "line 3",
        ),
        (put(&media.name, "Vi_VN", "vi", caption_fixture(SRT)), "INVALID_TRACK", "track id"),
        (put(&media.name, "", "vi", vec![b'a'; 2 * 1024 * 1024 + 1]), "CAPTIONS_TOO_LARGE", "2097152"),
        (put("media/nope", "", "vi", caption_fixture(SRT)), "MEDIA_NOT_FOUND", "media/nope"),
        (
            pb::PutCaptionTrackRequest { etag: "0-1".into(), ..put(&media.name, "", "vi", caption_fixture(SRT)) },
            "ETAG_MISMATCH",
            "changed",
        ),
    ];
    for (request, expected, says) in refusals {
        let status = client.put_caption_track(request).await.unwrap_err();
        assert_eq!(reason(&status), expected, "{status:?}");
        assert!(status.message().contains(says), "{status:?}");
    }
    assert!(caption_files(&leftovers_of(&server, &media_id).await).is_empty(), "refusals store nothing");
    assert_eq!(media_etag(&server, &media.name).await, first_etag);

    // An SRT file with a BOM, CRLF and decomposed Vietnamese.
    let srt = caption_fixture(SRT);
    let put_srt = pb::PutCaptionTrackRequest { etag: first_etag.clone(), ..put(&media.name, "", "vi-vn", srt.clone()) };
    let answer = client.put_caption_track(put_srt).await.unwrap().into_inner();
    let track = answer.track.unwrap();
    assert_eq!(track.name, format!("{}/captions/vi-vn", media.name), "the id defaults to the tag in lower case");
    assert_eq!((track.language.as_str(), track.source_format.as_str()), ("vi-VN", "srt"));
    assert_eq!((track.cue_count, track.end.unwrap().seconds), (3, 3600));
    assert_eq!((track.source_size_bytes, track.source_sha256.clone()), (srt.len() as i64, sha256_hex(&srt)));
    assert!(!answer.replaced);
    let second_etag = answer.media_etag;
    assert_ne!(second_etag, first_etag);
    assert_eq!(media_etag(&server, &media.name).await, second_etag);
    let left = leftovers_of(&server, &media_id).await;
    let files = caption_files(&left);
    assert_eq!(files.len(), 2, "the file as uploaded and as served: {left:?}");
    let source = files.iter().find(|key| key.contains("/source-")).expect("the source file");
    assert_eq!(stored_bytes(&server, source).await, srt, "kept byte for byte");

    // Served as WebVTT, cross-origin, on the playback answer's URL.
    let playback = playback_url(&server, &media.name, None).await;
    let tracks = &playback.caption_tracks;
    assert_eq!(tracks.len(), 1);
    assert_eq!((tracks[0].language.as_str(), tracks[0].label.as_str()), ("vi-VN", "Tiếng Việt"));
    assert_eq!(tracks[0].kind, pb::CaptionKind::Captions as i32);
    let (status, headers, body) = http_get_with(&tracks[0].url, &[("Origin", "https://news.example")]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/vtt; charset=utf-8");
    assert_eq!(headers["access-control-allow-origin"], "*");
    let served = String::from_utf8(body).unwrap();
    assert!(
        served.starts_with("WEBVTT\n\n1\n00:00:01.200 --> 00:00:04.750\nHội nghị giao ban trực tuyến\n"),
        "NFC, LF, timings to the millisecond: {served:?}"
    );
    assert!(served.contains("3\n00:01:02.003 --> 01:00:00.000\n"), "{served:?}");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let (status, _, _) = http_get_with(&tracks[0].url, &[("If-None-Match", etag.as_str())]).await;
    assert_eq!(status, 304);
    // The token signs this clip's prefix only, and only as issued.
    let other = tracks[0].url.replace(&format!("/media/{media_id}/"), "/media/someone-else/");
    assert_eq!(http_get(&other, None).await.0, 403);
    let token = tracks[0].url.split("/s/").nth(1).unwrap().split('/').next().unwrap();
    let forged = tracks[0].url.replace(token, &token.replacen('.', "0.", 1));
    assert_eq!(http_get(&forged, None).await.0, 403);
    let missing = tracks[0].url.replace("captions/vi-vn.vtt", "captions/en.vtt");
    assert_eq!(http_get(&missing, None).await.0, 404);

    // Replaced under the same id: the old files go.
    let vtt = caption_fixture(VTT);
    let replace = put(&media.name, "vi-vn", "vi-VN", vtt.clone());
    let answer = client.put_caption_track(replace).await.unwrap().into_inner();
    assert!(answer.replaced);
    assert_eq!(answer.track.unwrap().source_format, "webvtt");
    let third_etag = answer.media_etag;
    assert_ne!(third_etag, second_etag);
    let left = leftovers_of(&server, &media_id).await;
    let files = caption_files(&left);
    assert_eq!(files.len(), 2, "the replaced files are gone: {left:?}");
    let source = files.iter().find(|key| key.contains("/source-")).unwrap();
    assert_eq!(stored_bytes(&server, source).await, vtt);
    client.put_caption_track(put(&media.name, "en", "en", caption_fixture(VTT))).await.unwrap();
    let listed = client
        .list_caption_tracks(pb::ListCaptionTracksRequest { media: media.name.clone() })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = listed.tracks.iter().map(|track| track.name.rsplit('/').next().unwrap()).collect();
    assert_eq!(names, ["en", "vi-vn"]);
    let (status, _, body) = http_get(&tracks[0].url, None).await;
    assert_eq!(status, 200, "the URL issued before the replacement serves the new file");
    assert!(String::from_utf8(body).unwrap().contains("align:start line:0"));

    // Deleted: gone from the list, the URL and the store.
    let delete = pb::DeleteCaptionTrackRequest { name: format!("{}/captions/vi-vn", media.name), etag: String::new() };
    let deleted = client.delete_caption_track(delete.clone()).await.unwrap().into_inner();
    assert_ne!(deleted.media_etag, listed.media_etag);
    assert_eq!(http_get(&tracks[0].url, None).await.0, 404);
    let again = client.delete_caption_track(delete).await.unwrap_err();
    assert_eq!(reason(&again), "CAPTION_TRACK_NOT_FOUND");
    let bad_name = pb::DeleteCaptionTrackRequest { name: media.name.clone(), etag: String::new() };
    assert_eq!(reason(&client.delete_caption_track(bad_name).await.unwrap_err()), "INVALID_NAME");
    assert_eq!(caption_files(&leftovers_of(&server, &media_id).await).len(), 2, "only the en track's files");

    // Every change is in the feed, with the track and the clip's etag.
    let watch = pb::WatchChangesRequest {
        cursor,
        kinds: vec![pb::ChangeKind::MediaCaptionsChanged as i32],
        names: vec![media.name.clone()],
    };
    let mut stream = server.metadata().watch_changes(watch).await.unwrap().into_inner();
    let mut changes = Vec::new();
    while changes.len() < 4 {
        let message = tokio::time::timeout(Duration::from_secs(20), stream.message()).await.unwrap().unwrap().unwrap();
        changes.extend(message.changes);
    }
    let seen: Vec<(&str, &str)> =
        changes.iter().map(|change| (change.track.rsplit('/').next().unwrap(), change.etag.as_str())).collect();
    assert_eq!(seen[0], ("vi-vn", second_etag.as_str()));
    assert_eq!(seen[1], ("vi-vn", third_etag.as_str()));
    assert_eq!((seen[2].0, seen[3].0), ("en", "vi-vn"));
    assert_eq!(seen[3].1, deleted.media_etag);

    // A deleted clip takes its tracks with it.
    client.delete_media(pb::DeleteMediaRequest { name: media.name.clone(), force: false }).await.unwrap();
    common::assert_nothing_left(&server, &media_id).await;
}

on_both_stacks!(caption_tracks_are_kept_served_replaced_and_deleted);
