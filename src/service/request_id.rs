//! Every call has an id: the caller's `x-request-id` when it sends a valid
//! one ([`is_valid`]: at most [`MAX_CHARS`] of `A-Z a-z 0-9 . _ : -`), a
//! fresh UUID otherwise. It is returned in the response metadata and is a
//! field of the span every log line of the call is written in, so that a
//! caller cannot write into the log through it. When traces are exported,
//! that span continues the caller's W3C trace (`traceparent`).

use std::{
    sync::atomic::{AtomicBool, Ordering},
    task::{Context, Poll},
};
use tonic::codegen::http;
use tower::layer::util::Stack;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

pub const HEADER: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// The longest request id kept (a UUID is 36, a W3C trace id 32).
pub const MAX_CHARS: usize = 128;

/// Whether a caller's request id is kept as it is.
pub fn is_valid(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= MAX_CHARS && id.iter().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(b))
}

/// Sets the id on requests that have none, or none that is valid (one
/// value, [`is_valid`]).
pub fn set() -> Stack<SetRequestIdLayer<MakeRequestUuid>, DropInvalidLayer> {
    Stack::new(SetRequestIdLayer::new(HEADER, MakeRequestUuid), DropInvalidLayer)
}

/// Removes a request id that is not kept, before one is set.
#[derive(Debug, Clone, Copy)]
pub struct DropInvalidLayer;

impl<S> tower::Layer<S> for DropInvalidLayer {
    type Service = DropInvalid<S>;
    fn layer(&self, inner: S) -> DropInvalid<S> {
        DropInvalid { inner }
    }
}

#[derive(Debug, Clone)]
pub struct DropInvalid<S> {
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for DropInvalid<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let mut ids = request.headers().get_all(HEADER).iter();
        let kept = matches!((ids.next(), ids.next()), (Some(id), None) if is_valid(id.as_bytes()));
        if !kept {
            request.headers_mut().remove(HEADER);
        }
        self.inner.call(request)
    }
}

/// Copies the id to the response.
pub fn propagate() -> PropagateRequestIdLayer {
    PropagateRequestIdLayer::new(HEADER)
}

/// Whether call spans take their parent from the request: only when spans
/// are exported (a cost not paid otherwise).
static TRACE_CONTEXT: AtomicBool = AtomicBool::new(false);

/// Called once when the OTLP exporter is set up.
pub fn continue_traces() {
    TRACE_CONTEXT.store(true, Ordering::Relaxed);
}

/// The span of one call: its method and id.
pub fn span<B>(request: &http::Request<B>) -> tracing::Span {
    let headers = request.headers();
    let id = headers.get(HEADER).and_then(|value| value.to_str().ok()).unwrap_or("");
    let path = request.uri().path();
    let span = tracing::info_span!(
        "rpc",
        method = %path,
        request_id = %id,
        otel.name = tracing::field::Empty,
        otel.kind = tracing::field::Empty
    );
    if TRACE_CONTEXT.load(Ordering::Relaxed) {
        continue_trace(&span, headers, path.trim_start_matches('/'));
    }
    span
}

/// Makes `span` a child of the trace the caller sent, named after the call
/// (`archive.v1.ArticleService/GetArticle`) for the collector.
fn continue_trace(span: &tracing::Span, headers: &http::HeaderMap, name: &str) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(&Headers(headers)));
    // Fails only when the span is filtered out, which is then fine.
    let _ = span.set_parent(parent);
    span.record("otel.name", name);
    span.record("otel.kind", "server");
}

/// The W3C trace context in a request's headers.
struct Headers<'a>(&'a http::HeaderMap);

impl opentelemetry::propagation::Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_ids_are_kept() {
        for kept in ["0190b6c4-7d1e-7c52-9a0e-3b1c2d4e5f60", "cms:import.42_a", &"a".repeat(MAX_CHARS)] {
            assert!(is_valid(kept.as_bytes()), "{kept}");
        }
        let long = "a".repeat(MAX_CHARS + 1);
        for dropped in ["", &long, "a}b", "x\ny", "a b", "\"quoted\"", "ä", "a=1", "{\"level\":\"ERROR\"}"] {
            assert!(!is_valid(dropped.as_bytes()), "{dropped:?}");
        }
    }
}
