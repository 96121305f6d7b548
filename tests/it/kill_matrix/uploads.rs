//! The uploading clients of the kill matrix: one-shot (a retry starts over
//! with the same media id) and resumable (QueryUpload, then resume at the
//! committed offset), some cancelled at a chosen chunk. Every call that
//! fails because archived or its backends went away is tried again.

use super::source::Source;
use archive::proto::v1::{self as pb, media_service_client::MediaServiceClient, upload_media_request::Kind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Status, transport::Channel};

/// Upload streams that have sent more than a part and not ended: the chaos
/// waits for one before it kills archived, so kills land mid-multipart.
pub static STREAMS_PAST_A_PART: AtomicUsize = AtomicUsize::new(0);
/// Those of them that are one-shot (a kill leaves their multipart upload
/// without a session naming it).
pub static ONE_SHOT_PAST_A_PART: AtomicUsize = AtomicUsize::new(0);

/// Chunk size of every upload stream.
pub const CHUNK: u64 = 256 * 1024;
/// Longest one call may take before it counts as a hang.
const CALL_LIMIT: Duration = Duration::from_secs(120);
/// Longest an upload keeps trying.
const UPLOAD_LIMIT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct Cancel {
    /// Chunks sent before the client goes away.
    pub after_chunks: u64,
    /// Resumable only: CancelUpload afterwards (else left to the janitor).
    pub cancel_upload: bool,
}

#[derive(Debug, Clone)]
pub struct Planned {
    pub media_id: String,
    pub filename: String,
    pub source: Source,
    pub sha256: String,
    pub crc32c: u32,
    pub resumable: bool,
    pub cancel: Option<Cancel>,
}

#[derive(Debug)]
pub enum Outcome {
    /// The server answered OK with this clip.
    Acknowledged(pb::Media),
    /// A retry learnt that an earlier attempt had stored the clip (its
    /// answer lost with the server): ALREADY_EXISTS, or QueryUpload
    /// saying complete.
    Confirmed(pb::Media),
    Cancelled,
    Failed(String),
}

#[derive(Debug, Default)]
pub struct Trouble {
    /// Streams or calls that broke and were tried again, by code.
    pub retried: Vec<Code>,
    /// Calls that took longer than CALL_LIMIT.
    pub hangs: usize,
    /// Resumable uploads whose session was gone and started over.
    pub restarted_sessions: usize,
}

pub struct UploadReport {
    pub planned: Planned,
    pub outcome: Outcome,
    pub trouble: Trouble,
}

/// A client on its own connection, made when first used and again after
/// the server went away.
pub fn channel(url: &str) -> Channel {
    Channel::from_shared(url.to_owned())
        .unwrap()
        .initial_stream_window_size(Some(archive::client::STREAM_WINDOW_BYTES))
        .initial_connection_window_size(Some(archive::client::CONNECTION_WINDOW_BYTES))
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
        .connect_lazy()
}

fn media(channel: &Channel) -> MediaServiceClient<Channel> {
    archive::client::media_client(channel.clone())
}

/// Worth trying again: the server, its storage or its database went away,
/// or a concurrent change won.
pub fn retryable(status: &Status) -> bool {
    archive::client::is_transient(status) || matches!(status.code(), Code::Unavailable | Code::Aborted)
}

fn message(kind: Kind) -> pb::UploadMediaRequest {
    pb::UploadMediaRequest { kind: Some(kind) }
}

fn resume(upload_id: &str, offset: u64) -> pb::UploadMediaRequest {
    message(Kind::Resume(pb::UploadResume { upload_id: upload_id.to_owned(), offset: offset as i64 }))
}

fn header(planned: &Planned) -> pb::UploadHeader {
    pb::UploadHeader { filename: planned.filename.clone(), media_id: planned.media_id.clone(), ..Default::default() }
}

fn finish(planned: &Planned) -> pb::UploadMediaRequest {
    message(Kind::Finish(pb::UploadFinish {
        size_bytes: planned.source.size() as i64,
        sha256: planned.sha256.clone(),
        crc32c: Some(planned.crc32c),
    }))
}

/// `first`, the chunks from `offset` (`limit` of them when given), then
/// the finish, or with `limit`, nothing more while the stream stays open.
/// Made as the call takes them: a few chunks in memory at most.
fn messages(
    planned: &Planned,
    first: pb::UploadMediaRequest,
    offset: u64,
    limit: Option<u64>,
) -> ReceiverStream<pb::UploadMediaRequest> {
    let (sender, receiver) = mpsc::channel(4);
    static RESUMABLE: [&AtomicUsize; 1] = [&STREAMS_PAST_A_PART];
    static ONE_SHOT: [&AtomicUsize; 2] = [&STREAMS_PAST_A_PART, &ONE_SHOT_PAST_A_PART];
    let gauges: &'static [&AtomicUsize] = if planned.resumable { &RESUMABLE } else { &ONE_SHOT };
    let chunks = planned.source.chunks(offset, CHUNK).take(limit.unwrap_or(u64::MAX) as usize);
    let finish = finish(planned);
    tokio::spawn(async move {
        if sender.send(first).await.is_err() {
            return;
        }
        let mut sent = 0;
        let mut counted = false;
        for chunk in chunks {
            sent += chunk.len() as u64;
            if sender.send(message(Kind::Chunk(chunk))).await.is_err() {
                break;
            }
            if sent > super::PART && !counted {
                counted = true;
                for gauge in gauges {
                    gauge.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        if !sender.is_closed() {
            match limit {
                None => {
                    let _ = sender.send(finish).await;
                }
                // The client vanishes without ending its stream.
                Some(_) => sender.closed().await,
            }
        }
        if counted {
            for gauge in gauges {
                gauge.fetch_sub(1, Ordering::SeqCst);
            }
        }
    });
    ReceiverStream::new(receiver)
}

async fn limited<T>(trouble: &mut Trouble, call: impl Future<Output = Result<T, Status>>) -> Result<T, Status> {
    match tokio::time::timeout(CALL_LIMIT, call).await {
        Ok(result) => result,
        Err(_) => {
            trouble.hangs += 1;
            Err(Status::deadline_exceeded("the kill matrix's call limit passed"))
        }
    }
}

/// Sends `stream` and goes away (the stream is dropped, the call cancelled)
/// once its chunks had time to leave.
async fn send_then_vanish(channel: &Channel, stream: ReceiverStream<pb::UploadMediaRequest>) {
    let mut client = media(channel);
    let call = tokio::spawn(async move { client.upload_media(stream).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    call.abort();
    let _ = call.await;
}

pub async fn run(url: String, planned: Planned) -> UploadReport {
    let mut trouble = Trouble::default();
    let channel = channel(&url);
    let outcome = if planned.resumable {
        resumable(&channel, &planned, &mut trouble).await
    } else {
        one_shot(&channel, &planned, &mut trouble).await
    };
    let outcome = match outcome {
        Outcome::Acknowledged(media) | Outcome::Confirmed(media)
            if media.sha256 != planned.sha256 || media.size_bytes as u64 != planned.source.size() =>
        {
            Outcome::Failed(format!("answered with sha256 {} size {}", media.sha256, media.size_bytes))
        }
        outcome => outcome,
    };
    UploadReport { planned, outcome, trouble }
}

async fn backoff(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt.min(10)))).await;
}

async fn get_media(channel: &Channel, trouble: &mut Trouble, planned: &Planned) -> Result<pb::Media, String> {
    let mut metadata = archive::proto::v1::metadata_service_client::MetadataServiceClient::new(channel.clone());
    let started = Instant::now();
    for attempt in 0.. {
        let request = pb::GetMediaRequest { name: format!("media/{}", planned.media_id) };
        match limited(trouble, metadata.get_media(request)).await {
            Ok(media) => return Ok(media.into_inner().media.unwrap_or_default()),
            Err(status) if retryable(&status) && started.elapsed() < UPLOAD_LIMIT => {
                trouble.retried.push(status.code());
                backoff(attempt).await;
            }
            Err(status) => return Err(format!("GetMedia after ALREADY_EXISTS: {status:?}")),
        }
    }
    unreachable!()
}

async fn one_shot(channel: &Channel, planned: &Planned, trouble: &mut Trouble) -> Outcome {
    let first = message(Kind::Header(header(planned)));
    if let Some(cancel) = &planned.cancel {
        send_then_vanish(channel, messages(planned, first, 0, Some(cancel.after_chunks))).await;
        return Outcome::Cancelled;
    }
    let started = Instant::now();
    for attempt in 0u32.. {
        let mut client = media(channel);
        let stream = messages(planned, first.clone(), 0, None);
        match limited(trouble, client.upload_media(stream)).await {
            Ok(response) => return Outcome::Acknowledged(response.into_inner().media.unwrap_or_default()),
            Err(status) if status.code() == Code::AlreadyExists && attempt > 0 => {
                return match get_media(channel, trouble, planned).await {
                    Ok(media) => Outcome::Confirmed(media),
                    Err(error) => Outcome::Failed(error),
                };
            }
            Err(status) if retryable(&status) && started.elapsed() < UPLOAD_LIMIT => {
                trouble.retried.push(status.code());
                backoff(attempt).await;
            }
            Err(status) => return Outcome::Failed(format!("one-shot attempt {attempt}: {status:?}")),
        }
    }
    unreachable!()
}

/// StartUpload, tried until it answers.
async fn start(channel: &Channel, planned: &Planned, trouble: &mut Trouble) -> Result<String, Outcome> {
    let started = Instant::now();
    for attempt in 0u32.. {
        let mut client = media(channel);
        let request = pb::StartUploadRequest { header: Some(header(planned)) };
        match limited(trouble, client.start_upload(request)).await {
            Ok(response) => return Ok(response.into_inner().upload_id),
            Err(status) if status.code() == Code::AlreadyExists && attempt > 0 => {
                return Err(match get_media(channel, trouble, planned).await {
                    Ok(media) => Outcome::Confirmed(media),
                    Err(error) => Outcome::Failed(error),
                });
            }
            Err(status) if retryable(&status) && started.elapsed() < UPLOAD_LIMIT => {
                trouble.retried.push(status.code());
                backoff(attempt).await;
            }
            Err(status) => return Err(Outcome::Failed(format!("StartUpload: {status:?}"))),
        }
    }
    unreachable!()
}

async fn resumable(channel: &Channel, planned: &Planned, trouble: &mut Trouble) -> Outcome {
    let mut upload_id = match start(channel, planned, trouble).await {
        Ok(id) => id,
        Err(outcome) => return outcome,
    };
    if let Some(cancel) = &planned.cancel {
        send_then_vanish(channel, messages(planned, resume(&upload_id, 0), 0, Some(cancel.after_chunks))).await;
        if cancel.cancel_upload {
            let started = Instant::now();
            for attempt in 0u32.. {
                let request = pb::CancelUploadRequest { upload_id: upload_id.clone() };
                match limited(trouble, media(channel).cancel_upload(request)).await {
                    Ok(_) => break,
                    Err(status) if retryable(&status) && started.elapsed() < UPLOAD_LIMIT => {
                        trouble.retried.push(status.code());
                        backoff(attempt).await;
                    }
                    // Left to the janitor: the test's invariants say whether it did its job.
                    Err(status) => return Outcome::Failed(format!("CancelUpload: {status:?}")),
                }
            }
        }
        return Outcome::Cancelled;
    }
    let started = Instant::now();
    let mut offset = 0;
    for attempt in 0u32.. {
        if started.elapsed() > UPLOAD_LIMIT {
            return Outcome::Failed(format!("resumable upload gave up after {attempt} attempts"));
        }
        let mut client = media(channel);
        if attempt > 0 {
            let request = pb::QueryUploadRequest { upload_id: upload_id.clone() };
            match limited(trouble, client.query_upload(request)).await {
                Ok(status) => {
                    let status = status.into_inner();
                    if status.complete {
                        return match status.media {
                            Some(media) => Outcome::Confirmed(media),
                            None => Outcome::Failed("complete without a clip".into()),
                        };
                    }
                    offset = status.committed_offset as u64;
                }
                Err(status) if status.code() == Code::NotFound => {
                    // The session is gone (expired while the server was down): start over.
                    trouble.restarted_sessions += 1;
                    upload_id = match start(channel, planned, trouble).await {
                        Ok(id) => id,
                        Err(outcome) => return outcome,
                    };
                    offset = 0;
                }
                Err(status) if retryable(&status) => {
                    trouble.retried.push(status.code());
                    backoff(attempt).await;
                    continue;
                }
                Err(status) => return Outcome::Failed(format!("QueryUpload: {status:?}")),
            }
        }
        let stream = messages(planned, resume(&upload_id, offset), offset, None);
        match limited(trouble, client.upload_media(stream)).await {
            Ok(response) => return Outcome::Acknowledged(response.into_inner().media.unwrap_or_default()),
            // The offset moved (another stream let go late), the upload
            // finished, or its session is gone: QueryUpload says which.
            Err(status) if matches!(status.code(), Code::FailedPrecondition | Code::NotFound) => {
                trouble.retried.push(status.code());
            }
            Err(status) if retryable(&status) => {
                trouble.retried.push(status.code());
                backoff(attempt).await;
            }
            Err(status) => return Outcome::Failed(format!("resumable stream at {offset}: {status:?}")),
        }
    }
    unreachable!()
}
