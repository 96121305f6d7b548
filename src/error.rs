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
    match text.char_indices().nth(QUOTED_CHARS) {
        Some((end, _)) => format!("{:?}…", &text[..end]),
        None => format!("{text:?}"),
    }
}

/// Client text in a log field or span, cut like [`quoted`] but not quoted.
pub struct Clipped<'a>(pub &'a str);

impl std::fmt::Display for Clipped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.char_indices().nth(QUOTED_CHARS) {
            Some((end, _)) => write!(f, "{}…", self.0[..end].escape_debug()),
            None => write!(f, "{}", self.0.escape_debug()),
        }
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
    pub fn new(kind: ErrorKind, reason: Reason, message: impl Into<String>) -> Self {
        Self { kind, reason, message: message.into(), source: None, retry_after: None }
    }

    /// Tells the client to come back after `wait` (a limit that lifts).
    pub fn retry_after(mut self, wait: std::time::Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    pub fn invalid(reason: Reason, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, reason, message)
    }

    pub fn not_found(reason: Reason, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, reason, message)
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
        match self.kind {
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
        let error = ArchiveError::not_found(Reason::ArticleNotFound, "article articles/x does not exist");
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
        let error = ArchiveError::invalid(Reason::InvalidName, "y".repeat(100_000));
        let status = tonic::Status::from(error);
        assert!(status.message().chars().count() <= MAX_MESSAGE_CHARS + 1, "{}", status.message().len());
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
