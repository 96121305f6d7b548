//! The rules of one upload stream: after its header or resume, chunks and
//! one finish message; and what each way a stream can end leaves behind.

use super::stream::{Declared, MediaUpload};
use crate::{
    error::{ArchiveError, ErrorKind, Reason},
    metadata::MediaRecord,
};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use std::time::Duration;

/// A message of an upload stream after its header or resume.
#[derive(Debug)]
pub enum UploadMessage {
    Chunk(Bytes),
    Finish(Declared),
    /// The client stops here and will resume (a tus request short of the
    /// last byte): everything received is kept.
    Pause,
    /// Another header or resume, or an empty message.
    Unexpected,
}

/// How an upload stream ended without a clip.
#[derive(Debug)]
pub enum Broken<E> {
    /// The transport failed (the client went away, or cancelled); a
    /// resumable upload was suspended at its committed offset, a one-shot
    /// upload discarded.
    Transport(E),
    /// The upload failed; the message says what is left (`resume at offset
    /// N`, or `nothing was stored`).
    Failed(ArchiveError),
    /// The client paused ([`UploadMessage::Pause`]); the upload resumes at
    /// this offset.
    Paused(u64),
}

/// Says in the error what the end of the stream left: a resumable upload
/// suspended at `offset`, or nothing.
fn broke_off<E>(error: ArchiveError, offset: Option<u64>) -> Broken<E> {
    let message = match offset {
        Some(offset) => format!("{}; resume at offset {offset}", error.message),
        None => format!("{}; nothing was stored", error.message),
    };
    Broken::Failed(ArchiveError { message, ..error })
}

impl MediaUpload {
    /// Feeds `messages` into the upload until the finish message commits
    /// it. Any other end (an error, a stray message, or a stream that just
    /// stops, which is how a cancelled client looks) discards a one-shot
    /// upload and suspends a resumable one at its committed offset. Parts
    /// that land while the client is quiet are recorded at once.
    pub async fn receive<E>(
        mut self,
        mut messages: impl Stream<Item = Result<UploadMessage, E>> + Unpin,
    ) -> Result<MediaRecord, Broken<E>> {
        let resumable = self.upload_id().is_some();
        let ending = self.streams_ending();
        let idle_limit = self.idle_timeout();
        let idle = tokio::time::sleep(idle_limit.unwrap_or(Duration::MAX));
        tokio::pin!(idle);
        loop {
            let next = tokio::select! {
                next = messages.next() => {
                    if let Some(limit) = idle_limit {
                        idle.as_mut().reset(tokio::time::Instant::now() + limit);
                    }
                    next
                }
                () = &mut idle => {
                    let seconds = idle_limit.unwrap_or_default().as_secs();
                    let error = ArchiveError::new(Reason::UploadIdle,
                        format!("the stream sent nothing for media.upload_idle_timeout_seconds ({seconds} s)"),
                    );
                    return Err(broke_off(error, self.suspend().await));
                }
                () = ending.cancelled() => {
                    let error = ArchiveError::new(Reason::ShuttingDown,
                        "archived is shutting down; retry on another server",
                    );
                    return Err(broke_off(error, self.suspend().await));
                }
                landed = self.next_landed() => {
                    // Recorded here, where no other branch can cut it off.
                    let noted = match landed {
                        Ok(part) => self.note_landed(part).await,
                        Err(error) => Err(error),
                    };
                    if let Err(error) = noted {
                        return Err(broke_off(error, self.suspend().await));
                    }
                    continue;
                }
            };
            let message = match next {
                Some(Ok(message)) => message,
                None => {
                    let error =
                        ArchiveError::new(Reason::UploadNotFinished, "the stream ended without a finish message");
                    return Err(broke_off(error, self.suspend().await));
                }
                Some(Err(transport)) => {
                    self.suspend().await;
                    return Err(Broken::Transport(transport));
                }
            };
            match message {
                UploadMessage::Chunk(data) => {
                    if let Err(error) = self.write(data).await {
                        if resumable && error.kind == ErrorKind::Unavailable {
                            return Err(broke_off(error, self.suspend().await));
                        }
                        self.abort().await;
                        return Err(Broken::Failed(error));
                    }
                }
                UploadMessage::Finish(declared) => return self.finish(declared).await.map_err(Broken::Failed),
                UploadMessage::Pause => {
                    return Err(match self.pause().await {
                        Ok(offset) => Broken::Paused(offset),
                        Err(error) => broke_off(error, self.suspend().await),
                    });
                }
                UploadMessage::Unexpected => {
                    let error = ArchiveError::new(
                        Reason::UnexpectedMessage,
                        "after the header or resume only chunks and one finish may follow",
                    );
                    return Err(broke_off(error, self.suspend().await));
                }
            }
        }
    }
}
