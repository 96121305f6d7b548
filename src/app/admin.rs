//! The operators' listener (`server.admin_addr`): `/metrics` (Prometheus
//! text), `/readyz` (backends answer and not draining) and `/healthz` (the
//! process answers). Kept off the viewers' gateway, which serves media and
//! `/healthz` only: metrics name every method and backend operation, and
//! readiness tells an outsider when a replica is failing.

use axum::{
    Router,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use tokio::sync::watch;

/// The admin routes; `ready` follows readiness.
pub fn router(ready: watch::Receiver<bool>) -> Router {
    Router::new().route("/metrics", get(metrics)).route("/healthz", get(|| async { "ok\n" })).route(
        "/readyz",
        get(move || async move {
            if *ready.borrow() { (StatusCode::OK, "ready\n") } else { (StatusCode::SERVICE_UNAVAILABLE, "not ready\n") }
        }),
    )
}

async fn metrics() -> Response {
    let content_type = HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
    ([(header::CONTENT_TYPE, content_type)], crate::metrics::render()).into_response()
}
