//! Deriving the faststart playback copy of a clip from its stored original.

use super::Archive;
use crate::{
    blob::BlobKey,
    error::{ArchiveError, Result},
    format::mp4::FaststartPlan,
    ids::MediaId,
    metadata::ObjectRef,
};
use bytes::Bytes;
use futures::StreamExt;
use sha2::{Digest, Sha256};

impl Archive {
    /// Writes the rendition `plan` describes: its new metadata, then the
    /// original's media data streamed across. `None` (logged) when it fails:
    /// the clip then plays from the original.
    pub(crate) async fn write_faststart_rendition(
        &self,
        id: &MediaId,
        original: &ObjectRef,
        content_type: &str,
        plan: FaststartPlan,
    ) -> Option<ObjectRef> {
        match self.try_write_rendition(id, original, content_type, plan).await {
            Ok(rendition) => Some(rendition),
            Err(error) => {
                tracing::warn!(media = %id, error = ?error.source, "no faststart rendition: {}", error.message);
                None
            }
        }
    }

    async fn try_write_rendition(
        &self,
        id: &MediaId,
        original: &ObjectRef,
        content_type: &str,
        plan: FaststartPlan,
    ) -> Result<ObjectRef> {
        let key = BlobKey::new_media_rendition(id);
        let size_bytes = plan.len();
        let mut upload = self.blobs.start_upload(&key, content_type).await?;
        let mut hasher = Sha256::new();
        let metadata = Bytes::from(plan.metadata);
        hasher.update(&metadata);
        upload.write(metadata).await?;
        let data = plan.data_offset..plan.data_offset + plan.data_len;
        let mut stream = self.blobs.get(&original.key, data).await?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| ArchiveError::unavailable("reading the original clip", e))?;
            hasher.update(&chunk);
            upload.write(chunk).await?;
        }
        // An error above drops `upload`, which discards what was written.
        upload.commit().await?;
        Ok(ObjectRef { key, size_bytes, sha256: hex::encode(hasher.finalize()) })
    }
}
