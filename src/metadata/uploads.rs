//! Resumable uploads as the metadata store keeps them between streams: where
//! the bytes go, how far they are safely stored, and the checksum state at
//! that point, so any replica can take the upload up again.

use super::MediaRecord;
use crate::{
    blob::{BlobKey, CompletedPart},
    error::Result,
    ids::{MediaId, UploadId},
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// How far an upload has safely come: every byte before `committed_offset`
/// is in `parts_done` stored parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadProgress {
    pub committed_offset: u64,
    pub parts_done: i32,
    /// The SHA-256 state after `committed_offset` bytes (serialized).
    pub sha256_state: Vec<u8>,
    /// CRC32C of the first `committed_offset` bytes.
    pub crc32c: u32,
}

/// A resumable upload.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadSession {
    pub id: UploadId,
    /// The clip it becomes.
    pub media_id: MediaId,
    pub filename: String,
    pub content_type: String,
    /// Where the original goes.
    pub key: BlobKey,
    /// The object store's multipart upload.
    pub multipart_id: String,
    /// Size of every part but the last, fixed when the upload starts.
    pub part_size: u64,
    pub progress: UploadProgress,
    pub create_time: DateTime<Utc>,
    /// Pushed back by every stored part; after it the janitor discards the upload.
    pub expire_time: DateTime<Utc>,
    /// The clip is recorded; the session stays until it expires so that a
    /// client that lost the answer can ask again.
    pub finished: bool,
    /// Who started it (a token's name; empty for sessions older than the
    /// rule): only they, or an admin, may go on with it.
    pub owner: String,
    /// The size a tus client declared when it created the upload; none
    /// over gRPC, whose finish message states it.
    pub declared_size: Option<u64>,
    /// Bytes past the committed offset kept in the upload's tail object
    /// ([`crate::blob::BlobKey::upload_tail`]); only uploads over tus keep one.
    pub tail_bytes: u64,
}

impl UploadSession {
    /// Where the next bytes go: after the stored parts and the tail.
    pub fn resume_offset(&self) -> u64 {
        self.progress.committed_offset + self.tail_bytes
    }
}

/// Resumable upload sessions.
///
/// Implemented in `sql/uploads.rs`.
#[async_trait]
pub trait UploadSessionStore: Send + Sync {
    async fn insert_upload(&self, session: &UploadSession) -> Result<()>;

    /// NOT_FOUND when there is no such upload (any more).
    async fn get_upload(&self, id: &UploadId) -> Result<UploadSession>;

    /// The parts stored so far, by number.
    async fn upload_parts(&self, id: &UploadId) -> Result<Vec<CompletedPart>>;

    /// Records `parts` and moves the upload on to `progress`, if it is still
    /// at `from_offset` and unfinished (ABORTED otherwise: another stream
    /// moved it).
    async fn advance_upload(
        &self,
        id: &UploadId,
        from_offset: u64,
        progress: &UploadProgress,
        parts: &[CompletedPart],
        expire_time: DateTime<Utc>,
    ) -> Result<()>;

    /// Records the clip and marks the upload finished, in one transaction.
    /// A clip naming objects other than the session's shares a recorded
    /// clip's, under the conditions of [`super::MediaStore::insert_media_copy`].
    /// Sets how many bytes the tail object after the committed offset
    /// holds, if the upload still stands at `committed_offset` with a tail
    /// of `from_tail` bytes (else UPLOAD_MOVED_ON); pushes the expiry back.
    async fn set_upload_tail(
        &self,
        id: &UploadId,
        committed_offset: u64,
        from_tail: u64,
        to_tail: u64,
        expire_time: DateTime<Utc>,
    ) -> Result<()>;

    async fn finish_upload(&self, id: &UploadId, media: &MediaRecord, expire_time: DateTime<Utc>) -> Result<()>;

    /// Uploads whose expiry has passed, at most `limit`.
    async fn expired_uploads(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<UploadSession>>;

    /// Forgets an upload and its parts.
    async fn delete_upload(&self, id: &UploadId) -> Result<()>;

    /// Sessions whose clip is not recorded yet (all replicas together).
    async fn count_open_uploads(&self) -> Result<i64>;
}
