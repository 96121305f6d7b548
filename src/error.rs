//! One error type for the whole service, mapped once to a gRPC status.
//!
//! The client sees a short message and a machine-readable reason
//! (`google.rpc.ErrorInfo`); the internal chain is logged, never sent.

use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

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
}

/// An error with a kind, a stable reason code and a client-safe message.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ArchiveError {
    pub kind: ErrorKind,
    /// Stable UPPER_SNAKE_CASE reason, sent as `ErrorInfo.reason`.
    pub reason: &'static str,
    /// Sent to the client; must not contain internal details.
    pub message: String,
    #[source]
    pub source: Option<anyhow::Error>,
}

pub type Result<T, E = ArchiveError> = std::result::Result<T, E>;

const ERROR_DOMAIN: &str = "archive.v1";

impl ArchiveError {
    pub fn new(kind: ErrorKind, reason: &'static str, message: impl Into<String>) -> Self {
        Self { kind, reason, message: message.into(), source: None }
    }

    pub fn invalid(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, reason, message)
    }

    pub fn not_found(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, reason, message)
    }

    /// A backend failure; `context` is client-safe, `source` is only logged.
    pub fn unavailable(context: &str, source: impl Into<anyhow::Error>) -> Self {
        Self {
            kind: ErrorKind::Unavailable,
            reason: "BACKEND_UNAVAILABLE",
            message: format!("{context} failed; retry later"),
            source: Some(source.into()),
        }
    }

    pub fn internal(context: &str, source: impl Into<anyhow::Error>) -> Self {
        Self {
            kind: ErrorKind::Internal,
            reason: "INTERNAL",
            message: format!("internal error while {context}"),
            source: Some(source.into()),
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
        }
    }
}

impl From<ArchiveError> for tonic::Status {
    fn from(error: ArchiveError) -> Self {
        if let Some(source) = &error.source {
            tracing::error!(reason = error.reason, error = ?source, "{}", error.message);
        }
        let details = ErrorDetails::with_error_info(error.reason, ERROR_DOMAIN, []);
        tonic::Status::with_error_details(error.code(), error.message, details)
    }
}
