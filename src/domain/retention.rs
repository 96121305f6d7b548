//! The retention job: purging what was deleted longer ago than the
//! retention period. (Deleting, restoring and holds are ArticleService RPCs.)

use super::Archive;
use crate::error::Result;
use chrono::Utc;

/// Articles purged per metadata query.
const PURGE_BATCH: u32 = 100;

impl Archive {
    /// Removes articles deleted longer ago than the retention period (unless
    /// held): first their records, then their text objects. Returns how many
    /// were purged.
    pub async fn purge_expired(&self) -> Result<usize> {
        let retention = chrono::Duration::seconds(self.retention.deleted_retention_seconds as i64);
        let deleted_before = Utc::now() - retention;
        let mut purged = 0;
        loop {
            let batch = self.metadata.purgeable_articles(deleted_before, PURGE_BATCH).await?;
            if batch.is_empty() {
                return Ok(purged);
            }
            for id in &batch {
                // Records go first: a crash in between leaves only unreferenced objects.
                let keys = self.metadata.purge_article(id).await?;
                self.write_article_manifest(id).await; // removes it
                for key in &keys {
                    self.discard(key).await;
                }
                purged += 1;
                tracing::info!(article = %id, objects = keys.len(), "purged a deleted article");
            }
        }
    }
}
