//! Keeping the manifests in the bucket in step with the metadata store.
//!
//! Order of a write: bytes, then the metadata commit, then the manifest. The
//! manifest is built from the committed state and re-checked after the PUT: if
//! another writer (another replica) committed meanwhile, it is written again,
//! so the last writer always leaves the latest state behind.

use super::Archive;
use crate::{
    blob::BlobKey,
    error::Result,
    ids::ArticleId,
    manifest::{ArticleManifest, MediaManifest},
    metadata::MediaRecord,
};
use bytes::Bytes;

const JSON: &str = "application/json";
/// Rewrites of one manifest before giving up on a very busy article.
const MAX_MANIFEST_ATTEMPTS: usize = 5;

fn encode<T: serde::Serialize>(value: &T) -> Result<Bytes> {
    serde_json::to_vec_pretty(value)
        .map(Bytes::from)
        .map_err(|e| crate::ArchiveError::internal("encoding a manifest", e))
}

impl Archive {
    /// Writes the article's manifest (or removes it once the article is purged).
    /// A failure is logged, not returned: the write itself has succeeded and the
    /// next write of the article rewrites the manifest.
    pub(crate) async fn write_article_manifest(&self, id: &ArticleId) {
        if let Err(error) = self.try_write_article_manifest(id).await {
            tracing::error!(article = %id, error = ?error.source, "manifest not written: {}", error.message);
        }
    }

    async fn try_write_article_manifest(&self, id: &ArticleId) -> Result<()> {
        let key = BlobKey::article_manifest(id);
        let mut state = self.metadata.export_article(id).await?;
        for _ in 0..MAX_MANIFEST_ATTEMPTS {
            match &state {
                Some(export) => self.blobs.put(&key, encode(&ArticleManifest::from(export))?, JSON).await?,
                None => self.blobs.delete(&key).await?,
            }
            let now = self.metadata.export_article(id).await?;
            if now == state {
                return Ok(());
            }
            state = now;
        }
        tracing::warn!(article = %id, "article changed during every manifest write; the next write catches up");
        Ok(())
    }

    pub(crate) async fn write_media_manifest(&self, media: &MediaRecord) -> Result<()> {
        let key = BlobKey::media_manifest(&media.id);
        self.blobs.put(&key, encode(&MediaManifest::from(media))?, JSON).await
    }
}
