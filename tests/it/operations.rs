//! What an operator sees: Prometheus series after a few calls, and limits
//! answered with the status gRPC's guide gives and the setting's name.

use crate::common::{Stack, TestServer, fixture, reason};
use archive::{
    client::upload_messages,
    proto::v1::{self as pb, upload_media_request::Kind},
};
use tonic::Code;
use tonic_types::StatusExt;

async fn scrape(server: &TestServer) -> String {
    let url = format!("http://{}/metrics", server.admin_addr);
    let response = reqwest::get(&url).await.expect("metrics answer");
    assert_eq!(response.status().as_u16(), 200);
    response.text().await.unwrap()
}

/// The value of the first sample whose line has every one of `parts`.
fn sample(text: &str, parts: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find(|line| parts.iter().all(|part| line.contains(part)))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_rpcs_bytes_gateway_and_storage() {
    let server = TestServer::start(Stack::Embedded).await;
    let article = pb::Article { title: "Giao ban".into(), body: "Nội dung".into(), ..Default::default() };
    let created = server
        .articles()
        .create_article(pb::CreateArticleRequest { article: Some(article), ..Default::default() })
        .await;
    let created = created.unwrap().into_inner().article.unwrap();
    let missing = server
        .articles()
        .get_article(pb::GetArticleRequest { name: "articles/khong-co".into(), ..Default::default() })
        .await;
    assert_eq!(missing.unwrap_err().code(), Code::NotFound);
    let clip = fixture("clip-faststart.mp4");
    let media = server.upload("ban-tin.mp4", clip.clone()).await.unwrap();
    let url = server
        .media()
        .get_playback_url(pb::GetPlaybackUrlRequest { name: media.name.clone(), ..Default::default() })
        .await;
    let url = url.unwrap().into_inner().url;
    let ranged = reqwest::Client::new().get(&url).header("Range", "bytes=0-99").send().await.unwrap();
    assert_eq!(ranged.status().as_u16(), 206);
    assert!(created.name.starts_with("articles/"));

    // Samples of a call are recorded once its last byte went; give the
    // server a moment, and the upkeep its tick.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let text = scrape(&server).await;
    let create = ["grpc_server_handled_total{", "grpc_method=\"CreateArticle\"", "grpc_code=\"Ok\""];
    assert_eq!(sample(&text, &create), Some(1.0), "{text}");
    let not_found = ["grpc_server_handled_total{", "grpc_method=\"GetArticle\"", "grpc_code=\"NotFound\""];
    assert_eq!(sample(&text, &not_found), Some(1.0));
    let latency = ["grpc_server_handling_seconds_count{", "grpc_method=\"UploadMedia\""];
    assert_eq!(sample(&text, &latency), Some(1.0), "a latency histogram per method");
    let received = sample(&text, &["grpc_server_received_bytes_total{", "grpc_method=\"UploadMedia\""]).unwrap();
    assert!(received >= clip.len() as f64, "bytes in: {received} for a {} byte clip", clip.len());
    let sent = sample(&text, &["grpc_server_sent_bytes_total{", "grpc_method=\"CreateArticle\""]).unwrap();
    assert!(sent > 0.0);
    assert_eq!(sample(&text, &["archive_gateway_requests_total{", "status=\"206\""]), Some(1.0));
    let puts = sample(&text, &["archive_storage_operation_seconds_count{", "operation=\"put\""]).unwrap();
    assert!(puts >= 1.0, "the article body was a PUT");
    let inserts = ["archive_database_operation_seconds_count{", "operation=\"insert_article\""];
    assert!(sample(&text, &inserts).unwrap() >= 1.0, "database operations are timed by name");
    assert!(text.contains("# HELP grpc_server_handled_total"), "series are described");
}

/// On S3 a streamed write (`start_upload`, as renditions are written) goes
/// out in parts; each part is timed like any other storage call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_writes_to_s3_are_timed_part_by_part() {
    crate::skip_without!(S3, POSTGRES);
    use archive::{blob::BlobKey, ids::MediaId};
    archive::metrics::install();
    let (s3, bucket) = crate::common::s3_settings();
    let settings = archive::config::StorageSettings { url: format!("s3://{bucket}"), s3, ..Default::default() };
    let store = archive::blob::open(&settings, 64 * 1024).await.expect("opens").store;
    let key = BlobKey::new_media_rendition(&MediaId::generate());
    let mut upload = store.start_upload(&key, "video/mp4").await.unwrap();
    let data = crate::common::pseudo_random_bytes(crate::common::TEST_PART_SIZE * 2 + 1000, 8);
    for chunk in data.chunks(1 << 20) {
        upload.write(bytes::Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    upload.commit().await.unwrap();
    store.delete(&key).await.unwrap();
    let text = archive::metrics::render();
    let count = |operation: &str| {
        sample(&text, &["archive_storage_operation_seconds_count{", &format!("operation=\"{operation}\"")])
    };
    assert_eq!(count("upload_part"), Some(3.0), "three parts: {text}");
    assert_eq!((count("create_multipart"), count("complete_multipart")), (Some(1.0), Some(1.0)));
}

/// The open-uploads gauge counts what the database holds, from a process
/// of its own (the test binary's servers share one registry).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_janitor_reports_open_upload_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("ARCHIVE__SERVER__GRPC_ADDR", "127.0.0.1:0"),
        ("ARCHIVE__SERVER__GATEWAY_ADDR", "127.0.0.1:0"),
        ("ARCHIVE__MEDIA__UPLOAD_JANITOR_INTERVAL_SECONDS", "1"),
    ];
    let server = crate::common::spawn_archived(dir.path(), &env);
    let mut media = archive::client::media_client(server.channel().await);
    for name in ["mot.bin", "hai.bin"] {
        let header = pb::UploadHeader { filename: name.into(), ..Default::default() };
        media.start_upload(pb::StartUploadRequest { header: Some(header) }).await.expect("starts");
    }
    let gauge = || async {
        let text = reqwest::get(format!("{}/metrics", server.admin)).await.unwrap().text().await.unwrap();
        sample(&text, &["archive_upload_sessions_open "])
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while gauge().await != Some(2.0) {
        assert!(std::time::Instant::now() < deadline, "gauge stays at {:?}", gauge().await);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_limit_is_resource_exhausted_naming_the_setting() {
    let limit = 256 * 1024;
    let server = TestServer::start_with(Stack::Embedded, |settings| {
        settings.server.max_message_bytes = limit;
        settings.media.chunk_size_bytes = limit / 4;
    })
    .await;
    let over_limit = |status: tonic::Status| {
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert!(status.message().contains("server.max_message_bytes"), "{}", status.message());
        assert_eq!(reason(&status), "MESSAGE_TOO_LARGE");
    };

    let body = "Đảng bộ tỉnh Thái Bình ".repeat(limit / 10);
    let article = pb::Article { title: "Quá dài".into(), body, ..Default::default() };
    let created = server
        .articles()
        .create_article(pb::CreateArticleRequest { article: Some(article), ..Default::default() })
        .await;
    over_limit(created.unwrap_err());

    // A chunk over the limit inside an upload stream.
    let header = pb::UploadHeader { filename: "lon.bin".into(), ..Default::default() };
    let messages = vec![
        pb::UploadMediaRequest { kind: Some(Kind::Header(header)) },
        pb::UploadMediaRequest { kind: Some(Kind::Chunk(vec![7u8; limit * 2].into())) },
    ];
    let upload = server.media().upload_media(futures::stream::iter(messages)).await;
    over_limit(upload.unwrap_err());

    // Under the limit, the same calls go through.
    let header = pb::UploadHeader { filename: "nho.bin".into(), ..Default::default() };
    let uploaded =
        server.media().upload_media(upload_messages(header, std::io::Cursor::new(vec![1u8; 1000]), |_| {})).await;
    assert!(uploaded.is_ok());
}

async fn health_of(channel: &tonic::transport::Channel) -> tonic_health::pb::health_check_response::ServingStatus {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let request = HealthCheckRequest { service: "archive.v1.MediaService".into() };
    HealthClient::new(channel.clone()).check(request).await.expect("health answers").into_inner().status()
}

/// Waits until grpc.health says `serving` and `/readyz` agrees.
async fn until_health(server: &TestServer, serving: bool) {
    use tonic_health::pb::health_check_response::ServingStatus;
    let expected = if serving { ServingStatus::Serving } else { ServingStatus::NotServing };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let readyz = reqwest::get(format!("http://{}/readyz", server.admin_addr)).await.unwrap().status().as_u16();
        if health_of(&server.channel).await == expected && readyz == if serving { 200 } else { 503 } {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "health never turned {expected:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// SeaweedFS, then PostgreSQL, go away behind a proxy and come back: the
/// services turn NOT_SERVING and SERVING again, `/readyz` with them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_storage_and_database() {
    crate::skip_without!(S3, POSTGRES);
    let (s3, _) = crate::common::s3_settings();
    let s3_proxy = crate::common::Proxy::start(crate::common::host_port(s3.endpoint.as_deref().unwrap())).await;
    let database = crate::common::fresh_postgres_url().await;
    let db_proxy = crate::common::Proxy::start(crate::common::host_port(&database)).await;
    let proxied_db = database.replace(&crate::common::host_port(&database).to_string(), &db_proxy.addr.to_string());
    let server = TestServer::start_with(Stack::Production, |settings| {
        settings.storage.s3.endpoint = Some(format!("http://{}", s3_proxy.addr));
        settings.metadata.url = proxied_db;
        settings.server.readiness_interval_seconds = 1;
    })
    .await;
    let healthz = reqwest::get(format!("http://{}/healthz", server.gateway_addr)).await.unwrap();
    assert_eq!(healthz.status().as_u16(), 200);
    until_health(&server, true).await;

    for proxy in [&s3_proxy, &db_proxy] {
        proxy.set_up(false);
        until_health(&server, false).await;
        let healthz = reqwest::get(format!("http://{}/healthz", server.gateway_addr)).await.unwrap();
        assert_eq!(healthz.status().as_u16(), 200, "alive while not ready");
        proxy.set_up(true);
        until_health(&server, true).await;
    }
}

/// SIGTERM during a resumable upload: NOT_SERVING at once, the stream ends
/// UNAVAILABLE saying where to resume, archived exits 0, and the upload
/// completes on a new archived with the right SHA-256.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_uploads_resumably_and_exits_cleanly() {
    crate::skip_without!(S3, POSTGRES);
    use tonic_health::pb::health_check_response::ServingStatus;
    let dir = tempfile::tempdir().unwrap();
    let mut env = crate::common::production_config(dir.path(), "").await;
    env.push(("ARCHIVE__SERVER__SHUTDOWN_DELAY_SECONDS".into(), "1".into()));
    env.push(("ARCHIVE__SERVER__SHUTDOWN_DEADLINE_SECONDS".into(), "1".into()));
    let mut first = crate::common::spawn_archived(dir.path(), &env);
    let channel = first.channel().await;
    let mut media = archive::client::media_client(channel.clone());

    let header = pb::UploadHeader { filename: "phong-su.bin".into(), ..Default::default() };
    let started = media.start_upload(pb::StartUploadRequest { header: Some(header) }).await.unwrap().into_inner();
    let part = started.part_size_bytes as usize;
    let data = crate::common::pseudo_random_bytes(part * 5 / 2, 19);
    let (messages, stream) = tokio::sync::mpsc::channel(4);
    let call = tokio::spawn({
        let mut media = media.clone();
        async move { media.upload_media(tokio_stream::wrappers::ReceiverStream::new(stream)).await }
    });
    let resume = pb::UploadResume { upload_id: started.upload_id.clone(), offset: 0 };
    messages.send(pb::UploadMediaRequest { kind: Some(Kind::Resume(resume)) }).await.unwrap();
    for chunk in data[..part * 3 / 2].chunks(1 << 20) {
        messages.send(pb::UploadMediaRequest { kind: Some(Kind::Chunk(chunk.to_vec().into())) }).await.unwrap();
    }
    // The first part is recorded before the signal.
    let query = pb::QueryUploadRequest { upload_id: started.upload_id.clone() };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while media.query_upload(query.clone()).await.unwrap().into_inner().committed_offset < part as i64 {
        assert!(std::time::Instant::now() < deadline, "the first part never landed");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let term = std::process::Command::new("kill").args(["-TERM", &first.pid().to_string()]).status().unwrap();
    assert!(term.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    while health_of(&channel).await != ServingStatus::NotServing {
        assert!(std::time::Instant::now() < deadline, "health did not turn NOT_SERVING at once");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let ended = call.await.unwrap().expect_err("the stream was ended");
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    assert!(ended.message().contains(&format!("resume at offset {part}")), "{}", ended.message());
    assert!(archive::client::is_transient(&ended));
    drop(messages);
    let status = tokio::task::spawn_blocking(move || first.wait_exit(std::time::Duration::from_secs(15)))
        .await
        .unwrap()
        .expect("archived exits after the deadline");
    assert!(status.success(), "exit code {status:?}");

    let second = crate::common::spawn_archived(dir.path(), &env);
    let mut media = archive::client::media_client(second.channel().await);
    let offset = media.query_upload(query).await.unwrap().into_inner().committed_offset as usize;
    assert_eq!(offset, part);
    let finish = pb::UploadFinish {
        sha256: crate::common::sha256_hex(&data),
        size_bytes: data.len() as i64,
        ..Default::default()
    };
    let rest = archive::client::resumed_messages(
        started.upload_id.clone(),
        offset as u64,
        std::io::Cursor::new(data[offset..].to_vec()),
        finish,
        |_| {},
    );
    let stored = media.upload_media(rest).await.expect("resumed on the new server").into_inner().media.unwrap();
    assert_eq!(stored.sha256, crate::common::sha256_hex(&data));
}

fn reason_and_retry(status: &tonic::Status) -> (Code, String, bool) {
    (status.code(), reason(status), status.get_details_retry_info().is_some())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_limit_is_crossed_with_its_status_and_setting() {
    let server = TestServer::start_with(Stack::Embedded, |settings| {
        settings.auth.requests_per_second = 1;
        settings.auth.burst = 3;
        settings.server.max_in_flight_requests = 1;
        settings.server.unary_timeout_seconds = 1;
        settings.media.upload_idle_timeout_seconds = 1;
    })
    .await;
    let list = || async { server.metadata().list_articles(pb::ListArticlesRequest::default()).await };

    // Calls in flight: an open upload stream holds the only slot.
    let (messages, stream) = tokio::sync::mpsc::channel(4);
    let mut media = server.media();
    let upload =
        tokio::spawn(async move { media.upload_media(tokio_stream::wrappers::ReceiverStream::new(stream)).await });
    let header = pb::UploadHeader { filename: "cho.bin".into(), ..Default::default() };
    messages.send(pb::UploadMediaRequest { kind: Some(Kind::Header(header)) }).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let refused = list().await.unwrap_err();
    assert_eq!(reason_and_retry(&refused), (Code::ResourceExhausted, "TOO_MANY_REQUESTS".into(), true));
    assert!(refused.message().contains("server.max_in_flight_requests"), "{}", refused.message());
    assert_eq!(health_of(&server.channel).await, tonic_health::pb::health_check_response::ServingStatus::Serving);

    // The idle stream is ended after a second of silence, which frees the slot.
    let idle = upload.await.unwrap().unwrap_err();
    assert_eq!(reason_and_retry(&idle), (Code::DeadlineExceeded, "UPLOAD_IDLE".into(), false));
    assert!(idle.message().contains("media.upload_idle_timeout_seconds"), "{}", idle.message());
    drop(messages);

    // A unary call over the ceiling: the SQLite writer is held elsewhere.
    let url = server.settings.metadata.url.clone();
    let mut holder = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.unwrap();
    sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut holder).await.unwrap();
    let article = pb::Article { title: "Chờ".into(), body: "…".into(), ..Default::default() };
    let started = std::time::Instant::now();
    let slow = server
        .articles()
        .create_article(pb::CreateArticleRequest { article: Some(article), ..Default::default() })
        .await;
    let slow = slow.unwrap_err();
    assert_eq!(reason_and_retry(&slow), (Code::DeadlineExceeded, "SERVER_TIMEOUT".into(), false));
    assert!(slow.message().contains("server.unary_timeout_seconds"), "{}", slow.message());
    assert!(started.elapsed() < std::time::Duration::from_secs(4), "cut at the ceiling: {:?}", started.elapsed());
    // The caller's own shorter deadline: DEADLINE_EXCEEDED too (tonic alone
    // would answer CANCELLED), at the caller's time, not the ceiling's.
    let article = pb::Article { title: "Vội".into(), body: "…".into(), ..Default::default() };
    let mut request = tonic::Request::new(pb::CreateArticleRequest { article: Some(article), ..Default::default() });
    request.set_timeout(std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    let hurried = server.articles().create_article(request).await.unwrap_err();
    assert_eq!(reason_and_retry(&hurried), (Code::DeadlineExceeded, "CLIENT_DEADLINE".into(), false), "{hurried:?}");
    assert!(hurried.message().contains("grpc-timeout"), "{}", hurried.message());
    assert!(started.elapsed() < std::time::Duration::from_millis(900), "cut at 300 ms: {:?}", started.elapsed());
    sqlx::raw_sql("ROLLBACK").execute(&mut holder).await.unwrap();

    // The rate: a burst of 3, then one per second (refilled after 3 s).
    tokio::time::sleep(std::time::Duration::from_millis(3200)).await;
    let mut outcomes = Vec::new();
    for _ in 0..5 {
        outcomes.push(list().await.map(drop));
    }
    let limited = outcomes.iter().filter_map(|outcome| outcome.as_ref().err()).next().expect("over the rate");
    assert_eq!(reason_and_retry(limited), (Code::ResourceExhausted, "RATE_LIMITED".into(), true));
    assert!(limited.message().contains("auth.requests_per_second"), "{}", limited.message());
    assert!(outcomes.iter().take(3).all(Result::is_ok), "the burst goes through: {outcomes:?}");
}

/// The clip size and the uploads at once, at the header and mid-stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_limits_are_crossed_with_their_status_and_setting() {
    const MAX: usize = 1024 * 1024;
    let server = TestServer::start_with(Stack::Embedded, |settings| {
        settings.media.max_upload_bytes = MAX as u64;
        settings.media.max_concurrent_uploads = 1;
    })
    .await;
    let too_large = |status: &tonic::Status| {
        assert_eq!(reason_and_retry(status), (Code::ResourceExhausted, "UPLOAD_TOO_LARGE".into(), false));
        assert!(status.message().contains("media.max_upload_bytes"), "{}", status.message());
    };
    // Over the size mid-stream, and declared over it up front.
    too_large(&server.upload("lon.bin", vec![3u8; MAX + 1]).await.unwrap_err());
    let header = pb::UploadHeader { filename: "lon.bin".into(), size_bytes: MAX as i64 + 1, ..Default::default() };
    too_large(&server.media().start_upload(pb::StartUploadRequest { header: Some(header) }).await.unwrap_err());
    let counts = server.metadata().get_archive_statistics(pb::GetArchiveStatisticsRequest {}).await.unwrap();
    let counts = counts.into_inner();
    assert_eq!((counts.media_count, counts.open_upload_count), (0, 0), "nothing was stored, nothing left open");
    assert!(server.upload("vua.bin", vec![3u8; MAX]).await.is_ok(), "at the limit is fine");

    // One upload holds the only slot: the next waits its turn, told when to retry.
    let (messages, stream) = tokio::sync::mpsc::channel(4);
    let mut media = server.media();
    let holder =
        tokio::spawn(async move { media.upload_media(tokio_stream::wrappers::ReceiverStream::new(stream)).await });
    let header = pb::UploadHeader { filename: "dang.bin".into(), ..Default::default() };
    messages.send(pb::UploadMediaRequest { kind: Some(Kind::Header(header)) }).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let busy = server.upload("sau.bin", vec![1u8; 100]).await.unwrap_err();
    assert_eq!(reason_and_retry(&busy), (Code::ResourceExhausted, "TOO_MANY_UPLOADS".into(), true));
    assert!(busy.message().contains("media.max_concurrent_uploads"), "{}", busy.message());
    drop(messages);
    let _ = holder.await.unwrap();
    assert!(server.upload("sau.bin", vec![1u8; 100]).await.is_ok(), "the slot is free again");
}

/// `server.max_concurrent_streams`: a connection with that many streams
/// open waits for one to end (HTTP/2 flow control); other connections do not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_over_the_per_connection_limit_wait_their_turn() {
    use futures::StreamExt;
    let server = TestServer::start_with(Stack::Embedded, |settings| settings.server.max_concurrent_streams = 2).await;
    // Larger than the client's stream window: a stream not read stays open.
    let clip = server.upload("dai.bin", crate::common::pseudo_random_bytes(12 << 20, 4)).await.unwrap();
    let mut open = Vec::new();
    for _ in 0..2 {
        let request = pb::ReadMediaRequest { name: clip.name.clone(), offset: 0, limit: 0 };
        let mut stream = server.media().read_media(request).await.unwrap().into_inner();
        stream.next().await.expect("a chunk").expect("a chunk");
        open.push(stream);
    }
    let stats = || async {
        let mut metadata = server.metadata();
        metadata.get_archive_statistics(pb::GetArchiveStatisticsRequest {}).await
    };
    let waited = tokio::time::timeout(std::time::Duration::from_millis(500), stats()).await;
    assert!(waited.is_err(), "a third stream on the connection waits");
    let other = archive::client::connect(&format!("http://{}", server.grpc_addr)).await.unwrap();
    let elsewhere = pb::metadata_service_client::MetadataServiceClient::new(other)
        .get_archive_statistics(pb::GetArchiveStatisticsRequest {})
        .await;
    assert!(elsewhere.is_ok(), "another connection is served at once");
    drop(open.pop());
    let served = tokio::time::timeout(std::time::Duration::from_secs(5), stats()).await;
    assert!(served.expect("served once a stream ended").is_ok());
}

/// gRPC's Python implementation lists our services over reflection
/// v1alpha and calls them through stubs it generates from proto/.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_client_reflects_and_calls() {
    crate::skip_without!(PYTHON);
    let server = TestServer::start(Stack::Embedded).await;
    let output = crate::common::python(&["tests/interop/python_client.py", &server.grpc_addr.to_string(), "proto"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && stdout.trim() == "ok", "{stdout}{stderr}");
}
