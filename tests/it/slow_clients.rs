//! Clients that do not keep up: a viewer, a ReadMedia caller or a change
//! feed consumer that stops reading holds a bounded amount of archived's
//! memory (flow control, not buffering), and a gateway request stuck behind its backend is answered
//! 504 at `gateway.request_timeout_seconds`.

use crate::common::{Stack, TestServer, fixture, pseudo_random_bytes, sha256_hex, spawn_archived};
use archive::proto::v1 as pb;
use futures::StreamExt;
use std::time::Duration;

/// Resident memory of a process, from /proc.
pub(crate) fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc readable");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .expect("VmRSS");
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_that_stop_reading_hold_bounded_server_memory() {
    const CLIP: usize = 64 << 20;
    const READERS: usize = 4;
    let dir = tempfile::tempdir().unwrap();
    let env = [("ARCHIVE__SERVER__GRPC_ADDR", "127.0.0.1:0"), ("ARCHIVE__SERVER__GATEWAY_ADDR", "127.0.0.1:0")];
    let server = spawn_archived(dir.path(), &env);
    let data = pseudo_random_bytes(CLIP, 21);
    let mut media = archive::client::media_client(server.channel().await);
    let header = pb::UploadHeader { filename: "dai.bin".into(), ..Default::default() };
    let messages = archive::client::upload_messages(header, std::io::Cursor::new(data.clone()), |_| {});
    let clip = media.upload_media(messages).await.expect("uploads").into_inner().media.expect("media");
    let request = pb::GetPlaybackUrlRequest { name: clip.name.clone(), ..Default::default() };
    let url = media.get_playback_url(request).await.expect("signs").into_inner().url;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = rss_bytes(server.pid());

    // READERS gRPC streams and READERS viewers, each on its own connection,
    // take their first bytes and stop.
    let mut streams = Vec::new();
    for _ in 0..READERS {
        let mut client = archive::client::media_client(server.channel().await);
        let request = pb::ReadMediaRequest { name: clip.name.clone(), offset: 0, limit: 0 };
        let mut stream = client.read_media(request).await.expect("reads").into_inner();
        let first = stream.next().await.expect("a chunk").expect("a chunk");
        streams.push((first.data.len(), stream));
    }
    let mut viewers = Vec::new();
    for _ in 0..READERS {
        let mut response = reqwest::Client::new().get(&url).send().await.expect("the gateway answers");
        assert_eq!(response.status(), 200);
        let first = response.chunk().await.unwrap().expect("bytes");
        viewers.push((first.len(), response));
    }
    let mut peak = 0;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        peak = peak.max(rss_bytes(server.pid()));
    }
    let grown = peak.saturating_sub(idle);
    println!("idle RSS {} MiB, peak with {} stalled readers {} MiB", idle >> 20, 2 * READERS, peak >> 20);
    // Buffering the clip for each would be 8 × 64 MiB; flow control keeps
    // each reader to its windows and a chunk or two.
    assert!(grown < 48 << 20, "archived grew {} MiB for {} stalled readers", grown >> 20, 2 * READERS);

    // They are stalled, not broken: each reads on to the last byte.
    let expected = sha256_hex(&data);
    for (first, mut stream) in streams {
        let mut hasher = Vec::with_capacity(CLIP);
        hasher.extend_from_slice(&data[..first]);
        while let Some(chunk) = stream.next().await {
            hasher.extend_from_slice(&chunk.expect("a chunk").data);
        }
        assert_eq!(sha256_hex(&hasher), expected);
    }
    for (first, mut response) in viewers {
        let mut body = data[..first].to_vec();
        while let Some(bytes) = response.chunk().await.unwrap() {
            body.extend_from_slice(&bytes);
        }
        assert_eq!(sha256_hex(&body), expected);
    }
}

/// A media request whose metadata lookup cannot finish (its table locked
/// in PostgreSQL) is answered 504, and served again once the lock goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_gateway_request_is_answered_504_at_its_timeout() {
    crate::skip_without!(S3, POSTGRES);
    use sqlx::Connection;
    let blobs = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(Stack::Production, |settings| {
        settings.storage.url = format!("file://{}", blobs.path().display());
        settings.gateway.request_timeout_seconds = 1;
    })
    .await;
    let clip = server.upload("ket.mp4", fixture("clip-faststart.mp4")).await.unwrap();
    let request = pb::GetPlaybackUrlRequest { name: clip.name.clone(), ..Default::default() };
    let url = server.media().get_playback_url(request).await.unwrap().into_inner().url;
    let http = reqwest::Client::new();
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);

    let mut holder = sqlx::PgConnection::connect(&server.settings.metadata.url).await.unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE media IN ACCESS EXCLUSIVE MODE").execute(&mut holder).await.unwrap();
    let started = std::time::Instant::now();
    let stuck = http.get(&url).send().await.unwrap();
    assert_eq!(stuck.status(), 504, "{:?}", stuck.text().await);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(900) && waited < Duration::from_secs(4), "answered after {waited:?}");
    sqlx::raw_sql("ROLLBACK").execute(&mut holder).await.unwrap();
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200, "served again");
}

/// A change feed consumer that stops reading holds bounded memory in
/// archived (the feed is read a page at a time as the consumer drains it),
/// then gets all 100,000 changes, in order, when it reads on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_change_consumer_holds_bounded_server_memory() {
    use sqlx::{Connection, Executor};
    const CHANGES: i64 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let env = [("ARCHIVE__SERVER__GRPC_ADDR", "127.0.0.1:0"), ("ARCHIVE__SERVER__GATEWAY_ADDR", "127.0.0.1:0")];
    let server = spawn_archived(dir.path(), &env);
    // A backlog of 100,000 changes of about 700 bytes each (70 MB), written
    // straight into the feed: through the API it would take minutes.
    let url = format!("sqlite://{}", dir.path().join("data/archive.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let title = "Hội nghị giao ban trực tuyến sinh hoạt chi bộ ".repeat(12);
    let now_us = chrono::Utc::now().timestamp_micros();
    db.execute(sqlx::AssertSqlSafe(format!(
        "WITH RECURSIVE n(seq) AS (SELECT 1 UNION ALL SELECT seq + 1 FROM n WHERE seq < {CHANGES}) \
         INSERT INTO changes (seq, commit_time_us, kind, name, detail) \
         SELECT seq, {now_us} + seq, 'article_updated', 'articles/bai-' || seq, \
         '{{\"revision\":2,\"title\":\"{title}\"}}' FROM n; \
         UPDATE change_feed SET last_seq = {CHANGES};"
    )))
    .await
    .unwrap();
    let feed: String = sqlx::query_scalar("SELECT feed_id FROM change_feed").fetch_one(&mut db).await.unwrap();
    db.close().await.unwrap();

    let mut metadata = pb::metadata_service_client::MetadataServiceClient::new(server.channel().await);
    // Idle: the search index has followed the backlog too (it polls the
    // feed twice a second; the backlog went in behind its back).
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.search_caught_up().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = rss_bytes(server.pid());
    let request = pb::WatchChangesRequest { cursor: format!("{feed}:0"), ..Default::default() };
    let mut stream = metadata.watch_changes(request).await.unwrap().into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(first.changes[0].name, "articles/bai-1");
    // The consumer stalls; flow control stops archived, which must not read ahead.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stalled = rss_bytes(server.pid());
    let grown = stalled.saturating_sub(idle) >> 20;
    println!("a stalled consumer of {CHANGES} changes: archived grew {grown} MiB (idle {} MiB)", idle >> 20);
    assert!(grown < 40, "archived grew {grown} MiB for a consumer that stopped reading (the backlog is 70 MB)");

    let mut seen = first.changes.len() as i64;
    let mut last = first.changes.last().map(|c| c.cursor.clone()).unwrap();
    while seen < CHANGES {
        let message = stream.message().await.unwrap().unwrap();
        let bytes = prost::Message::encoded_len(&message);
        assert!(bytes < 320 * 1024, "a page of long titles goes out in several messages: {bytes} bytes");
        for change in message.changes {
            seen += 1;
            assert_eq!(change.name, format!("articles/bai-{seen}"), "in order, none missing");
            last = change.cursor;
        }
    }
    assert_eq!(last, format!("{feed}:{CHANGES}"));
}
