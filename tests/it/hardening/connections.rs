//! Findings 5, 6 and 9 (admin) of issue 32, from outside: slowloris
//! connections on both ports are closed at `server.header_read_timeout_seconds`
//! while slow but valid clients keep working; `/metrics` and `/readyz`
//! answer on the admin listener, not on the viewers' gateway.

use crate::{
    common::{Stack, TestServer, pseudo_random_bytes},
    slow_clients::rss_bytes,
};
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
    TestServer::start_with(Stack::Embedded, |settings| {
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
    let server = TestServer::start(Stack::Embedded).await;
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

/// One HTTP/2 frame (RFC 9113 §4.1).
fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// A header block of literals without indexing, no Huffman (RFC 7541 §6.2.2).
fn header_block(headers: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in headers {
        assert!(name.len() < 127 && value.len() < 127, "one-byte lengths");
        block.push(0);
        block.push(name.len() as u8);
        block.extend_from_slice(name.as_bytes());
        block.push(value.len() as u8);
        block.extend_from_slice(value.as_bytes());
    }
    block
}

/// The largest HTTP/2 window (RFC 9113 §6.9.1).
const MAX_WINDOW: u32 = (1 << 31) - 1;

/// A raw HTTP/2 connection that opens `streams` ReadMedia calls of `name`
/// with windows of 2³¹−1, then never reads a byte: once the socket buffers
/// are full, whatever archived would send ahead piles up on its side.
async fn stalled_reader(addr: std::net::SocketAddr, name: &str, streams: u32) -> TcpStream {
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    // SETTINGS_ENABLE_PUSH 0, SETTINGS_INITIAL_WINDOW_SIZE 2³¹−1.
    let settings = [[0, 2, 0, 0, 0, 0].as_slice(), &[0, 4], &MAX_WINDOW.to_be_bytes()].concat();
    frame(&mut out, 0x4, 0, 0, &settings);
    frame(&mut out, 0x8, 0, 0, &(MAX_WINDOW - 65_535).to_be_bytes());
    let authority = addr.to_string();
    let block = header_block(&[
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/archive.v1.MediaService/ReadMedia"),
        (":authority", &authority),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ]);
    let message = prost::Message::encode_to_vec(&pb::ReadMediaRequest { name: name.into(), offset: 0, limit: 0 });
    let grpc = [[0u8].as_slice(), &(message.len() as u32).to_be_bytes(), &message].concat();
    for stream in (0..streams).map(|i| 1 + 2 * i) {
        frame(&mut out, 0x1, 0x4, stream, &block); // HEADERS, END_HEADERS
        frame(&mut out, 0x0, 0x1, stream, &grpc); // DATA, END_STREAM
    }
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(&out).await.unwrap();
    socket
}

/// Reads frames until `bytes` have come; the streams that got DATA, and
/// whether any stream was reset or the connection refused (GOAWAY).
async fn streams_with_data(socket: &mut TcpStream, bytes: usize) -> (std::collections::BTreeSet<u32>, bool) {
    let (mut with_data, mut refused, mut read) = (std::collections::BTreeSet::new(), false, 0);
    while read < bytes {
        let mut head = [0u8; 9];
        socket.read_exact(&mut head).await.expect("frames");
        let length = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & MAX_WINDOW;
        let mut payload = vec![0; length];
        socket.read_exact(&mut payload).await.expect("a frame's payload");
        match head[3] {
            0x0 if length > 0 => {
                with_data.insert(stream);
            }
            0x3 | 0x7 => refused = true,
            _ => {}
        }
        read += 9 + length;
    }
    (with_data, refused)
}

/// Finding 5: 300 ReadMedia streams (two connections of 150, under
/// `server.max_concurrent_streams`; the in-flight limit raised to 300 from
/// its default 192 so that all of them run) with 2³¹−1 windows that never
/// read hold at most what archived sends ahead of each, as documented
/// (`stalled_read_stream_bytes`, docs/operations.md "Memory"), not what
/// their windows would allow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_readers_hold_at_most_the_documented_memory() {
    const STREAMS_PER_CONNECTION: u32 = 150;
    const CONNECTIONS: u32 = 2;
    const CLIP: usize = 32 << 20;
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("ARCHIVE__SERVER__GRPC_ADDR", "127.0.0.1:0"),
        ("ARCHIVE__SERVER__GATEWAY_ADDR", "127.0.0.1:0"),
        ("ARCHIVE__SERVER__MAX_IN_FLIGHT_REQUESTS", "300"),
    ];
    let server = crate::common::spawn_archived(dir.path(), &env);
    let mut media = archive::client::media_client(server.channel().await);
    let header = pb::UploadHeader { filename: "dai.bin".into(), ..Default::default() };
    let data = pseudo_random_bytes(CLIP, 5);
    let messages = archive::client::upload_messages(header, std::io::Cursor::new(data), |_| {});
    let clip = media.upload_media(messages).await.expect("uploads").into_inner().media.expect("media");
    let grpc: std::net::SocketAddr = server.grpc.trim_start_matches("http://").parse().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = rss_bytes(server.pid());

    let mut sockets = Vec::new();
    for _ in 0..CONNECTIONS {
        sockets.push(stalled_reader(grpc, &clip.name, STREAMS_PER_CONNECTION).await);
    }
    let streams = u64::from(CONNECTIONS * STREAMS_PER_CONNECTION);
    // Until it stops growing: every stream has filled what it may hold.
    let (mut peak, mut last_growth) = (idle, Instant::now());
    while last_growth.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = rss_bytes(server.pid());
        if now > peak + (1 << 20) {
            last_growth = Instant::now();
        }
        peak = peak.max(now);
    }
    let grown = peak.saturating_sub(idle);
    let per_stream = archive::app::connections::stalled_read_stream_bytes(&archive::config::Settings::default());
    println!(
        "{streams} stalled ReadMedia streams: archived {} → {} MiB, {:.2} MiB each (documented bound {:.2} MiB each)",
        idle >> 20,
        peak >> 20,
        grown as f64 / streams as f64 / f64::from(1 << 20),
        per_stream as f64 / f64::from(1 << 20),
    );

    // They are stalled readers, not refused calls: each stream got bytes.
    for socket in &mut sockets {
        let (with_data, refused) = streams_with_data(socket, 16 << 20).await;
        assert!(!refused, "a stream was reset or the connection refused");
        assert!(
            with_data.len() as u32 >= STREAMS_PER_CONNECTION * 9 / 10,
            "only {} of {STREAMS_PER_CONNECTION} streams sent data",
            with_data.len()
        );
    }
    assert!(
        grown <= streams * per_stream,
        "archived grew {} MiB for {streams} stalled streams: above {streams} × {} KiB",
        grown >> 20,
        per_stream >> 10
    );
}
