//! Manifests brought back in step after a crash. A write commits, then
//! writes its manifest; a process killed in between (or a store failing
//! then) leaves the manifest behind the database, and `archivectl reindex`
//! would rebuild the older state. The change feed names every committed
//! change, so this pass reads it from where it last stopped, `lag` behind
//! now (the writes' own manifest PUTs have had their chance), and for each
//! resource changed compares its manifest with the committed state: one
//! GET each, a PUT (or a DELETE) only when it differs. The `change_feed`
//! job runs it every minute before it prunes the feed, which never goes
//! past it.

use super::{ArticleManifest, MediaManifest};
use crate::{
    blob::BlobKey,
    domain::Archive,
    error::{ErrorKind, Reason, Result},
    ids::{ArticleId, MediaId},
    metadata::changes::ChangeKind,
};
use futures::StreamExt;
use std::{collections::BTreeSet, time::Duration};

/// Changes read at once.
const PAGE: u32 = 500;
/// Manifests compared at once.
const CHECKS_IN_FLIGHT: usize = 8;
/// How far behind the job's pass stays: a write's own manifest PUT
/// comes within this after its commit.
pub const REPAIR_LAG: Duration = Duration::from_secs(60);

/// A stored manifest: `Ok(None)` when missing, and a manifest that does not
/// parse as one that differs (it is rewritten).
async fn stored<T: serde::de::DeserializeOwned>(archive: &Archive, key: &BlobKey) -> Result<Option<Option<T>>> {
    match super::read::<T>(archive.blobs.as_ref(), key).await {
        Ok(manifest) => Ok(Some(manifest)),
        Err(error) if error.reason == Reason::ManifestInvalid => Ok(None),
        Err(error) => Err(error),
    }
}

impl Archive {
    /// Rewrites the manifests that differ from the committed state among
    /// the resources changed since the last pass, up to `lag` ago; returns
    /// how many it rewrote.
    pub async fn repair_manifests(&self, lag: Duration) -> Result<usize> {
        let lag = chrono::Duration::from_std(lag).unwrap_or(chrono::Duration::MAX);
        let before = chrono::Utc::now().checked_sub_signed(lag).unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        let mut through = self.metadata.change_feed().await?.manifests_through;
        let mut repaired = 0;
        loop {
            let page = self.metadata.changes_after(through, PAGE).await?;
            let ready: Vec<_> = page.iter().take_while(|event| event.commit_time < before).collect();
            let Some(last) = ready.last() else { return Ok(repaired) };
            // View totals are the view flush's to write.
            let names: BTreeSet<String> = ready
                .iter()
                .filter(|event| event.change.kind != ChangeKind::ArticleViews)
                .map(|event| event.change.name.clone())
                .collect();
            let outcomes: Vec<(String, Result<bool>)> = futures::stream::iter(names)
                .map(|name| {
                    let archive = self.clone();
                    async move {
                        let outcome = archive.repair_manifest(&name).await;
                        (name, outcome)
                    }
                })
                .buffer_unordered(CHECKS_IN_FLIGHT)
                .collect()
                .await;
            for (name, outcome) in outcomes {
                let name = name.as_str();
                match outcome {
                    Ok(true) => {
                        tracing::warn!(resource = name, "manifest was behind the database; rewritten");
                        repaired += 1;
                    }
                    Ok(false) => {}
                    // Storage or the database is down: this pass stops here, the next goes on.
                    Err(error) if error.kind == ErrorKind::Unavailable => return Err(error),
                    // Anything else would stop the feed for good: logged, passed over.
                    Err(error) => tracing::error!(
                        resource = name,
                        error = ?error.source,
                        "manifest could not be checked; passed over: {}",
                        error.message
                    ),
                }
            }
            through = last.seq;
            self.metadata.set_manifests_through(through).await?;
            if ready.len() < page.len() || page.len() < PAGE as usize {
                return Ok(repaired);
            }
        }
    }

    /// Brings one resource's manifest in step; whether it had to.
    async fn repair_manifest(&self, name: &str) -> Result<bool> {
        if let Ok(id) = ArticleId::from_name(name) {
            let key = BlobKey::article_manifest(&id);
            let committed = self.metadata.export_article(&id).await?.map(|export| ArticleManifest::from(&export));
            // View counts are the view flush's to catch up.
            let without_views = |manifest: Option<ArticleManifest>| {
                manifest.map(|manifest| ArticleManifest { view_count: 0, ..manifest })
            };
            let current = stored::<ArticleManifest>(self, &key).await?;
            if current.map(without_views) == Some(without_views(committed)) {
                return Ok(false);
            }
            self.try_write_article_manifest(&id).await?;
            Ok(true)
        } else if let Ok(id) = MediaId::from_name(name) {
            let key = BlobKey::media_manifest(&id);
            let committed = self.committed_media_manifest(&id).await?;
            let current = stored::<MediaManifest>(self, &key).await?;
            if current.as_ref() == Some(&committed) {
                return Ok(false);
            }
            match committed {
                Some(manifest) => self.write_media_manifest(&manifest.to_record()?).await?,
                None => self.blobs.delete(&key).await?,
            }
            Ok(true)
        } else {
            Ok(false)
        }
    }
}
