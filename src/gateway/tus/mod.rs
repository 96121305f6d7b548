//! Resumable uploads over HTTP: tus 1.0 (tus.io/protocols/resumable-upload)
//! with the creation, creation-with-upload, termination, expiration and
//! checksum extensions, on one-time upload URLs (`/tus/{token}`, minted by
//! CreateUploadUrl). POST creates the upload at the URL itself; HEAD, PATCH
//! and DELETE then go to the same URL (its `Location`).
//!
//! Underneath it is a resumable upload like one over gRPC (the same
//! session, limits and checks at the end), with two differences a client
//! of tus expects: a request that ends inside a part keeps its last bytes
//! (the upload's tail object), so the client resumes at any byte; and a
//! request with an `Upload-Checksum` keeps nothing unless its body matches.

mod body;
mod wire;

use crate::{
    config::GatewaySettings,
    domain::{Archive, UploadGrant, signing::SignatureError},
    metadata::MediaRecord,
};
use axum::{
    Router,
    extract::{Path, Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::any,
};
use body::{Received, receive};
use std::time::Duration;
use tower_http::cors::CorsLayer;
use wire::*;

/// `/tus/{token}`, with CORS for pages on the allowed origins.
pub fn router(archive: Archive, settings: &GatewaySettings) -> Router {
    Router::new()
        .route("/tus/{token}", any(tus))
        .with_state(archive.clone())
        .layer(cors(&settings.cors_allowed_origins))
        .layer(axum::middleware::from_fn_with_state(archive, discovery))
}

/// A tus client's OPTIONS (what the server offers) is answered here: the
/// CORS layer takes every OPTIONS for a browser's preflight, which only
/// one with `Access-Control-Request-Method` is.
async fn discovery(State(archive): State<Archive>, request: Request, next: axum::middleware::Next) -> Response {
    let preflight = request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if request.method() == Method::OPTIONS && !preflight {
        return counted("OPTIONS", answer(Ok(options(&archive))));
    }
    next.run(request).await
}

fn cors(origins: &[String]) -> CorsLayer {
    let names = |names: &[&'static str]| names.iter().map(|name| HeaderName::from_static(name)).collect::<Vec<_>>();
    CorsLayer::new()
        .allow_origin(super::allowed_origins(origins))
        .allow_methods([Method::POST, Method::HEAD, Method::PATCH, Method::DELETE, Method::OPTIONS])
        .allow_headers(names(&[
            "tus-resumable",
            "upload-length",
            "upload-metadata",
            "upload-offset",
            "upload-checksum",
            "upload-defer-length",
            "upload-concat",
            "content-type",
            "x-http-method-override",
            "x-requested-with",
        ]))
        .expose_headers(names(&[
            "location",
            "tus-resumable",
            "tus-version",
            "tus-extension",
            "tus-max-size",
            "tus-checksum-algorithm",
            "upload-offset",
            "upload-length",
            "upload-expires",
            "archive-media",
        ]))
        .max_age(Duration::from_secs(86_400))
}

async fn tus(State(archive): State<Archive>, Path(token): Path<String>, request: Request) -> Response {
    // Clients behind proxies that pass only GET and POST say the method here.
    let method = match request.headers().get(METHOD_OVERRIDE).map(|value| Method::from_bytes(value.as_bytes())) {
        Some(Ok(method)) => method,
        Some(Err(_)) => {
            return counted("other", answer(Err(bad_request("X-HTTP-Method-Override is not a method"))));
        }
        None => request.method().clone(),
    };
    let result = if method == Method::OPTIONS {
        Ok(options(&archive))
    } else if request.headers().get(&TUS_RESUMABLE).is_none_or(|version| version != VERSION) {
        let mut refused =
            Refusal(StatusCode::PRECONDITION_FAILED, format!("Tus-Resumable must be {VERSION}")).into_response();
        refused.headers_mut().insert(TUS_VERSION, HeaderValue::from_static(VERSION));
        Ok(refused)
    } else {
        match archive.upload_grant(&token) {
            Err(error) => Err(Refusal(StatusCode::FORBIDDEN, signature_message(error).into())),
            Ok(grant) => match method {
                Method::POST => create(&archive, &grant, request).await,
                Method::HEAD => head(&archive, &grant).await,
                Method::PATCH => patch(&archive, &grant, request).await,
                Method::DELETE => terminate(&archive, &grant).await,
                _ => Err(Refusal(StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not a tus request"))),
            },
        }
    };
    counted(method_label(&method), answer(result))
}

/// Counts an answer in the tus metrics.
fn counted(method: &'static str, response: Response) -> Response {
    crate::metrics::tus(method, response.status().as_u16());
    response
}

/// The metric label of a method: the protocol's five, else `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::OPTIONS => "OPTIONS",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        _ => "other",
    }
}

fn signature_message(error: SignatureError) -> &'static str {
    match error {
        SignatureError::Expired => "this upload URL has expired; ask for a new one",
        SignatureError::Missing | SignatureError::Invalid => "this is not an upload URL this archive made",
    }
}

/// Every answer says which protocol it speaks.
fn answer(result: Result<Response, Refusal>) -> Response {
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    response.headers_mut().insert(TUS_RESUMABLE, HeaderValue::from_static(VERSION));
    response
}

fn options(archive: &Archive) -> Response {
    let max = archive.media_settings.max_upload_bytes;
    let mut headers = HeaderMap::new();
    headers.insert(TUS_VERSION, HeaderValue::from_static(VERSION));
    headers.insert(TUS_EXTENSION, HeaderValue::from_static(EXTENSIONS));
    headers.insert(TUS_MAX_SIZE, HeaderValue::from(max));
    headers.insert(TUS_CHECKSUM_ALGORITHM, HeaderValue::from_static(CHECKSUM_ALGORITHMS));
    (StatusCode::NO_CONTENT, headers).into_response()
}

async fn create(archive: &Archive, grant: &UploadGrant, request: Request) -> Result<Response, Refusal> {
    let headers = request.headers();
    if headers.contains_key(UPLOAD_DEFER_LENGTH) {
        return Err(bad_request("Upload-Defer-Length is not supported: send Upload-Length"));
    }
    let length = number(headers, &UPLOAD_LENGTH)?.ok_or_else(|| bad_request("Upload-Length is required"))?;
    let metadata = metadata(headers)?;
    let value = |keys: &[&str]| metadata.iter().find(|(key, _)| keys.contains(&key.as_str())).map(|(_, v)| v.clone());
    let filename =
        value(&["filename", "name"]).ok_or_else(|| bad_request("Upload-Metadata must name the file (filename)"))?;
    let content_type = value(&["filetype", "type"]).unwrap_or_default();
    let with_upload = is_octet_stream(headers);
    let location = HeaderValue::from_str(request.uri().path()).map_err(|_| bad_request("a path that is no header"))?;
    let session = archive.start_granted_upload(grant, length, filename, content_type).await?;
    let mut response = (StatusCode::CREATED, ()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, location);
    headers.insert(UPLOAD_EXPIRES, http_date(&session.expire_time));
    if with_upload {
        // creation-with-upload: the body is the first PATCH. Whatever it
        // kept, the upload exists and the client resumes at the offset.
        let offset = match receive(archive, grant, 0, length, None, request.into_body()).await {
            Ok(Received::Paused(offset)) => offset,
            Ok(Received::Stored(record)) => {
                headers.insert(ARCHIVE_MEDIA, media_name(&record));
                length
            }
            Err(_) => archive.query_upload(&session.id, &grant.caller()).await?.session.resume_offset(),
        };
        headers.insert(UPLOAD_OFFSET, HeaderValue::from(offset));
    }
    Ok(response)
}

async fn head(archive: &Archive, grant: &UploadGrant) -> Result<Response, Refusal> {
    let status = archive.query_upload(&grant.upload_id()?, &grant.caller()).await?;
    let session = &status.session;
    let mut headers = HeaderMap::new();
    let offset = if session.finished { session.progress.committed_offset } else { session.resume_offset() };
    headers.insert(UPLOAD_OFFSET, HeaderValue::from(offset));
    if let Some(length) = session.declared_size {
        headers.insert(UPLOAD_LENGTH, HeaderValue::from(length));
    }
    headers.insert(UPLOAD_EXPIRES, http_date(&session.expire_time));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(media) = &status.media {
        body::attach(archive, grant, media).await?;
        headers.insert(ARCHIVE_MEDIA, media_name(media));
    }
    Ok((StatusCode::OK, headers).into_response())
}

async fn patch(archive: &Archive, grant: &UploadGrant, request: Request) -> Result<Response, Refusal> {
    let headers = request.headers();
    if !is_octet_stream(headers) {
        return Err(Refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("a PATCH's Content-Type must be {OCTET_STREAM}"),
        ));
    }
    let offset = number(headers, &UPLOAD_OFFSET)?.ok_or_else(|| bad_request("Upload-Offset is required"))?;
    let checksum = headers.get(UPLOAD_CHECKSUM).map(Checksum::parse).transpose()?;
    let status = archive.query_upload(&grant.upload_id()?, &grant.caller()).await?;
    let length = status.session.declared_size.ok_or_else(|| bad_request("this upload was not started over tus"))?;
    let mut headers = HeaderMap::new();
    let offset = match receive(archive, grant, offset, length, checksum, request.into_body()).await? {
        Received::Paused(offset) => offset,
        Received::Stored(record) => {
            headers.insert(ARCHIVE_MEDIA, media_name(&record));
            length
        }
    };
    headers.insert(UPLOAD_OFFSET, HeaderValue::from(offset));
    headers.insert(UPLOAD_EXPIRES, http_date(&archive.upload_expire_time()));
    Ok((StatusCode::NO_CONTENT, headers).into_response())
}

async fn terminate(archive: &Archive, grant: &UploadGrant) -> Result<Response, Refusal> {
    archive.cancel_upload(&grant.upload_id()?, &grant.caller()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn media_name(record: &MediaRecord) -> HeaderValue {
    HeaderValue::from_str(&record.id.name()).expect("an id is a header value")
}
