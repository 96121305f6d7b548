//! One error type for the whole service, mapped once to a gRPC status.
//!
//! The client sees a short message and a machine-readable reason
//! (`google.rpc.ErrorInfo`); the internal chain is logged, never sent.

use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo` reasons, one enum in `proto/archive/v1/errors.proto`
/// that documents each for clients.
pub use crate::proto::v1::ErrorReason as Reason;

/// What went wrong, in terms a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidArgument,
    NotFound,
    AlreadyExists,
    /// An etag did not match: the caller must re-read and retry.
    Aborted,
    FailedPrecondition,
    OutOfRange,
    ResourceExhausted,
    /// A backend (object storage, database) failed or could not be reached.
    Unavailable,
    Internal,
    /// A deadline passed: the caller's, or the server's ceiling.
    DeadlineExceeded,
    /// No token, or one the server does not know.
    Unauthenticated,
    /// A known token without the scope the call needs.
    PermissionDenied,
}

impl ErrorKind {
    /// The kind every error of `reason` has: one match, in the grouping of
    /// `proto/archive/v1/errors.proto` (a test holds the two together).
    pub fn of(reason: Reason) -> Self {
        use ErrorKind::*;
        match reason {
            Reason::MissingField
            | Reason::MissingName
            | Reason::InvalidName
            | Reason::InvalidId
            | Reason::MissingTitle
            | Reason::MissingPublishTime
            | Reason::InvalidTimestamp
            | Reason::InvalidUtcOffset
            | Reason::FieldTooLong
            | Reason::TooManyKeywords
            | Reason::EmptyKeyword
            | Reason::NegativeViewCount
            | Reason::InvalidCount
            | Reason::MissingEtag
            | Reason::MissingUpdateMask
            | Reason::InvalidUpdateMask
            | Reason::ExportMalformed
            | Reason::MissingQuery
            | Reason::QueryTooLong
            | Reason::InvalidPageSize
            | Reason::InvalidPageToken
            | Reason::PageTokenFilterMismatch
            | Reason::InvalidTtl
            | Reason::InvalidRange
            | Reason::MissingReference
            | Reason::MissingHeader
            | Reason::MissingUploadId
            | Reason::MissingFilename
            | Reason::InvalidFilename
            | Reason::InvalidContentType
            | Reason::UnexpectedMessage
            | Reason::UploadNotFinished
            | Reason::SizeMismatch
            | Reason::ManifestInvalid
            | Reason::InvalidSha256
            | Reason::InvalidUploadSize
            | Reason::InvalidTusRequest
            | Reason::ChecksumMismatch
            | Reason::Sha256Mismatch
            | Reason::Crc32cMismatch
            | Reason::NotMp4
            | Reason::InvalidAuditOption
            | Reason::InvalidCursor
            | Reason::InvalidChangeKind
            | Reason::InvalidClipReference
            | Reason::TooManyClipReferences
            | Reason::BodyTooLarge
            | Reason::ViewCountTooLarge
            | Reason::InvalidRequestId
            | Reason::UnsupportedMediaType
            | Reason::MalformedMessage
            | Reason::MalformedQuery
            | Reason::InvalidSearchOption
            | Reason::InvalidCaptions
            | Reason::CaptionsTooLarge
            | Reason::InvalidLanguage
            | Reason::InvalidTrack
            | Reason::InvalidStart
            | Reason::InvalidPictureSize
            | Reason::InvalidPoster
            | Reason::InvalidPictureFormat => InvalidArgument,
            Reason::ArticleNotFound
            | Reason::RevisionNotFound
            | Reason::MediaNotFound
            | Reason::ReferenceNotLinked
            | Reason::UploadNotFound
            | Reason::UploadExpired
            | Reason::BlobNotFound
            | Reason::CaptionTrackNotFound => NotFound,
            Reason::ArticleExists | Reason::MediaExists => AlreadyExists,
            Reason::EtagMismatch
            | Reason::ConcurrentChange
            | Reason::UploadBusy
            | Reason::UploadMovedOn
            | Reason::CopySourceGone => Aborted,
            Reason::LegalHold
            | Reason::ArticleNotDeleted
            | Reason::NotPurgeable
            | Reason::MediaInUse
            | Reason::UploadFinished
            | Reason::UploadUrlUsed
            | Reason::OffsetMismatch
            | Reason::PictureUnavailable => FailedPrecondition,
            Reason::OffsetPastEnd | Reason::CursorExpired => OutOfRange,
            Reason::UploadTooLarge
            | Reason::UploadTooLong
            | Reason::TooManyUploads
            | Reason::TooManyParts
            | Reason::MessageTooLarge
            | Reason::RateLimited
            | Reason::TooManyRequests => ResourceExhausted,
            Reason::BackendUnavailable | Reason::ShuttingDown => Unavailable,
            Reason::Internal | Reason::Unspecified => Internal,
            Reason::ServerTimeout | Reason::UploadIdle | Reason::ClientDeadline => DeadlineExceeded,
            Reason::MissingToken | Reason::UnknownToken => Unauthenticated,
            Reason::MissingScope | Reason::UploadNotYours => PermissionDenied,
        }
    }

    /// The gRPC code of this kind.
    pub fn code(self) -> Code {
        match self {
            ErrorKind::InvalidArgument => Code::InvalidArgument,
            ErrorKind::NotFound => Code::NotFound,
            ErrorKind::AlreadyExists => Code::AlreadyExists,
            ErrorKind::Aborted => Code::Aborted,
            ErrorKind::FailedPrecondition => Code::FailedPrecondition,
            ErrorKind::OutOfRange => Code::OutOfRange,
            ErrorKind::ResourceExhausted => Code::ResourceExhausted,
            ErrorKind::Unavailable => Code::Unavailable,
            ErrorKind::Internal => Code::Internal,
            ErrorKind::DeadlineExceeded => Code::DeadlineExceeded,
            ErrorKind::Unauthenticated => Code::Unauthenticated,
            ErrorKind::PermissionDenied => Code::PermissionDenied,
        }
    }

    /// The HTTP status of this kind (google.rpc.Code's HTTP mapping), for
    /// the media gateway: the one mapping beside [`ArchiveError::code`].
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::InvalidArgument | ErrorKind::FailedPrecondition | ErrorKind::OutOfRange => 400,
            ErrorKind::NotFound => 404,
            ErrorKind::AlreadyExists | ErrorKind::Aborted => 409,
            ErrorKind::ResourceExhausted => 429,
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
            ErrorKind::DeadlineExceeded => 504,
            ErrorKind::Unauthenticated => 401,
            ErrorKind::PermissionDenied => 403,
        }
    }
}

/// An error with a kind, a stable reason code and a client-safe message.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ArchiveError {
    pub kind: ErrorKind,
    /// Sent as `ErrorInfo.reason` (its proto name).
    pub reason: Reason,
    /// Sent to the client; must not contain internal details.
    pub message: String,
    #[source]
    pub source: Option<anyhow::Error>,
    /// Sent as `google.rpc.RetryInfo`: waiting this long should help.
    pub retry_after: Option<std::time::Duration>,
}

pub type Result<T, E = ArchiveError> = std::result::Result<T, E>;

const ERROR_DOMAIN: &str = "archive.v1";

/// Longest status message sent: a message quoting client text is cut here
/// whatever it quotes, so a huge name never comes back as huge trailers.
const MAX_MESSAGE_CHARS: usize = 1024;
/// How much of a client's text a message quotes.
const QUOTED_CHARS: usize = 64;

/// Client text inside a message: Debug-quoted (control characters
/// escaped), at most [`QUOTED_CHARS`] characters of it, then `…`.
pub fn quoted(text: &str) -> String {
    let (shown, cut) = clip(text);
    format!("{shown:?}{}", if cut { "…" } else { "" })
}

/// The first [`QUOTED_CHARS`] characters of `text`, and whether it was longer.
fn clip(text: &str) -> (&str, bool) {
    match text.char_indices().nth(QUOTED_CHARS) {
        Some((end, _)) => (&text[..end], true),
        None => (text, false),
    }
}

/// Client text in a log field or span, cut like [`quoted`] but not quoted.
pub struct Clipped<'a>(pub &'a str);

impl std::fmt::Display for Clipped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (shown, cut) = clip(self.0);
        write!(f, "{}{}", shown.escape_debug(), if cut { "…" } else { "" })
    }
}

/// `message` cut to [`MAX_MESSAGE_CHARS`].
fn bounded(mut message: String) -> String {
    if let Some((end, _)) = message.char_indices().nth(MAX_MESSAGE_CHARS) {
        message.truncate(end);
        message.push('…');
    }
    message
}

impl ArchiveError {
    /// An error of `reason`, whose kind (and so gRPC code) the reason decides.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::of(reason), reason, message: message.into(), source: None, retry_after: None }
    }

    /// Tells the client to come back after `wait` (a limit that lifts).
    pub fn retry_after(mut self, wait: std::time::Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    /// A backend failure; `context` is client-safe, `source` is only logged.
    pub fn unavailable(context: &str, source: impl Into<anyhow::Error>) -> Self {
        Self {
            kind: ErrorKind::Unavailable,
            reason: Reason::BackendUnavailable,
            message: format!("{context} failed; retry later"),
            source: Some(source.into()),
            retry_after: None,
        }
    }

    pub fn internal(context: &str, source: impl Into<anyhow::Error>) -> Self {
        Self {
            kind: ErrorKind::Internal,
            reason: Reason::Internal,
            message: format!("internal error while {context}"),
            source: Some(source.into()),
            retry_after: None,
        }
    }

    pub fn code(&self) -> Code {
        self.kind.code()
    }
}

impl From<ArchiveError> for tonic::Status {
    fn from(error: ArchiveError) -> Self {
        if let Some(source) = &error.source {
            tracing::error!(reason = error.reason.as_str_name(), error = ?source, "{}", error.message);
        }
        let mut details = ErrorDetails::with_error_info(error.reason.as_str_name(), ERROR_DOMAIN, []);
        if let Some(wait) = error.retry_after {
            details.set_retry_info(Some(wait));
        }
        tonic::Status::with_error_details(error.code(), bounded(error.message), details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_sent_is_the_proto_name() {
        let error = ArchiveError::new(Reason::ArticleNotFound, "article articles/x does not exist");
        let status = tonic::Status::from(error);
        assert_eq!(status.code(), Code::NotFound);
        let info = status.get_details_error_info().expect("ErrorInfo");
        assert_eq!((info.reason.as_str(), info.domain.as_str()), ("ARTICLE_NOT_FOUND", ERROR_DOMAIN));
        assert_eq!(Reason::from_str_name("ARTICLE_NOT_FOUND"), Some(Reason::ArticleNotFound));
    }

    #[test]
    fn client_text_is_quoted_short_and_messages_are_bounded() {
        let name = format!("articles/{}", "x".repeat(4 << 20));
        let shown = quoted(&name);
        assert!(shown.chars().count() < 80 && shown.starts_with("\"articles/x") && shown.ends_with('…'), "{shown}");
        assert_eq!(quoted("a\nb"), "\"a\\nb\"", "control characters escaped");
        assert_eq!(Clipped("x}\n{y").to_string(), "x}\\n{y");
        let error = ArchiveError::new(Reason::InvalidName, "y".repeat(100_000));
        let status = tonic::Status::from(error);
        assert!(status.message().chars().count() <= MAX_MESSAGE_CHARS + 1, "{}", status.message().len());
    }

    /// Every reason comes with the code of its group in errors.proto
    /// (`// INVALID_ARGUMENT: ...` opens a group), as clients are told.
    #[test]
    fn each_reason_has_the_code_its_group_in_the_proto_promises() {
        use heck::ToShoutySnakeCase;
        let proto = include_str!("../proto/archive/v1/errors.proto");
        let (mut group, mut checked) = (None::<String>, 0);
        let body = proto.split_once("enum ErrorReason {").expect("the enum").1;
        for line in body.lines().map(str::trim) {
            if let Some(comment) = line.strip_prefix("// ") {
                let word = comment.split([':', ',', ' ']).next().unwrap_or("");
                if word.len() > 2 && word.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
                    group = Some(word.to_owned());
                }
            } else if let Some((name, _)) = line.split_once(" = ")
                && name != "ERROR_REASON_UNSPECIFIED"
                && !name.contains(' ')
            {
                let reason = Reason::from_str_name(name).unwrap_or_else(|| panic!("{name} is no reason"));
                let code = format!("{:?}", ErrorKind::of(reason).code()).to_shouty_snake_case();
                assert_eq!(Some(&code), group.as_ref(), "{name}");
                checked += 1;
            }
        }
        let reasons = (1..1000).filter(|&n| Reason::try_from(n).is_ok()).count();
        assert_eq!(checked, reasons, "every reason is in a group");
    }

    #[test]
    fn http_statuses_follow_the_grpc_codes() {
        let kinds = [
            (ErrorKind::InvalidArgument, 400),
            (ErrorKind::NotFound, 404),
            (ErrorKind::AlreadyExists, 409),
            (ErrorKind::Aborted, 409),
            (ErrorKind::FailedPrecondition, 400),
            (ErrorKind::OutOfRange, 400),
            (ErrorKind::ResourceExhausted, 429),
            (ErrorKind::Unavailable, 503),
            (ErrorKind::Internal, 500),
            (ErrorKind::DeadlineExceeded, 504),
            (ErrorKind::Unauthenticated, 401),
            (ErrorKind::PermissionDenied, 403),
        ];
        for (kind, status) in kinds {
            assert_eq!(kind.http_status(), status, "{kind:?}");
        }
    }
}
