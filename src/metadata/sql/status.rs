//! How the store is: whether the database answers, and what it holds.

use super::{SqlMetadataStore, timing::timed};
use crate::{
    error::{ArchiveError, Result},
    metadata::{ArchiveStatistics, StoreStatus},
};
use async_trait::async_trait;
use sqlx::Row;

#[async_trait]
impl StoreStatus for SqlMetadataStore {
    async fn statistics(&self) -> Result<ArchiveStatistics> {
        timed!("statistics", async {
            // One statement: one consistent snapshot on both databases.
            let row = sqlx::query(
                "SELECT \
                 (SELECT COUNT(*) FROM articles WHERE delete_time_us IS NULL) AS articles, \
                 (SELECT COUNT(*) FROM articles WHERE delete_time_us IS NOT NULL) AS deleted_articles, \
                 (SELECT COUNT(*) FROM articles WHERE legal_hold <> 0) AS held_articles, \
                 (SELECT COUNT(*) FROM article_revisions) AS revisions, \
                 (SELECT CAST(COALESCE(SUM(CASE WHEN view_count > $1 THEN $1 ELSE view_count END), 0) AS BIGINT) \
                     FROM articles) AS views, \
                 (SELECT COUNT(*) FROM media) AS media, \
                 (SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM ( \
                     SELECT MAX(size_bytes) AS size FROM media GROUP BY blob_key \
                     UNION ALL SELECT MAX(rendition_size) FROM media WHERE rendition_key IS NOT NULL \
                     GROUP BY rendition_key) AS stored_objects) AS media_stored_bytes, \
                 (SELECT COUNT(*) FROM upload_sessions WHERE finished = 0) AS open_uploads",
            )
            // Each count at most MAX_VIEW_COUNT (counts stored before the bound
            // existed too): the sum cannot overflow.
            .bind(crate::metadata::MAX_VIEW_COUNT)
            .fetch_one(&self.readers)
            .await?;
            let count = |column: &str| row.try_get::<i64, _>(column).map_err(ArchiveError::from);
            Ok(ArchiveStatistics {
                articles: count("articles")?,
                deleted_articles: count("deleted_articles")?,
                held_articles: count("held_articles")?,
                revisions: count("revisions")?,
                views: count("views")?,
                media: count("media")?,
                media_stored_bytes: count("media_stored_bytes")?,
                open_uploads: count("open_uploads")?,
            })
        })
    }

    async fn ping(&self) -> Result<()> {
        timed!("ping", async {
            sqlx::query("SELECT 1").execute(&self.readers).await?;
            Ok(())
        })
    }
}
