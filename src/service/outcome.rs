//! How every gRPC call ended: its status code, duration and bytes each
//! way, recorded in [`crate::metrics`] when the last byte of the response
//! has gone (or the client went away), labelled by its method only when a
//! registered service declares it ([`super::methods`]). On the way out,
//! tonic's own statuses about the request message get a reason like ours:
//! an oversized message (OUT_OF_RANGE "decoded message length too large")
//! becomes RESOURCE_EXHAUSTED naming the setting, as gRPC's status-code
//! guide asks; one that is not valid protobuf (INTERNAL with prost's text,
//! which says nothing about the server) becomes INVALID_ARGUMENT /
//! `MALFORMED_MESSAGE`. This holds for every service, health included.
//! A call that did not end OK is logged here too, once, at the level its
//! code deserves ([`level`]), with its method and request id.

use crate::error::{ArchiveError, Reason};
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll, ready},
    time::Instant,
};
use tonic::{
    Code,
    codegen::{StdError, http},
};

/// What tonic's decoder says about a message over its limit.
const TONIC_TOO_LARGE: &str = "decoded message length too large";
/// How prost's `DecodeError` starts, which tonic sends as INTERNAL.
const PROST_MALFORMED: &str = "failed to decode Protobuf message";

#[derive(Debug, Clone)]
pub struct OutcomeLayer {
    max_message_bytes: usize,
}

impl OutcomeLayer {
    /// `max_message_bytes` is `server.max_message_bytes`, for the message.
    pub fn new(max_message_bytes: usize) -> Self {
        Self { max_message_bytes }
    }
}

impl<S> tower::Layer<S> for OutcomeLayer {
    type Service = Outcome<S>;
    fn layer(&self, inner: S) -> Outcome<S> {
        Outcome { inner, max_message_bytes: self.max_message_bytes }
    }
}

#[derive(Debug, Clone)]
pub struct Outcome<S> {
    inner: S,
    max_message_bytes: usize,
}

/// One call in progress.
struct Call {
    method: &'static super::methods::Method,
    /// The path of a call to no known method (at most [`MAX_LOGGED_PATH`]
    /// bytes), for the log.
    unknown_path: Option<String>,
    /// As the response carries it (checked by [`super::request_id`]).
    request_id: Option<http::HeaderValue>,
    /// The status message sent (client-safe, and cut at 1 KiB by
    /// `ArchiveError`'s mapping), for the log: it says why.
    message: String,
    start: Instant,
    received: Arc<AtomicU64>,
    max_message_bytes: usize,
}

/// How much of an unknown path the log repeats.
const MAX_LOGGED_PATH: usize = 128;

impl Call {
    fn new(path: &str, received: Arc<AtomicU64>, max_message_bytes: usize) -> Self {
        let method = super::methods::known().method(path);
        let unknown_path = (method.method == super::methods::UNKNOWN).then(|| {
            let end = (0..=path.len().min(MAX_LOGGED_PATH)).rev().find(|end| path.is_char_boundary(*end));
            path[..end.unwrap_or(0)].to_owned()
        });
        let start = Instant::now();
        Self { method, unknown_path, request_id: None, message: String::new(), start, received, max_message_bytes }
    }

    fn finish(&self, code: Code, sent: u64) {
        let received = self.received.load(Ordering::Relaxed);
        let elapsed = self.start.elapsed();
        self.method.metrics().record(code, elapsed, received, sent);
        if code != Code::Ok {
            self.log(code, elapsed);
        }
    }

    /// One line for a call that did not end OK, at the level its code
    /// deserves ([`level`]).
    fn log(&self, code: Code, elapsed: std::time::Duration) {
        let (service, method) = (self.method.service.as_str(), self.method.method.as_str());
        let path = self.unknown_path.as_deref().unwrap_or("");
        let request_id = self.request_id.as_ref().and_then(|id| id.to_str().ok()).unwrap_or("");
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        let why = crate::error::Clipped(&self.message);
        match level(code) {
            tracing::Level::INFO => {
                tracing::info!(service, method, path, request_id, ?code, latency_ms, %why, "call refused")
            }
            tracing::Level::WARN => {
                tracing::warn!(service, method, path, request_id, ?code, latency_ms, %why, "call refused")
            }
            _ => tracing::error!(service, method, path, request_id, ?code, latency_ms, %why, "call failed"),
        }
    }

    /// Rewrites tonic's statuses about the request message in `headers`
    /// (response headers of a trailers-only answer, or trailers) and returns
    /// the final code.
    fn settle(&mut self, headers: &mut http::HeaderMap) -> Option<Code> {
        let status = tonic::Status::from_header_map(headers)?;
        let Some(error) = self.rewritten(&status) else {
            self.message = status.message().to_owned();
            return Some(status.code());
        };
        let rewritten = tonic::Status::from(error);
        if rewritten.add_header(headers).is_err() {
            self.message = status.message().to_owned();
            return Some(status.code());
        }
        self.message = rewritten.message().to_owned();
        Some(rewritten.code())
    }

    /// Our status for one of tonic's about the request message.
    fn rewritten(&self, status: &tonic::Status) -> Option<ArchiveError> {
        match status.code() {
            Code::OutOfRange if status.message().contains(TONIC_TOO_LARGE) => {
                let limit = self.max_message_bytes;
                Some(ArchiveError::new(
                    Reason::MessageTooLarge,
                    format!(
                        "a message is over server.max_message_bytes ({limit} bytes); send smaller messages or chunks"
                    ),
                ))
            }
            Code::Internal if status.message().starts_with(PROST_MALFORMED) => {
                tracing::debug!(
                    service = self.method.service,
                    method = self.method.method,
                    detail = status.message(),
                    "malformed"
                );
                Some(ArchiveError::new(
                    Reason::MalformedMessage,
                    "the request is not a valid protobuf message of this method's request type",
                ))
            }
            _ => None,
        }
    }
}

impl<S, B> tower::Service<http::Request<tonic::body::Body>> for Outcome<S>
where
    S: tower::Service<http::Request<tonic::body::Body>, Response = http::Response<B>>,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<StdError>,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let received = Arc::new(AtomicU64::new(0));
        let mut call = Call::new(request.uri().path(), received.clone(), self.max_message_bytes);
        let request = request.map(|body| tonic::body::Body::new(Counted { inner: body, bytes: received }));
        let response = self.inner.call(request);
        Box::pin(async move {
            let (mut parts, body) = response.await?.into_parts();
            call.request_id = parts.headers.get(super::request_id::HEADER).cloned();
            if let Some(code) = call.settle(&mut parts.headers) {
                // Trailers-only: the answer is complete.
                call.finish(code, 0);
                return Ok(http::Response::from_parts(parts, tonic::body::Body::new(body)));
            }
            let body = Observed { inner: body, call: Some(call), sent: 0 };
            Ok(http::Response::from_parts(parts, tonic::body::Body::new(body)))
        })
    }
}

/// A request body that counts its bytes.
struct Counted {
    inner: tonic::body::Body,
    bytes: Arc<AtomicU64>,
}

impl Body for Counted {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if let Some(Ok(data)) = frame.as_ref().map(|frame| frame.as_ref().map(Frame::data_ref))
            && let Some(data) = data
        {
            self.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that records the call when its trailers pass (or when
/// it is dropped first: the client went away).
struct Observed<B> {
    inner: B,
    call: Option<Call>,
    sent: u64,
}

impl<B> Body for Observed<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<StdError>,
{
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    this.sent += data.len() as u64;
                    return Poll::Ready(Some(Ok(frame)));
                }
                let mut frame = frame;
                if let (Some(trailers), Some(mut call)) = (frame.trailers_mut(), this.call.take()) {
                    let code = call.settle(trailers).unwrap_or(Code::Unknown);
                    call.finish(code, this.sent);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(error)) => {
                let error = tonic::Status::from_error(error.into());
                if let Some(call) = this.call.take() {
                    call.finish(error.code(), this.sent);
                }
                Poll::Ready(Some(Err(error)))
            }
            None => {
                if let Some(call) = this.call.take() {
                    call.finish(Code::Unknown, this.sent);
                }
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for Observed<B> {
    fn drop(&mut self) {
        if let Some(call) = self.call.take() {
            call.finish(Code::Cancelled, self.sent);
        }
    }
}

/// How loud a call that did not end OK is in the log (tower-http's
/// `TraceLayer` would write every one at ERROR, even a stranger's call
/// without a token). The caller's own doing (a bad or unknown request, no
/// token, a lost race, a cancel) is INFO; a limit or deadline reached, or a
/// method this server does not serve (another API version, or a probe), is
/// WARN; only what points at the server or its backends (INTERNAL, UNKNOWN,
/// UNAVAILABLE, DATA_LOSS) is ERROR. docs/operations.md says the same.
fn level(code: Code) -> tracing::Level {
    match code {
        Code::Ok
        | Code::Cancelled
        | Code::InvalidArgument
        | Code::NotFound
        | Code::AlreadyExists
        | Code::PermissionDenied
        | Code::Unauthenticated
        | Code::FailedPrecondition
        | Code::Aborted
        | Code::OutOfRange => tracing::Level::INFO,
        Code::ResourceExhausted | Code::DeadlineExceeded | Code::Unimplemented => tracing::Level::WARN,
        Code::Unknown | Code::Internal | Code::Unavailable | Code::DataLoss => tracing::Level::ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_server_side_codes_are_errors() {
        let errors: Vec<Code> = (1..=16).map(Code::from).filter(|code| level(*code) == tracing::Level::ERROR).collect();
        assert_eq!(errors, [Code::Unknown, Code::Internal, Code::Unavailable, Code::DataLoss]);
        assert_eq!(level(Code::Unauthenticated), tracing::Level::INFO);
        assert_eq!(level(Code::ResourceExhausted), tracing::Level::WARN);
    }
}
