//! A real browser plays clips through their signed playback URLs, on both
//! stacks: headless Chromium driven by playwright-core (installed by
//! scripts/test.sh), a moov-at-end upload so the faststart rendition is what
//! plays.

use crate::common;

use archive::proto::v1 as pb;
use common::{Stack, TestServer, fixture};
use std::time::Duration;

async fn url(server: &TestServer, name: &str, ttl_seconds: i64) -> String {
    let request = pb::GetPlaybackUrlRequest {
        name: name.into(),
        ttl: Some(pbjson_types::Duration { seconds: ttl_seconds, nanos: 0 }),
        disposition: pb::Disposition::Inline.into(),
    };
    server.media().get_playback_url(request).await.expect("playback URL").into_inner().url
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

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/play.mjs");
    let node_path = std::env::var("ARCHIVE_TEST_NODE_PATH")
        .unwrap_or_else(|_| panic!("ARCHIVE_TEST_NODE_PATH is not set: run the suite with scripts/test.sh"));
    let output = tokio::process::Command::new("node")
        .env("NODE_PATH", &node_path)
        .args([script, &playable, &expired])
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "node failed: {stdout}{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("not JSON: {stdout}"));
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

on_both_stacks!(a_browser_plays_seeks_and_refuses_expired_urls);
