//! The HTTP media gateway: serves clips on HMAC-signed, expiring URLs
//! (`/media/{id}?exp=…&kid=…&sig=…`) with single-range support, for backends
//! that cannot presign (the local file system), and a clip's files (its
//! caption tracks) under a prefix token on every backend (`signed`).

use crate::{
    config::GatewaySettings,
    domain::{
        Archive, attachment_disposition,
        signing::{ATTACHMENT, SignatureError, SignedQuery},
    },
    error::ArchiveError,
    format::media_type,
    ids::MediaId,
};
use axum::{
    Router,
    body::Body,
    extract::State,
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::get,
};
use conditions::{Precondition, Validators};
use headers::{HeaderMapExt, LastModified};
use std::time::{Duration, UNIX_EPOCH};
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use console::Console;

mod assets;
pub mod conditions;
mod console;
mod embed;
mod signed;
mod tus;

/// The origins of `gateway.cors_allowed_origins` (`*` for any): the
/// gateway's and gRPC-Web's.
pub fn allowed_origins(origins: &[String]) -> AllowOrigin {
    if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|origin| match HeaderValue::from_str(origin) {
            Ok(value) => Some(value),
            Err(_) => {
                tracing::warn!(origin, "a CORS origin that is not a header value is ignored");
                None
            }
        }))
    }
}

/// Viewers' pages may read clips cross-origin (a player fetching ranges, a
/// download): GET and HEAD with the range and revalidation headers.
fn cors(origins: &[String]) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(allowed_origins(origins))
        .allow_methods([Method::GET, Method::HEAD])
        .allow_headers([
            header::RANGE,
            header::IF_RANGE,
            header::IF_NONE_MATCH,
            header::IF_MODIFIED_SINCE,
            header::IF_MATCH,
            header::IF_UNMODIFIED_SINCE,
        ])
        .expose_headers([
            header::CONTENT_RANGE,
            header::CONTENT_LENGTH,
            header::ACCEPT_RANGES,
            header::ETAG,
            header::HeaderName::from_static(signed::FRAME_TIME),
        ])
        .max_age(Duration::from_secs(86_400))
}

/// Clips and their files on signed URLs, tus uploads, the web console
/// (when given), and `/healthz` (the process answers) for load balancers in
/// front of it. `/metrics` and `/readyz` are on the admin listener
/// (`crate::app::admin`), not on the viewers' port.
pub fn router(archive: Archive, settings: &GatewaySettings, console: Option<Console>) -> Router {
    let timeout = Duration::from_secs(settings.request_timeout_seconds.max(1));
    let media = Router::new()
        .route("/media/{id}", get(serve_media))
        .route("/s/{token}/media/{id}/{*file}", get(signed::serve_signed))
        .route("/embed/{token}/media/{id}", get(embed::serve_embed))
        .route("/embed/assets/{file}", get(embed::serve_asset))
        .with_state(archive.clone())
        .layer(cors(&settings.cors_allowed_origins))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::GATEWAY_TIMEOUT, timeout))
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(settings.max_concurrent_requests.max(1)))
        // Uploads take as long as their bytes do: bounded by the uploads'
        // own limits (idle time, concurrent uploads), not the request timeout.
        .merge(tus::router(archive.clone(), settings))
        .layer(axum::middleware::from_fn(measured));
    // The console's calls are measured as calls, by their own layers.
    let media = match console {
        Some(console) => media.merge(console::router(console)),
        None => media,
    };
    media
        .route("/healthz", get(|| async { "ok\n" }))
        // Every answer of the port, unknown paths' 404s too.
        .layer(axum::middleware::map_response(origin_headers))
}

/// Counts each media request by status, timed to its response headers.
async fn measured(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let start = std::time::Instant::now();
    let response = next.run(request).await;
    crate::metrics::gateway(response.status().as_u16(), start.elapsed());
    response
}

/// What every answer of the media origin says, whatever its status: browsers
/// must not guess a type other than the one sent (`nosniff`), and whatever
/// is opened as a page there may load nothing, run nothing and has an origin
/// of its own (`sandbox`). Clips still play: a `<video>` on another page
/// does not apply the CSP of the media it loads, and `media-src 'self'`
/// lets a clip opened on its own play in the browser's viewer.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; media-src 'self'; sandbox";

async fn origin_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // The one page meant to run script here (the embed) states its own.
    headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    response
}

/// A read that failed, as HTTP: the status from the one mapping of error
/// kinds ([`ErrorKind::http_status`]), the client-safe message as text.
fn failed(error: ArchiveError) -> Response {
    let status = StatusCode::from_u16(error.kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() {
        tracing::error!(reason = error.reason.as_str_name(), error = ?error.source, "gateway: {}", error.message);
    }
    (status, format!("{}\n", error.message)).into_response()
}

fn plain(status: StatusCode, message: &'static str) -> Response {
    (status, message).into_response()
}

async fn serve_media(State(archive): State<Archive>, uri: Uri, method: Method, headers: HeaderMap) -> Response {
    respond(&archive, &uri, &method, &headers).await
}

/// The signed query parameters, decoded leniently: a malformed URL is a bad
/// signature (403), never a different error.
fn signed_query(uri: &Uri) -> SignedQuery {
    let mut query = SignedQuery::default();
    for (key, value) in form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        let value = Some(value.into_owned());
        match key.as_ref() {
            "exp" => query.exp = value,
            "kid" => query.kid = value,
            "sig" => query.sig = value,
            "disposition" => query.disposition = value,
            _ => {}
        }
    }
    query
}

async fn respond(archive: &Archive, uri: &Uri, method: &Method, headers: &HeaderMap) -> Response {
    // The signature covers the path exactly as requested, before any decoding.
    let now = chrono::Utc::now().timestamp();
    let query = &signed_query(uri);
    match archive.signer().verify(uri.path(), query, now) {
        Ok(()) => {}
        Err(SignatureError::Expired) => return plain(StatusCode::FORBIDDEN, "the URL has expired\n"),
        Err(_) => return plain(StatusCode::FORBIDDEN, "the URL's signature is not valid\n"),
    }
    let id = uri.path().strip_prefix("/media/").map(MediaId::parse);
    let Some(Ok(id)) = id else {
        return plain(StatusCode::NOT_FOUND, "no such media\n");
    };
    let media = match archive.get_media(&id).await {
        Ok(media) => media,
        Err(error) => return failed(error),
    };
    let object = media.playback_object();
    let size = object.size_bytes;
    // A clip's bytes never change once it is stored: its SHA-256 is a strong
    // ETag and its creation the last modification.
    let Ok(etag) = format!("\"{}\"", object.sha256).parse() else {
        tracing::error!(media = %id, "stored SHA-256 is not usable as an ETag");
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "the clip's record is damaged\n");
    };
    let validators = Validators {
        etag,
        last_modified: UNIX_EPOCH + Duration::from_secs(media.create_time.timestamp().max(0) as u64),
    };
    // A stale If-Range sends the whole clip; a range that applies but cannot
    // be satisfied is a 416 whatever the other preconditions say (RFC 9110
    // §13.2.1).
    let range = if conditions::range_applies(headers, &validators) {
        conditions::requested_range(headers, size)
    } else {
        Ok(None)
    };
    let Ok(range) = range else {
        return Response::builder()
            .status(StatusCode::RANGE_NOT_SATISFIABLE)
            .header(header::CONTENT_RANGE, format!("bytes */{size}"))
            .body(Body::empty())
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    };
    let mut response = Response::builder().header(header::CACHE_CONTROL, "private, max-age=3600");
    if let Some(headers) = response.headers_mut() {
        headers.typed_insert(validators.etag.clone());
        headers.typed_insert(LastModified::from(validators.last_modified));
    }
    match conditions::evaluate(headers, &validators) {
        Precondition::Proceed => {}
        Precondition::NotModified => {
            return response
                .status(StatusCode::NOT_MODIFIED)
                .body(Body::empty())
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
        }
        Precondition::Failed => {
            return plain(StatusCode::PRECONDITION_FAILED, "the clip does not meet the request's preconditions\n");
        }
    }
    // Only the allow-list goes out as itself; anything else is a download.
    let served = media_type::served(&media.content_type);
    response = response.header(header::CONTENT_TYPE, served.content_type).header(header::ACCEPT_RANGES, "bytes");
    if served.attachment || query.disposition.as_deref() == Some(ATTACHMENT) {
        response = response.header(header::CONTENT_DISPOSITION, attachment_disposition(&media.filename));
    }
    let (status, start, end) = match range {
        None => (StatusCode::OK, 0, size),
        Some((first, last)) => {
            response = response.header(header::CONTENT_RANGE, format!("bytes {first}-{last}/{size}"));
            (StatusCode::PARTIAL_CONTENT, first, last + 1)
        }
    };
    response = response.status(status).header(header::CONTENT_LENGTH, end - start);
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        match archive.blobs().get(&object.key, start..end).await {
            Ok(stream) => Body::from_stream(crate::blob::rechunk(stream, archive.media_settings().chunk_size_bytes)),
            Err(error) => return failed(error.into()),
        }
    };
    response.body(body).unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
