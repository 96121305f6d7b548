//! What a connection must do to stay open, on every port: send its opening
//! (the HTTP/2 preface, or an HTTP/1.1 request head) within
//! `server.header_read_timeout_seconds` of being accepted, answer HTTP/2
//! keep-alive pings, and on the HTTP ports send each later request head in
//! time too. Slowloris clients (idle sockets, a header line now and then, a
//! partial preface) are closed instead of held open for ever. And what a
//! stream whose reader stopped may hold ([`stalled_read_stream_bytes`]),
//! summed with the other limits into [`worst_case_memory_bytes`].

use crate::config::{ServerSettings, Settings};
use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll, ready},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::watch,
    time::Sleep,
};

/// The client connection preface of HTTP/2 (RFC 9113 §3.4).
const HTTP2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The connection timeouts of `[server]`, as durations.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
}

impl ConnectionLimits {
    pub fn of(server: &ServerSettings) -> Self {
        Self {
            header_read_timeout: Duration::from_secs(server.header_read_timeout_seconds),
            keepalive_interval: Duration::from_secs(server.http2_keepalive_interval_seconds),
            keepalive_timeout: Duration::from_secs(server.http2_keepalive_timeout_seconds),
        }
    }
}

/// An accepted connection whose reads fail (`TimedOut`) when its opening
/// has not arrived by the deadline; afterwards it is the socket itself.
/// hyper has no such deadline before it knows the protocol (hyper-util's
/// `auto` waits for the preface for ever, so does HTTP/2), and only
/// HTTP/1's header read timeout after.
pub struct Opening<IO> {
    inner: IO,
    /// Until the opening is complete.
    deadline: Option<Pin<Box<Sleep>>>,
    scan: OpeningScan,
}

impl<IO> Opening<IO> {
    pub fn new(inner: IO, timeout: Duration) -> Self {
        Self { inner, deadline: Some(Box::pin(tokio::time::sleep(timeout))), scan: OpeningScan::default() }
    }

    /// No deadline: for TLS, whose handshake has its own (the bytes here
    /// are encrypted).
    pub fn unchecked(inner: IO) -> Self {
        Self { inner, deadline: None, scan: OpeningScan::default() }
    }

    pub fn get_ref(&self) -> &IO {
        &self.inner
    }
}

/// Which opening the bytes so far are: the HTTP/2 preface as long as they
/// match it, else an HTTP/1 request head, complete at its empty line.
#[derive(Debug, Default)]
struct OpeningScan {
    seen: usize,
    not_http2: bool,
    /// Bytes of the current HTTP/1 line, `\r` left out.
    line: usize,
}

impl OpeningScan {
    /// Feeds bytes read; true once the opening is complete.
    fn feed(&mut self, bytes: &[u8]) -> bool {
        for &byte in bytes {
            if !self.not_http2 {
                if HTTP2_PREFACE.get(self.seen) == Some(&byte) {
                    self.seen += 1;
                    if self.seen == HTTP2_PREFACE.len() {
                        return true;
                    }
                    // The preface's own first line, then an empty one.
                    continue;
                }
                // Not the preface: read what came so far as HTTP/1.
                self.not_http2 = true;
                self.line = 0;
                let prefix = &HTTP2_PREFACE[..self.seen];
                if prefix.iter().any(|&b| self.http1(b)) {
                    return true;
                }
            }
            if self.http1(byte) {
                return true;
            }
        }
        false
    }

    /// True at the empty line that ends a request head.
    fn http1(&mut self, byte: u8) -> bool {
        match byte {
            b'\n' if self.line == 0 && self.seen > 0 => true,
            b'\n' => {
                self.seen += 1;
                self.line = 0;
                false
            }
            b'\r' => false,
            _ => {
                self.seen += 1;
                self.line += 1;
                false
            }
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Opening<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if this.deadline.is_some() && this.scan.feed(&buf.filled()[before..]) {
                    this.deadline = None;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => match &mut this.deadline {
                Some(deadline) => {
                    ready!(deadline.as_mut().poll(cx));
                    Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "no request head within the timeout")))
                }
                None => Poll::Pending,
            },
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Opening<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl tonic::transport::server::Connected for Opening<TcpStream> {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

/// Accepted gRPC connections, with Nagle's algorithm off and their opening
/// under a deadline (none with TLS: its handshake timeout covers that).
///
/// `Server::tcp_nodelay` reaches only sockets tonic accepts itself
/// (`serve`); a listener handed in through `serve_with_incoming*` keeps the
/// kernel's default. With Nagle on, a reply written in two segments (headers
/// and message, then trailers) waits for the client's delayed ACK: every
/// unary call that awaited anything took ~40 ms on loopback.
pub fn grpc_incoming(
    listener: TcpListener,
    limits: ConnectionLimits,
    tls: bool,
) -> impl futures::Stream<Item = io::Result<Opening<TcpStream>>> {
    use futures::StreamExt;
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)).map(move |accepted| {
        accepted.map(|socket| match tls {
            true => Opening::unchecked(socket),
            false => Opening::new(socket, limits.header_read_timeout),
        })
    })
}

/// Serves `router` over HTTP/1.1 and HTTP/2 (prior knowledge) on
/// `listener` until `shutdown` completes, then closes the listener and
/// waits for the connections to finish what they were doing (keep-alive
/// connections are closed after their response). Nagle's algorithm off;
/// the opening, each request head and keep-alive idleness under
/// `header_read_timeout`; HTTP/2 pinged.
pub async fn serve_http(
    listener: TcpListener,
    router: axum::Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    use hyper_util::{
        rt::{TokioExecutor, TokioIo, TokioTimer},
        server::conn::auto::Builder,
        service::TowerToHyperService,
    };
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout).keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.keepalive_interval)
        .keep_alive_timeout(limits.keepalive_timeout);
    // Every connection holds a receiver; dropping the sender asks them to
    // finish, and `closed` tells when the last one has.
    let (stop_tx, stop_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (socket, peer): (TcpStream, SocketAddr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(%error, "accepting an HTTP connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(error) = socket.set_nodelay(true) {
            tracing::warn!(%error, "TCP_NODELAY not set on an HTTP connection");
        }
        let io = TokioIo::new(Opening::new(socket, limits.header_read_timeout));
        let service = TowerToHyperService::new(router.clone());
        let builder = builder.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let connection = builder.serve_connection(io, service);
            let mut connection = std::pin::pin!(connection);
            let mut stopping = false;
            loop {
                tokio::select! {
                    served = connection.as_mut() => {
                        if let Err(error) = served {
                            tracing::debug!(%peer, error = %error, "HTTP connection ended");
                        }
                        break;
                    }
                    _ = stop.changed(), if !stopping => {
                        stopping = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(stop);
        });
    }
    drop(listener);
    stop_tx.send_replace(());
    drop(stop_rx);
    stop_tx.closed().await;
    Ok(())
}

/// What hyper lets HTTP/2 queue per stream beyond what the socket took:
/// its server default `max_send_buf_size` (hyper 1.x,
/// `src/proto/h2/server.rs`, `DEFAULT_MAX_SEND_BUF_SIZE`), which tonic 0.14
/// does not let us set. One message more is fetched whenever less than this
/// is queued, so a stalled stream holds up to two messages.
const HTTP2_SEND_BUFFER_BYTES: u64 = 400 * 1024;
/// The rest of a stream's cost (h2 stream state, tonic's and tower's
/// futures, its task) and the allocator's slack. The first measurements
/// came within 0.06 MiB of the two messages and the send buffer alone;
/// on 2026-12-07, 300 streams started at once measured 2.50–2.77 MiB each
/// (a clip's record is now read on the calling thread, through SQLite
/// connections opened per concurrent read: the likely cause, not yet
/// profiled).
const STREAM_STATE_BYTES: u64 = 448 * 1024;
/// An idle archived: 31–38 MiB RSS measured (debug build, embedded
/// defaults), rounded up.
const BASELINE_BYTES: u64 = 64 * 1024 * 1024;

/// What one ReadMedia stream whose reader stopped reading may hold in
/// archived at most, whatever window the client gave: two messages of
/// `media.chunk_size_bytes` (the one being sent, the next one fetched)
/// plus HTTP/2's send buffer and the stream's state. The file system
/// backend holds no buffer between reads (`FsBlobStore::get`); on S3 the
/// ranges read ahead are bounded for all reads together
/// (`storage.s3.read_ahead_bytes`). Measured with 300 stalled streams
/// (tests/it/hardening/connections.rs): 2.25–2.39 MiB each at 1 MiB
/// chunks, 2.50–2.77 since local SQLite reads (this gives 2.83), 0.84 MiB
/// at 256 KiB; 4.05 MiB before the file system backend stopped keeping
/// read buffers.
pub fn stalled_read_stream_bytes(settings: &Settings) -> u64 {
    2 * settings.media.chunk_size_bytes as u64 + HTTP2_SEND_BUFFER_BYTES + STREAM_STATE_BYTES
}

/// The most memory archived may need with every call in flight stalled
/// (`server.max_in_flight_requests` × [`stalled_read_stream_bytes`]), every
/// upload slot busy, the body cache and S3 read-ahead full; `None` with no
/// in-flight limit. docs/operations.md ("Memory") gives the sum; the
/// Kubernetes memory limit must hold it.
pub fn worst_case_memory_bytes(settings: &Settings) -> Option<u64> {
    let server = &settings.server;
    if server.max_in_flight_requests == 0 {
        return None;
    }
    let s3 = &settings.storage.s3;
    let per_upload = (s3.part_size_bytes as u64 * (s3.parts_in_flight as u64 + 1)).max(FS_UPLOAD_BYTES);
    Some(
        BASELINE_BYTES
            + server.max_in_flight_requests as u64 * stalled_read_stream_bytes(settings)
            + settings.media.max_concurrent_uploads as u64 * per_upload
            + settings.storage.body_cache_bytes
            + settings.metadata.article_cache_bytes
            + settings.search.writer_memory_bytes as u64
            + s3.read_ahead_bytes as u64,
    )
}

/// An upload on the file system: its parts plan, 8 MiB × (2 in flight + 1)
/// (`blob::fs::PART_PLAN`).
const FS_UPLOAD_BYTES: u64 = 8 * 1024 * 1024 * 3;

#[cfg(test)]
mod tests {
    use super::*;

    fn complete_at(bytes: &[u8]) -> Option<usize> {
        let mut scan = OpeningScan::default();
        (0..bytes.len()).find(|&i| scan.feed(&bytes[i..=i])).map(|i| i + 1)
    }

    #[test]
    fn the_opening_is_the_http2_preface_or_an_http1_head() {
        assert_eq!(complete_at(HTTP2_PREFACE), Some(24));
        assert_eq!(complete_at(&HTTP2_PREFACE[..23]), None, "a partial preface");
        let head = b"GET /media/x HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(complete_at(head), Some(head.len()));
        assert_eq!(complete_at(b"GET / HTTP/1.1\nHost: a\n\n"), Some(24));
        assert_eq!(complete_at(b"GET / HTTP/1.1\r\nHost: a\r\nX-1: b\r\n"), None, "headers still coming");
        // Starts like the preface, then is not: HTTP/1 from the first byte.
        assert_eq!(complete_at(b"PRI * HTTP/1.1\r\n\r\n"), Some(18));
        assert_eq!(complete_at(b"\r\n"), None, "an empty line before any request is no head");
        let mut scan = OpeningScan::default();
        assert!(scan.feed(head), "in one read");
    }

    /// deploy/kubernetes gives the container this much; the defaults (which
    /// its ConfigMap does not change) must fit with every stream stalled.
    #[test]
    fn the_defaults_fit_the_kubernetes_memory_limit() {
        let deployment = include_str!("../../deploy/kubernetes/deployment.yaml");
        let limits = deployment.split("limits:").nth(1).expect("resources.limits");
        let mebibytes: u64 = limits
            .split("memory:")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next()?.strip_suffix("Mi")?.parse().ok())
            .expect("limits.memory in Mi");
        let worst = worst_case_memory_bytes(&Settings::default()).expect("an in-flight limit");
        assert!(worst <= mebibytes << 20, "worst case {} MiB above the {mebibytes} MiB limit", worst >> 20);
        let mut unlimited = Settings::default();
        unlimited.server.max_in_flight_requests = 0;
        assert_eq!(worst_case_memory_bytes(&unlimited), None);
    }
}
