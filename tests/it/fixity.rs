//! Fixity audits (issue 19 item 4): stored objects damaged behind archived's
//! back (a flipped byte, a truncated body, a deleted rendition) are found
//! and reported by AuditFixity, by `archivectl fixity` (exit 7) and by the
//! scheduled job's metrics, on the file system and on SeaweedFS.

use crate::{
    cli::archivectl_command,
    common::{Stack, TestServer, fixture, pseudo_random_bytes, s3_client},
};
use archive::{
    blob::BlobKey,
    ids::{ArticleId, MediaId},
    proto::v1::{self as pb, audit_fixity_response::Result as Event},
};
use std::time::{Duration, Instant};
use tonic::Code;

/// What one audit streamed.
async fn audit(server: &TestServer, request: pb::AuditFixityRequest) -> (Vec<pb::FixityProblem>, pb::FixityReport) {
    let mut events = server.metadata().audit_fixity(request).await.expect("audit starts").into_inner();
    let mut problems = Vec::new();
    while let Some(event) = events.message().await.expect("audit runs") {
        match event.result.expect("an event") {
            Event::Problem(problem) => problems.push(problem),
            Event::Report(report) => {
                assert!(events.message().await.expect("stream ends").is_none(), "the report comes last");
                return (problems, report);
            }
        }
    }
    panic!("the audit ended without a report")
}

async fn audit_error(server: &TestServer, request: pb::AuditFixityRequest) -> tonic::Status {
    match server.metadata().audit_fixity(request).await {
        Err(status) => status,
        Ok(response) => response.into_inner().message().await.expect_err("the audit is refused"),
    }
}

/// The stored bytes of `key`, read behind archived's back.
async fn read_stored(server: &TestServer, key: &BlobKey) -> Vec<u8> {
    match server.stack {
        Stack::Embedded => std::fs::read(server.blob_root().join(key.as_str())).unwrap(),
        Stack::Production => {
            let (client, bucket) = s3_client().await;
            let object = client.get_object().bucket(&bucket).key(key.as_str()).send().await.unwrap();
            object.body.collect().await.unwrap().into_bytes().to_vec()
        }
    }
}

/// Replaces the stored bytes of `key` behind archived's back.
async fn write_stored(server: &TestServer, key: &BlobKey, data: Vec<u8>) {
    match server.stack {
        Stack::Embedded => std::fs::write(server.blob_root().join(key.as_str()), data).unwrap(),
        Stack::Production => {
            let (client, bucket) = s3_client().await;
            let body = aws_sdk_s3::primitives::ByteStream::from(data);
            client.put_object().bucket(&bucket).key(key.as_str()).body(body).send().await.unwrap();
        }
    }
}

/// Deletes the stored object `key` behind archived's back.
async fn delete_stored(server: &TestServer, key: &BlobKey) {
    match server.stack {
        Stack::Embedded => std::fs::remove_file(server.blob_root().join(key.as_str())).unwrap(),
        Stack::Production => {
            let (client, bucket) = s3_client().await;
            client.delete_object().bucket(&bucket).key(key.as_str()).send().await.unwrap();
        }
    }
}

/// An article and three clips: one plays as stored, one has a faststart
/// rendition, one is not an MP4.
struct Stored {
    article: ArticleId,
    faststart: MediaId,
    moov_at_end: MediaId,
    other: MediaId,
}

async fn store(server: &TestServer) -> Stored {
    let article = pb::Article {
        title: "Giao ban trực tuyến quý III".into(),
        body: "Sáng 30/9, Tỉnh ủy tổ chức hội nghị giao ban trực tuyến.".into(),
        author: "Phạm Ngọc".into(),
        ..Default::default()
    };
    let request = pb::CreateArticleRequest { article: Some(article), ..Default::default() };
    let created = server.articles().create_article(request).await.unwrap().into_inner().article.unwrap();
    let id = |name: &str| MediaId::from_name(name).unwrap();
    let faststart = server.upload("ban-tin.mp4", fixture("clip-faststart.mp4")).await.unwrap();
    let moov_at_end = server.upload("phong-su.mp4", fixture("clip-moov-at-end.mp4")).await.unwrap();
    let other = server.upload("bien-ban.bin", pseudo_random_bytes(300_000, 19)).await.unwrap();
    Stored {
        article: ArticleId::from_name(&created.name).unwrap(),
        faststart: id(&faststart.name),
        moov_at_end: id(&moov_at_end.name),
        other: id(&other.name),
    }
}

async fn damaged_objects_are_reported(stack: Stack) {
    let server = TestServer::start(stack).await;
    let stored = store(&server).await;
    let metadata = server.archive.metadata();
    let body = metadata.get_article(&stored.article, None).await.unwrap().body;
    let original = metadata.get_media(&stored.faststart).await.unwrap().object;
    let rendition = metadata.get_media(&stored.moov_at_end).await.unwrap().rendition.expect("a rendition");
    let intact = metadata.get_media(&stored.other).await.unwrap().object;

    let last_audit = || async {
        let stats = server.metadata().get_archive_statistics(pb::GetArchiveStatisticsRequest {}).await.unwrap();
        stats.into_inner().last_fixity_audit
    };
    assert_eq!(last_audit().await, None, "no audit yet");

    // Untouched: a body, three originals and a rendition, all intact.
    let (problems, report) = audit(&server, pb::AuditFixityRequest::default()).await;
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!((report.checked_count, report.mismatched_count, report.missing_count), (5, 0, 0));
    let stored_bytes = body.size_bytes + 2 * 816_813 + rendition.size_bytes + intact.size_bytes;
    assert_eq!(report.bytes_read as u64, stored_bytes);

    // One byte flipped in the middle of a clip, a body cut short, a rendition deleted.
    let mut bytes = read_stored(&server, &original.key).await;
    bytes[400_000] ^= 0x01;
    write_stored(&server, &original.key, bytes).await;
    let text = read_stored(&server, &body.key).await;
    write_stored(&server, &body.key, text[..text.len() - 1].to_vec()).await;
    delete_stored(&server, &rendition.key).await;

    let (mut problems, report) = audit(&server, pb::AuditFixityRequest::default()).await;
    assert_eq!((report.checked_count, report.mismatched_count, report.missing_count), (4, 2, 1), "{report:?}");
    // The statistics name the last audit, as it reported itself (to the microsecond).
    let last = last_audit().await.expect("the audit is recorded");
    assert_eq!((last.checked_count, last.mismatched_count, last.missing_count), (4, 2, 1));
    assert_eq!(
        (last.bytes_read, last.start_time.map(|t| (t.seconds, t.nanos / 1000))),
        (report.bytes_read, report.start_time.map(|t| (t.seconds, t.nanos / 1000)))
    );
    problems.sort_by_key(|p| p.object_kind);
    let [damaged_body, flipped, deleted] = problems.as_slice() else { panic!("three problems: {problems:?}") };
    assert_eq!(damaged_body.problem(), pb::FixityProblemKind::Mismatched);
    assert_eq!(damaged_body.object_kind(), pb::StoredObjectKind::ArticleBody);
    assert_eq!(damaged_body.owner, stored.article.name());
    assert_eq!(damaged_body.actual_size_bytes as u64, body.size_bytes - 1);
    assert!(damaged_body.actual_sha256.is_empty(), "a size mismatch needs no hash");

    assert_eq!(flipped.problem(), pb::FixityProblemKind::Mismatched);
    assert_eq!(flipped.object_kind(), pb::StoredObjectKind::MediaOriginal);
    assert_eq!(
        (flipped.owner.as_str(), flipped.object_key.as_str()),
        (stored.faststart.name().as_str(), original.key.as_str())
    );
    assert_eq!((flipped.expected_sha256.as_str(), flipped.actual_size_bytes), (original.sha256.as_str(), 816_813));
    assert_eq!(flipped.actual_sha256.len(), 64);
    assert_ne!(flipped.actual_sha256, original.sha256);

    assert_eq!(deleted.problem(), pb::FixityProblemKind::Missing);
    assert_eq!(deleted.object_kind(), pb::StoredObjectKind::MediaRendition);
    assert_eq!(deleted.owner, stored.moov_at_end.name());
    assert_eq!(deleted.expected_size_bytes as u64, rendition.size_bytes);

    // A clip deleted through the API is gone, not missing.
    let request = pb::DeleteMediaRequest { name: stored.moov_at_end.name(), ..Default::default() };
    server.media().delete_media(request).await.unwrap();
    let (problems, report) = audit(&server, pb::AuditFixityRequest::default()).await;
    assert_eq!((report.checked_count, report.mismatched_count, report.missing_count), (3, 2, 0), "{problems:?}");

    // archivectl: the problems, the summary, exit 7; and as JSON.
    let dir = tempfile::tempdir().unwrap();
    let grpc = format!("http://{}", server.grpc_addr);
    let output = archivectl_command(dir.path()).args(["--server", &grpc, "fixity"]).output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(7), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let flipped_line = format!("mismatched: sha256 {}: clip original of {}", flipped.actual_sha256, flipped.owner);
    assert!(stdout.contains(&flipped_line), "{stdout}");
    assert!(stdout.contains(&format!("clip original of {} ({})", flipped.owner, original.key)), "{stdout}");
    assert!(stdout.contains("mismatched:  2\nmissing:     0\n"), "{stdout}");
    let output = archivectl_command(dir.path()).args(["--server", &grpc, "-O", "json", "fixity"]).output().unwrap();
    assert_eq!(output.status.code(), Some(7));
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
    assert_eq!(document["report"]["mismatchedCount"], "2", "{document}");
    assert_eq!(document["problems"].as_array().map(Vec::len), Some(2));
    let error: serde_json::Value = serde_json::from_slice(&output.stderr).expect("the error as JSON");
    assert_eq!(error["error"]["exit"], 7, "{error}");

    // Mended (the original bytes back): archivectl exits 0.
    write_stored(&server, &original.key, fixture("clip-faststart.mp4")).await;
    write_stored(&server, &body.key, text).await;
    let output = archivectl_command(dir.path()).args(["--server", &grpc, "fixity"]).output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.starts_with("checked:     3\nmismatched:  0\nmissing:     0\n"), "{stdout}");
    // `stats` names it as the last audit, in Vietnam time.
    let output = archivectl_command(dir.path()).args(["--server", &grpc, "stats"]).output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let line = stdout.lines().find(|line| line.starts_with("last audit:")).expect("a last audit line");
    assert!(line.contains("+07:00") && line.ends_with(": 3 checked, 0 mismatched, 0 missing"), "{line}");
}

on_both_stacks!(damaged_objects_are_reported);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audits_are_sampled_rate_bounded_and_validated() {
    let server = TestServer::start_with(Stack::Embedded, |settings| settings.fixity.bytes_per_second = 1 << 20).await;
    for (n, size) in [(0, 0), (1, 1), (2, 96 * 1024), (3, 160 * 1024)] {
        server.upload(&format!("{n}.bin"), pseudo_random_bytes(size, n)).await.unwrap();
    }

    // Above the server's ceiling: the ceiling (1 MiB/s) holds, fast here.
    let request = pb::AuditFixityRequest { bytes_per_second: 1 << 30, ..Default::default() };
    let (_, report) = audit(&server, request).await;
    assert_eq!(report.checked_count, 4);

    // 64 KiB/s: 256 KiB take at least 3.9 s (a sixteenth of a second's
    // worth may come at once; with a whole second's, the probe of issue 32
    // measured audits at up to 1.8 times their rate).
    let started = Instant::now();
    let (_, report) =
        audit(&server, pb::AuditFixityRequest { bytes_per_second: 64 * 1024, ..Default::default() }).await;
    let took = started.elapsed();
    assert_eq!(report.bytes_read, 1 + 256 * 1024);
    assert!(took >= Duration::from_millis(3800), "256 KiB at 64 KiB/s took {took:?}");

    // A sample checks some and skips the rest; every object is accounted for.
    let request = pb::AuditFixityRequest { sample_fraction: 0.5, ..Default::default() };
    let mut sampled = Vec::new();
    for _ in 0..20 {
        let (_, report) = audit(&server, request).await;
        assert_eq!(report.checked_count + report.skipped_count, 4, "{report:?}");
        sampled.push(report.checked_count);
    }
    assert!(sampled.iter().any(|&c| c < 4) && sampled.iter().any(|&c| c > 0), "{sampled:?}");

    for bad in [
        pb::AuditFixityRequest { sample_fraction: 1.5, ..Default::default() },
        pb::AuditFixityRequest { sample_fraction: -0.1, ..Default::default() },
        pb::AuditFixityRequest { bytes_per_second: 1000, ..Default::default() },
        pb::AuditFixityRequest { bytes_per_second: -5, ..Default::default() },
    ] {
        let status = audit_error(&server, bad).await;
        assert_eq!(status.code(), Code::InvalidArgument, "{bad:?}: {status:?}");
        assert!(status.message().contains("must be within"), "{}", status.message());
    }
}

/// The scheduled audit: its metrics show what it found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_audit_reports_in_metrics() {
    let server = TestServer::start_with(Stack::Embedded, |settings| settings.fixity.interval_seconds = 1).await;
    let media = server.upload("a.bin", pseudo_random_bytes(50_000, 7)).await.unwrap();
    let object = server.archive.metadata().get_media(&MediaId::from_name(&media.name).unwrap()).await.unwrap().object;
    delete_stored(&server, &object.key).await;
    let url = format!("http://{}/metrics", server.admin_addr);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
        let damaged = text.lines().find_map(|l| l.strip_prefix("archive_fixity_last_damaged_objects "));
        let missing = text.lines().any(|l| {
            l.starts_with("archive_fixity_objects_total{") && l.contains("result=\"missing\"") && l.ends_with(" 1")
        });
        if damaged == Some("1") && missing {
            break;
        }
        assert!(Instant::now() < deadline, "no scheduled audit reported the missing object:\n{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
