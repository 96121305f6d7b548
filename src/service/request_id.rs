//! Every call has an id: the caller's `x-request-id` when it sends one, a
//! fresh UUID otherwise. It is returned in the response metadata and is a
//! field of the span every log line of the call is written in. When traces
//! are exported, that span continues the caller's W3C trace (`traceparent`).

use std::sync::atomic::{AtomicBool, Ordering};
use tonic::codegen::http;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

pub const HEADER: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// Sets the id on requests that have none.
pub fn set() -> SetRequestIdLayer<MakeRequestUuid> {
    SetRequestIdLayer::new(HEADER, MakeRequestUuid)
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
