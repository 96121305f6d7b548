//! Resumable uploads (as Google Cloud Storage's): start a session, send the
//! bytes over as many streams as it takes, each resuming at the committed
//! offset; ask where an upload stands; cancel it. A janitor discards
//! sessions left idle past their expiry, with their multipart uploads.

use super::stream::{MediaUpload, sha256_state};
use crate::domain::{Archive, UploadHeader, now};
use crate::error::Reason;
use crate::{
    blob::BlobKey,
    error::{ArchiveError, ErrorKind, Result},
    ids::UploadId,
    metadata::{MediaRecord, UploadProgress, UploadSession},
};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// Expired sessions handled per janitor query.
const EXPIRED_BATCH: u32 = 100;

/// Who asks for an upload: a caller's name (a token's; `anonymous` with
/// auth off), and whether they may take over anyone's upload (the admin
/// scope). An upload id alone is not enough to go on with an upload.
#[derive(Debug, Clone)]
pub struct UploadCaller {
    pub name: String,
    pub may_take_over: bool,
}

/// What StartUpload gives: a session, or the clip when its bytes are stored already.
#[derive(Debug)]
pub enum StartedUpload {
    Session(UploadSession),
    Stored(MediaRecord),
}

/// Where an upload stands.
#[derive(Debug)]
pub struct UploadStatus {
    pub session: UploadSession,
    /// The clip, once the upload has finished, unless it was deleted since.
    pub media: Option<MediaRecord>,
}

impl Archive {
    pub(crate) fn upload_expire_time(&self) -> DateTime<Utc> {
        now() + chrono::Duration::seconds(self.media_settings.upload_session_ttl_seconds as i64)
    }

    /// Forgets a resumable upload's session and its tail (its parts are
    /// handled by the caller).
    pub(crate) async fn forget_upload(&self, id: Option<&UploadId>) {
        let Some(id) = id else { return };
        if let Err(error) = self.drop_upload_tails(id).await {
            tracing::warn!(upload = %id, error = ?error, "could not delete an upload's tail");
        }
        if let Err(error) = self.metadata.delete_upload(id).await {
            tracing::warn!(upload = %id, error = ?error.source, "could not forget an upload: {}", error.message);
        }
    }

    /// Deletes every tail object of an upload (a finished, cancelled or
    /// expired one; one a crash left behind too).
    pub(crate) async fn drop_upload_tails(&self, id: &UploadId) -> crate::blob::BlobResult<()> {
        use futures::TryStreamExt;
        let keys: Vec<BlobKey> = self.blobs.list(&BlobKey::upload_prefix(id)).try_collect().await?;
        for key in keys {
            self.blobs.delete(&key).await?;
        }
        Ok(())
    }

    /// A session that exists, has not expired, and is `by`'s.
    async fn live_upload(&self, id: &UploadId, by: &UploadCaller) -> Result<UploadSession> {
        let session = self.metadata.get_upload(id).await?;
        if session.expire_time < Utc::now() {
            return Err(ArchiveError::new(Reason::UploadExpired, format!("upload {id} has expired")));
        }
        if !(session.owner.is_empty() || session.owner == by.name || by.may_take_over) {
            tracing::warn!(upload = %id, caller = %by.name, owner = %session.owner, "refused: not the upload's owner");
            return Err(ArchiveError::new(
                Reason::UploadNotYours,
                format!("upload {id} was started by another caller; only they or the admin scope may use it"),
            ));
        }
        Ok(session)
    }

    /// Opens a resumable upload. When the header declares a SHA-256 and size
    /// stored already, the clip is recorded at once instead.
    pub async fn start_resumable_upload(&self, header: UploadHeader, by: &UploadCaller) -> Result<StartedUpload> {
        if let Some(record) = self.stored_copy(&header).await? {
            return Ok(StartedUpload::Stored(record));
        }
        let session = self.open_session(header, UploadId::generate(), &by.name, None).await?;
        Ok(StartedUpload::Session(session))
    }

    /// Opens upload `id` for `owner`: the clip's id and type checked, the
    /// multipart upload created, the session recorded.
    pub(super) async fn open_session(
        &self,
        header: UploadHeader,
        id: UploadId,
        owner: &str,
        declared_size: Option<u64>,
    ) -> Result<UploadSession> {
        let (media_id, content_type) = self.new_media(&header).await?;
        let key = BlobKey::new_media_original(&media_id);
        let multipart_id = self.blobs.multipart().create(&key, &content_type).await?;
        let session = UploadSession {
            id,
            media_id,
            filename: header.filename,
            content_type,
            key,
            multipart_id,
            part_size: self.parts.part_size,
            progress: UploadProgress {
                committed_offset: 0,
                parts_done: 0,
                sha256_state: sha256_state(&Sha256::new()),
                crc32c: 0,
            },
            create_time: now(),
            expire_time: self.upload_expire_time(),
            finished: false,
            owner: owner.to_owned(),
            declared_size,
            tail_bytes: 0,
        };
        if let Err(error) = self.metadata.insert_upload(&session).await {
            let _ = self.blobs.multipart().abort(&session.key, &session.multipart_id).await;
            return Err(error);
        }
        tracing::info!(upload = %session.id, media = %session.media_id, "resumable upload started");
        Ok(session)
    }

    pub async fn query_upload(&self, id: &UploadId, by: &UploadCaller) -> Result<UploadStatus> {
        let session = self.live_upload(id, by).await?;
        let media = if session.finished {
            match self.metadata.get_media(&session.media_id).await {
                Ok(media) => Some(media),
                // Deleted since: the upload still finished, and says so.
                Err(e) if e.kind == ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        Ok(UploadStatus { session, media })
    }

    /// A stream that continues upload `id`; its first chunk must start at
    /// `offset`, which must be where the upload resumes (its committed
    /// offset, plus its tail's bytes for an upload over tus).
    pub async fn resume_upload(&self, id: &UploadId, offset: i64, by: &UploadCaller) -> Result<MediaUpload> {
        let slot = self.upload_slot()?;
        // Whose it is, before the claim ends a stream that may be writing it.
        self.live_upload(id, by).await?;
        let active = self.claim_upload(id).await?;
        // Read after the claim: an earlier stream has recorded all it could.
        let session = self.live_upload(id, by).await?;
        if session.finished {
            return Err(ArchiveError::new(
                Reason::UploadFinished,
                format!("upload {id} has finished; QueryUpload returns its clip"),
            ));
        }
        let resumes_at = session.resume_offset();
        if offset < 0 || offset as u64 != resumes_at {
            return Err(ArchiveError::new(
                Reason::OffsetMismatch,
                format!("upload {id} resumes at its committed offset {resumes_at}, not at {offset}"),
            ));
        }
        let parts = self.metadata.upload_parts(id).await?;
        let tail = match session.tail_bytes {
            0 => None,
            length => {
                let key = BlobKey::upload_tail(id, session.progress.committed_offset, length);
                Some(self.blobs.get_bytes(&key, length).await?)
            }
        };
        tracing::info!(upload = %id, offset, "upload resumed");
        let mut upload = MediaUpload::resumed(self.clone(), session, parts, slot, active)?;
        if let Some(tail) = tail {
            // Rehashed and buffered as if just received; it fills no part.
            upload.write(tail).await?;
        }
        Ok(upload)
    }

    /// Discards an unfinished upload and everything it stored.
    pub async fn cancel_upload(&self, id: &UploadId, by: &UploadCaller) -> Result<()> {
        self.live_upload(id, by).await?;
        let _active = self.claim_upload(id).await?;
        let session = self.live_upload(id, by).await?;
        if session.finished {
            return Err(ArchiveError::new(
                Reason::UploadFinished,
                format!("upload {id} has finished; delete its clip instead"),
            ));
        }
        self.discard_upload(&session).await
    }

    /// Bytes first, then the session, so that nothing is left unrecorded.
    async fn discard_upload(&self, session: &UploadSession) -> Result<()> {
        // Also for a finished session: one whose bytes turned out to be
        // stored already recorded a copy before aborting its own multipart
        // upload, which a crash in between leaves open. Aborting a completed
        // or aborted one does nothing.
        self.blobs.multipart().abort(&session.key, &session.multipart_id).await?;
        if !session.finished {
            // Completed but not recorded (the server stopped in between).
            self.blobs.delete(&session.key).await?;
        }
        self.drop_upload_tails(&session.id).await?;
        self.metadata.delete_upload(&session.id).await
    }

    /// Discards the uploads whose expiry has passed (a batch of them per
    /// call); returns how many.
    pub async fn expire_uploads(&self) -> Result<usize> {
        let mut discarded = 0;
        for session in self.metadata.expired_uploads(Utc::now(), EXPIRED_BATCH).await? {
            // A stream of this process still on it is left alone.
            let Some(_active) = self.try_claim(&session.id) else { continue };
            // One that cannot be discarded now is tried again next time; the others go on.
            match self.discard_upload(&session).await {
                Ok(()) => {
                    tracing::info!(upload = %session.id, finished = session.finished, "expired upload discarded");
                    discarded += 1;
                }
                Err(error) => tracing::warn!(upload = %session.id, error = ?error.source, "{}", error.message),
            }
        }
        // A gauge that cannot be read now is not a failed run: the uploads were discarded.
        match self.metadata.count_open_uploads().await {
            Ok(open) => crate::metrics::open_uploads(open),
            Err(error) => tracing::warn!(error = ?error.source, "counting open uploads: {}", error.message),
        }
        Ok(discarded)
    }
}
