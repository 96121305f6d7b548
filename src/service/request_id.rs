//! Every call has an id: the caller's `x-request-id` when it sends one, a
//! fresh UUID otherwise. It is returned in the response metadata and is a
//! field of the span every log line of the call is written in.

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

/// The span of one call: its method and id.
pub fn span<B>(request: &http::Request<B>) -> tracing::Span {
    let id = request.headers().get(HEADER).and_then(|value| value.to_str().ok()).unwrap_or("");
    tracing::info_span!("rpc", method = %request.uri().path(), request_id = %id)
}
