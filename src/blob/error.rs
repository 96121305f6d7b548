//! What can go wrong in object storage, in the store's own terms. The
//! service sees these only through the one mapping below
//! (`From<BlobError> for ArchiveError`), which decides the gRPC code, the
//! reason and what a client may read (object keys are internal: logged,
//! never sent).

use super::BlobKey;
use crate::error::{ArchiveError, Reason};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The object is not there.
    #[error("object {key} not found")]
    NotFound { key: BlobKey },
    /// The multipart upload is unknown, finished or aborted.
    #[error("multipart upload {upload_id:?} not found")]
    UploadNotFound { upload_id: String },
    /// The object would need more parts than a multipart upload may have.
    #[error("the object exceeds {max_parts} parts of {part_size} bytes")]
    TooManyParts { max_parts: i32, part_size: u64 },
    /// The store refuses to presign for this long.
    #[error("cannot presign for {expires_in:?}: {message}")]
    InvalidExpiry { expires_in: Duration, message: String },
    /// The store did not answer, or answered with an error: worth a retry.
    #[error("{context} failed")]
    Unavailable {
        context: &'static str,
        #[source]
        source: anyhow::Error,
    },
    /// A broken invariant of ours (an upload used after it closed).
    #[error("internal error while {context}")]
    Internal {
        context: &'static str,
        #[source]
        source: anyhow::Error,
    },
}

pub type BlobResult<T> = std::result::Result<T, BlobError>;

impl BlobError {
    pub fn unavailable(context: &'static str, source: impl Into<anyhow::Error>) -> Self {
        Self::Unavailable { context, source: source.into() }
    }

    pub fn internal(context: &'static str, source: impl Into<anyhow::Error>) -> Self {
        Self::Internal { context, source: source.into() }
    }
}

impl From<BlobError> for ArchiveError {
    fn from(error: BlobError) -> Self {
        match error {
            BlobError::NotFound { key } => {
                tracing::warn!(%key, "object not found");
                ArchiveError::new(Reason::BlobNotFound, "the stored bytes are missing")
            }
            BlobError::UploadNotFound { .. } => {
                ArchiveError::new(Reason::UploadNotFound, "the multipart upload no longer exists")
            }
            BlobError::TooManyParts { .. } => ArchiveError::new(Reason::TooManyParts, error.to_string()),
            BlobError::InvalidExpiry { .. } => ArchiveError::new(Reason::InvalidTtl, error.to_string()),
            BlobError::Unavailable { context, source } => ArchiveError::unavailable(context, source),
            BlobError::Internal { context, source } => ArchiveError::internal(context, source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn keys_are_not_sent_to_clients() {
        let key = BlobKey::parse("media/secret-key/original").unwrap();
        let error = ArchiveError::from(BlobError::NotFound { key });
        assert_eq!((error.kind, error.reason), (ErrorKind::NotFound, Reason::BlobNotFound));
        assert!(!error.message.contains("secret-key"), "{}", error.message);
    }

    #[test]
    fn each_error_has_its_code() {
        let io = || std::io::Error::other("connection reset");
        let cases = [
            (BlobError::UploadNotFound { upload_id: "x".into() }, ErrorKind::NotFound),
            (BlobError::TooManyParts { max_parts: 10_000, part_size: 1 }, ErrorKind::ResourceExhausted),
            (
                BlobError::InvalidExpiry { expires_in: Duration::from_secs(1 << 30), message: "too long".into() },
                ErrorKind::InvalidArgument,
            ),
            (BlobError::unavailable("reading an object", io()), ErrorKind::Unavailable),
            (BlobError::internal("writing", io()), ErrorKind::Internal),
        ];
        for (error, kind) in cases {
            let shown = error.to_string();
            let mapped = ArchiveError::from(error);
            assert_eq!(mapped.kind, kind, "{shown}");
            assert!(!mapped.message.contains("connection reset"), "sources are logged, not sent: {}", mapped.message);
        }
    }
}
