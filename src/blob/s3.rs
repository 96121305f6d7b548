//! Blobs in any S3-compatible store (AWS, MinIO, SeaweedFS, Ceph) through
//! aws-sdk-s3: single PUT for small objects, multipart for large ones, ranged
//! GET, presigned GET.

use super::{
    BlobError, BlobKey, BlobResult as Result, BlobStore, BlobUpload, ByteStream, CompletedPart, FetchRange, KeyStream,
    Multipart, OpenUpload, OpenUploadStream, PartPlan, PartUpload, RangedReads, Signer,
};
use crate::config::S3Settings;
use async_trait::async_trait;
use aws_sdk_s3::{
    Client,
    config::{Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation},
    error::{DisplayErrorContext, SdkError},
    operation::get_object::{GetObjectError, GetObjectOutput},
    presigning::PresigningConfig,
    primitives::ByteStream as S3Body,
    types::{CompletedMultipartUpload, CompletedPart as S3Part},
};
use base64::Engine;
use bytes::Bytes;
use futures::TryStreamExt;
use secrecy::ExposeSecret;
use std::{ops::Range, sync::Arc, time::Duration};

#[derive(Debug, Clone)]
pub struct S3BlobStore {
    client: Client,
    /// Signs URLs for the host viewers reach, which may differ from ours.
    presign_client: Client,
    bucket: String,
    /// How [`BlobStore::start_upload`] cuts an object into parts.
    parts: PartPlan,
    reads: RangedReads,
}

impl S3BlobStore {
    pub async fn connect(settings: &S3Settings, bucket: &str) -> anyhow::Result<Self> {
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
            parts: PartPlan { part_size: settings.part_size_bytes as u64, in_flight: settings.parts_in_flight },
            reads: RangedReads::new(
                settings.read_range_bytes as u64,
                settings.read_ranges_in_flight,
                settings.read_ahead_bytes,
            ),
        })
    }

    /// The underlying client, for tools and tests that inspect the bucket.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// How large objects are cut into parts, from `[storage.s3]`.
    pub fn parts(&self) -> PartPlan {
        self.parts
    }
}

async fn get_range(
    client: &Client,
    bucket: &str,
    key: &str,
    range: &Range<u64>,
) -> std::result::Result<GetObjectOutput, SdkError<GetObjectError>> {
    let range = format!("bytes={}-{}", range.start, range.end - 1);
    client.get_object().bucket(bucket).key(key).range(range).send().await
}

/// A GET's body as the HTTP client received it, chunk by chunk: no copy.
fn body_chunks(body: S3Body) -> ByteStream {
    Box::pin(futures::stream::unfold(body, |mut body| async move {
        let chunk = body.next().await?;
        Some((chunk.map_err(std::io::Error::other), body))
    }))
}

fn s3_error(context: &'static str, error: impl std::error::Error + Send + Sync + 'static) -> BlobError {
    BlobError::unavailable(context, anyhow::Error::new(error))
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
        Ok(Box::new(PartUpload::new(Arc::new(self.clone()), self.parts, key.clone(), content_type)))
    }

    async fn get(&self, key: &BlobKey, range: Range<u64>) -> Result<ByteStream> {
        if range.is_empty() {
            return Ok(Box::pin(futures::stream::empty()));
        }
        let first = self.reads.first(&range);
        let response = get_range(&self.client, &self.bucket, key.as_str(), &first).await.map_err(|e| {
            match e.as_service_error() {
                Some(service) if service.is_no_such_key() => BlobError::NotFound { key: key.clone() },
                _ => s3_error("reading an object", e),
            }
        })?;
        // Every later range must come from the same object: keys are never
        // reused, but a store could still answer from another version. A
        // store that names no version gets one GET for the whole read.
        let (response, first) = match response.e_tag {
            None if first != range => {
                let whole = get_range(&self.client, &self.bucket, key.as_str(), &range).await;
                (whole.map_err(|e| s3_error("reading an object", e))?, range.clone())
            }
            _ => (response, first),
        };
        let etag: Option<Arc<str>> = response.e_tag.map(Into::into);
        let (client, bucket, key) = (self.client.clone(), self.bucket.clone(), Arc::<str>::from(key.as_str()));
        let fetch: FetchRange = Arc::new(move |range| {
            let (client, bucket, key, etag) = (client.clone(), bucket.clone(), key.clone(), etag.clone());
            Box::pin(async move {
                let response = get_range(&client, &bucket, &key, &range).await.map_err(|e| {
                    std::io::Error::other(format!("reading {key} at {range:?}: {}", DisplayErrorContext(&e)))
                })?;
                if response.e_tag.as_deref() != etag.as_deref() {
                    return Err(std::io::Error::other(format!("object {key} changed while it was read")));
                }
                Ok(body_chunks(response.body))
            })
        });
        // Even a read one GET covers goes through the length check.
        Ok(self.reads.read(range, first, body_chunks(response.body), fetch))
    }

    async fn head(&self, key: &BlobKey) -> Result<Option<u64>> {
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

    fn list(&self, prefix: &str) -> KeyStream {
        let pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).into_paginator().send();
        let pages = futures::stream::unfold(pages, |mut pages| async move { pages.next().await.map(|p| (p, pages)) });
        Box::pin(
            pages
                .map_err(|e| s3_error("listing objects", e))
                .map_ok(|page| {
                    let keys: Vec<Result<BlobKey>> = page
                        .contents()
                        .iter()
                        .filter_map(|object| object.key())
                        .filter_map(BlobKey::parse)
                        .map(Ok)
                        .collect();
                    futures::stream::iter(keys)
                })
                .try_flatten(),
        )
    }

    fn multipart(&self) -> &dyn Multipart {
        self
    }

    fn signer(&self) -> Option<&dyn Signer> {
        Some(self)
    }
}

#[async_trait]
impl Multipart for S3BlobStore {
    async fn create(&self, key: &BlobKey, content_type: &str) -> Result<String> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(content_type)
            .send()
            .await
            .map_err(|e| s3_error("starting a multipart upload", e))?;
        let id = created
            .upload_id()
            .ok_or_else(|| BlobError::internal("starting a multipart upload", anyhow::anyhow!("no upload id")))?;
        Ok(id.to_owned())
    }

    async fn upload_part(
        &self,
        key: &BlobKey,
        upload_id: &str,
        number: i32,
        _offset: u64,
        data: Bytes,
        crc32c: u32,
    ) -> Result<CompletedPart> {
        let size = data.len() as u64;
        // The store checks each part against its CRC32C, which costs a
        // fraction of the SHA-256 that signing the payload would (the
        // upload's own SHA-256 is computed once, by the caller).
        let crc32c = base64::engine::general_purpose::STANDARD.encode(crc32c.to_be_bytes());
        let uploaded = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(upload_id)
            .part_number(number)
            .checksum_crc32_c(crc32c)
            .body(S3Body::from(data))
            .customize()
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| s3_error("uploading a part", e))?;
        Ok(CompletedPart { number, etag: uploaded.e_tag().unwrap_or_default().to_owned(), size })
    }

    async fn complete(&self, key: &BlobKey, upload_id: &str, parts: &[CompletedPart]) -> Result<()> {
        let parts =
            parts.iter().map(|part| S3Part::builder().e_tag(&part.etag).part_number(part.number).build()).collect();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .map_err(|e| s3_error("completing a multipart upload", e))?;
        Ok(())
    }

    async fn abort(&self, key: &BlobKey, upload_id: &str) -> Result<()> {
        let aborted = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(upload_id)
            .send()
            .await;
        match aborted {
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_upload()) => Ok(()),
            other => other.map(drop).map_err(|e| s3_error("aborting a multipart upload", e)),
        }
    }

    /// The bucket's multipart uploads to keys this service generates, a
    /// page (up to 1,000) at a time.
    fn list_open(&self) -> OpenUploadStream {
        /// Where the next page starts; `None` after the last.
        type Markers = Option<(Option<String>, Option<String>)>;
        let (client, bucket) = (self.client.clone(), self.bucket.clone());
        let pages = futures::stream::try_unfold(Some((None, None)) as Markers, move |markers| {
            let (client, bucket) = (client.clone(), bucket.clone());
            async move {
                let Some((key_marker, upload_id_marker)) = markers else { return Ok(None) };
                let page = client
                    .list_multipart_uploads()
                    .bucket(bucket)
                    .set_key_marker(key_marker)
                    .set_upload_id_marker(upload_id_marker)
                    .send()
                    .await
                    .map_err(|e| s3_error("listing multipart uploads", e))?;
                let next = page.is_truncated().unwrap_or(false).then(|| {
                    (page.next_key_marker().map(str::to_owned), page.next_upload_id_marker().map(str::to_owned))
                });
                // A truncated page must say where the next starts, or the
                // listing would start over for ever.
                if next.as_ref().is_some_and(|(key, id)| key.is_none() && id.is_none()) {
                    let error = std::io::Error::other("a truncated ListMultipartUploads page without next markers");
                    return Err(BlobError::unavailable("listing multipart uploads", error));
                }
                let uploads: Vec<Result<OpenUpload>> = page
                    .uploads()
                    .iter()
                    .filter_map(|upload| {
                        let key = upload.key().and_then(BlobKey::parse).filter(|key| key.origin().is_some())?;
                        let initiated = upload.initiated()?;
                        let initiated = chrono::DateTime::from_timestamp(initiated.secs(), initiated.subsec_nanos())?;
                        Some(Ok(OpenUpload { key: Some(key), upload_id: upload.upload_id()?.to_owned(), initiated }))
                    })
                    .collect();
                Ok(Some((futures::stream::iter(uploads), next)))
            }
        });
        Box::pin(pages.try_flatten())
    }
}

#[async_trait]
impl Signer for S3BlobStore {
    async fn presign_get(
        &self,
        key: &BlobKey,
        signed_at: std::time::SystemTime,
        expires_in: Duration,
        content_type: &str,
        disposition: Option<&str>,
    ) -> Result<String> {
        let config = PresigningConfig::builder()
            .start_time(signed_at)
            .expires_in(expires_in)
            .build()
            .map_err(|e| BlobError::InvalidExpiry { expires_in, message: e.to_string() })?;
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
