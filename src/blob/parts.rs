//! Multipart writes on any [`BlobStore`]: bytes collect into one part-sized
//! buffer and full parts go out concurrently, at most `parts_in_flight` at a
//! time, so memory stays near `part_size × (parts_in_flight + 1)` whatever
//! the object's size. The CRC32C is computed once, as bytes come in: per
//! part for the store to check, and combined for the whole object.
//!
//! A [`PartWriter`] reports every part that lands, so a resumable upload can
//! record its progress; [`PartUpload`] wraps one as a plain [`BlobUpload`].

use super::{BlobError, BlobKey, BlobResult as Result, BlobStore, BlobUpload, CompletedPart};
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use std::sync::Arc;
use tokio::task::JoinSet;

/// S3 allows at most 10,000 parts per multipart upload
/// (docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html).
const MAX_PARTS: i32 = 10_000;

/// How an object is cut into parts: their size (all but the last) and how
/// many are sent at once. Memory per upload is about
/// `part_size × (in_flight + 1)`. Comes from configuration
/// ([`super::part_plan`]), not from the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartPlan {
    pub part_size: u64,
    pub in_flight: usize,
}

pub struct PartWriter {
    store: Arc<dyn BlobStore>,
    key: BlobKey,
    content_type: String,
    /// The store's multipart id; created with the first full part when unset.
    upload_id: Option<String>,
    part_size: u64,
    buffer: BytesMut,
    /// CRC32C of the buffered bytes.
    buffer_crc32c: u32,
    /// CRC32C of every byte before the buffer (earlier streams' parts too).
    sent_crc32c: u32,
    /// Number of the part being buffered.
    next_part: i32,
    /// Each part's outcome, with its buffer back when nothing else holds it.
    in_flight: JoinSet<(Result<CompletedPart>, Option<BytesMut>)>,
    max_in_flight: usize,
    /// Buffers of landed parts, reused for the next ones: memory stays at
    /// `parts_in_flight + 1` buffers and the allocator sees no churn.
    spare: Vec<BytesMut>,
    /// Abort the multipart upload when dropped unfinished or when finishing
    /// fails; not for resumable uploads, whose parts outlive the stream.
    discard_on_failure: bool,
    finished: bool,
}

impl std::fmt::Debug for PartWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartWriter").field("key", &self.key).field("next_part", &self.next_part).finish()
    }
}

impl PartWriter {
    /// A new object at `key`. Its multipart upload starts with the first full
    /// part; a smaller object goes out in one PUT when finished.
    pub fn new(store: Arc<dyn BlobStore>, plan: PartPlan, key: BlobKey, content_type: &str) -> Self {
        Self::resume(store, plan, key, content_type, None, 0, 0)
    }

    /// Continues multipart upload `upload_id` after its first `parts_done`
    /// parts of `plan.part_size` bytes, whose CRC32C is `crc32c`.
    pub fn resume(
        store: Arc<dyn BlobStore>,
        plan: PartPlan,
        key: BlobKey,
        content_type: &str,
        upload_id: Option<String>,
        parts_done: i32,
        crc32c: u32,
    ) -> Self {
        let PartPlan { part_size, in_flight } = plan;
        let max_in_flight = in_flight.max(1);
        Self {
            store,
            key,
            content_type: content_type.to_owned(),
            discard_on_failure: upload_id.is_none(),
            upload_id,
            part_size,
            buffer: BytesMut::new(),
            buffer_crc32c: 0,
            sent_crc32c: crc32c,
            next_part: parts_done + 1,
            in_flight: JoinSet::new(),
            max_in_flight,
            spare: Vec::new(),
            finished: false,
        }
    }

    pub fn key(&self) -> &BlobKey {
        &self.key
    }

    /// CRC32C of every byte written so far.
    pub fn crc32c(&self) -> u32 {
        crc32c::crc32c_combine(self.sent_crc32c, self.buffer_crc32c, self.buffer.len())
    }

    /// A copy of the bytes of the part being buffered (not yet sent).
    pub fn buffered(&self) -> Bytes {
        Bytes::copy_from_slice(&self.buffer)
    }

    /// Bytes still needed to fill the part being buffered.
    pub fn room(&self) -> u64 {
        self.part_size - self.buffer.len() as u64
    }

    /// Buffers `chunk`, sending each part that fills up; returns the parts
    /// that landed meanwhile, in any order.
    pub async fn write(&mut self, mut chunk: Bytes) -> Result<Vec<CompletedPart>> {
        let mut landed = Vec::new();
        while !chunk.is_empty() {
            if self.buffer.capacity() == 0 {
                self.buffer.reserve(self.part_size as usize);
            }
            let take = self.room().min(chunk.len() as u64) as usize;
            let piece = chunk.split_to(take);
            self.buffer_crc32c = crc32c::crc32c_append(self.buffer_crc32c, &piece);
            self.buffer.extend_from_slice(&piece);
            if self.room() == 0 {
                self.send_buffered_part(&mut landed).await?;
            }
        }
        Ok(landed)
    }

    /// Waits for the next part in flight to land (forever when none is);
    /// cancel-safe, so it can race the next chunk of a stream.
    pub async fn next_landed(&mut self) -> Result<CompletedPart> {
        match self.in_flight.join_next().await {
            Some(joined) => self.landed(joined),
            None => std::future::pending().await,
        }
    }

    /// Waits for the parts in flight and returns those that landed; the
    /// partial part in the buffer is dropped. For a stream that broke off.
    pub async fn settle(&mut self) -> Vec<CompletedPart> {
        let mut landed = Vec::new();
        while let Some(joined) = self.in_flight.join_next().await {
            match self.landed(joined) {
                Ok(part) => landed.push(part),
                Err(error) => tracing::warn!(key = %self.key, error = ?error, "a part did not land"),
            }
        }
        landed
    }

    /// Sends the rest and makes the object visible. `parts` are those
    /// reported earlier (or recorded by an earlier stream); the ones still
    /// in flight are added here.
    pub async fn finish(mut self, mut parts: Vec<CompletedPart>) -> Result<()> {
        self.finished = true;
        let result = self.try_finish(&mut parts).await;
        if result.is_err() && self.discard_on_failure {
            // A failed complete leaves the multipart upload open: abort it.
            self.abort_now().await;
        }
        result
    }

    async fn try_finish(&mut self, parts: &mut Vec<CompletedPart>) -> Result<()> {
        let Some(upload_id) = self.upload_id.clone() else {
            let body = self.buffer.split().freeze();
            return self.store.put(&self.key, body, &self.content_type).await;
        };
        if !self.buffer.is_empty() {
            self.send_buffered_part(parts).await?;
        }
        while let Some(joined) = self.in_flight.join_next().await {
            parts.push(self.landed(joined)?);
        }
        if parts.is_empty() {
            // An empty object: stores refuse a multipart upload without parts.
            self.abort_now().await;
            return self.store.put(&self.key, Bytes::new(), &self.content_type).await;
        }
        parts.sort_by_key(|part| part.number);
        self.store.multipart().complete(&self.key, &upload_id, parts).await
    }

    /// Discards every part sent and the multipart upload itself.
    pub async fn abort(mut self) -> Result<()> {
        self.finished = true;
        while self.in_flight.join_next().await.is_some() {}
        match self.upload_id.take() {
            Some(upload_id) => self.store.multipart().abort(&self.key, &upload_id).await,
            None => Ok(()),
        }
    }

    async fn abort_now(&mut self) {
        // Parts still in flight land first: a part that lands after the
        // abort can leave the upload open on some stores (SeaweedFS).
        while self.in_flight.join_next().await.is_some() {}
        if let Some(upload_id) = self.upload_id.take()
            && let Err(error) = self.store.multipart().abort(&self.key, &upload_id).await
        {
            tracing::warn!(key = %self.key, error = ?error, "could not abort a multipart upload");
        }
    }

    async fn send_buffered_part(&mut self, landed: &mut Vec<CompletedPart>) -> Result<()> {
        if self.next_part > MAX_PARTS {
            return Err(BlobError::TooManyParts { max_parts: MAX_PARTS, part_size: self.part_size });
        }
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let id = self.store.multipart().create(&self.key, &self.content_type).await?;
                self.upload_id = Some(id.clone());
                id
            }
        };
        while self.in_flight.len() >= self.max_in_flight {
            if let Some(joined) = self.in_flight.join_next().await {
                landed.push(self.landed(joined)?);
            }
        }
        let next_buffer = self.spare.pop().unwrap_or_default();
        let data = std::mem::replace(&mut self.buffer, next_buffer).freeze();
        let crc32c = std::mem::take(&mut self.buffer_crc32c);
        self.sent_crc32c = crc32c::crc32c_combine(self.sent_crc32c, crc32c, data.len());
        let number = self.next_part;
        self.next_part += 1;
        let offset = (number as u64 - 1) * self.part_size;
        let (store, key) = (self.store.clone(), self.key.clone());
        self.in_flight.spawn(async move {
            let kept = data.clone();
            let result = store.multipart().upload_part(&key, &upload_id, number, offset, data, crc32c).await;
            // The store is done with the bytes: the buffer comes back.
            (result, kept.try_into_mut().ok())
        });
        Ok(())
    }

    /// A part's outcome; its buffer goes back to the spares.
    fn landed(
        &mut self,
        joined: std::result::Result<(Result<CompletedPart>, Option<BytesMut>), tokio::task::JoinError>,
    ) -> Result<CompletedPart> {
        let (result, buffer) = joined.map_err(|e| BlobError::internal("uploading a part", e))?;
        if let Some(mut buffer) = buffer
            && self.spare.len() < self.max_in_flight
        {
            buffer.clear();
            self.spare.push(buffer);
        }
        result
    }
}

impl Drop for PartWriter {
    fn drop(&mut self) {
        if self.finished || !self.discard_on_failure {
            return;
        }
        // Dropped mid-stream (the request was cancelled): abort in the
        // background, after the parts in flight have landed.
        if let (Some(upload_id), Ok(runtime)) = (self.upload_id.take(), tokio::runtime::Handle::try_current()) {
            let (store, key) = (self.store.clone(), self.key.clone());
            let mut in_flight = std::mem::take(&mut self.in_flight);
            runtime.spawn(async move {
                while in_flight.join_next().await.is_some() {}
                if let Err(error) = store.multipart().abort(&key, &upload_id).await {
                    tracing::warn!(%key, error = ?error, "could not abort a dropped multipart upload");
                }
            });
        }
    }
}

/// A [`PartWriter`] as a plain streamed write.
pub struct PartUpload {
    writer: PartWriter,
    parts: Vec<CompletedPart>,
}

impl PartUpload {
    pub fn new(store: Arc<dyn BlobStore>, plan: PartPlan, key: BlobKey, content_type: &str) -> Self {
        Self { writer: PartWriter::new(store, plan, key, content_type), parts: Vec::new() }
    }
}

#[async_trait]
impl BlobUpload for PartUpload {
    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        let landed = self.writer.write(chunk).await?;
        self.parts.extend(landed);
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.writer.finish(self.parts).await
    }

    async fn abort(self: Box<Self>) -> Result<()> {
        self.writer.abort().await
    }
}
