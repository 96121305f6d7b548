//! View counts: added up in the database, written to manifests later.

use super::{
    SqlMetadataStore,
    errors::{article_not_found, stored_id},
    timing::timed,
};
use crate::{
    error::Result,
    ids::ArticleId,
    metadata::{MAX_VIEW_COUNT, ViewStore, changes::Change},
};
use async_trait::async_trait;

#[async_trait]
impl ViewStore for SqlMetadataStore {
    async fn record_views(&self, id: &ArticleId, count: i64) -> Result<i64> {
        timed!("record_views", async {
            // Saturating at MAX_VIEW_COUNT, never overflowing (a count stored
            // before the bound existed comes down to it).
            sqlx::query_scalar(
                "UPDATE articles SET view_count = CASE WHEN view_count > $3 - $1 THEN $3 ELSE view_count + $1 END \
                 WHERE id = $2 AND delete_time_us IS NULL RETURNING view_count",
            )
            .bind(count)
            .bind(id.as_str())
            .bind(MAX_VIEW_COUNT)
            .fetch_optional(&self.writer)
            .await?
            .ok_or_else(|| article_not_found(id))
        })
    }

    async fn articles_with_unwritten_views(&self, after: Option<&ArticleId>, limit: u32) -> Result<Vec<ArticleId>> {
        timed!("articles_with_unwritten_views", async {
            let ids: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT id FROM articles WHERE view_count <> manifest_view_count AND id > $1 ORDER BY id{}",
                super::builder::limit(limit)
            )))
            .bind(after.map_or("", ArticleId::as_str))
            .fetch_all(&self.readers)
            .await?;
            ids.iter().map(|id| stored_id(ArticleId::parse, id)).collect()
        })
    }

    /// Also the change feed's view event: one per article and flush.
    async fn manifest_views_written(&self, id: &ArticleId, view_count: i64) -> Result<()> {
        timed!("manifest_views_written", async {
            let mut tx = self.begin_write().await?;
            let written =
                sqlx::query("UPDATE articles SET manifest_view_count = $1 WHERE id = $2 AND manifest_view_count <> $1")
                    .bind(view_count)
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await?;
            let changes =
                if written.rows_affected() > 0 { vec![Change::article_views(id, view_count)] } else { vec![] };
            self.commit_with(tx, &changes).await
        })
    }
}
