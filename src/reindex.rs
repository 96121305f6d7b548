//! Rebuilding an empty metadata database from the bucket alone.

use crate::{
    blob::{BlobKey, BlobStore},
    error::ErrorKind,
    manifest::{self, ArticleManifest, MediaManifest},
    metadata::{MetadataStore, SearchText},
    search,
};
use anyhow::{Context, bail};
use futures::TryStreamExt;

/// What a reindex found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReindexReport {
    pub articles: usize,
    pub media: usize,
    /// Manifests that could not be used (unreadable, or naming missing bytes).
    pub skipped: Vec<String>,
}

async fn read_json<T: serde::de::DeserializeOwned>(blobs: &dyn BlobStore, key: &BlobKey) -> anyhow::Result<T> {
    manifest::read(blobs, key).await?.context("manifest vanished")
}

/// Checks that an object a manifest names exists with the recorded size.
async fn check_object(blobs: &dyn BlobStore, key: &BlobKey, size: u64) -> anyhow::Result<()> {
    match blobs.size(key).await? {
        Some(found) if found == size => Ok(()),
        Some(found) => bail!("{key} has {found} bytes, the manifest says {size}"),
        None => bail!("{key} is missing"),
    }
}

/// Records every clip and article described by manifests in `blobs` into
/// `metadata`, which must be empty.
pub async fn rebuild(blobs: &dyn BlobStore, metadata: &dyn MetadataStore) -> anyhow::Result<ReindexReport> {
    anyhow::ensure!(metadata.is_empty().await?, "the metadata database is not empty; reindex fills an empty one");
    let mut report = ReindexReport::default();

    let mut keys = blobs.list("media/").try_filter(|key| std::future::ready(key.is_manifest()));
    while let Some(key) = keys.try_next().await? {
        let restored = async {
            let manifest: MediaManifest = read_json(blobs, &key).await?;
            let record = manifest.to_record()?;
            check_object(blobs, &record.object.key, record.object.size_bytes).await?;
            if let Some(rendition) = &record.rendition {
                check_object(blobs, &rendition.key, rendition.size_bytes).await?;
            }
            metadata.insert_media(&record).await?;
            anyhow::Ok(())
        };
        match restored.await {
            Ok(()) => report.media += 1,
            Err(error) => {
                tracing::warn!(%key, %error, "skipped a media manifest");
                report.skipped.push(format!("{key}: {error:#}"));
            }
        }
    }

    let mut keys = blobs.list("articles/").try_filter(|key| std::future::ready(key.is_manifest()));
    while let Some(key) = keys.try_next().await? {
        let restored = async {
            let manifest: ArticleManifest = read_json(blobs, &key).await?;
            let export = manifest.to_export()?;
            for revision in &export.revisions {
                check_object(blobs, &revision.body.key, revision.body.size_bytes).await?;
            }
            // Clips linked here but without a manifest of their own.
            for media in &export.media {
                match metadata.insert_media(media).await {
                    Err(e) if e.kind != ErrorKind::AlreadyExists => return Err(e.into()),
                    _ => {}
                }
            }
            let current = &export.current;
            let body = blobs.get_bytes(&current.body.key, current.body.size_bytes).await?;
            let body = String::from_utf8(body.to_vec()).context("body is not UTF-8")?;
            let folded = search::document_text(&current.title, &current.author, &current.keywords, &body);
            metadata.restore_article(&export, &SearchText { body, folded }).await?;
            anyhow::Ok(())
        };
        match restored.await {
            Ok(()) => report.articles += 1,
            Err(error) => {
                tracing::warn!(%key, %error, "skipped an article manifest");
                report.skipped.push(format!("{key}: {error:#}"));
            }
        }
    }
    Ok(report)
}
