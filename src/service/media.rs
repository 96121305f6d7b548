use crate::{
    archive::{Archive, Declared, MediaUpload, UploadHeader},
    convert,
    error::{ArchiveError, Result},
    ids::{ArticleId, MediaId},
    proto::v1::{self as pb, media_service_server::MediaService, upload_media_request::Kind},
};
use futures::{Stream, StreamExt};
use std::{pin::Pin, time::Duration};
use tonic::{Request, Response, Status, Streaming};
use tracing::instrument;

#[derive(Debug, Clone)]
pub struct MediaGrpc {
    archive: Archive,
}

impl MediaGrpc {
    pub fn new(archive: Archive) -> Self {
        Self { archive }
    }
}

type ReadMediaStream = Pin<Box<dyn Stream<Item = Result<pb::ReadMediaResponse, Status>> + Send>>;

fn protocol_error(reason: &'static str, message: &str) -> ArchiveError {
    ArchiveError::invalid(reason, format!("{message}; nothing was stored"))
}

/// Feeds chunks into `upload` until the finish message commits it. Any other
/// end — an error, a stray message, or a stream that just stops (which is how
/// a cancelled client looks) — discards the upload.
async fn receive_upload(
    mut upload: MediaUpload,
    messages: &mut Streaming<pb::UploadMediaRequest>,
) -> Result<pb::Media, Status> {
    loop {
        let message = match messages.message().await {
            Ok(Some(message)) => message,
            Ok(None) => {
                upload.abort().await;
                let error = protocol_error("UPLOAD_NOT_FINISHED", "the stream ended without a finish message");
                return Err(error.into());
            }
            Err(status) => {
                upload.abort().await;
                return Err(status);
            }
        };
        match message.kind {
            Some(Kind::Chunk(data)) => {
                if let Err(error) = upload.write(data).await {
                    upload.abort().await;
                    return Err(error.into());
                }
            }
            Some(Kind::Finish(finish)) => {
                let declared = Declared { size_bytes: finish.size_bytes, sha256: finish.sha256, crc32c: finish.crc32c };
                let record = upload.finish(declared).await?;
                return Ok(convert::media(&record));
            }
            Some(Kind::Header(_)) | None => {
                upload.abort().await;
                let error =
                    protocol_error("UNEXPECTED_MESSAGE", "after the header only chunks and one finish may follow");
                return Err(error.into());
            }
        }
    }
}

#[tonic::async_trait]
impl MediaService for MediaGrpc {
    #[instrument(skip_all, fields(media_id))]
    async fn upload_media(
        &self,
        request: Request<Streaming<pb::UploadMediaRequest>>,
    ) -> Result<Response<pb::UploadMediaResponse>, Status> {
        let mut messages = request.into_inner();
        let header = match messages.message().await? {
            Some(pb::UploadMediaRequest { kind: Some(Kind::Header(header)) }) => header,
            _ => return Err(protocol_error("MISSING_HEADER", "the first message must be a header").into()),
        };
        let header = UploadHeader {
            filename: header.filename,
            content_type: header.content_type,
            media_id: header.media_id,
            sha256: header.sha256,
            size_bytes: header.size_bytes,
        };
        if let Some(record) = self.archive.stored_copy(&header).await? {
            tracing::info!(media_id = %record.id, "clip already stored; no bytes needed");
            return Ok(Response::new(pb::UploadMediaResponse { media: Some(convert::media(&record)) }));
        }
        let upload = self.archive.start_upload(header).await?;
        tracing::Span::current().record("media_id", upload.media_id().as_str());
        let media = receive_upload(upload, &mut messages).await?;
        tracing::info!(size = media.size_bytes, "clip stored");
        Ok(Response::new(pb::UploadMediaResponse { media: Some(media) }))
    }

    type ReadMediaStream = ReadMediaStream;

    #[instrument(skip_all, fields(name = %request.get_ref().name, offset = request.get_ref().offset))]
    async fn read_media(&self, request: Request<pb::ReadMediaRequest>) -> Result<Response<ReadMediaStream>, Status> {
        let request = request.into_inner();
        let id = MediaId::from_name(&request.name)?;
        let (range, bytes) = self.archive.read_media(&id, request.offset, request.limit).await?;
        let stream = bytes.scan(range.start, |offset, chunk| {
            let item = match chunk {
                Ok(data) => {
                    let crc32c = crc32c::crc32c(&data);
                    let message = pb::ReadMediaResponse { offset: *offset as i64, data, crc32c };
                    *offset += message.data.len() as u64;
                    Ok(message)
                }
                Err(error) => Err(ArchiveError::unavailable("reading media", error).into()),
            };
            std::future::ready(Some(item))
        });
        Ok(Response::new(Box::pin(stream)))
    }

    #[instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_playback_url(
        &self,
        request: Request<pb::GetPlaybackUrlRequest>,
    ) -> Result<Response<pb::GetPlaybackUrlResponse>, Status> {
        let request = request.into_inner();
        let id = MediaId::from_name(&request.name)?;
        let ttl = request
            .ttl
            .map(|ttl| {
                u64::try_from(ttl.seconds)
                    .ok()
                    .filter(|_| (0..1_000_000_000).contains(&ttl.nanos))
                    .map(Duration::from_secs)
                    .ok_or_else(|| ArchiveError::invalid("INVALID_TTL", "ttl must be positive"))
            })
            .transpose()?;
        let attachment = request.disposition() == pb::Disposition::Attachment;
        let url = self.archive.playback_url(&id, ttl, attachment).await?;
        Ok(Response::new(convert::playback_url(url)))
    }

    #[instrument(skip_all, fields(article = %request.get_ref().article, media = %request.get_ref().media))]
    async fn attach_media(
        &self,
        request: Request<pb::AttachMediaRequest>,
    ) -> Result<Response<pb::AttachMediaResponse>, Status> {
        let request = request.into_inner();
        let article = ArticleId::from_name(&request.article)?;
        let media = MediaId::from_name(&request.media)?;
        let record = self.archive.attach_media(&article, &media, &request.reference).await?;
        Ok(Response::new(pb::AttachMediaResponse { article: Some(convert::article(&record, None)) }))
    }
}
