//! A request's body fed into the upload: its chunks, then the finish when
//! the last byte came or a pause otherwise; a checksum that does not match,
//! or bytes past the declared length, break it off.

use super::wire::*;
use crate::{
    domain::{Archive, Broken, Declared, UploadGrant, UploadMessage},
    error::{ArchiveError, Reason},
    metadata::MediaRecord,
};
use axum::{body::Body, http::StatusCode};
use futures::{Stream, StreamExt};

/// What a request's bytes did to the upload.
pub(super) enum Received {
    /// Kept; the upload resumes here.
    Paused(u64),
    /// The last byte came: the clip is stored (and attached, if the URL says so).
    Stored(Box<MediaRecord>),
}

/// Feeds a request body into the upload at `offset`.
pub(super) async fn receive(
    archive: &Archive,
    grant: &UploadGrant,
    offset: u64,
    length: u64,
    checksum: Option<Checksum>,
    body: Body,
) -> Result<Received, Refusal> {
    let id = grant.upload_id()?;
    let mut upload = archive.resume_upload(&id, offset as i64, &grant.caller()).await?;
    upload.keep_tail();
    if checksum.is_some() {
        upload.hold_until_verified();
    }
    let ending = Ending { length, sha256: grant.sha256.clone() };
    let messages = messages(body, upload.offset(), ending, checksum);
    // In a task of its own, as over gRPC: a client that goes away drops
    // this request, but the parts in flight still land and are recorded.
    let received = tokio::spawn(upload.receive(messages)).await;
    match received.map_err(|e| ArchiveError::internal("receiving an upload", e))? {
        Ok(record) => {
            attach(archive, grant, &record).await?;
            Ok(Received::Stored(Box::new(record)))
        }
        Err(Broken::Paused(offset)) => Ok(Received::Paused(offset)),
        Err(Broken::Failed(error)) => Err(error.into()),
        Err(Broken::Transport(broken)) => Err(broken.into()),
    }
}

/// Attaches the stored clip to the article the URL names, unless it is
/// already. Called when the last byte came, and again whenever the upload
/// is reported complete (HEAD): a client that retries after a failed attach
/// (its PATCH answered an error) learns the upload is complete from its
/// HEAD, so the attach must be done by then, or that HEAD must fail too.
pub(super) async fn attach(archive: &Archive, grant: &UploadGrant, record: &MediaRecord) -> Result<(), ArchiveError> {
    let Some(article) = grant.article() else { return Ok(()) };
    let attached =
        |links: &[crate::metadata::MediaLink]| links.iter().any(|link| link.media_id.as_ref() == Some(&record.id));
    if archive.get_article(&article, None, false).await.is_ok_and(|(current, _)| attached(&current.media)) {
        return Ok(());
    }
    archive.attach_media(&article, &record.id, "").await.map(drop).map_err(|error| {
        let message = format!("{} is stored, but not attached: {}", record.id.name(), error.message);
        ArchiveError { message, ..error }
    })
}

/// How a request's body ended the upload's stream short.
#[derive(Debug)]
enum BodyBroken {
    /// The client went away (its bytes up to the break are kept, unless checksummed).
    Transport,
    Checksum,
    PastLength(u64),
}

impl From<BodyBroken> for Refusal {
    fn from(broken: BodyBroken) -> Self {
        match broken {
            BodyBroken::Transport => Refusal(StatusCode::BAD_REQUEST, "the request's body broke off".into()),
            BodyBroken::Checksum => ArchiveError::new(
                Reason::ChecksumMismatch,
                "Upload-Checksum does not match the request's body; nothing of it was kept",
            )
            .into(),
            BodyBroken::PastLength(length) => {
                bad_request(format!("the request carries bytes past Upload-Length ({length}); they were not kept"))
            }
        }
    }
}

/// What ends the upload when its last byte arrives.
struct Ending {
    length: u64,
    sha256: Option<String>,
}

/// The body as upload messages: its chunks, then the finish when the last
/// byte came, else a pause; a checksum that does not match, or bytes past
/// the declared length, end it as broken.
fn messages(
    body: Body,
    start: u64,
    ending: Ending,
    checksum: Option<Checksum>,
) -> impl Stream<Item = Result<UploadMessage, BodyBroken>> + Send + Unpin + 'static {
    struct State {
        body: Option<axum::body::BodyDataStream>,
        received: u64,
        ending: Ending,
        checksum: Option<Checksum>,
    }
    let state = State { body: Some(body.into_data_stream()), received: start, ending, checksum };
    Box::pin(futures::stream::unfold(state, |mut state| async move {
        let body = state.body.as_mut()?;
        let item = match body.next().await {
            Some(Ok(chunk)) => {
                crate::metrics::tus_received(chunk.len() as u64);
                state.received += chunk.len() as u64;
                if state.received > state.ending.length {
                    state.body = None;
                    Err(BodyBroken::PastLength(state.ending.length))
                } else {
                    if let Some(checksum) = &mut state.checksum {
                        checksum.update(&chunk);
                    }
                    Ok(UploadMessage::Chunk(chunk))
                }
            }
            Some(Err(_)) => {
                state.body = None;
                Err(BodyBroken::Transport)
            }
            None => {
                state.body = None;
                if state.checksum.take().is_some_and(|checksum| !checksum.matches()) {
                    Err(BodyBroken::Checksum)
                } else if state.received == state.ending.length {
                    let declared = Declared {
                        size_bytes: state.ending.length as i64,
                        sha256: state.ending.sha256.clone(),
                        crc32c: None,
                    };
                    Ok(UploadMessage::Finish(declared))
                } else {
                    Ok(UploadMessage::Pause)
                }
            }
        };
        Some((item, state))
    }))
}
