//! One stream of an upload: bytes are checksummed and sent on in parts; an
//! explicit, checked finish commits the clip. A resumable upload records
//! every part that lands, with the checksum state at its end, so that a
//! later stream (on any replica) can go on from there.

use super::claims::ActiveUpload;
use crate::domain::{Archive, run_to_completion};
use crate::error::Reason;
use crate::{
    blob::{BlobKey, CompletedPart, PartPlan, PartWriter},
    error::{ArchiveError, Result},
    ids::{MediaId, UploadId},
    metadata::{MediaRecord, UploadProgress, UploadSession},
};
use bytes::Bytes;
use sha2::{
    Digest, Sha256,
    digest::common::hazmat::{SerializableState, SerializedState},
};
use std::{collections::BTreeMap, time::Duration};

/// What the client says it sent, in its finish message.
#[derive(Debug, Clone, Default)]
pub struct Declared {
    pub size_bytes: i64,
    /// Required over gRPC (an empty one is refused); a tus upload has one
    /// only if its upload URL declared it.
    pub sha256: Option<String>,
    pub crc32c: Option<u32>,
}

pub(crate) fn sha256_state(hasher: &Sha256) -> Vec<u8> {
    hasher.serialize().to_vec()
}

pub(crate) fn sha256_from_state(state: &[u8]) -> Result<Sha256> {
    let corrupt = || ArchiveError::internal("resuming an upload", anyhow::anyhow!("bad stored SHA-256 state"));
    let state = SerializedState::<Sha256>::try_from(state).map_err(|_| corrupt())?;
    Sha256::deserialize(&state).map_err(|_| corrupt())
}

/// A resumable upload's record, as far as this stream has moved it.
pub(super) struct Session {
    pub(super) id: UploadId,
    pub(super) part_size: u64,
    /// What the metadata store holds.
    pub(super) progress: UploadProgress,
    /// Checksum states at the ends of parts sent but not yet recorded.
    pub(super) boundaries: BTreeMap<i32, (Vec<u8>, u32)>,
    /// Parts that landed but are not yet recorded.
    pub(super) landed: BTreeMap<i32, CompletedPart>,
    /// Bytes past the committed offset in the tail object, as recorded.
    pub(super) tail_bytes: u64,
    /// Keep what arrived past the last part in a tail object when the
    /// stream ends (tus); gRPC streams resume at a part boundary.
    pub(super) keeps_tail: bool,
    /// Record nothing until the client's checksum of this stream's bytes
    /// is verified ([`MediaUpload::hold_until_verified`]).
    pub(super) hold: bool,
}

/// An upload stream in progress. Dropping it without [`MediaUpload::finish`]
/// discards a one-shot upload (its writer aborts itself); a resumable one
/// keeps what was recorded.
pub struct MediaUpload {
    pub(super) archive: Archive,
    pub(super) id: MediaId,
    pub(super) filename: String,
    pub(super) content_type: String,
    pub(super) writer: PartWriter,
    pub(super) hasher: Sha256,
    pub(super) size: u64,
    /// Every part that landed and is known to the metadata store (resumable)
    /// or to this stream (one-shot).
    pub(super) parts: Vec<CompletedPart>,
    pub(super) session: Option<Session>,
    /// When a one-shot upload must have finished (a resumable one has no limit).
    pub(super) one_shot_deadline: Option<std::time::Instant>,
    pub(super) _slot: tokio::sync::OwnedSemaphorePermit,
    /// Keeps other streams of this process off a resumable upload.
    pub(super) _active: Option<ActiveUpload>,
}

impl std::fmt::Debug for MediaUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaUpload").field("id", &self.id).field("size", &self.size).finish()
    }
}

impl MediaUpload {
    /// A one-shot upload: nothing outlives the stream.
    pub(crate) fn one_shot(
        archive: Archive,
        id: MediaId,
        filename: String,
        content_type: String,
        slot: tokio::sync::OwnedSemaphorePermit,
    ) -> Self {
        let key = BlobKey::new_media_original(&id);
        let writer = PartWriter::new(archive.blobs.clone(), archive.parts, key, &content_type);
        let limit = std::time::Duration::from_secs(archive.media_settings.max_one_shot_upload_seconds);
        // A limit too far out to represent is no limit.
        let deadline = std::time::Instant::now().checked_add(limit);
        Self {
            archive,
            id,
            filename,
            content_type,
            writer,
            hasher: Sha256::new(),
            size: 0,
            parts: Vec::new(),
            session: None,
            one_shot_deadline: deadline,
            _slot: slot,
            _active: None,
        }
    }

    /// A stream that continues resumable upload `session` from its
    /// committed offset, whose first `parts` are stored.
    pub(crate) fn resumed(
        archive: Archive,
        session: UploadSession,
        parts: Vec<CompletedPart>,
        slot: tokio::sync::OwnedSemaphorePermit,
        active: ActiveUpload,
    ) -> Result<Self> {
        let progress = session.progress;
        let writer = PartWriter::resume(
            archive.blobs.clone(),
            // A session keeps the part size it started with.
            PartPlan { part_size: session.part_size, ..archive.parts },
            session.key,
            &session.content_type,
            Some(session.multipart_id),
            progress.parts_done,
            progress.crc32c,
        );
        Ok(Self {
            archive,
            id: session.media_id,
            filename: session.filename,
            content_type: session.content_type,
            writer,
            hasher: sha256_from_state(&progress.sha256_state)?,
            size: progress.committed_offset,
            parts,
            session: Some(Session {
                id: session.id,
                part_size: session.part_size,
                progress,
                boundaries: BTreeMap::new(),
                landed: BTreeMap::new(),
                tail_bytes: session.tail_bytes,
                keeps_tail: false,
                hold: false,
            }),
            one_shot_deadline: None,
            _slot: slot,
            _active: Some(active),
        })
    }

    /// Cancelled when archived ends the upload streams still open at the
    /// shutdown deadline ([`Archive::end_streams`]).
    pub(super) fn streams_ending(&self) -> tokio_util::sync::CancellationToken {
        self.archive.streams_ending.clone()
    }

    /// How long the stream may send nothing (`media.upload_idle_timeout_seconds`).
    pub(super) fn idle_timeout(&self) -> Option<Duration> {
        let seconds = self.archive.media_settings.upload_idle_timeout_seconds;
        (seconds > 0).then(|| Duration::from_secs(seconds))
    }

    pub fn media_id(&self) -> &MediaId {
        &self.id
    }

    /// Bytes received so far, from the upload's first.
    pub fn offset(&self) -> u64 {
        self.size
    }

    /// The resumable upload this stream writes, if any.
    pub fn upload_id(&self) -> Option<&UploadId> {
        self.session.as_ref().map(|session| &session.id)
    }

    /// A one-shot upload past its time limit: its object's key dates from
    /// its start, and the sweep must never mistake it for a crash's leftover.
    fn check_duration(&self) -> Result<()> {
        if self.one_shot_deadline.is_some_and(|deadline| std::time::Instant::now() >= deadline) {
            let limit = self.archive.media_settings.max_one_shot_upload_seconds;
            return Err(ArchiveError::new(
                Reason::UploadTooLong,
                format!("a one-shot upload may stream for {limit} s at most; upload longer ones with StartUpload"),
            ));
        }
        Ok(())
    }

    pub async fn write(&mut self, mut chunk: Bytes) -> Result<()> {
        self.check_duration()?;
        self.archive.check_clip_size(self.size + chunk.len() as u64)?;
        while !chunk.is_empty() {
            // Cut at part ends, to know the checksum state at each.
            let room = self.writer.room();
            let piece = chunk.split_to(room.min(chunk.len() as u64) as usize);
            let fills_part = piece.len() as u64 == room;
            self.hasher.update(&piece);
            self.size += piece.len() as u64;
            let landed = self.writer.write(piece).await?;
            if fills_part && let Some(session) = &mut self.session {
                // A part just went out: note the checksums at its end.
                let part = (self.size / session.part_size) as i32;
                session.boundaries.insert(part, (sha256_state(&self.hasher), self.writer.crc32c()));
            }
            self.record(landed).await?;
        }
        Ok(())
    }

    /// Waits for the next part in flight to land (forever when none is in
    /// flight); cancel-safe, so that a stream can race it against the
    /// client's next chunk. Record what it gives with [`Self::note_landed`],
    /// outside the race: a record cut off by the other branch could reach
    /// the database without this stream knowing, and its next record would
    /// then find the upload "moved on" (UPLOAD_MOVED_ON).
    pub async fn next_landed(&mut self) -> Result<CompletedPart> {
        Ok(self.writer.next_landed().await?)
    }

    /// Takes note of a part [`Self::next_landed`] gave.
    pub async fn note_landed(&mut self, part: CompletedPart) -> Result<()> {
        self.record(vec![part]).await
    }

    /// Takes note of parts that landed; a resumable upload records them as
    /// soon as they extend the stored prefix.
    pub(super) async fn record(&mut self, landed: Vec<CompletedPart>) -> Result<()> {
        let Some(session) = &mut self.session else {
            self.parts.extend(landed);
            return Ok(());
        };
        session.landed.extend(landed.into_iter().map(|part| (part.number, part)));
        if session.hold {
            return Ok(());
        }
        let mut next = session.progress.clone();
        let mut newly = Vec::new();
        while let Some(part) = session.landed.get(&(next.parts_done + 1))
            && let Some((state, crc32c)) = session.boundaries.get(&part.number)
        {
            next = UploadProgress {
                committed_offset: next.committed_offset + part.size,
                parts_done: part.number,
                sha256_state: state.clone(),
                crc32c: *crc32c,
            };
            newly.push(part.clone());
        }
        if newly.is_empty() {
            return Ok(());
        }
        let expire_time = self.archive.upload_expire_time();
        let metadata = &self.archive.metadata;
        metadata.advance_upload(&session.id, session.progress.committed_offset, &next, &newly, expire_time).await?;
        for part in &newly {
            session.landed.remove(&part.number);
            session.boundaries.remove(&part.number);
        }
        let (from, tail) = (session.progress.committed_offset, session.tail_bytes);
        session.progress = next;
        session.tail_bytes = 0;
        self.parts.extend(newly);
        if tail > 0 {
            // The parts took the tail in.
            let key = BlobKey::upload_tail(&session.id, from, tail);
            self.archive.discard(&key).await;
        }
        Ok(())
    }

    /// The stream broke off: a resumable upload records the parts still in
    /// flight and stays for a later stream, whose offset is returned; a
    /// one-shot upload is discarded.
    pub async fn suspend(mut self) -> Option<u64> {
        let Some(session) = &self.session else {
            self.abort().await;
            return None;
        };
        let held = session.hold;
        let landed = self.writer.settle().await;
        // Held bytes were never verified: the upload stays where it was.
        if !held && let Err(error) = self.record(landed).await.and(self.save_tail().await) {
            tracing::warn!(media = %self.id, error = ?error.source, "{}", error.message);
        }
        let offset = self.session.as_ref().map(|session| session.progress.committed_offset + session.tail_bytes);
        tracing::info!(media = %self.id, ?offset, "upload suspended");
        offset
    }

    /// Commits the upload if `size`, `sha256` (and `crc32c` when given) match
    /// what was received and a clip declared as MP4 is one; otherwise
    /// discards it. An MP4 whose moov follows its mdat also gets a faststart
    /// rendition for playback.
    pub async fn finish(self, declared: Declared) -> Result<MediaRecord> {
        if let Err(error) = self.check_duration().and_then(|()| self.check(&declared)) {
            self.abort().await;
            return Err(error);
        }
        // The commit runs to its end even if the client goes away meanwhile
        // (the request future is then dropped): bytes and record together.
        run_to_completion(self.commit()).await
    }

    /// The declared size and checksums against what arrived.
    fn check(&self, declared: &Declared) -> Result<()> {
        let declared_sha256 = declared.sha256.as_deref().map(str::to_ascii_lowercase);
        if let Some(sha256) = &declared_sha256
            && (sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(ArchiveError::new(Reason::InvalidSha256, "finish.sha256 must be 64 hex digits"));
        }
        if declared.size_bytes < 0 || declared.size_bytes as u64 != self.size {
            return Err(ArchiveError::new(
                Reason::SizeMismatch,
                format!(
                    "finish.size_bytes is {} but {} bytes were received; nothing was stored",
                    declared.size_bytes, self.size
                ),
            ));
        }
        let sha256 = hex::encode(self.hasher.clone().finalize());
        if declared_sha256.is_some_and(|declared| declared != sha256) {
            return Err(ArchiveError::new(
                Reason::Sha256Mismatch,
                format!("finish.sha256 does not match the bytes received (sha256 {sha256}); nothing was stored"),
            ));
        }
        let received = self.writer.crc32c();
        if let Some(crc32c) = declared.crc32c.filter(|crc| *crc != received) {
            return Err(ArchiveError::new(
                Reason::Crc32cMismatch,
                format!("finish.crc32c is {crc32c} but the bytes received have {received}; nothing was stored"),
            ));
        }
        Ok(())
    }

    /// Discards the upload (a resumable one too), to the end even if the
    /// request is cancelled meanwhile.
    pub async fn abort(self) {
        let Self { archive, writer, session, id, .. } = self;
        let upload_id = session.map(|session| session.id);
        let aborted = tokio::spawn(async move {
            let result = writer.abort().await;
            archive.forget_upload(upload_id.as_ref()).await;
            result
        })
        .await;
        match aborted {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(media = %id, error = ?error, "could not abort an upload"),
            Err(error) => tracing::warn!(media = %id, %error, "the abort of an upload panicked"),
        }
    }
}
