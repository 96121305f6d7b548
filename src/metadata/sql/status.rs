//! How the store is: whether the database answers, and what it holds.

use super::{
    SqlMetadataStore,
    rows::{from_micros, micros},
    timing::timed,
};
use crate::{
    error::{ArchiveError, Result},
    metadata::{ArchiveStatistics, FixityReport, StoreStatus},
};
use async_trait::async_trait;
use sqlx::Row;

/// Audits kept; older ones are deleted as new ones are recorded.
const KEPT_AUDITS: i64 = 100;

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
            let audit = sqlx::query(
                "SELECT start_time_us, duration_us, checked, mismatched, missing, skipped, bytes_read \
                 FROM fixity_audits ORDER BY start_time_us DESC LIMIT 1",
            )
            .fetch_optional(&self.readers)
            .await?;
            let last_fixity_audit = match audit {
                None => None,
                Some(row) => {
                    let get = |column: &str| row.try_get::<i64, _>(column).map_err(ArchiveError::from);
                    Some(FixityReport {
                        checked: get("checked")? as u64,
                        mismatched: get("mismatched")? as u64,
                        missing: get("missing")? as u64,
                        skipped: get("skipped")? as u64,
                        bytes_read: get("bytes_read")? as u64,
                        start_time: from_micros(get("start_time_us")?),
                        duration: std::time::Duration::from_micros(get("duration_us")?.max(0) as u64),
                    })
                }
            };
            Ok(ArchiveStatistics {
                articles: count("articles")?,
                deleted_articles: count("deleted_articles")?,
                held_articles: count("held_articles")?,
                revisions: count("revisions")?,
                views: count("views")?,
                media: count("media")?,
                media_stored_bytes: count("media_stored_bytes")?,
                open_uploads: count("open_uploads")?,
                last_fixity_audit,
            })
        })
    }

    async fn record_fixity_audit(&self, report: &FixityReport) -> Result<()> {
        timed!("record_fixity_audit", async {
            let mut tx = self.writer.begin().await?;
            sqlx::query(
                "INSERT INTO fixity_audits \
                 (start_time_us, duration_us, checked, mismatched, missing, skipped, bytes_read) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (start_time_us) DO NOTHING",
            )
            .bind(micros(&report.start_time))
            .bind(i64::try_from(report.duration.as_micros()).unwrap_or(i64::MAX))
            .bind(report.checked as i64)
            .bind(report.mismatched as i64)
            .bind(report.missing as i64)
            .bind(report.skipped as i64)
            .bind(report.bytes_read as i64)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM fixity_audits WHERE start_time_us < \
                 (SELECT MIN(start_time_us) FROM (SELECT start_time_us FROM fixity_audits \
                  ORDER BY start_time_us DESC LIMIT $1) AS kept)",
            )
            .bind(KEPT_AUDITS)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    async fn ping(&self) -> Result<()> {
        timed!("ping", async {
            sqlx::query("SELECT 1").execute(&self.readers).await?;
            Ok(())
        })
    }
}
