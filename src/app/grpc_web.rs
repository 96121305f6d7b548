//! gRPC-Web on the gRPC port (`server.grpc_web`): browser tools call the
//! three services directly, over HTTP/1.1 or HTTP/2.
//!
//! The stack, outermost first: CORS answers preflights (tonic-web refuses
//! anything on HTTP/1.1 that is not gRPC-Web, an OPTIONS too); tonic-web
//! turns gRPC-Web into gRPC; then the same layers as every call (outcome,
//! request id, auth, limits) see an ordinary gRPC request, and their status
//! goes back in the gRPC-Web trailer frame (or, for a refusal, in headers).

use axum::http::{HeaderName, Method, header};
use std::time::Duration;
use tower::ServiceBuilder;
use tower::layer::util::{Identity, Stack};
use tower_http::cors::CorsLayer;

/// What a browser may send and read: the token, gRPC's own headers, and
/// our request id.
fn cors(origins: &[String]) -> CorsLayer {
    let name = HeaderName::from_static;
    CorsLayer::new()
        .allow_origin(crate::gateway::allowed_origins(origins))
        .allow_methods([Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            name("x-grpc-web"),
            name("x-user-agent"),
            name("grpc-timeout"),
            name("x-request-id"),
        ])
        .expose_headers([
            name("grpc-status"),
            name("grpc-message"),
            name("grpc-status-details-bin"),
            name("x-request-id"),
        ])
        .max_age(Duration::from_secs(86_400))
}

pub type Layers = ServiceBuilder<Stack<tonic_web::GrpcWebLayer, Stack<CorsLayer, Identity>>>;

/// The gRPC-Web layers, when `enabled`.
pub fn layers(enabled: bool, origins: &[String], auth_on: bool) -> Option<Layers> {
    if !enabled {
        return None;
    }
    if !auth_on && origins.iter().any(|origin| origin == "*") {
        tracing::warn!(
            "gRPC-Web is on without tokens and any origin may call it: any page a user opens can change \
             the archive; configure [auth] tokens_file or gateway.cors_allowed_origins"
        );
    }
    Some(ServiceBuilder::new().layer(cors(origins)).layer(tonic_web::GrpcWebLayer::new()))
}
