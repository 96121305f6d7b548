//! What a tus request needs of an upload stream beyond gRPC's: the bytes
//! past the last stored part kept in a tail object when the stream ends,
//! and nothing recorded until a request's checksum matched.

use super::stream::MediaUpload;
use crate::{
    blob::BlobKey,
    error::{ArchiveError, Result},
};

impl MediaUpload {
    /// Keeps what arrives past the last stored part when the stream ends
    /// (an upload over tus, whose client resumes at any byte).
    pub(crate) fn keep_tail(&mut self) {
        if let Some(session) = &mut self.session {
            session.keeps_tail = true;
        }
    }

    /// Records nothing this stream stores until [`UploadMessage::Pause`] or
    /// the finish: a stream that ends otherwise leaves the upload where it
    /// was (a tus request whose checksum must match first).
    ///
    /// [`UploadMessage::Pause`]: super::UploadMessage::Pause
    pub(crate) fn hold_until_verified(&mut self) {
        if let Some(session) = &mut self.session {
            session.hold = true;
        }
    }

    /// The client ended its request with all it sent kept (a tus PATCH
    /// short of the last byte): records the parts, held ones too, and keeps
    /// the rest in the tail object. Returns where the upload now resumes.
    pub(super) async fn pause(&mut self) -> Result<u64> {
        if let Some(session) = &mut self.session {
            session.hold = false;
        }
        let landed = self.writer.settle().await;
        self.record(landed).await?;
        self.save_tail().await?;
        Ok(self.size)
    }

    /// Stores the bytes past the committed offset as the upload's tail,
    /// then drops the tail they replace.
    pub(super) async fn save_tail(&mut self) -> Result<()> {
        let Some(session) = &mut self.session else { return Ok(()) };
        let committed = session.progress.committed_offset;
        let length = self.size - committed;
        if !session.keeps_tail || length == session.tail_bytes {
            return Ok(());
        }
        let buffered = self.writer.buffered();
        if buffered.len() as u64 != length {
            // A part that failed to land: the client resends from the committed offset.
            return Err(ArchiveError::unavailable(
                "keeping an upload's tail",
                anyhow::anyhow!("{} bytes buffered past offset {committed}, {length} expected", buffered.len()),
            ));
        }
        let key = BlobKey::upload_tail(&session.id, committed, length);
        self.archive.blobs.put(&key, buffered, "application/octet-stream").await?;
        let expire_time = self.archive.upload_expire_time();
        let metadata = &self.archive.metadata;
        if let Err(error) =
            metadata.set_upload_tail(&session.id, committed, session.tail_bytes, length, expire_time).await
        {
            self.archive.discard(&key).await;
            return Err(error);
        }
        if session.tail_bytes > 0 {
            self.archive.discard(&BlobKey::upload_tail(&session.id, committed, session.tail_bytes)).await;
        }
        session.tail_bytes = length;
        Ok(())
    }
}
