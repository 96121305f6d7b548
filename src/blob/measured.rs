//! Any store, timed: each call's latency and failures go to
//! [`crate::metrics::storage`] by operation. [`super::open`] wraps every
//! store in one.

use super::{
    BlobKey, BlobResult, BlobStore, BlobUpload, ByteStream, CompletedPart, KeyStream, Multipart, OpenUpload,
    OpenUploadStream, PartPlan, PartUpload, Signer,
};
use async_trait::async_trait;
use bytes::Bytes;
use std::{future::Future, ops::Range, sync::Arc, time::Instant};

#[derive(Debug, Clone)]
pub struct Measured {
    inner: Arc<dyn BlobStore>,
    /// Set when the store writes streamed uploads as multipart uploads (S3).
    parts: Option<PartPlan>,
}

impl Measured {
    /// `parts`: the plan of a store whose `start_upload` writes in parts, so
    /// that those parts are timed too.
    pub fn new(inner: Arc<dyn BlobStore>, parts: Option<PartPlan>) -> Self {
        Self { inner, parts }
    }
}

async fn timed<T>(operation: &'static str, call: impl Future<Output = BlobResult<T>>) -> BlobResult<T> {
    let start = Instant::now();
    let result = call.await;
    crate::metrics::storage(operation, start.elapsed(), result.is_ok());
    result
}

#[async_trait]
impl BlobStore for Measured {
    async fn put(&self, key: &BlobKey, data: Bytes, content_type: &str) -> BlobResult<()> {
        timed("put", self.inner.put(key, data, content_type)).await
    }

    /// A store that writes in parts would send them through itself, unseen:
    /// the same upload is made here over this measured store instead.
    async fn start_upload(&self, key: &BlobKey, content_type: &str) -> BlobResult<Box<dyn BlobUpload>> {
        match self.parts {
            Some(plan) => Ok(Box::new(PartUpload::new(Arc::new(self.clone()), plan, key.clone(), content_type))),
            None => timed("start_upload", self.inner.start_upload(key, content_type)).await,
        }
    }

    /// Timed to the first bytes' arrival (the stream is the caller's).
    async fn get(&self, key: &BlobKey, range: Range<u64>) -> BlobResult<ByteStream> {
        timed("get", self.inner.get(key, range)).await
    }

    async fn head(&self, key: &BlobKey) -> BlobResult<Option<u64>> {
        timed("head", self.inner.head(key)).await
    }

    async fn delete(&self, key: &BlobKey) -> BlobResult<()> {
        timed("delete", self.inner.delete(key)).await
    }

    fn list(&self, prefix: &str) -> KeyStream {
        self.inner.list(prefix)
    }

    fn multipart(&self) -> &dyn Multipart {
        self
    }

    fn signer(&self) -> Option<&dyn Signer> {
        self.inner.signer()
    }
}

#[async_trait]
impl Multipart for Measured {
    async fn create(&self, key: &BlobKey, content_type: &str) -> BlobResult<String> {
        timed("create_multipart", self.inner.multipart().create(key, content_type)).await
    }

    async fn upload_part(
        &self,
        key: &BlobKey,
        upload_id: &str,
        number: i32,
        offset: u64,
        data: Bytes,
        crc32c: u32,
    ) -> BlobResult<CompletedPart> {
        timed("upload_part", self.inner.multipart().upload_part(key, upload_id, number, offset, data, crc32c)).await
    }

    async fn complete(&self, key: &BlobKey, upload_id: &str, parts: &[CompletedPart]) -> BlobResult<()> {
        timed("complete_multipart", self.inner.multipart().complete(key, upload_id, parts)).await
    }

    async fn abort(&self, key: &BlobKey, upload_id: &str) -> BlobResult<()> {
        timed("abort_multipart", self.inner.multipart().abort(key, upload_id)).await
    }

    fn list_open(&self) -> OpenUploadStream {
        self.inner.multipart().list_open()
    }

    async fn abort_open(&self, upload: &OpenUpload) -> BlobResult<()> {
        timed("abort_multipart", self.inner.multipart().abort_open(upload)).await
    }
}
