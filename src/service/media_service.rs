use super::{
    auth::{self, Scope},
    convert,
};
use crate::error::{Clipped, Reason, quoted};
use crate::{
    domain::{Archive, Broken, CaptionUpload, ThumbnailRequest, UploadCaller, UploadUrlRequest},
    error::{ArchiveError, Result},
    ids::{ArticleId, MediaId, UploadId},
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

fn upload_id(id: &str) -> Result<UploadId> {
    if id.is_empty() {
        return Err(ArchiveError::new(Reason::MissingUploadId, "upload_id is required"));
    }
    UploadId::parse(id)
}

/// Who asks for an upload, as the auth layer admitted them.
fn upload_caller<T>(request: &Request<T>) -> UploadCaller {
    match request.extensions().get::<auth::Caller>() {
        Some(caller) => UploadCaller { name: caller.name.to_string(), may_take_over: caller.may(Scope::Admin) },
        // Only a request that bypassed the layer has no caller.
        None => UploadCaller { name: "unchecked".into(), may_take_over: false },
    }
}

#[tonic::async_trait]
impl MediaService for MediaGrpc {
    #[instrument(skip_all, fields(media_id, upload_id))]
    async fn upload_media(
        &self,
        request: Request<Streaming<pb::UploadMediaRequest>>,
    ) -> Result<Response<pb::UploadMediaResponse>, Status> {
        let caller = upload_caller(&request);
        let mut messages = request.into_inner();
        let upload = match messages.message().await?.and_then(|message| message.kind) {
            Some(Kind::Header(header)) => {
                let header = convert::upload_header(header);
                if let Some(record) = self.archive.stored_copy(&header).await? {
                    tracing::info!(media_id = %record.id, "clip already stored; no bytes needed");
                    return Ok(Response::new(pb::UploadMediaResponse { media: Some(convert::media(&record)) }));
                }
                self.archive.start_upload(header).await?
            }
            Some(Kind::Resume(resume)) => {
                let id = upload_id(&resume.upload_id)?;
                tracing::Span::current().record("upload_id", id.as_str());
                self.archive.resume_upload(&id, resume.offset, &caller).await?
            }
            _ => {
                let error = ArchiveError::new(
                    Reason::MissingHeader,
                    "the first message must be a header or a resume; nothing was stored",
                );
                return Err(error.into());
            }
        };
        tracing::Span::current().record("media_id", upload.media_id().as_str());
        // The stream is read in a task of its own: when the client goes away
        // this handler is dropped, but the parts in flight still land and a
        // resumable upload records them.
        let messages = messages.map(|message| message.map(convert::upload_message));
        let received = tokio::spawn(upload.receive(messages)).await;
        let record = match received.map_err(|e| ArchiveError::internal("receiving an upload", e))? {
            Ok(record) => record,
            Err(Broken::Transport(status)) => return Err(status),
            Err(Broken::Failed(error)) => return Err(error.into()),
            Err(Broken::Paused(_)) => {
                return Err(ArchiveError::internal("receiving an upload", anyhow::anyhow!("paused over gRPC")).into());
            }
        };
        tracing::info!(size = record.object.size_bytes, "clip stored");
        Ok(Response::new(pb::UploadMediaResponse { media: Some(convert::media(&record)) }))
    }

    #[instrument(skip_all, fields(filename = %Clipped(request.get_ref().header.as_ref().map_or("", |h| h.filename.as_str()))))]
    async fn start_upload(
        &self,
        request: Request<pb::StartUploadRequest>,
    ) -> Result<Response<pb::StartUploadResponse>, Status> {
        let caller = upload_caller(&request);
        let header = convert::required("header", request.into_inner().header)?;
        let started = self.archive.start_resumable_upload(convert::upload_header(header), &caller).await?;
        Ok(Response::new(convert::started_upload(started)))
    }

    #[instrument(skip_all, fields(upload_id = %Clipped(&request.get_ref().upload_id)))]
    async fn query_upload(
        &self,
        request: Request<pb::QueryUploadRequest>,
    ) -> Result<Response<pb::QueryUploadResponse>, Status> {
        let id = upload_id(&request.get_ref().upload_id)?;
        let status = self.archive.query_upload(&id, &upload_caller(&request)).await?;
        Ok(Response::new(convert::upload_status(status)))
    }

    #[instrument(skip_all, fields(upload_id = %Clipped(&request.get_ref().upload_id)))]
    async fn cancel_upload(
        &self,
        request: Request<pb::CancelUploadRequest>,
    ) -> Result<Response<pb::CancelUploadResponse>, Status> {
        let id = upload_id(&request.get_ref().upload_id)?;
        self.archive.cancel_upload(&id, &upload_caller(&request)).await?;
        Ok(Response::new(pb::CancelUploadResponse {}))
    }

    #[instrument(skip_all, fields(max_size = request.get_ref().max_size_bytes))]
    async fn create_upload_url(
        &self,
        request: Request<pb::CreateUploadUrlRequest>,
    ) -> Result<Response<pb::CreateUploadUrlResponse>, Status> {
        let caller = upload_caller(&request);
        let request = request.into_inner();
        let ttl = request.ttl.map(|ttl| millis(&ttl, "ttl", Reason::InvalidTtl)).transpose()?;
        let article = Some(request.article).filter(|a| !a.is_empty()).map(|a| ArticleId::from_name(&a)).transpose()?;
        let asked = UploadUrlRequest {
            max_size_bytes: request.max_size_bytes,
            ttl: ttl.map(Duration::from_millis),
            article,
            sha256: Some(request.sha256).filter(|sha256| !sha256.is_empty()),
        };
        let minted = self.archive.create_upload_url(asked, &caller).await?;
        Ok(Response::new(pb::CreateUploadUrlResponse {
            upload_url: minted.url,
            expire_time: Some(convert::timestamp(&minted.expire_time)),
            upload_id: minted.upload.to_string(),
        }))
    }

    type ReadMediaStream = ReadMediaStream;

    #[instrument(skip_all, fields(name = %Clipped(&request.get_ref().name), offset = request.get_ref().offset))]
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

    #[instrument(skip_all, fields(name = %Clipped(&request.get_ref().name)))]
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
                    .ok_or_else(|| ArchiveError::new(Reason::InvalidTtl, "ttl must be positive"))
            })
            .transpose()?;
        let attachment = request.disposition() == pb::Disposition::Attachment;
        let start = request.start.map(|start| millis(&start, "start", Reason::InvalidStart)).transpose()?;
        let start = start.map(Duration::from_millis);
        let url = self.archive.playback_url(&id, ttl, attachment, start).await?;
        Ok(Response::new(convert::playback_url(url)))
    }

    #[instrument(skip_all, fields(article = %Clipped(&request.get_ref().article), media = %Clipped(&request.get_ref().media)))]
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

    #[instrument(skip_all, fields(article = %Clipped(&request.get_ref().article), reference = %Clipped(&request.get_ref().reference)))]
    async fn detach_media(
        &self,
        request: Request<pb::DetachMediaRequest>,
    ) -> Result<Response<pb::DetachMediaResponse>, Status> {
        let request = request.into_inner();
        let article = ArticleId::from_name(&request.article)?;
        let record = self.archive.detach_media(&article, &request.reference).await?;
        Ok(Response::new(pb::DetachMediaResponse { article: Some(convert::article(&record, None)) }))
    }

    #[instrument(skip_all, fields(name = %Clipped(&request.get_ref().name), force = request.get_ref().force))]
    async fn delete_media(
        &self,
        request: Request<pb::DeleteMediaRequest>,
    ) -> Result<Response<pb::DeleteMediaResponse>, Status> {
        if request.get_ref().force {
            // Detaching a clip from the articles that show it is an admin's call.
            auth::require(&request, Scope::Admin)?;
        }
        let request = request.into_inner();
        let id = MediaId::from_name(&request.name)?;
        let deleted = self.archive.delete_media(&id, request.force).await?;
        Ok(Response::new(pb::DeleteMediaResponse {
            detached_articles: deleted.detached.iter().map(ArticleId::name).collect(),
            objects_deleted: deleted.objects_deleted,
        }))
    }

    #[instrument(skip_all, fields(media = %Clipped(&request.get_ref().media), track = %Clipped(&request.get_ref().track_id)))]
    async fn put_caption_track(
        &self,
        request: Request<pb::PutCaptionTrackRequest>,
    ) -> Result<Response<pb::PutCaptionTrackResponse>, Status> {
        let request = request.into_inner();
        let upload = CaptionUpload {
            media: MediaId::from_name(&request.media)?,
            track_id: request.track_id,
            language: request.language,
            kind: convert::track_kind(request.kind)?,
            label: request.label,
            content: request.content,
            expected_etag: Some(request.etag).filter(|etag| !etag.is_empty()),
        };
        let put = self.archive.put_caption_track(upload).await?;
        Ok(Response::new(pb::PutCaptionTrackResponse {
            track: Some(convert::caption_track(&put.track)),
            media_etag: put.media_etag,
            replaced: put.replaced,
        }))
    }

    #[instrument(skip_all, fields(media = %Clipped(&request.get_ref().media)))]
    async fn list_caption_tracks(
        &self,
        request: Request<pb::ListCaptionTracksRequest>,
    ) -> Result<Response<pb::ListCaptionTracksResponse>, Status> {
        let media = MediaId::from_name(&request.get_ref().media)?;
        let (tracks, media_etag) = self.archive.caption_tracks(&media).await?;
        Ok(Response::new(pb::ListCaptionTracksResponse {
            tracks: tracks.iter().map(convert::caption_track).collect(),
            media_etag,
        }))
    }

    #[instrument(skip_all, fields(media = %Clipped(&request.get_ref().media)))]
    async fn set_poster(
        &self,
        request: Request<pb::SetPosterRequest>,
    ) -> Result<Response<pb::SetPosterResponse>, Status> {
        use pb::set_poster_request::Source;
        let request = request.into_inner();
        let media = MediaId::from_name(&request.media)?;
        let expected = Some(request.etag).filter(|etag| !etag.is_empty());
        let (poster, media_etag) = match request.source {
            Some(Source::Time(time)) => {
                let at_ms = millis(&time, "time", Reason::InvalidPoster)?;
                self.archive.set_poster_time(&media, at_ms, expected).await?
            }
            Some(Source::Image(image)) => self.archive.set_poster_image(&media, image, expected).await?,
            None => return Err(ArchiveError::new(Reason::MissingField, "a time or an image is required").into()),
        };
        Ok(Response::new(pb::SetPosterResponse { poster: Some(convert::poster(&poster)), media_etag }))
    }

    #[instrument(skip_all, fields(media = %Clipped(&request.get_ref().media)))]
    async fn get_thumbnail(
        &self,
        request: Request<pb::GetThumbnailRequest>,
    ) -> Result<Response<pb::GetThumbnailResponse>, Status> {
        let request = request.into_inner();
        let pixels = |value: i32| match value {
            0 => Ok(None),
            1.. => Ok(Some(value as u32)),
            _ => Err(ArchiveError::new(Reason::InvalidPictureSize, "width and height must not be negative")),
        };
        let thumbnail = ThumbnailRequest {
            media: MediaId::from_name(&request.media)?,
            at_ms: request.time.map(|time| millis(&time, "time", Reason::InvalidStart)).transpose()?.unwrap_or(0),
            width: pixels(request.width)?,
            height: pixels(request.height)?,
            format: convert::image_format(request.format)?,
        };
        let made = self.archive.thumbnail(&thumbnail).await?;
        Ok(Response::new(convert::thumbnail(made)))
    }

    #[instrument(skip_all, fields(name = %Clipped(&request.get_ref().name)))]
    async fn delete_caption_track(
        &self,
        request: Request<pb::DeleteCaptionTrackRequest>,
    ) -> Result<Response<pb::DeleteCaptionTrackResponse>, Status> {
        let request = request.into_inner();
        let (media, track_id) = track_name(&request.name)?;
        let expected = Some(request.etag).filter(|etag| !etag.is_empty());
        let media_etag = self.archive.delete_caption_track(&media, &track_id, expected).await?;
        Ok(Response::new(pb::DeleteCaptionTrackResponse { media_etag }))
    }
}

/// A protobuf Duration as a whole number of milliseconds, or why not.
fn millis(duration: &pbjson_types::Duration, what: &str, reason: Reason) -> Result<u64> {
    u64::try_from(duration.seconds)
        .ok()
        .filter(|_| (0..1_000_000_000).contains(&duration.nanos))
        .map(|seconds| seconds * 1000 + duration.nanos as u64 / 1_000_000)
        .ok_or_else(|| ArchiveError::new(reason, format!("{what} must not be negative")))
}

/// `media/{media_id}/captions/{track_id}`, parsed.
fn track_name(name: &str) -> Result<(MediaId, String)> {
    let Some((media, track_id)) = name.split_once("/captions/") else {
        return Err(ArchiveError::new(
            Reason::InvalidName,
            format!("{} is not a caption track name (media/{{media_id}}/captions/{{track_id}})", quoted(name)),
        ));
    };
    Ok((MediaId::from_name(media)?, track_id.to_owned()))
}
