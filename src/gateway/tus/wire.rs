//! tus's words on the wire: its headers and statuses, the parsing of
//! `Upload-Metadata` and `Upload-Checksum`, and how a refusal is answered.

use crate::error::{ArchiveError, Reason};
use axum::{
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use sha2::Digest;

pub(super) const VERSION: &str = "1.0.0";
pub(super) const EXTENSIONS: &str = "creation,creation-with-upload,termination,expiration,checksum";
pub(super) const CHECKSUM_ALGORITHMS: &str = "sha1,sha256";
pub(super) const OCTET_STREAM: &str = "application/offset+octet-stream";
/// The status tus gives a checksum that does not match.
pub(super) const CHECKSUM_MISMATCH: u16 = 460;

pub(super) const TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
pub(super) const TUS_VERSION: HeaderName = HeaderName::from_static("tus-version");
pub(super) const TUS_EXTENSION: HeaderName = HeaderName::from_static("tus-extension");
pub(super) const TUS_MAX_SIZE: HeaderName = HeaderName::from_static("tus-max-size");
pub(super) const TUS_CHECKSUM_ALGORITHM: HeaderName = HeaderName::from_static("tus-checksum-algorithm");
pub(super) const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
pub(super) const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
pub(super) const UPLOAD_DEFER_LENGTH: HeaderName = HeaderName::from_static("upload-defer-length");
pub(super) const UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
pub(super) const UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");
pub(super) const UPLOAD_CHECKSUM: HeaderName = HeaderName::from_static("upload-checksum");
pub(super) const METHOD_OVERRIDE: HeaderName = HeaderName::from_static("x-http-method-override");
/// The clip an upload became: `media/{id}`, on the last PATCH and on HEAD after it.
pub(super) const ARCHIVE_MEDIA: HeaderName = HeaderName::from_static("archive-media");

/// Why a tus request is refused: a status and a message for the client.
pub(super) struct Refusal(pub(super) StatusCode, pub(super) String);

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

pub(super) fn bad_request(message: impl Into<String>) -> Refusal {
    ArchiveError::new(Reason::InvalidTusRequest, message).into()
}

pub(super) fn number(headers: &HeaderMap, name: &HeaderName) -> Result<Option<u64>, Refusal> {
    let Some(value) = headers.get(name) else { return Ok(None) };
    let digits = value.to_str().ok().filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()));
    digits
        .and_then(|digits| digits.parse().ok())
        .map(Some)
        .ok_or_else(|| bad_request(format!("{name} must be a number")))
}

/// HTTP-date (RFC 9110 §5.6.7), as `Upload-Expires` is written.
pub(super) fn http_date(time: &DateTime<Utc>) -> HeaderValue {
    HeaderValue::from_str(&time.format("%a, %d %b %Y %H:%M:%S GMT").to_string()).expect("a date is a header value")
}

/// `Upload-Metadata`: comma-separated `key base64value` pairs.
pub(super) fn metadata(headers: &HeaderMap) -> Result<Vec<(String, String)>, Refusal> {
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

pub(super) fn is_octet_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(OCTET_STREAM.as_bytes()))
}

/// `Upload-Checksum: {algorithm} {base64 digest}` of one request's body.
pub(super) enum Checksum {
    Sha1(sha1::Sha1, Vec<u8>),
    Sha256(sha2::Sha256, Vec<u8>),
}

impl Checksum {
    pub(super) fn parse(value: &HeaderValue) -> Result<Self, Refusal> {
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

    pub(super) fn update(&mut self, data: &Bytes) {
        match self {
            Self::Sha1(hasher, _) => hasher.update(data),
            Self::Sha256(hasher, _) => hasher.update(data),
        }
    }

    pub(super) fn matches(self) -> bool {
        match self {
            Self::Sha1(hasher, digest) => hasher.finalize().as_slice() == digest,
            Self::Sha256(hasher, digest) => hasher.finalize().as_slice() == digest,
        }
    }
}
