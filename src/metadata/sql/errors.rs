//! The store's errors: database failures and the records a write did not find.

use crate::error::Reason;
use crate::{
    blob::BlobKey,
    error::{ArchiveError, Result},
    ids::{ArticleId, MediaId},
};

/// `?` on a database call maps its error here, the one mapping of them.
impl From<sqlx::Error> for ArchiveError {
    fn from(error: sqlx::Error) -> Self {
        db_error(error)
    }
}

fn db_error(error: sqlx::Error) -> ArchiveError {
    // PostgreSQL gave up one of two transactions waiting on each other:
    // nothing was written, and a retry normally succeeds.
    let conflict =
        matches!(&error, sqlx::Error::Database(e) if matches!(e.code().as_deref(), Some("40001") | Some("40P01")));
    if conflict {
        let mut aborted = ArchiveError::new(
            Reason::ConcurrentChange,
            "a concurrent change to the same records won; nothing was written, retry",
        );
        aborted.source = Some(error.into());
        return aborted;
    }
    ArchiveError::unavailable("the metadata database", error)
}

pub(super) fn article_not_found(id: &ArticleId) -> ArchiveError {
    ArchiveError::new(Reason::ArticleNotFound, format!("article {} does not exist", id.name()))
}

pub(super) fn media_not_found(id: &MediaId) -> ArchiveError {
    ArchiveError::new(Reason::MediaNotFound, format!("media {} does not exist", id.name()))
}

pub(super) fn stale_etag(id: &ArticleId) -> ArchiveError {
    ArchiveError::new(
        Reason::EtagMismatch,
        format!("article {} was changed since it was read; read it again and retry", id.name()),
    )
}

pub(super) fn on_hold(id: &ArticleId) -> ArchiveError {
    ArchiveError::new(Reason::LegalHold, format!("article {} is under legal hold; clear the hold first", id.name()))
}

pub(super) fn stored_key(value: &str) -> Result<BlobKey> {
    BlobKey::parse(value)
        .ok_or_else(|| ArchiveError::internal("reading metadata", anyhow::anyhow!("bad stored key {value:?}")))
}

pub(super) fn stored_id<T>(parse: fn(&str) -> Result<T>, value: &str) -> Result<T> {
    parse(value).map_err(|_| ArchiveError::internal("reading metadata", anyhow::anyhow!("bad stored id {value:?}")))
}
