//! The web console at `/console/` (docs/console.md): its page and files
//! (built from web/ into web/dist, embedded here), its sessions, and the
//! three services over gRPC-Web under `/console/rpc/`, where a caller is
//! known by the session cookie instead of a bearer token.
//!
//! The page runs only the gateway's own script (a strict
//! Content-Security-Policy, no inline script) and may be framed by nobody.

use super::{
    assets::{self, Asset, asset},
    failed, plain,
};
use crate::service::auth::{Auth, Session, Sessions};
use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Serialize;
use std::sync::Arc;

static INDEX: Asset = asset!("console.html", "text/html; charset=utf-8");
static ASSETS: [Asset; 3] = [
    asset!("console.js", "text/javascript; charset=utf-8"),
    asset!("console.css", "text/css; charset=utf-8"),
    // The licenses of what the script bundles, which it names.
    asset!("console.js.LEGAL.txt", "text/plain; charset=utf-8"),
];

/// The console page's policy: its own script and styles, calls to its own
/// origin, clips through the embeddable player (framed from this origin).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; connect-src 'self'; frame-src 'self'; font-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// What the console needs from archived: who callers are, how sessions are
/// made, and the services as gRPC-Web behind the session layer.
pub struct Console {
    pub auth: Arc<Auth>,
    pub sessions: Sessions,
    pub rpc: RpcService,
    /// The host of the gateway's public URL (or of the address it is bound to).
    pub host: String,
}

/// The services as the console calls them, path `/{package}.{Service}/{Method}`.
pub type RpcService = tower::util::BoxCloneSyncService<axum::extract::Request, Response, std::convert::Infallible>;

#[derive(Clone)]
struct ConsoleState {
    auth: Arc<Auth>,
    sessions: Sessions,
}

pub(super) fn router(console: Console) -> Router {
    let state = ConsoleState { auth: console.auth, sessions: console.sessions };
    let known = Arc::new(KnownHost(console.host.to_ascii_lowercase()));
    let rpc =
        Router::new().nest_service("/console/rpc", console.rpc).route_layer(axum::middleware::from_fn(grpc_web_only));
    Router::new()
        .route("/console", get(|| async { axum::response::Redirect::permanent("/console/") }))
        .route("/console/", get(index))
        .route("/console/assets/{file}", get(file))
        .route("/console/session", get(current).post(open).delete(close))
        .with_state(state)
        .merge(rpc)
        // Route layers: the gateway's other paths and its 404s are not the console's.
        .route_layer(axum::middleware::from_fn_with_state(known, host_guard))
}

/// The host the gateway is known by (from its public URL, or the address it
/// is bound to).
struct KnownHost(String);

impl KnownHost {
    /// Whether a request naming `host` (`name[:port]`) may reach the console:
    /// the gateway's own host, or an address or `localhost`, which no page
    /// elsewhere can make its own. A name an attacker's page rebinds to this
    /// address (DNS rebinding) is none of them, so it cannot call the
    /// services even when auth is off.
    fn admits(&self, host: &str) -> bool {
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(':') => name,
            _ => host,
        };
        let name = name.trim_start_matches('[').trim_end_matches(']');
        name.eq_ignore_ascii_case(&self.0)
            || name.eq_ignore_ascii_case("localhost")
            || name.parse::<std::net::IpAddr>().is_ok()
    }
}

/// The host a request names (`:authority` in HTTP/2, `Host` in HTTP/1.1).
fn host_of(request: &axum::extract::Request) -> Option<&str> {
    request.uri().authority().map(|a| a.as_str()).or_else(|| request.headers().get(header::HOST)?.to_str().ok())
}

/// Every console request names a host the console answers on.
async fn host_guard(
    State(known): State<Arc<KnownHost>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if !host_of(&request).is_some_and(|host| known.admits(host)) {
        return plain(StatusCode::MISDIRECTED_REQUEST, "the console answers on the gateway's own host\n");
    }
    next.run(request).await
}

/// What a console call must be, whatever the auth setting: gRPC-Web by its
/// content type and `x-grpc-web`. A page of another origin can send neither
/// without a preflight, which the mount never answers (and an HTTP/2
/// `no-cors` POST as text/plain would otherwise pass tonic-web through as
/// gRPC).
async fn grpc_web_only(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let headers = request.headers();
    let grpc_web = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/grpc-web"));
    if !grpc_web {
        return plain(StatusCode::UNSUPPORTED_MEDIA_TYPE, "console calls are gRPC-Web (application/grpc-web+proto)\n");
    }
    if !headers.contains_key("x-grpc-web") {
        return plain(StatusCode::FORBIDDEN, "console calls carry `x-grpc-web: 1`\n");
    }
    next.run(request).await
}

async fn index(request: HeaderMap) -> Response {
    let mut response = assets::serve(&INDEX, &request);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

async fn file(Path(name): Path<String>, request: HeaderMap) -> Response {
    match assets::find(&ASSETS, &name) {
        Some(asset) => assets::serve(asset, &request),
        None => plain(StatusCode::NOT_FOUND, "no such file\n"),
    }
}

/// A session as the page sees it (never the cookie: that is HttpOnly).
#[derive(Serialize)]
struct SessionView {
    name: String,
    scopes: Vec<&'static str>,
    /// RFC 3339, UTC.
    expires: String,
    /// False when archived runs without tokens: everyone may do everything.
    auth: bool,
}

fn view(auth: &Auth, session: Session) -> SessionView {
    SessionView {
        name: session.name,
        scopes: session.scopes.iter().map(|scope| scope.as_str()).collect(),
        expires: chrono::DateTime::from_timestamp(session.expires, 0).unwrap_or_default().to_rfc3339(),
        auth: auth.is_on(),
    }
}

fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /console/session` with `authorization: Bearer TOKEN`: the token
/// exchanged for a session cookie.
async fn open(State(state): State<ConsoleState>, headers: HeaderMap) -> Response {
    let now = chrono::Utc::now().timestamp();
    match state.sessions.open(&state.auth, &headers, now) {
        Ok((session, cookie)) => {
            let mut response = Json(view(&state.auth, session)).into_response();
            if let Some(cookie) = cookie.and_then(|cookie| HeaderValue::from_str(&cookie).ok()) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            no_store(response)
        }
        Err(error) => no_store(failed(error)),
    }
}

/// `GET /console/session`: the session the cookie carries, or 401.
async fn current(State(state): State<ConsoleState>, headers: HeaderMap) -> Response {
    match state.sessions.current(&state.auth, &headers, chrono::Utc::now().timestamp()) {
        Ok(session) => no_store(Json(view(&state.auth, session)).into_response()),
        Err(error) => no_store(failed(error)),
    }
}

/// `DELETE /console/session`: the cookie cleared. A copy of it taken
/// before stays valid until it expires or its token is revoked.
async fn close(State(state): State<ConsoleState>) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(cookie) = HeaderValue::from_str(&state.sessions.close()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    no_store(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_gateways_own_hosts_reach_the_console() {
        let known = KnownHost("archive.example.vn".into());
        for host in [
            "archive.example.vn",
            "ARCHIVE.example.vn:443",
            "127.0.0.1:50052",
            "[::1]:50052",
            "localhost:8080",
            "10.0.0.7",
        ] {
            assert!(known.admits(host), "{host}");
        }
        for host in ["evil.example:50052", "archive.example.vn.evil.example", "localhost.evil.example", ""] {
            assert!(!known.admits(host), "{host}");
        }
    }
}
