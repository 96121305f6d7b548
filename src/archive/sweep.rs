//! The sweep of objects nothing names (DESIGN §3.2). A write stores its bytes
//! before its metadata commit, so a crash in between leaves an object without
//! a record. The sweep deletes such an object once its key is older than a
//! grace period, when no record and no manifest names it.
//!
//! Only keys this service generates per write are candidates (revision
//! bodies, originals, renditions; see [`BlobKey::origin`]): manifests and
//! anything else in the bucket are never touched. A manifest naming the key
//! keeps it too, so a database restored from an old backup, or one being
//! reindexed, never costs the bytes the bucket still describes; and an empty
//! database stops the sweep altogether.

use super::Archive;
use crate::{
    blob::{BlobKey, KeyOwner},
    error::Result,
    manifest::{self, ArticleManifest, MediaManifest},
};
use futures::TryStreamExt;
use std::time::Duration;

/// Listed keys checked against the metadata store at once.
const SWEEP_BATCH: usize = 500;
/// Where generated objects live.
const SWEPT_PREFIXES: [&str; 2] = ["articles/", "media/"];

/// What a sweep found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    /// Generated objects older than the grace period, checked.
    pub checked: usize,
    /// Objects no record and no manifest named, deleted.
    pub deleted: usize,
    /// Objects a manifest names but no record does (the database is behind
    /// the bucket), kept.
    pub named_by_manifest_only: usize,
}

impl Archive {
    /// Deletes the objects written more than `grace` ago that no record and
    /// no manifest names. Does nothing while the metadata store is empty.
    pub async fn sweep_unreferenced(&self, grace: Duration) -> Result<SweepReport> {
        let mut report = SweepReport::default();
        if self.metadata.is_empty().await? {
            tracing::warn!("the metadata store is empty; no sweep (reindex first when the bucket holds data)");
            return Ok(report);
        }
        let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
        let cutoff = chrono::Utc::now() - grace;
        for prefix in SWEPT_PREFIXES {
            let mut keys = self.blobs.list(prefix);
            let mut batch = Vec::with_capacity(SWEEP_BATCH);
            while let Some(key) = keys.try_next().await? {
                if key.origin().is_some_and(|origin| origin.created < cutoff) {
                    batch.push(key);
                }
                if batch.len() == SWEEP_BATCH {
                    self.sweep_batch(&mut batch, &mut report).await?;
                }
            }
            self.sweep_batch(&mut batch, &mut report).await?;
        }
        if report.named_by_manifest_only > 0 {
            tracing::warn!(
                objects = report.named_by_manifest_only,
                "manifests name objects the metadata store does not know; kept"
            );
        }
        Ok(report)
    }

    /// Checks and empties `batch`.
    async fn sweep_batch(&self, batch: &mut Vec<BlobKey>, report: &mut SweepReport) -> Result<()> {
        report.checked += batch.len();
        let referenced = self.metadata.referenced_objects(batch).await?;
        for key in batch.drain(..).filter(|key| !referenced.contains(key)) {
            if self.named_by_manifest(&key).await {
                report.named_by_manifest_only += 1;
                continue;
            }
            self.blobs.delete(&key).await?;
            tracing::info!(%key, "deleted an object that nothing names");
            report.deleted += 1;
        }
        Ok(())
    }

    /// Whether the manifest of the key's owner names it. When that manifest
    /// cannot be read, the object stays.
    async fn named_by_manifest(&self, key: &BlobKey) -> bool {
        let Some(origin) = key.origin() else {
            return true;
        };
        let blobs = self.blobs.as_ref();
        let name = key.as_str();
        let named = match origin.owner {
            KeyOwner::Article(id) => manifest::read::<ArticleManifest>(blobs, &BlobKey::article_manifest(&id))
                .await
                .map(|manifest| manifest.is_some_and(|m| m.revisions.iter().any(|r| r.body.key == name))),
            KeyOwner::Media(id) => {
                manifest::read::<MediaManifest>(blobs, &BlobKey::media_manifest(&id)).await.map(|manifest| {
                    manifest.is_some_and(|m| m.object.key == name || m.rendition.is_some_and(|r| r.key == name))
                })
            }
        };
        named.unwrap_or_else(|error| {
            tracing::warn!(%key, error = ?error.source, "kept an object whose manifest is unreadable: {}", error.message);
            true
        })
    }
}
