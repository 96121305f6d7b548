//! Between protobuf messages and the service's own types: clips, their
//! uploads, playback answers, caption tracks and pictures.

use super::{duration_ms, timestamp};
use crate::{
    domain::{Declared, PlaybackUrl, StartedUpload, Thumbnail, UploadHeader, UploadMessage, UploadStatus},
    error::{ArchiveError, Reason, Result},
    format::{captions::TrackKind, picture::Format},
    metadata::{CaptionTrackRecord, MediaRecord, PosterRecord},
    proto::v1 as pb,
};

pub fn media(record: &MediaRecord) -> pb::Media {
    pb::Media {
        name: record.id.name(),
        filename: record.filename.clone(),
        content_type: record.content_type.clone(),
        size_bytes: record.object.size_bytes as i64,
        sha256: record.object.sha256.clone(),
        create_time: Some(timestamp(&record.create_time)),
        crc32c: record.crc32c,
        mp4: record.mp4.as_ref().map(|info| pb::Mp4Info {
            duration: Some(duration_ms(info.duration_ms)),
            video_codec: info.video_codec.clone(),
            audio_codec: info.audio_codec.clone(),
            width: info.width as i32,
            height: info.height as i32,
            bitrate_bps: info.bitrate_bps as i64,
            faststart: info.faststart,
        }),
        playback_rendition: record.rendition.as_ref().map(|rendition| pb::Rendition {
            kind: "faststart".into(),
            size_bytes: rendition.size_bytes as i64,
            sha256: rendition.sha256.clone(),
        }),
        etag: record.etag(),
    }
}

pub fn playback_url(url: PlaybackUrl) -> pb::GetPlaybackUrlResponse {
    pb::GetPlaybackUrlResponse {
        url: url.url,
        expire_time: Some(timestamp(&url.expire_time)),
        content_type: url.content_type,
        thumbnail_url: url.thumbnail_url.unwrap_or_default(),
        poster_url: url.poster_url.unwrap_or_default(),
        storyboard_url: url.storyboard_url.unwrap_or_default(),
        embed_url: url.embed_url.unwrap_or_default(),
        caption_tracks: url
            .tracks
            .into_iter()
            .map(|playback| pb::PlaybackTrack {
                name: playback.track.name(),
                url: playback.url,
                language: playback.track.language.clone(),
                kind: caption_kind(playback.track.kind).into(),
                label: playback.track.label.clone(),
            })
            .collect(),
    }
}

/// The one mapping of track kinds to the proto's.
pub fn caption_kind(kind: TrackKind) -> pb::CaptionKind {
    match kind {
        TrackKind::Subtitles => pb::CaptionKind::Subtitles,
        TrackKind::Captions => pb::CaptionKind::Captions,
        TrackKind::Descriptions => pb::CaptionKind::Descriptions,
    }
}

/// A request's track kind (unspecified: subtitles).
pub fn track_kind(value: i32) -> Result<TrackKind> {
    match pb::CaptionKind::try_from(value) {
        Ok(pb::CaptionKind::Unspecified | pb::CaptionKind::Subtitles) => Ok(TrackKind::Subtitles),
        Ok(pb::CaptionKind::Captions) => Ok(TrackKind::Captions),
        Ok(pb::CaptionKind::Descriptions) => Ok(TrackKind::Descriptions),
        Err(_) => Err(ArchiveError::new(Reason::InvalidTrack, format!("kind {value} is no CaptionKind"))),
    }
}

/// The format a request asks for (JPEG when unspecified).
pub fn image_format(value: i32) -> Result<Format> {
    match pb::ImageFormat::try_from(value) {
        Ok(pb::ImageFormat::Unspecified | pb::ImageFormat::Jpeg) => Ok(Format::Jpeg),
        Ok(pb::ImageFormat::Webp) => Ok(Format::Webp),
        Err(_) => Err(ArchiveError::new(Reason::InvalidPictureFormat, format!("format {value} is no ImageFormat"))),
    }
}

pub fn thumbnail(thumbnail: Thumbnail) -> pb::GetThumbnailResponse {
    pb::GetThumbnailResponse {
        content_type: thumbnail.format.content_type().into(),
        image: thumbnail.image,
        frame_time: Some(duration_ms(thumbnail.shown_ms)),
        width: thumbnail.width as i32,
        height: thumbnail.height as i32,
    }
}

pub fn poster(poster: &PosterRecord) -> pb::Poster {
    pb::Poster {
        content_type: poster.content_type.clone(),
        size_bytes: poster.object.size_bytes as i64,
        sha256: poster.object.sha256.clone(),
        time: poster.time_ms.map(duration_ms),
        update_time: Some(timestamp(&poster.update_time)),
    }
}

pub fn caption_track(track: &CaptionTrackRecord) -> pb::CaptionTrack {
    pb::CaptionTrack {
        name: track.name(),
        language: track.language.clone(),
        kind: caption_kind(track.kind).into(),
        label: track.label.clone(),
        source_format: track.source_format.as_str().to_owned(),
        source_size_bytes: track.source.size_bytes as i64,
        source_sha256: track.source.sha256.clone(),
        cue_count: track.cue_count.try_into().unwrap_or(i32::MAX),
        end: Some(duration_ms(track.end_ms)),
        update_time: Some(timestamp(&track.update_time)),
    }
}

pub fn started_upload(started: StartedUpload) -> pb::StartUploadResponse {
    match started {
        StartedUpload::Session(session) => pb::StartUploadResponse {
            upload_id: session.id.to_string(),
            expire_time: Some(timestamp(&session.expire_time)),
            part_size_bytes: session.part_size as i64,
            media: None,
        },
        StartedUpload::Stored(record) => pb::StartUploadResponse { media: Some(media(&record)), ..Default::default() },
    }
}

pub fn upload_status(status: UploadStatus) -> pb::QueryUploadResponse {
    pb::QueryUploadResponse {
        committed_offset: status.session.resume_offset() as i64,
        expire_time: Some(timestamp(&status.session.expire_time)),
        media: status.media.as_ref().map(media),
        complete: status.session.finished,
    }
}

pub fn upload_header(header: pb::UploadHeader) -> UploadHeader {
    UploadHeader {
        filename: header.filename,
        content_type: header.content_type,
        media_id: header.media_id,
        sha256: header.sha256,
        size_bytes: header.size_bytes,
    }
}

/// A message of an upload stream after its header or resume.
pub fn upload_message(message: pb::UploadMediaRequest) -> UploadMessage {
    use pb::upload_media_request::Kind;
    match message.kind {
        Some(Kind::Chunk(data)) => UploadMessage::Chunk(data),
        Some(Kind::Finish(finish)) => UploadMessage::Finish(Declared {
            size_bytes: finish.size_bytes,
            sha256: Some(finish.sha256),
            crc32c: finish.crc32c,
        }),
        Some(Kind::Header(_) | Kind::Resume(_)) | None => UploadMessage::Unexpected,
    }
}
