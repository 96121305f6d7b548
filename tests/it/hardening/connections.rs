//! Findings 5, 6 and 9 (admin) of issue 32, from outside: slowloris
//! connections on both ports are closed at `server.header_read_timeout_seconds`
//! while slow but valid clients keep working; `/metrics` and `/readyz`
//! answer on the admin listener, not on the viewers' gateway.

use crate::common::{Backend, TestServer, pseudo_random_bytes};
use archive::proto::v1 as pb;
use std::time::{Duration, Instant};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// The header read timeout the slowloris tests configure.
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a slowloris connection may stay open: generous, for a loaded
/// machine, yet far below "for ever".
const CLOSED_WITHIN: Duration = Duration::from_secs(6);

async fn server_with_short_timeouts() -> TestServer {
    TestServer::start_with(Backend::Fs, |settings| {
        settings.server.header_read_timeout_seconds = HEADER_TIMEOUT.as_secs();
        settings.server.http2_keepalive_interval_seconds = 1;
        settings.server.http2_keepalive_timeout_seconds = 1;
    })
    .await
}

/// Reads (and drops) whatever the server sends until it closes the
/// connection; how long that took, or `None` if it stayed open `limit`.
async fn time_to_close(mut reader: impl AsyncReadExt + Unpin, started: Instant, limit: Duration) -> Option<Duration> {
    let mut buf = [0u8; 4096];
    let until_closed = async {
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return started.elapsed(),
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, until_closed).await.ok()
}

/// A connection that writes `pieces` one `every` apart (and stops at the
/// first failed write), watched until the server closes it.
async fn dripping(addr: std::net::SocketAddr, pieces: Vec<Vec<u8>>, every: Duration) -> Option<Duration> {
    let socket = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    let (reader, mut writer) = socket.into_split();
    let writing = tokio::spawn(async move {
        for piece in pieces {
            if writer.write_all(&piece).await.is_err() {
                return;
            }
            tokio::time::sleep(every).await;
        }
        // Then silence, the socket held open.
        std::future::pending::<()>().await;
    });
    let closed = time_to_close(reader, started, CLOSED_WITHIN).await;
    writing.abort();
    closed
}

fn assert_closed_in_time(what: &str, closed: Option<Duration>) {
    let took = closed.unwrap_or_else(|| panic!("{what}: still open after {CLOSED_WITHIN:?}"));
    println!("{what}: closed after {took:.1?}");
    // Not cut at once for some other reason: it had its timeout.
    assert!(took >= HEADER_TIMEOUT - Duration::from_millis(500), "{what}: closed after only {took:?}");
}

/// Header lines of a request that never ends, one a second.
fn endless_head() -> Vec<Vec<u8>> {
    let mut lines = vec![b"GET /healthz HTTP/1.1\r\nHost: archive\r\n".to_vec()];
    lines.extend((0..60).map(|i| format!("X-Slow-{i}: {}\r\n", "a".repeat(10)).into_bytes()));
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_on_the_gateway_is_closed_and_slow_valid_clients_are_served() {
    let server = server_with_short_timeouts().await;
    let second = Duration::from_secs(1);
    let (idle, lines, bytes) = tokio::join!(
        dripping(server.gateway_addr, vec![], second),
        dripping(server.gateway_addr, endless_head(), second),
        dripping(server.gateway_addr, b"GET /healthz HTTP/1.1\r\n".iter().map(|b| vec![*b]).collect(), second),
    );
    assert_closed_in_time("gateway: an idle socket", idle);
    assert_closed_in_time("gateway: a header line a second", lines);
    assert_closed_in_time("gateway: a byte a second", bytes);

    // A head sent in pieces, within the timeout: answered.
    let mut socket = TcpStream::connect(server.gateway_addr).await.unwrap();
    for piece in ["GET /healthz HTTP/1.1\r\n", "Host: archive\r\n", "Connection: close\r\n\r\n"] {
        socket.write_all(piece.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let mut response = String::new();
    socket.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    // A viewer that stops reading a clip for longer than the timeout gets
    // the rest when it reads on: the timeout is for heads, not bodies.
    let data = pseudo_random_bytes(16 << 20, 32);
    let clip = server.upload("cham.bin", data.clone()).await.unwrap();
    let request = pb::GetPlaybackUrlRequest { name: clip.name.clone(), ..Default::default() };
    let url = server.media().get_playback_url(request).await.unwrap().into_inner().url;
    let mut response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.chunk().await.unwrap().expect("first bytes").to_vec();
    tokio::time::sleep(3 * HEADER_TIMEOUT).await;
    while let Some(bytes) = response.chunk().await.expect("the body goes on") {
        body.extend_from_slice(&bytes);
    }
    assert!(body == data, "the clip arrived whole ({} of {} bytes)", body.len(), data.len());
}

/// An HTTP/2 SETTINGS frame with no settings (RFC 9113 §6.5).
const EMPTY_SETTINGS: [u8; 9] = [0, 0, 0, 0x4, 0, 0, 0, 0, 0];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_on_the_grpc_port_is_closed_and_idle_channels_stay() {
    let server = server_with_short_timeouts().await;
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    // A feed consumer opens a stream and waits, with nothing to say.
    let mut metadata = server.metadata();
    let mut changes = metadata.watch_changes(pb::WatchChangesRequest::default()).await.unwrap().into_inner();
    let second = Duration::from_secs(1);
    let (idle, partial, dripped, deaf) = tokio::join!(
        dripping(server.grpc_addr, vec![], second),
        dripping(server.grpc_addr, vec![preface[..20].to_vec()], second),
        dripping(server.grpc_addr, preface.chunks(4).map(<[u8]>::to_vec).collect(), second),
        // The whole preface and SETTINGS, then pings never answered.
        dripping(server.grpc_addr, vec![[preface.as_slice(), &EMPTY_SETTINGS].concat()], second),
    );
    assert_closed_in_time("gRPC: an idle socket", idle);
    assert_closed_in_time("gRPC: a partial preface", partial);
    assert_closed_in_time("gRPC: the preface 4 bytes a second", dripped);
    // Closed by keep-alive (1 s pings, 1 s to answer), not by the head timeout.
    println!("gRPC: a connection that answers no ping: closed after {deaf:.1?}");
    assert!(deaf.is_some(), "a connection that answers no ping is still open after {CLOSED_WITHIN:?}");

    // The consumer's connection, idle all along but answering pings, is
    // still there: its stream gets the next change.
    let article =
        pb::Article { title: "Vẫn mở".into(), body: "Kết nối còn sống".into(), ..Default::default() };
    let request = pb::CreateArticleRequest { article: Some(article), ..Default::default() };
    let created = server.articles().create_article(request).await.unwrap().into_inner().article.unwrap();
    let change = tokio::time::timeout(Duration::from_secs(10), changes.message())
        .await
        .expect("a change within 10 s")
        .expect("the idle stream is still open")
        .expect("a message");
    assert!(change.changes.iter().any(|c| c.name == created.name), "{change:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_readiness_answer_on_the_admin_port_only() {
    let server = TestServer::start(Backend::Fs).await;
    server.metadata().list_articles(pb::ListArticlesRequest::default()).await.expect("a call to count");
    let http = reqwest::Client::new();
    let status = |addr: std::net::SocketAddr, path: &str| {
        let request = http.get(format!("http://{addr}{path}")).send();
        async move { request.await.unwrap().status().as_u16() }
    };
    for path in ["/metrics", "/readyz"] {
        assert_eq!(status(server.gateway_addr, path).await, 404, "{path} on the viewers' gateway");
        assert_eq!(status(server.admin_addr, path).await, 200, "{path} on the admin port");
    }
    assert_eq!(status(server.gateway_addr, "/healthz").await, 200, "load balancers probe the gateway");
    assert_eq!(status(server.admin_addr, "/healthz").await, 200);
    let metrics = http.get(format!("http://{}/metrics", server.admin_addr)).send().await.unwrap();
    assert!(metrics.text().await.unwrap().contains("grpc_server_handled_total"), "Prometheus text");
    assert_eq!(status(server.admin_addr, "/media/x").await, 404, "no media on the admin port");
}
