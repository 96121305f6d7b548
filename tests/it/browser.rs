//! A real browser plays clips through their signed playback URLs, on both
//! stacks: headless Chromium driven by playwright-core (installed by
//! scripts/test.sh), a moov-at-end upload so the faststart rendition is what
//! plays; and a page on another origin loads every caption cue.

use crate::common;

use archive::proto::v1 as pb;
use common::{Stack, TestServer, fixture};
use std::time::Duration;

async fn url(server: &TestServer, name: &str, ttl_seconds: i64) -> String {
    let request = pb::GetPlaybackUrlRequest {
        name: name.into(),
        ttl: Some(pbjson_types::Duration { seconds: ttl_seconds, nanos: 0 }),
        disposition: pb::Disposition::Inline.into(),
        start: None,
    };
    server.media().get_playback_url(request).await.expect("playback URL").into_inner().url
}

/// Runs `tests/browser/{script}` with `args` and gives the JSON it prints.
pub(crate) async fn browser_report(script: &str, args: &[&str]) -> serde_json::Value {
    let script = format!("{}/tests/browser/{script}", env!("CARGO_MANIFEST_DIR"));
    let node_path = std::env::var("ARCHIVE_TEST_NODE_PATH")
        .unwrap_or_else(|_| panic!("ARCHIVE_TEST_NODE_PATH is not set: run the suite with scripts/test.sh"));
    let output = tokio::process::Command::new("node")
        .env("NODE_PATH", &node_path)
        .arg(&script)
        .args(args)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "node failed: {stdout}{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("not JSON: {stdout}"))
}

async fn a_browser_plays_seeks_and_refuses_expired_urls(stack: Stack) {
    crate::skip_without!(CHROMIUM);
    let server = TestServer::start(stack).await;
    let media = server.upload("93019_OHAI1.mp4", fixture("clip-moov-at-end.mp4")).await.expect("uploads");
    let info = media.mp4.clone().expect("probed");
    assert!(media.playback_rendition.is_some(), "moov at the end gets a faststart rendition");
    let expired = url(&server, &media.name, 1).await;
    let playable = url(&server, &media.name, 600).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let report = browser_report("play.mjs", &[&playable, &expired]).await;
    eprintln!("browser report ({stack:?}): {report}");
    assert!(report.get("failure").is_none(), "{report}");

    let probed = info.duration.unwrap();
    let probed = probed.seconds as f64 + probed.nanos as f64 / 1e9;
    let duration = report["duration"].as_f64().unwrap();
    assert!((duration - probed).abs() < 0.2, "browser duration {duration} vs probed {probed}");
    assert_eq!(
        (report["width"].as_i64(), report["height"].as_i64()),
        (Some(info.width.into()), Some(info.height.into()))
    );
    assert_eq!(report["playedPastOneSecond"], true, "{report}");
    let seekable_end = report["seekableEnd"].as_f64().unwrap();
    assert!((seekable_end - duration).abs() < 0.5, "seekable.end(0) {seekable_end} vs {duration}");
    assert!(report["seekedTo"].as_f64().unwrap() > duration - 1.5, "{report}");
    let ranges: Vec<&str> = report["ranges"].as_array().unwrap().iter().filter_map(|r| r.as_str()).collect();
    let later_range = ranges.iter().any(|r| {
        r.strip_prefix("bytes=")
            .and_then(|r| r.split('-').next())
            .and_then(|s| s.parse::<u64>().ok())
            .is_some_and(|start| start > 0)
    });
    assert!(later_range, "the seek fetched a Range past the start on the signed URL: {ranges:?}");
    assert!(report["statuses"].as_array().unwrap().iter().any(|s| s == 206), "{report}");
    assert!(report["expiredError"].as_str().unwrap().starts_with("error"), "expired URL: {report}");
}

/// A news page on another origin embeds the clip with `<video poster
/// crossorigin>` and a `<track>` per caption track of the playback answer:
/// the poster is fetched and every cue of each track loads, at the
/// source's times to the millisecond.
async fn a_page_on_another_origin_loads_every_caption_cue(stack: Stack) {
    crate::skip_without!(CHROMIUM);
    let server = TestServer::start(stack).await;
    let media = server.upload("93019_OHAI1.mp4", fixture("clip-faststart.mp4")).await.expect("uploads");
    for (language, file) in [("vi", "vi-bom-crlf.srt"), ("en", "vi-settings.vtt")] {
        let put = pb::PutCaptionTrackRequest {
            media: media.name.clone(),
            language: language.into(),
            kind: pb::CaptionKind::Subtitles.into(),
            content: fixture(&format!("captions/{file}")).into(),
            ..Default::default()
        };
        server.media().put_caption_track(put).await.expect("track stored");
    }
    let request = pb::GetPlaybackUrlRequest { name: media.name.clone(), ..Default::default() };
    let playback = server.media().get_playback_url(request).await.unwrap().into_inner();
    // The answer lists tracks by id: vi first, as the page's default.
    let mut tracks = playback.caption_tracks.clone();
    tracks.sort_by_key(|track| track.language != "vi");
    let tracks: Vec<serde_json::Value> = tracks
        .iter()
        .map(|track| serde_json::json!({"url": track.url, "language": track.language, "kind": "subtitles", "label": track.label}))
        .collect();
    let tracks = serde_json::Value::from(tracks).to_string();
    let report = browser_report("captions.mjs", &[&playback.url, &tracks, &playback.poster_url]).await;
    eprintln!("browser report ({stack:?}): {report}");
    assert!(report.get("failure").is_none(), "{report}");
    let requests = report["trackRequests"].as_array().unwrap();
    assert_eq!(requests.len(), 2, "{report}");
    for request in requests {
        assert_eq!(request["status"], 200, "{report}");
        assert_eq!(request["origin"], report["pageOrigin"], "a CORS request from the page's origin: {report}");
        assert_eq!(request["allowOrigin"], "*", "{report}");
    }
    let posters = report["posterRequests"].as_array().unwrap();
    assert_eq!(posters.len(), 1, "the poster is shown before the clip plays: {report}");
    assert_eq!((&posters[0]["status"], &posters[0]["type"]), (&200.into(), &"image/jpeg".into()), "{report}");
    let cues = |index: usize| -> Vec<(i64, i64, String)> {
        let track = &report["tracks"][index];
        assert_eq!(track["state"], "loaded", "{report}");
        let millis = |value: &serde_json::Value| (value.as_f64().unwrap() * 1000.0).round() as i64;
        track["cues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|cue| (millis(&cue["start"]), millis(&cue["end"]), cue["text"].as_str().unwrap().to_owned()))
            .collect()
    };
    let vi = cues(0);
    let times: Vec<(i64, i64)> = vi.iter().map(|(start, end, _)| (*start, *end)).collect();
    assert_eq!(times, [(1_200, 4_750), (5_000, 7_015), (62_003, 3_600_000)], "{report}");
    assert_eq!(vi[0].2, "Hội nghị giao ban trực tuyến\n<i>toàn tỉnh Thái Bình</i>", "NFC, as served");
    assert_eq!(report["tracks"][0]["mode"], "showing", "the default track shows: {report}");
    let en = cues(1);
    let times: Vec<(i64, i64)> = en.iter().map(|(start, end, _)| (*start, *end)).collect();
    assert_eq!(times, [(1_200, 4_750), (5_000, 7_015)], "{report}");
    // `text` is the cue text as written: its character references stay.
    assert_eq!(en[1].2, "Chi bộ &amp; Đảng bộ", "{report}");
}

/// The embeddable player in an iframe on a page of another origin: poster,
/// caption tracks to choose from, storyboard tiles over the seek bar, the
/// start time; no CSP violation, no serious accessibility finding. The page
/// expires with its playback answer, and stored text stays text.
async fn the_embedded_player_plays_on_any_page(stack: Stack) {
    crate::skip_without!(CHROMIUM);
    let server = TestServer::start(stack).await;
    let media = server.upload("</script><b>Giao ban</b>.mp4", fixture("clip-faststart.mp4")).await.expect("uploads");
    for (language, label, file) in [("vi", "Tiếng Việt", "vi-bom-crlf.srt"), ("en", "English", "vi-settings.vtt")] {
        let put = pb::PutCaptionTrackRequest {
            media: media.name.clone(),
            language: language.into(),
            label: label.into(),
            kind: pb::CaptionKind::Subtitles.into(),
            content: fixture(&format!("captions/{file}")).into(),
            ..Default::default()
        };
        server.media().put_caption_track(put).await.expect("track stored");
    }
    let request = pb::GetPlaybackUrlRequest {
        name: media.name.clone(),
        start: Some(pbjson_types::Duration { seconds: 1, nanos: 500_000_000 }),
        ..Default::default()
    };
    let embed = server.media().get_playback_url(request).await.unwrap().into_inner().embed_url;
    assert!(embed.ends_with("?t=1.5"), "{embed}");

    // The page itself: only the gateway's script runs, stored text is text.
    let page = reqwest::get(&embed).await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self';") && csp.contains("frame-ancestors *"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains("<title>&lt;/script&gt;&lt;b&gt;Giao ban&lt;/b&gt;.mp4</title>"), "{html}");
    assert_eq!(html.matches("</script>").count(), 2, "the name cannot close the data block: {html}");
    assert!(html.contains("\\u003c/script>\\u003cb>Giao ban"), "{html}");

    let report = browser_report("embed.mjs", &[&embed]).await;
    eprintln!("browser report ({stack:?}): {report}");
    assert!(report.get("failure").is_none(), "{report}");
    for file in ["poster", "storyboard.vtt", "storyboard.jpg"] {
        assert_eq!(report["responses"][file], 200, "{file}: {report}");
    }
    assert!(report["posterWidth"].as_u64() > Some(0), "the poster shows: {report}");
    assert_eq!(report["captionButton"], true, "{report}");
    let offered: Vec<(&str, &str)> = report["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["language"].as_str().unwrap(), t["label"].as_str().unwrap()))
        .collect();
    assert_eq!(offered, [("en", "English"), ("vi", "Tiếng Việt")], "{report}");
    assert_eq!(report["switched"]["showing"], serde_json::json!(["en"]), "{report}");
    assert!(!report["switched"]["cues"].as_array().unwrap().is_empty(), "{report}");
    assert!(report["thumbnail"].as_str().unwrap().contains("storyboard.jpg"), "{report}");
    let at = report["currentTime"].as_f64().unwrap();
    assert!((at - 1.5).abs() < 0.3, "starts at t=1.5: {report}");
    assert_eq!(report["cspViolations"], serde_json::json!([]), "{report}");
    assert_eq!(report["axe"], serde_json::json!([]), "no serious or critical accessibility finding: {report}");

    // Expired with its answer; a forged token is refused.
    let request = pb::GetPlaybackUrlRequest {
        name: media.name.clone(),
        ttl: Some(pbjson_types::Duration { seconds: 1, nanos: 0 }),
        ..Default::default()
    };
    let expiring = server.media().get_playback_url(request).await.unwrap().into_inner().embed_url;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let expired = reqwest::get(&expiring).await.unwrap();
    assert_eq!(expired.status(), 403);
    assert!(expired.text().await.unwrap().contains("expired"));
    let forged = embed.replacen("/embed/", "/embed/1", 1);
    assert_eq!(reqwest::get(&forged).await.unwrap().status(), 403);
}

on_both_stacks!(
    a_browser_plays_seeks_and_refuses_expired_urls,
    a_page_on_another_origin_loads_every_caption_cue,
    the_embedded_player_plays_on_any_page
);
