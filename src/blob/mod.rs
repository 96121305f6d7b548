//! Object storage behind one narrow trait: the local file system (embedded
//! default) or any S3-compatible store.
//!
//! Writes of large objects go through a [`BlobUpload`], which becomes visible
//! only on [`BlobUpload::commit`]; an upload that is aborted or dropped leaves
//! nothing behind.

mod fs;
mod key;
mod parts;
mod ranged;
mod rechunk;
mod s3;

pub use fs::FsBlobStore;
pub use key::{BlobKey, KeyOwner, ObjectOrigin};
pub use parts::{PartUpload, PartWriter};
pub use ranged::{FetchRange, RangedReads};
pub use rechunk::rechunk;
pub use s3::S3BlobStore;

use crate::error::Reason;
use crate::{
    config::StorageSettings,
    error::{ArchiveError, Result},
};
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::{Stream, TryStreamExt};
use std::{ops::Range, pin::Pin, sync::Arc, time::Duration};

/// A stream of an object's bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// A stream of object keys, read from the store as it is consumed.
pub type KeyStream = Pin<Box<dyn Stream<Item = Result<BlobKey>> + Send>>;

/// Where bytes live.
#[async_trait]
pub trait BlobStore: Send + Sync + std::fmt::Debug + 'static {
    /// Stores a small object in one request, atomically.
    async fn put(&self, key: &BlobKey, data: Bytes, content_type: &str) -> Result<()>;

    /// Starts a streamed write; nothing is visible before `commit`.
    async fn start_upload(&self, key: &BlobKey, content_type: &str) -> Result<Box<dyn BlobUpload>>;

    /// Streams `range` of an object; the caller keeps it within the size.
    async fn get(&self, key: &BlobKey, range: Range<u64>) -> Result<ByteStream>;

    /// Size of an object, `None` when it does not exist.
    async fn size(&self, key: &BlobKey) -> Result<Option<u64>>;

    /// Removes an object; removing a missing object succeeds.
    async fn delete(&self, key: &BlobKey) -> Result<()>;

    /// Keys of the objects whose key starts with `prefix` (a directory-like
    /// prefix ending in `/`), in no particular order, fetched page by page
    /// as the stream is read: memory does not grow with the bucket. An
    /// error ends the stream. For maintenance tools.
    fn list(&self, prefix: &str) -> KeyStream;

    /// Size of each part of a multipart upload (all but the last).
    fn part_size(&self) -> u64;

    /// Parts of one upload sent concurrently.
    fn parts_in_flight(&self) -> usize;

    /// Starts a multipart upload to `key` and returns its id. Parts may be
    /// sent by several streams over hours; nothing is visible before
    /// [`BlobStore::complete_multipart`].
    async fn create_multipart(&self, key: &BlobKey, content_type: &str) -> Result<String>;

    /// Stores part `number` (from 1), which starts at byte `offset` of the
    /// object; sending a part again replaces it. `crc32c` is the part's,
    /// computed by the caller as the bytes streamed in.
    async fn upload_part(
        &self,
        key: &BlobKey,
        upload_id: &str,
        number: i32,
        offset: u64,
        data: Bytes,
        crc32c: u32,
    ) -> Result<CompletedPart>;

    /// Makes the object the concatenation of `parts` (sorted, from 1, all
    /// but the last of [`BlobStore::part_size`]).
    async fn complete_multipart(&self, key: &BlobKey, upload_id: &str, parts: &[CompletedPart]) -> Result<()>;

    /// Discards a multipart upload and its parts; an unknown id succeeds.
    async fn abort_multipart(&self, key: &BlobKey, upload_id: &str) -> Result<()>;

    /// Signs direct GET URLs, when the backend can (S3).
    fn presigner(&self) -> Option<&dyn PresignGet> {
        None
    }

    /// Reads a whole small object of known `size` (article text).
    async fn get_bytes(&self, key: &BlobKey, size: u64) -> Result<Bytes> {
        let stream = self.get(key, 0..size).await?;
        let buffer = stream
            .try_fold(BytesMut::with_capacity(size as usize), |mut buffer, chunk| async move {
                buffer.extend_from_slice(&chunk);
                Ok(buffer)
            })
            .await
            .map_err(|e| ArchiveError::unavailable("reading an object", e))?;
        Ok(buffer.freeze())
    }
}

/// NOT_FOUND for an object that is not there. The key is logged, not sent:
/// object keys are internal.
pub(crate) fn missing_object(key: &BlobKey) -> ArchiveError {
    tracing::warn!(%key, "object not found");
    ArchiveError::not_found(Reason::BlobNotFound, "the stored bytes are missing")
}

/// A part of a multipart upload that has landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    pub number: i32,
    /// The store's tag of the part (the S3 ETag), needed to complete.
    pub etag: String,
    pub size: u64,
}

/// A streamed write of one object.
#[async_trait]
pub trait BlobUpload: Send {
    async fn write(&mut self, chunk: Bytes) -> Result<()>;
    /// Makes the object visible under its key.
    async fn commit(self: Box<Self>) -> Result<()>;
    /// Discards everything written.
    async fn abort(self: Box<Self>) -> Result<()>;
}

/// Direct, time-limited GET URLs signed by the storage itself.
#[async_trait]
pub trait PresignGet: Send + Sync {
    /// A GET URL answering with `content_type` and, when given, `disposition`.
    async fn presign_get(
        &self,
        key: &BlobKey,
        expires_in: Duration,
        content_type: &str,
        disposition: Option<&str>,
    ) -> Result<String>;
}

/// Opens the store named by `settings.url`: `file://DIR` or `s3://BUCKET`.
pub async fn open(settings: &StorageSettings, read_chunk_bytes: usize) -> anyhow::Result<Arc<dyn BlobStore>> {
    if let Some(dir) = settings.url.strip_prefix("file://") {
        anyhow::ensure!(!dir.is_empty(), "storage.url file:// needs a directory");
        Ok(Arc::new(FsBlobStore::open(dir, read_chunk_bytes).await?))
    } else if let Some(bucket) = settings.url.strip_prefix("s3://") {
        let bucket = bucket.trim_end_matches('/');
        anyhow::ensure!(!bucket.is_empty() && !bucket.contains('/'), "storage.url must be s3://BUCKET");
        Ok(Arc::new(S3BlobStore::connect(&settings.s3, bucket).await?))
    } else {
        anyhow::bail!("storage.url {:?} must start with file:// or s3://", settings.url)
    }
}
