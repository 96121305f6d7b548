//! Keeping the manifests in the bucket in step with the metadata store.
//!
//! Order of a write: bytes, then the metadata commit, then the manifest. The
//! manifest is built from the committed state and re-checked after the PUT: if
//! another writer (another replica) committed meanwhile, it is written again,
//! so the last writer always leaves the latest state behind.

use super::{ArticleManifest, MediaManifest};
use crate::domain::Archive;
use crate::{
    blob::BlobKey,
    error::{ErrorKind, Result},
    ids::{ArticleId, MediaId},
    metadata::{ArticleExport, MediaRecord},
};
use bytes::Bytes;
use futures::StreamExt;

const JSON: &str = "application/json";
/// Rewrites of one manifest before giving up on a very busy article.
const MAX_MANIFEST_ATTEMPTS: usize = 5;
/// Articles looked up at once by [`Archive::flush_views`].
const VIEW_FLUSH_BATCH: u32 = 500;
/// Manifests [`Archive::flush_views`] writes at once.
const VIEW_FLUSH_CONCURRENCY: usize = 8;

/// Equal states of an article, but for its live view count.
fn same_but_views(a: &Option<ArticleExport>, b: &Option<ArticleExport>) -> bool {
    let without_views = |export: &Option<ArticleExport>| {
        export.clone().map(|mut export| {
            for record in std::iter::once(&mut export.current).chain(&mut export.revisions) {
                record.view_count = 0;
            }
            export
        })
    };
    without_views(a) == without_views(b)
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Bytes> {
    serde_json::to_vec_pretty(value)
        .map(Bytes::from)
        .map_err(|e| crate::ArchiveError::internal("encoding a manifest", e))
}

impl Archive {
    /// Writes the article's manifest (or removes it once the article is purged).
    /// A failure is logged, not returned: the write itself has succeeded and the
    /// next write of the article rewrites the manifest. Returns whether it
    /// was written.
    pub(crate) async fn write_article_manifest(&self, id: &ArticleId) -> bool {
        match self.try_write_article_manifest(id).await {
            Ok(_) => true,
            Err(error) => {
                tracing::error!(article = %id, error = ?error.source, "manifest not written: {}", error.message);
                false
            }
        }
    }

    /// Writes the manifest from the committed state, again while another
    /// writer changes the article meanwhile. Returns the view count of a
    /// manifest that holds the latest state but for views (which only
    /// [`Archive::flush_views`] chases), `None` when the article is gone or
    /// kept changing.
    pub(super) async fn try_write_article_manifest(&self, id: &ArticleId) -> Result<Option<i64>> {
        let key = BlobKey::article_manifest(id);
        let mut state = self.metadata.export_article(id).await?;
        for _ in 0..MAX_MANIFEST_ATTEMPTS {
            match &state {
                Some(export) => self.blobs.put(&key, encode(&ArticleManifest::from(export))?, JSON).await?,
                None => self.blobs.delete(&key).await?,
            }
            let now = self.metadata.export_article(id).await?;
            if same_but_views(&now, &state) {
                return Ok(state.map(|export| export.current.view_count));
            }
            state = now;
        }
        tracing::warn!(article = %id, "article changed during every manifest write; the next write catches up");
        Ok(None)
    }

    /// Writes the manifests of articles whose view counts moved since their
    /// last write, each once; returns how many now hold their views. RecordView
    /// leaves the manifest alone (one PUT per page view would not scale):
    /// this runs every `metadata.view_flush_interval_seconds` and at shutdown.
    pub async fn flush_views(&self) -> Result<usize> {
        let mut after: Option<ArticleId> = None;
        let mut written = 0;
        loop {
            let ids = self.metadata.articles_with_unwritten_views(after.as_ref(), VIEW_FLUSH_BATCH).await?;
            let flushed: Vec<bool> = futures::stream::iter(ids.iter().cloned())
                .map(|id| async move {
                    let flushed = async {
                        let Some(views) = self.try_write_article_manifest(&id).await? else {
                            return Ok(false); // gone, or still changing: the next flush looks again
                        };
                        // Views recorded since stay pending for the next flush.
                        self.metadata.manifest_views_written(&id, views).await?;
                        Ok::<_, crate::ArchiveError>(true)
                    };
                    match flushed.await {
                        Ok(written) => written,
                        Err(error) => {
                            tracing::warn!(article = %id, error = ?error.source, "views not flushed: {}", error.message);
                            false
                        }
                    }
                })
                .buffer_unordered(VIEW_FLUSH_CONCURRENCY)
                .collect()
                .await;
            written += flushed.into_iter().filter(|ok| *ok).count();
            if ids.len() < VIEW_FLUSH_BATCH as usize {
                return Ok(written);
            }
            after = ids.last().cloned();
        }
    }

    /// Writes the clip's manifest; a failure is logged, as for articles.
    pub(crate) async fn write_media_manifest_logged(&self, media: &MediaRecord) {
        if let Err(error) = self.write_media_manifest(media).await {
            tracing::error!(media = %media.id, error = ?error.source, "manifest not written: {}", error.message);
        }
    }

    /// The manifest of the clip's committed state (its record, caption
    /// tracks, poster and pictures); `None` once it is deleted.
    pub(crate) async fn committed_media_manifest(&self, id: &MediaId) -> Result<Option<MediaManifest>> {
        let media = match self.metadata.get_media(id).await {
            Ok(media) => media,
            Err(error) if error.kind == ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error),
        };
        let tracks = self.metadata.caption_tracks(id).await?;
        let poster = self.metadata.poster(id).await?;
        let pictures = self.metadata.pictures(id).await?;
        Ok(Some(MediaManifest::with_files(&media, &tracks, poster.as_ref(), &pictures)))
    }

    /// Writes the clip's manifest, again while another writer changed its
    /// state meanwhile (a new revision, a picture made without one): each
    /// writer re-reads after its PUT, so the last to write leaves the
    /// latest state behind. A deleted clip's manifest is its deletion's to
    /// remove.
    pub(crate) async fn write_media_manifest(&self, media: &MediaRecord) -> Result<()> {
        let key = BlobKey::media_manifest(&media.id);
        let Some(mut manifest) = self.committed_media_manifest(&media.id).await? else { return Ok(()) };
        for attempt in 1..=MAX_MANIFEST_ATTEMPTS {
            self.blobs.put(&key, encode(&manifest)?, JSON).await?;
            match self.committed_media_manifest(&media.id).await? {
                Some(now) if now == manifest => return Ok(()),
                Some(now) if attempt == MAX_MANIFEST_ATTEMPTS => {
                    // The latest state read goes out; a change after it is
                    // its own writer's to write.
                    self.blobs.put(&key, encode(&now)?, JSON).await?;
                    tracing::warn!(media = %media.id, "clip changed during every manifest write; wrote the last state read");
                }
                Some(now) => manifest = now,
                // Deleted after this write read it: its PUT may have come
                // after the deletion removed the manifest.
                None => {
                    self.blobs.delete(&key).await?;
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}
