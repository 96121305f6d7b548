//! Blobs in any S3-compatible store (AWS, MinIO, SeaweedFS, Ceph) through
//! aws-sdk-s3: single PUT for small objects, multipart for large ones, ranged
//! GET, presigned GET.

use super::{BlobKey, BlobStore, BlobUpload, ByteStream, PresignGet};
use crate::{
    config::S3Settings,
    error::{ArchiveError, Result},
};
use async_trait::async_trait;
use aws_sdk_s3::{
    Client,
    config::{Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation},
    presigning::PresigningConfig,
    primitives::ByteStream as S3Body,
    types::{CompletedMultipartUpload, CompletedPart},
};
use bytes::{Bytes, BytesMut};
use secrecy::ExposeSecret;
use std::{ops::Range, time::Duration};
use tokio::task::JoinSet;
use tokio_util::io::ReaderStream;

/// S3 allows at most 10,000 parts per multipart upload
/// (docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html).
const S3_MAX_PARTS: i32 = 10_000;

#[derive(Debug, Clone)]
pub struct S3BlobStore {
    client: Client,
    /// Signs URLs for the host viewers reach, which may differ from ours.
    presign_client: Client,
    bucket: String,
    part_size: usize,
    parts_in_flight: usize,
    read_chunk_bytes: usize,
}

impl S3BlobStore {
    pub async fn connect(settings: &S3Settings, bucket: &str, read_chunk_bytes: usize) -> anyhow::Result<Self> {
        let mut loader =
            aws_config::defaults(aws_config::BehaviorVersion::latest()).region(Region::new(settings.region.clone()));
        if let (Some(key), Some(secret)) = (&settings.access_key_id, &settings.secret_access_key) {
            loader = loader.credentials_provider(Credentials::new(
                key,
                secret.expose_secret(),
                None,
                None,
                "archive-config",
            ));
        }
        let shared = loader.load().await;
        let client_for = |endpoint: Option<&String>| {
            let mut builder = aws_sdk_s3::config::Builder::from(&shared)
                .force_path_style(settings.force_path_style)
                // Streaming PUTs otherwise go out aws-chunked, which several
                // S3-compatible stores then serve back still encoded.
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
            if let Some(endpoint) = endpoint {
                builder = builder.endpoint_url(endpoint);
            }
            Client::from_conf(builder.build())
        };
        let client = client_for(settings.endpoint.as_ref());
        let presign_client = client_for(settings.public_endpoint.as_ref().or(settings.endpoint.as_ref()));
        Ok(Self {
            client,
            presign_client,
            bucket: bucket.to_owned(),
            part_size: settings.part_size_bytes,
            parts_in_flight: settings.parts_in_flight,
            read_chunk_bytes,
        })
    }

    /// The underlying client, for tools and tests that inspect the bucket.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }
}

fn s3_error(context: &str, error: impl std::error::Error + Send + Sync + 'static) -> ArchiveError {
    ArchiveError::unavailable(context, anyhow::Error::new(error))
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, key: &BlobKey, data: Bytes, content_type: &str) -> Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(content_type)
            .body(S3Body::from(data))
            .send()
            .await
            .map_err(|e| s3_error("storing an object", e))?;
        Ok(())
    }

    async fn start_upload(&self, key: &BlobKey, content_type: &str) -> Result<Box<dyn BlobUpload>> {
        Ok(Box::new(S3Upload {
            store: self.clone(),
            key: key.clone(),
            content_type: content_type.to_owned(),
            buffer: BytesMut::new(),
            upload_id: None,
            next_part_number: 1,
            in_flight: JoinSet::new(),
            completed: Vec::new(),
            finished: false,
        }))
    }

    async fn get(&self, key: &BlobKey, range: Range<u64>) -> Result<ByteStream> {
        if range.is_empty() {
            return Ok(Box::pin(futures::stream::empty()));
        }
        let response = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .range(format!("bytes={}-{}", range.start, range.end - 1))
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(service) if service.is_no_such_key() => {
                    ArchiveError::not_found("BLOB_NOT_FOUND", format!("object {key} does not exist"))
                }
                _ => s3_error("reading an object", e),
            })?;
        let reader = response.body.into_async_read();
        Ok(Box::pin(ReaderStream::with_capacity(reader, self.read_chunk_bytes)))
    }

    async fn size(&self, key: &BlobKey) -> Result<Option<u64>> {
        match self.client.head_object().bucket(&self.bucket).key(key.as_str()).send().await {
            Ok(head) => Ok(Some(head.content_length().unwrap_or(0).max(0) as u64)),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(s3_error("reading an object's size", e)),
        }
    }

    async fn delete(&self, key: &BlobKey) -> Result<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
            .map_err(|e| s3_error("deleting an object", e))?;
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<BlobKey>> {
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).into_paginator().send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| s3_error("listing objects", e))?;
            keys.extend(page.contents().iter().filter_map(|object| object.key()).filter_map(BlobKey::parse));
        }
        Ok(keys)
    }

    fn presigner(&self) -> Option<&dyn PresignGet> {
        Some(self)
    }
}

#[async_trait]
impl PresignGet for S3BlobStore {
    async fn presign_get(
        &self,
        key: &BlobKey,
        expires_in: Duration,
        content_type: &str,
        disposition: Option<&str>,
    ) -> Result<String> {
        let config = PresigningConfig::expires_in(expires_in)
            .map_err(|e| ArchiveError::invalid("INVALID_TTL", format!("cannot presign for {expires_in:?}: {e}")))?;
        let request = self
            .presign_client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .response_content_type(content_type)
            .set_response_content_disposition(disposition.map(str::to_owned))
            .presigned(config)
            .await
            .map_err(|e| s3_error("presigning a URL", e))?;
        Ok(request.uri().to_string())
    }
}

/// A streamed write: bytes collect into one part-sized buffer; full parts go
/// out concurrently, at most `parts_in_flight` at a time, so memory stays
/// near `part_size × (parts_in_flight + 1)` whatever the object's size. An
/// object smaller than one part is sent with a single PUT on commit.
struct S3Upload {
    store: S3BlobStore,
    key: BlobKey,
    content_type: String,
    buffer: BytesMut,
    upload_id: Option<String>,
    next_part_number: i32,
    in_flight: JoinSet<Result<CompletedPart>>,
    completed: Vec<CompletedPart>,
    finished: bool,
}

impl S3Upload {
    async fn ensure_multipart(&mut self) -> Result<String> {
        if let Some(id) = &self.upload_id {
            return Ok(id.clone());
        }
        let created = self
            .store
            .client
            .create_multipart_upload()
            .bucket(&self.store.bucket)
            .key(self.key.as_str())
            .content_type(&self.content_type)
            .send()
            .await
            .map_err(|e| s3_error("starting a multipart upload", e))?;
        let id = created
            .upload_id()
            .ok_or_else(|| ArchiveError::internal("starting a multipart upload", anyhow::anyhow!("no upload id")))?
            .to_owned();
        self.upload_id = Some(id.clone());
        Ok(id)
    }

    async fn collect_one(&mut self) -> Result<()> {
        if let Some(joined) = self.in_flight.join_next().await {
            let part = joined.map_err(|e| ArchiveError::internal("uploading a part", e))??;
            self.completed.push(part);
        }
        Ok(())
    }

    async fn send_buffered_part(&mut self) -> Result<()> {
        if self.next_part_number > S3_MAX_PARTS {
            return Err(ArchiveError::new(
                crate::error::ErrorKind::ResourceExhausted,
                "TOO_MANY_PARTS",
                format!("object exceeds {S3_MAX_PARTS} parts of {} bytes", self.store.part_size),
            ));
        }
        let upload_id = self.ensure_multipart().await?;
        while self.in_flight.len() >= self.store.parts_in_flight {
            self.collect_one().await?;
        }
        let body = self.buffer.split().freeze();
        let part_number = self.next_part_number;
        self.next_part_number += 1;
        let (client, bucket, key) = (self.store.client.clone(), self.store.bucket.clone(), self.key.to_string());
        self.in_flight.spawn(async move {
            let uploaded = client
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(part_number)
                .body(S3Body::from(body))
                .send()
                .await
                .map_err(|e| s3_error("uploading a part", e))?;
            Ok(CompletedPart::builder().set_e_tag(uploaded.e_tag().map(str::to_owned)).part_number(part_number).build())
        });
        Ok(())
    }

    async fn complete(&mut self) -> Result<()> {
        let Some(upload_id) = self.upload_id.clone() else {
            let body = self.buffer.split().freeze();
            return self.store.put(&self.key, body, &self.content_type).await;
        };
        if !self.buffer.is_empty() {
            self.send_buffered_part().await?;
        }
        while !self.in_flight.is_empty() {
            self.collect_one().await?;
        }
        let mut parts = std::mem::take(&mut self.completed);
        parts.sort_by_key(|part| part.part_number());
        self.store
            .client
            .complete_multipart_upload()
            .bucket(&self.store.bucket)
            .key(self.key.as_str())
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .map_err(|e| s3_error("completing a multipart upload", e))?;
        Ok(())
    }

    async fn abort_multipart(&mut self) -> Result<()> {
        // Parts still in flight finish first: a part that lands after the
        // abort can leave the upload open on some stores (SeaweedFS).
        while self.in_flight.join_next().await.is_some() {}
        if let Some(upload_id) = self.upload_id.take() {
            self.store
                .client
                .abort_multipart_upload()
                .bucket(&self.store.bucket)
                .key(self.key.as_str())
                .upload_id(upload_id)
                .send()
                .await
                .map_err(|e| s3_error("aborting a multipart upload", e))?;
        }
        Ok(())
    }
}

#[async_trait]
impl BlobUpload for S3Upload {
    async fn write(&mut self, mut chunk: Bytes) -> Result<()> {
        while !chunk.is_empty() {
            if self.buffer.capacity() == 0 {
                self.buffer.reserve(self.store.part_size);
            }
            let take = (self.store.part_size - self.buffer.len()).min(chunk.len());
            self.buffer.extend_from_slice(&chunk.split_to(take));
            if self.buffer.len() == self.store.part_size {
                self.send_buffered_part().await?;
            }
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        let result = self.complete().await;
        if result.is_err() {
            // A failed complete leaves the multipart upload open: abort it.
            if let Err(abort_error) = self.abort_multipart().await {
                tracing::warn!(key = %self.key, error = ?abort_error.source, "abort after failed commit failed");
            }
        }
        self.finished = true;
        result
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        self.finished = true;
        self.abort_multipart().await
    }
}

impl Drop for S3Upload {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Dropped mid-stream (the request was cancelled): abort in the
        // background, after the parts in flight have landed.
        if let (Some(upload_id), Ok(runtime)) = (self.upload_id.take(), tokio::runtime::Handle::try_current()) {
            let (client, bucket, key) = (self.store.client.clone(), self.store.bucket.clone(), self.key.to_string());
            let mut in_flight = std::mem::take(&mut self.in_flight);
            runtime.spawn(async move {
                while in_flight.join_next().await.is_some() {}
                let aborted =
                    client.abort_multipart_upload().bucket(bucket).key(&key).upload_id(upload_id).send().await;
                if let Err(error) = aborted {
                    tracing::warn!(%key, ?error, "could not abort a dropped multipart upload");
                }
            });
        }
    }
}
