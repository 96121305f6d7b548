//! Clients that do not keep up: a viewer or a ReadMedia caller that stops
//! reading holds a bounded amount of archived's memory (flow control, not
//! buffering), and a gateway request stuck behind its backend is answered
//! 504 at `gateway.request_timeout_seconds`.

use crate::common::{Backend, TestServer, fixture, pseudo_random_bytes, sha256_hex, spawn_archived};
use archive::proto::v1 as pb;
use futures::StreamExt;
use std::time::Duration;

/// Resident memory of a process, from /proc.
fn rss_bytes(pid: u32) -> u64 {
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
    use sqlx::Connection;
    let blobs = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(Backend::S3, |settings| {
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
