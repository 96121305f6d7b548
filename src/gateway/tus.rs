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

use crate::{
    config::GatewaySettings,
    domain::{Archive, Broken, Declared, UploadGrant, UploadMessage, signing::SignatureError},
    error::{ArchiveError, Reason},
    metadata::MediaRecord,
};
use axum::{
    Router,
    body::Body,
    extract::{Path, Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::any,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use sha2::Digest;
use std::time::Duration;
use tower_http::cors::CorsLayer;

const VERSION: &str = "1.0.0";
const EXTENSIONS: &str = "creation,creation-with-upload,termination,expiration,checksum";
const CHECKSUM_ALGORITHMS: &str = "sha1,sha256";
const OCTET_STREAM: &str = "application/offset+octet-stream";
/// The status tus gives a checksum that does not match.
const CHECKSUM_MISMATCH: u16 = 460;

const TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
const TUS_VERSION: HeaderName = HeaderName::from_static("tus-version");
const TUS_EXTENSION: HeaderName = HeaderName::from_static("tus-extension");
const TUS_MAX_SIZE: HeaderName = HeaderName::from_static("tus-max-size");
const TUS_CHECKSUM_ALGORITHM: HeaderName = HeaderName::from_static("tus-checksum-algorithm");
const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
const UPLOAD_DEFER_LENGTH: HeaderName = HeaderName::from_static("upload-defer-length");
const UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
const UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");
const UPLOAD_CHECKSUM: HeaderName = HeaderName::from_static("upload-checksum");
const METHOD_OVERRIDE: HeaderName = HeaderName::from_static("x-http-method-override");
/// The clip an upload became: `media/{id}`, on the last PATCH and on HEAD after it.
const ARCHIVE_MEDIA: HeaderName = HeaderName::from_static("archive-media");

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
        return answer(Ok(options(&archive)));
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

/// Why a tus request is refused: a status and a message for the client.
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, format!("{}\n", self.1)).into_response()
    }
}

impl From<ArchiveError> for Refusal {
    /// The statuses tus names for its cases; the others from the one
    /// mapping of error kinds.
    fn from(error: ArchiveError) -> Self {
        let status = match error.reason {
            Reason::OffsetMismatch | Reason::UploadFinished | Reason::UploadUrlUsed => 409,
            Reason::UploadExpired => 410,
            Reason::UploadTooLarge => 413,
            Reason::ChecksumMismatch => CHECKSUM_MISMATCH,
            _ => error.kind.http_status(),
        };
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(reason = error.reason.as_str_name(), error = ?error.source, "tus: {}", error.message);
        }
        Self(status, error.message)
    }
}

fn bad_request(message: impl Into<String>) -> Refusal {
    ArchiveError::new(Reason::InvalidTusRequest, message).into()
}

async fn tus(State(archive): State<Archive>, Path(token): Path<String>, request: Request) -> Response {
    // Clients behind proxies that pass only GET and POST say the method here.
    let method = match request.headers().get(METHOD_OVERRIDE).map(|value| Method::from_bytes(value.as_bytes())) {
        Some(Ok(method)) => method,
        Some(Err(_)) => return answer(Err(bad_request("X-HTTP-Method-Override is not a method"))),
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
    answer(result)
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

fn number(headers: &HeaderMap, name: &HeaderName) -> Result<Option<u64>, Refusal> {
    let Some(value) = headers.get(name) else { return Ok(None) };
    let digits = value.to_str().ok().filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()));
    digits
        .and_then(|digits| digits.parse().ok())
        .map(Some)
        .ok_or_else(|| bad_request(format!("{name} must be a number")))
}

/// HTTP-date (RFC 9110 §5.6.7), as `Upload-Expires` is written.
fn http_date(time: &DateTime<Utc>) -> HeaderValue {
    HeaderValue::from_str(&time.format("%a, %d %b %Y %H:%M:%S GMT").to_string()).expect("a date is a header value")
}

/// `Upload-Metadata`: comma-separated `key base64value` pairs.
fn metadata(headers: &HeaderMap) -> Result<Vec<(String, String)>, Refusal> {
    let Some(value) = headers.get(UPLOAD_METADATA) else { return Ok(Vec::new()) };
    let value = value.to_str().map_err(|_| bad_request("Upload-Metadata must be ASCII"))?;
    let mut pairs = Vec::new();
    for pair in value.split(',').map(str::trim).filter(|pair| !pair.is_empty()) {
        let (key, encoded) = pair.split_once(' ').unwrap_or((pair, ""));
        let decoded = STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| bad_request(format!("Upload-Metadata {key:?} is not base64 of UTF-8 text")))?;
        pairs.push((key.to_owned(), decoded));
    }
    Ok(pairs)
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

fn is_octet_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(OCTET_STREAM.as_bytes()))
}

fn media_name(record: &MediaRecord) -> HeaderValue {
    HeaderValue::from_str(&record.id.name()).expect("an id is a header value")
}

/// What a request's bytes did to the upload.
enum Received {
    /// Kept; the upload resumes here.
    Paused(u64),
    /// The last byte came: the clip is stored (and attached, if the URL says so).
    Stored(Box<MediaRecord>),
}

/// Feeds a request body into the upload at `offset`.
async fn receive(
    archive: &Archive,
    grant: &UploadGrant,
    offset: u64,
    length: u64,
    checksum: Option<Checksum>,
    body: Body,
) -> Result<Received, Refusal> {
    let id = grant.upload_id()?;
    let mut upload = archive.resume_upload(&id, offset as i64, &grant.caller()).await?;
    upload.keep_tail();
    if checksum.is_some() {
        upload.hold_until_verified();
    }
    let ending = Ending { length, sha256: grant.sha256.clone() };
    let messages = messages(body, upload.offset(), ending, checksum);
    // In a task of its own, as over gRPC: a client that goes away drops
    // this request, but the parts in flight still land and are recorded.
    let received = tokio::spawn(upload.receive(messages)).await;
    match received.map_err(|e| ArchiveError::internal("receiving an upload", e))? {
        Ok(record) => {
            if let Some(article) = grant.article() {
                archive.attach_media(&article, &record.id, "").await.map_err(|error| {
                    let message = format!("{} is stored, but not attached: {}", record.id.name(), error.message);
                    ArchiveError { message, ..error }
                })?;
            }
            Ok(Received::Stored(Box::new(record)))
        }
        Err(Broken::Paused(offset)) => Ok(Received::Paused(offset)),
        Err(Broken::Failed(error)) => Err(error.into()),
        Err(Broken::Transport(broken)) => Err(broken.into()),
    }
}

/// How a request's body ended the upload's stream short.
#[derive(Debug)]
enum BodyBroken {
    /// The client went away (its bytes up to the break are kept, unless checksummed).
    Transport,
    Checksum,
    PastLength(u64),
}

impl From<BodyBroken> for Refusal {
    fn from(broken: BodyBroken) -> Self {
        match broken {
            BodyBroken::Transport => Refusal(StatusCode::BAD_REQUEST, "the request's body broke off".into()),
            BodyBroken::Checksum => ArchiveError::new(
                Reason::ChecksumMismatch,
                "Upload-Checksum does not match the request's body; nothing of it was kept",
            )
            .into(),
            BodyBroken::PastLength(length) => {
                bad_request(format!("the request carries bytes past Upload-Length ({length}); they were not kept"))
            }
        }
    }
}

/// What ends the upload when its last byte arrives.
struct Ending {
    length: u64,
    sha256: Option<String>,
}

/// The body as upload messages: its chunks, then the finish when the last
/// byte came, else a pause; a checksum that does not match, or bytes past
/// the declared length, end it as broken.
fn messages(
    body: Body,
    start: u64,
    ending: Ending,
    checksum: Option<Checksum>,
) -> impl Stream<Item = Result<UploadMessage, BodyBroken>> + Send + Unpin + 'static {
    struct State {
        body: Option<axum::body::BodyDataStream>,
        received: u64,
        ending: Ending,
        checksum: Option<Checksum>,
    }
    let state = State { body: Some(body.into_data_stream()), received: start, ending, checksum };
    Box::pin(futures::stream::unfold(state, |mut state| async move {
        let body = state.body.as_mut()?;
        let item = match body.next().await {
            Some(Ok(chunk)) => {
                state.received += chunk.len() as u64;
                if state.received > state.ending.length {
                    state.body = None;
                    Err(BodyBroken::PastLength(state.ending.length))
                } else {
                    if let Some(checksum) = &mut state.checksum {
                        checksum.update(&chunk);
                    }
                    Ok(UploadMessage::Chunk(chunk))
                }
            }
            Some(Err(_)) => {
                state.body = None;
                Err(BodyBroken::Transport)
            }
            None => {
                state.body = None;
                if state.checksum.take().is_some_and(|checksum| !checksum.matches()) {
                    Err(BodyBroken::Checksum)
                } else if state.received == state.ending.length {
                    let declared = Declared {
                        size_bytes: state.ending.length as i64,
                        sha256: state.ending.sha256.clone(),
                        crc32c: None,
                    };
                    Ok(UploadMessage::Finish(declared))
                } else {
                    Ok(UploadMessage::Pause)
                }
            }
        };
        Some((item, state))
    }))
}

/// `Upload-Checksum: {algorithm} {base64 digest}` of one request's body.
enum Checksum {
    Sha1(sha1::Sha1, Vec<u8>),
    Sha256(sha2::Sha256, Vec<u8>),
}

impl Checksum {
    fn parse(value: &HeaderValue) -> Result<Self, Refusal> {
        let value = value.to_str().map_err(|_| bad_request("Upload-Checksum must be ASCII"))?;
        let (algorithm, digest) =
            value.split_once(' ').ok_or_else(|| bad_request("Upload-Checksum is `{algorithm} {base64 digest}`"))?;
        let digest =
            STANDARD.decode(digest.trim()).map_err(|_| bad_request("Upload-Checksum's digest is not base64"))?;
        match algorithm {
            "sha1" => Ok(Self::Sha1(sha1::Sha1::new(), digest)),
            "sha256" => Ok(Self::Sha256(sha2::Sha256::new(), digest)),
            other => Err(bad_request(format!(
                "Upload-Checksum algorithm {other:?} is not supported: use one of {CHECKSUM_ALGORITHMS}"
            ))),
        }
    }

    fn update(&mut self, data: &Bytes) {
        match self {
            Self::Sha1(hasher, _) => hasher.update(data),
            Self::Sha256(hasher, _) => hasher.update(data),
        }
    }

    fn matches(self) -> bool {
        match self {
            Self::Sha1(hasher, digest) => hasher.finalize().as_slice() == digest,
            Self::Sha256(hasher, digest) => hasher.finalize().as_slice() == digest,
        }
    }
}
