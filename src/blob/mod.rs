//! Object storage behind one narrow trait: the local file system (embedded
//! default) or any S3-compatible store.
//!
//! Writes of large objects go through a [`BlobUpload`], which becomes visible
//! only on [`BlobUpload::commit`]; an upload that is aborted or dropped leaves
//! nothing behind.

mod error;
mod fs;
mod key;
mod measured;
mod parts;
mod ranged;
mod rechunk;
mod s3;

pub use error::{BlobError, BlobResult};
pub use fs::FsBlobStore;
pub use key::{BlobKey, KeyOwner, ObjectOrigin};
pub use measured::Measured;
pub use parts::{PartPlan, PartUpload, PartWriter};
pub use ranged::{FetchRange, RangedReads};
pub use rechunk::rechunk;
pub use s3::S3BlobStore;

use crate::config::StorageSettings;
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::{Stream, TryStreamExt};
use std::{ops::Range, pin::Pin, sync::Arc, time::Duration};

/// A stream of an object's bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// A stream of object keys, read from the store as it is consumed.
pub type KeyStream = Pin<Box<dyn Stream<Item = BlobResult<BlobKey>> + Send>>;

/// A stream of open uploads, read from the store as it is consumed.
pub type OpenUploadStream = Pin<Box<dyn Stream<Item = BlobResult<OpenUpload>> + Send>>;

/// A multipart upload the store holds open (on the file system, also an
/// unfinished write): what a process killed mid-write leaves behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenUpload {
    /// The key it would complete to, when the store knows (S3).
    pub key: Option<BlobKey>,
    pub upload_id: String,
    pub initiated: chrono::DateTime<chrono::Utc>,
}

/// Where bytes live: operations on whole objects. The parts of a multipart
/// upload are [`Multipart`]'s, direct URLs a [`Signer`]'s.
#[async_trait]
pub trait BlobStore: Send + Sync + std::fmt::Debug + 'static {
    /// Stores a small object in one request, atomically.
    async fn put(&self, key: &BlobKey, data: Bytes, content_type: &str) -> BlobResult<()>;

    /// Starts a streamed write; nothing is visible before `commit`.
    async fn start_upload(&self, key: &BlobKey, content_type: &str) -> BlobResult<Box<dyn BlobUpload>>;

    /// Streams `range` of an object; the caller keeps it within the size.
    async fn get(&self, key: &BlobKey, range: Range<u64>) -> BlobResult<ByteStream>;

    /// Size of an object, `None` when it does not exist.
    async fn head(&self, key: &BlobKey) -> BlobResult<Option<u64>>;

    /// Removes an object; removing a missing object succeeds.
    async fn delete(&self, key: &BlobKey) -> BlobResult<()>;

    /// Keys of the objects whose key starts with `prefix` (a directory-like
    /// prefix ending in `/`), in no particular order, fetched page by page
    /// as the stream is read: memory does not grow with the bucket. An
    /// error ends the stream. For maintenance tools.
    fn list(&self, prefix: &str) -> KeyStream;

    /// The store's multipart uploads.
    fn multipart(&self) -> &dyn Multipart;

    /// Signs direct GET URLs, when the backend can (S3).
    fn signer(&self) -> Option<&dyn Signer> {
        None
    }

    /// Reads a whole small object of known `size` (article text).
    async fn get_bytes(&self, key: &BlobKey, size: u64) -> BlobResult<Bytes> {
        let stream = self.get(key, 0..size).await?;
        let buffer = stream
            .try_fold(BytesMut::with_capacity(size as usize), |mut buffer, chunk| async move {
                buffer.extend_from_slice(&chunk);
                Ok(buffer)
            })
            .await
            .map_err(|e| BlobError::unavailable("reading an object", e))?;
        Ok(buffer.freeze())
    }
}

/// Multipart uploads: parts may be sent by several streams over hours, and
/// nothing is visible before [`Multipart::complete`]. [`PartWriter`] drives
/// these for a stream of bytes.
#[async_trait]
pub trait Multipart: Send + Sync {
    /// Starts a multipart upload to `key` and returns its id.
    async fn create(&self, key: &BlobKey, content_type: &str) -> BlobResult<String>;

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
    ) -> BlobResult<CompletedPart>;

    /// Makes the object the concatenation of `parts` (sorted, from 1, all
    /// but the last of one size).
    async fn complete(&self, key: &BlobKey, upload_id: &str, parts: &[CompletedPart]) -> BlobResult<()>;

    /// Discards a multipart upload and its parts; an unknown id succeeds.
    async fn abort(&self, key: &BlobKey, upload_id: &str) -> BlobResult<()>;

    /// Every open upload under the generated prefixes, page by page as the
    /// stream is read. For the sweep.
    fn list_open(&self) -> OpenUploadStream;

    /// Discards an upload [`Multipart::list_open`] gave; a finished one succeeds.
    async fn abort_open(&self, upload: &OpenUpload) -> BlobResult<()> {
        match &upload.key {
            Some(key) => self.abort(key, &upload.upload_id).await,
            None => Ok(()),
        }
    }
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
    async fn write(&mut self, chunk: Bytes) -> BlobResult<()>;
    /// Makes the object visible under its key.
    async fn commit(self: Box<Self>) -> BlobResult<()>;
    /// Discards everything written.
    async fn abort(self: Box<Self>) -> BlobResult<()>;
}

/// Direct, time-limited GET URLs signed by the storage itself.
#[async_trait]
pub trait Signer: Send + Sync {
    /// A GET URL answering with `content_type` and, when given,
    /// `disposition`, signed as of `signed_at` (whole seconds, as SigV4
    /// writes it), valid `expires_in` from then.
    async fn presign_get(
        &self,
        key: &BlobKey,
        signed_at: std::time::SystemTime,
        expires_in: Duration,
        content_type: &str,
        disposition: Option<&str>,
    ) -> BlobResult<String>;
}

/// An opened store and how large objects are cut into parts on it.
#[derive(Debug, Clone)]
pub struct Storage {
    pub store: Arc<dyn BlobStore>,
    pub parts: PartPlan,
}

/// Opens the store named by `settings.url`: `file://DIR` or `s3://BUCKET`,
/// timed ([`Measured`]). Parts follow `[storage.s3]` on S3 and are fixed on the file system.
pub async fn open(settings: &StorageSettings, read_chunk_bytes: usize) -> anyhow::Result<Storage> {
    if let Some(dir) = settings.url.strip_prefix("file://") {
        anyhow::ensure!(!dir.is_empty(), "storage.url file:// needs a directory");
        let store = Arc::new(FsBlobStore::open(dir, read_chunk_bytes).await?);
        Ok(Storage { store: Arc::new(Measured::new(store, None)), parts: fs::PART_PLAN })
    } else if let Some(bucket) = settings.url.strip_prefix("s3://") {
        let bucket = bucket.trim_end_matches('/');
        anyhow::ensure!(!bucket.is_empty() && !bucket.contains('/'), "storage.url must be s3://BUCKET");
        let store = S3BlobStore::connect(&settings.s3, bucket).await?;
        let parts = store.parts();
        Ok(Storage { parts, store: Arc::new(Measured::new(Arc::new(store), Some(parts))) })
    } else {
        anyhow::bail!("storage.url {:?} must start with file:// or s3://", settings.url)
    }
}
