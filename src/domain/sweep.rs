//! The sweep of objects nothing names (docs/design.md). A write stores its bytes
//! before its metadata commit, so a crash in between leaves an object without
//! a record. The sweep deletes such an object once its key is older than a
//! grace period, when no record and no manifest names it.
//!
//! Only keys this service generates per write are candidates (revision
//! bodies, originals, renditions, a clip's caption files, posters and
//! pictures; see [`BlobKey::origin`]), and the pictures older versions
//! stored without records ([`BlobKey::is_unrecorded_picture`], deleted
//! as found): manifests and anything else in the bucket are never touched. A manifest naming the key
//! keeps it too, so a database restored from an old backup, or one being
//! reindexed, does not cost the bytes the bucket still describes; and an
//! empty database stops the sweep altogether.
//!
//! A body can only be named by its article's manifest. A clip's object can
//! also be named by the manifest of a copy sharing its bytes, or inside the
//! manifest of an article it is linked to; so a clip object whose own
//! manifest is missing waits until every manifest has been read.
//!
//! The sweep also aborts abandoned uploads: multipart uploads (and, on the
//! file system, unfinished writes) older than the grace period that no
//! unfinished resumable session writes. A one-shot upload records nothing
//! until its clip, so one whose process was killed leaves its multipart
//! upload open; no upload may run longer than half the grace period
//! (`media.max_one_shot_upload_seconds`), so an older one is abandoned.

use super::Archive;
use crate::{
    blob::{BlobKey, BlobStore, KeyOwner, OpenUpload},
    domain::manifest::{self, ArticleManifest, MediaManifest},
    error::{ArchiveError, Result},
    metadata::ObjectIndex,
};
use futures::{StreamExt, TryStreamExt};
use std::{collections::HashSet, time::Duration};

/// Listed keys checked against the metadata store at once.
const SWEEP_BATCH: usize = 500;
/// Where generated objects and manifests live.
const SWEPT_PREFIXES: [&str; 2] = ["articles/", "media/"];
/// Clip objects without a manifest of their own held for the pass over
/// every manifest; more wait for the next sweep.
const MAX_DEFERRED: usize = 10_000;
/// Manifests read at once in that pass.
const MANIFEST_READS_IN_FLIGHT: usize = 8;

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
    /// Objects kept because a manifest could not be read, or left for the
    /// next sweep.
    pub undecided: usize,
    /// Abandoned uploads aborted.
    pub aborted_uploads: usize,
}

/// What the manifest of an object's owner says of it.
enum OwnerManifest {
    Names,
    DoesNotName,
    Missing,
    Unreadable,
}

impl Archive {
    /// Deletes the objects written more than `grace` ago that no record and
    /// no manifest names. Does nothing while the metadata store is empty.
    pub async fn sweep_unreferenced(&self, grace: Duration) -> Result<SweepReport> {
        Sweep { blobs: self.blobs.as_ref(), records: self.metadata.as_ref() }.run(grace).await
    }
}

/// A sweep needs the bucket and what the records name in it, nothing else.
struct Sweep<'a> {
    blobs: &'a dyn BlobStore,
    records: &'a dyn ObjectIndex,
}

impl Sweep<'_> {
    async fn run(&self, grace: Duration) -> Result<SweepReport> {
        let mut report = SweepReport::default();
        if self.records.is_empty().await? {
            for prefix in SWEPT_PREFIXES {
                let mut manifests = self.blobs.list(prefix).try_filter(|key| std::future::ready(key.is_manifest()));
                if manifests.try_next().await?.is_some() {
                    tracing::warn!("the bucket holds manifests but the metadata store is empty: no sweep; reindex it");
                    break;
                }
            }
            return Ok(report);
        }
        let cutoff = chrono::Duration::from_std(grace)
            .ok()
            .and_then(|grace| chrono::Utc::now().checked_sub_signed(grace))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        let mut deferred = HashSet::new();
        for prefix in SWEPT_PREFIXES {
            let mut keys = self.blobs.list(prefix);
            let mut batch = Vec::with_capacity(SWEEP_BATCH);
            while let Some(key) = keys.try_next().await? {
                if key.is_unrecorded_picture() {
                    report.checked += 1;
                    self.delete_unnamed(&key, &mut report).await?;
                    continue;
                }
                if let Some(origin) = key.origin().filter(|origin| origin.created < cutoff) {
                    batch.push((key, origin.owner));
                }
                if batch.len() == SWEEP_BATCH {
                    self.sweep_batch(&mut batch, &mut deferred, &mut report).await?;
                }
            }
            self.sweep_batch(&mut batch, &mut deferred, &mut report).await?;
        }
        if !deferred.is_empty() {
            self.sweep_deferred(deferred, &mut report).await?;
        }
        self.abort_abandoned_uploads(cutoff, &mut report).await?;
        if report.named_by_manifest_only > 0 {
            tracing::warn!(
                objects = report.named_by_manifest_only,
                "manifests name objects the metadata store does not know; kept"
            );
        }
        Ok(report)
    }

    /// Checks and empties `batch` (keys with their owners); clip objects
    /// without a manifest of their own go to `deferred`.
    async fn sweep_batch(
        &self,
        batch: &mut Vec<(BlobKey, KeyOwner)>,
        deferred: &mut HashSet<BlobKey>,
        report: &mut SweepReport,
    ) -> Result<()> {
        report.checked += batch.len();
        let keys: Vec<BlobKey> = batch.iter().map(|(key, _)| key.clone()).collect();
        let referenced = self.records.referenced_objects(&keys).await?;
        for (key, owner) in batch.drain(..).filter(|(key, _)| !referenced.contains(key)) {
            let is_clip = matches!(owner, KeyOwner::Media(_));
            match self.owner_manifest(&key, owner).await {
                OwnerManifest::Names => report.named_by_manifest_only += 1,
                OwnerManifest::Unreadable => report.undecided += 1,
                OwnerManifest::Missing if is_clip && deferred.len() < MAX_DEFERRED => {
                    deferred.insert(key);
                }
                OwnerManifest::Missing if is_clip => report.undecided += 1,
                OwnerManifest::Missing | OwnerManifest::DoesNotName => self.delete_unnamed(&key, report).await?,
            }
        }
        Ok(())
    }

    /// Aborts the uploads started before `cutoff` that no unfinished session writes.
    async fn abort_abandoned_uploads(
        &self,
        cutoff: chrono::DateTime<chrono::Utc>,
        report: &mut SweepReport,
    ) -> Result<()> {
        let multipart = self.blobs.multipart();
        let mut uploads = multipart.list_open().try_filter(|upload| std::future::ready(upload.initiated < cutoff));
        let mut batch: Vec<OpenUpload> = Vec::with_capacity(SWEEP_BATCH);
        loop {
            let next = uploads.try_next().await?;
            let done = next.is_none();
            batch.extend(next);
            if batch.len() < SWEEP_BATCH && !done {
                continue;
            }
            let ids: Vec<String> = batch.iter().map(|upload| upload.upload_id.clone()).collect();
            let in_use = self.records.multipart_ids_in_use(&ids).await?;
            for upload in batch.drain(..).filter(|upload| !in_use.contains(&upload.upload_id)) {
                multipart.abort_open(&upload).await?;
                let key = upload.key.as_ref().map_or("(unknown)", BlobKey::as_str);
                tracing::info!(key, upload_id = upload.upload_id, initiated = %upload.initiated, "aborted an abandoned upload");
                report.aborted_uploads += 1;
            }
            if done {
                return Ok(());
            }
        }
    }

    async fn delete_unnamed(&self, key: &BlobKey, report: &mut SweepReport) -> Result<()> {
        self.blobs.delete(key).await?;
        tracing::info!(%key, "deleted an object that nothing names");
        report.deleted += 1;
        Ok(())
    }

    /// What the manifest of the key's owner says of it.
    async fn owner_manifest(&self, key: &BlobKey, owner: KeyOwner) -> OwnerManifest {
        let blobs = self.blobs;
        let name = key.as_str();
        let named = match owner {
            KeyOwner::Article(id) => manifest::read::<ArticleManifest>(blobs, &BlobKey::article_manifest(&id))
                .await
                .map(|manifest| manifest.map(|m| m.revisions.iter().any(|r| r.body.key == name))),
            KeyOwner::Media(id) => manifest::read::<MediaManifest>(blobs, &BlobKey::media_manifest(&id))
                .await
                .map(|manifest| manifest.map(|m| m.object_keys().any(|k| k == name))),
        };
        match named {
            Ok(Some(true)) => OwnerManifest::Names,
            Ok(Some(false)) => OwnerManifest::DoesNotName,
            Ok(None) => OwnerManifest::Missing,
            Err(error) => {
                tracing::warn!(%key, error = ?error.source, "kept an object whose manifest is unreadable: {}", error.message);
                OwnerManifest::Unreadable
            }
        }
    }

    /// Reads every manifest and deletes the deferred clip objects that none
    /// names; keeps them all when a manifest cannot be read.
    async fn sweep_deferred(&self, mut deferred: HashSet<BlobKey>, report: &mut SweepReport) -> Result<()> {
        let blobs = self.blobs;
        for prefix in SWEPT_PREFIXES {
            let mut named = self
                .blobs
                .list(prefix)
                .map_err(ArchiveError::from)
                .try_filter(|key| std::future::ready(key.is_manifest()))
                .map_ok(|key| async move {
                    let keys: Vec<String> = if key.as_str().starts_with("articles/") {
                        let article = manifest::read::<ArticleManifest>(blobs, &key).await?;
                        let linked = article.into_iter().flat_map(|a| a.media).filter_map(|link| link.media);
                        linked.flat_map(|m| m.object_keys().map(str::to_owned).collect::<Vec<_>>()).collect()
                    } else {
                        let media = manifest::read::<MediaManifest>(blobs, &key).await?;
                        media.iter().flat_map(|m| m.object_keys().map(str::to_owned)).collect()
                    };
                    Ok(keys)
                })
                .try_buffer_unordered(MANIFEST_READS_IN_FLIGHT)
                .boxed();
            while let Some(keys) = named.next().await {
                let keys = match keys {
                    Ok(keys) => keys,
                    Err(error) => {
                        tracing::warn!(error = ?error.source, "a manifest could not be read; clip objects kept: {}", error.message);
                        report.undecided += deferred.len();
                        return Ok(());
                    }
                };
                for key in keys.iter().filter_map(|key| BlobKey::parse(key)) {
                    if deferred.remove(&key) {
                        report.named_by_manifest_only += 1;
                    }
                }
            }
        }
        // The pass took a while: ask the database once more before deleting.
        let deferred: Vec<BlobKey> = deferred.into_iter().collect();
        for batch in deferred.chunks(SWEEP_BATCH) {
            let referenced = self.records.referenced_objects(batch).await?;
            for key in batch.iter().filter(|key| !referenced.contains(key)) {
                self.delete_unnamed(key, report).await?;
            }
        }
        Ok(())
    }
}
