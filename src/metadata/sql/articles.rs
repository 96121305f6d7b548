//! Article writes: create, update (a new revision), delete, undelete,
//! legal holds, purge and restore.

use super::{
    SqlMetadataStore,
    builder::{Arg, SqlBuilder},
    errors::{article_not_found, on_hold, stale_etag, stored_id, stored_key},
    rows::{REVISION_VALUES, bind_revision, micros},
    timing::timed,
};
use crate::error::Reason;
use crate::{
    blob::BlobKey,
    error::{ArchiveError, ErrorKind, Result},
    ids::ArticleId,
    metadata::{
        ArticleExport, ArticleRecord, ArticleStore, MediaLink, SearchText,
        changes::{Change, ChangeKind},
        refit_links,
    },
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Any, AssertSqlSafe, Row, Transaction};

/// A change of an article, from the `etag, revision, title,
/// publish_time_us` a statement returned.
fn state_change(kind: ChangeKind, id: &ArticleId, row: &sqlx::any::AnyRow) -> Result<Change> {
    Ok(Change::article_state(
        kind,
        id,
        &row.try_get::<String, _>("etag")?,
        row.try_get("revision")?,
        &row.try_get::<String, _>("title")?,
        row.try_get("publish_time_us")?,
    ))
}

impl SqlMetadataStore {
    /// The `articles` row; ALREADY_EXISTS when the id is taken.
    pub(super) async fn insert_head(&self, tx: &mut Transaction<'static, Any>, article: &ArticleRecord) -> Result<()> {
        let sql = format!(
            "INSERT INTO articles ({REVISION_VALUES}, update_time_us, id, view_count, create_time_us, legal_hold, \
             delete_time_us, manifest_view_count) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
        );
        // Views start out as written: the manifest follows the new article
        // (or, on reindex, is where they come from).
        let inserted = bind_revision(sqlx::query(AssertSqlSafe(sql)), article)?
            .bind(article.id.to_string())
            .bind(article.view_count)
            .bind(micros(&article.create_time))
            .bind(i64::from(article.legal_hold))
            .bind(article.delete_time.as_ref().map(micros))
            .bind(article.view_count)
            .execute(&mut **tx)
            .await;
        match inserted {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(ArchiveError::new(Reason::ArticleExists, format!("article {} already exists", article.id.name())))
            }
            other => Ok(other.map(drop)?),
        }
    }

    pub(super) async fn insert_revision(
        &self,
        tx: &mut Transaction<'static, Any>,
        article: &ArticleRecord,
    ) -> Result<()> {
        let sql = format!(
            "INSERT INTO article_revisions ({REVISION_VALUES}, create_time_us, article_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        bind_revision(sqlx::query(AssertSqlSafe(sql)), article)?
            .bind(article.id.to_string())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Keywords, media links and searchable text of the current revision.
    pub(super) async fn replace_details(
        &self,
        tx: &mut Transaction<'static, Any>,
        article: &ArticleRecord,
        text: &SearchText,
    ) -> Result<()> {
        let id = article.id.as_str();
        sqlx::query("DELETE FROM article_keywords WHERE article_id = $1").bind(id).execute(&mut **tx).await?;
        for keyword in &article.keywords {
            sqlx::query("INSERT INTO article_keywords (article_id, keyword) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(id)
                .bind(keyword)
                .execute(&mut **tx)
                .await?;
        }
        sqlx::query("DELETE FROM article_media WHERE article_id = $1").bind(id).execute(&mut **tx).await?;
        for (position, link) in article.media.iter().enumerate() {
            sqlx::query(
                "INSERT INTO article_media (article_id, position, reference, media_id, in_body) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(position as i64)
            .bind(&link.reference)
            .bind(link.media_id.as_ref().map(|m| m.as_str().to_owned()))
            .bind(i64::from(link.in_body))
            .execute(&mut **tx)
            .await?;
        }
        self.replace_text(tx, id, text).await
    }

    /// Tells apart a missing article from one whose state did not allow the write.
    pub(super) async fn explain_no_rows(&self, tx: &mut Transaction<'static, Any>, id: &ArticleId) -> ArchiveError {
        let state = sqlx::query("SELECT delete_time_us, legal_hold FROM articles WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut **tx)
            .await;
        match state {
            Ok(Some(row)) => {
                let deleted = row.try_get::<Option<i64>, _>("delete_time_us").ok().flatten().is_some();
                let hold = row.try_get::<i64, _>("legal_hold").unwrap_or(0) != 0;
                if deleted {
                    article_not_found(id)
                } else if hold {
                    on_hold(id)
                } else {
                    stale_etag(id)
                }
            }
            Ok(None) => article_not_found(id),
            Err(error) => error.into(),
        }
    }
}

#[async_trait]
impl ArticleStore for SqlMetadataStore {
    async fn insert_article(&self, article: &ArticleRecord, text: &SearchText) -> Result<()> {
        timed!("insert_article", async {
            let mut tx = self.begin_write().await?;
            self.insert_head(&mut tx, article).await?;
            self.insert_revision(&mut tx, article).await?;
            self.replace_details(&mut tx, article, text).await?;
            self.commit_with(tx, &[Change::article(ChangeKind::ArticleCreated, article)]).await
        })
    }

    async fn update_article(
        &self,
        expected_etag: &str,
        next: &ArticleRecord,
        text: &SearchText,
    ) -> Result<Vec<MediaLink>> {
        timed!("update_article", async {
            let mut tx = self.begin_write().await?;
            let updated = bind_revision(
                sqlx::query(
                    "UPDATE articles SET revision = $1, etag = $2, title = $3, author = $4, keywords = $5, \
                     publish_time_us = $6, publish_utc_offset_seconds = $7, body_key = $8, body_size = $9, \
                     body_sha256 = $10, update_time_us = $11 \
                     WHERE id = $12 AND etag = $13 AND revision = $14 AND delete_time_us IS NULL",
                ),
                next,
            )?
            .bind(next.id.to_string())
            .bind(expected_etag.to_owned())
            .bind(next.revision - 1)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 0 {
                let error = self.explain_no_rows(&mut tx, &next.id).await;
                // A live article without hold that did not match: the etag is stale.
                return Err(if error.kind == ErrorKind::FailedPrecondition { stale_etag(&next.id) } else { error });
            }
            self.insert_revision(&mut tx, next).await?;
            // The row is locked now (PostgreSQL; SQLite has one writer): links
            // committed since the caller read the article are these, and no
            // other change can land before this commit.
            let committed: Vec<MediaLink> =
                Self::load_links(&mut *tx, &[next.id.as_str()]).await?.into_iter().map(|(_, link)| link).collect();
            let stored = ArticleRecord { media: refit_links(&next.media, &committed), ..next.clone() };
            self.replace_details(&mut tx, &stored, text).await?;
            self.commit_with(tx, &[Change::article(ChangeKind::ArticleUpdated, &stored)]).await?;
            Ok(stored.media)
        })
    }

    async fn delete_article(&self, id: &ArticleId, expected_etag: Option<&str>) -> Result<()> {
        timed!("delete_article", async {
            let mut tx = self.begin_write().await?;
            let mut sql = SqlBuilder::new("UPDATE articles SET delete_time_us = ");
            sql.bind(Arg::Int(micros(&Utc::now())))
                .push(" WHERE id = ")
                .bind(Arg::Text(id.to_string()))
                .push(" AND delete_time_us IS NULL AND legal_hold = 0");
            if let Some(etag) = expected_etag {
                sql.push(" AND etag = ").bind(Arg::Text(etag.to_owned()));
            }
            sql.push(" RETURNING etag, revision, title, publish_time_us");
            let Some(deleted) = sql.fetch_optional(&mut *tx).await? else {
                return Err(self.explain_no_rows(&mut tx, id).await);
            };
            let change = state_change(ChangeKind::ArticleDeleted, id, &deleted)?;
            self.commit_with(tx, &[change]).await
        })
    }

    async fn undelete_article(&self, id: &ArticleId) -> Result<ArticleRecord> {
        timed!("undelete_article", async {
            let mut tx = self.begin_write().await?;
            let restored = sqlx::query(
                "UPDATE articles SET delete_time_us = NULL WHERE id = $1 AND delete_time_us IS NOT NULL \
                 RETURNING etag, revision, title, publish_time_us",
            )
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            let Some(restored) = restored else {
                drop(tx);
                // Either unknown (NOT_FOUND) or not deleted.
                self.fetch_article(id).await?;
                return Err(ArchiveError::new(
                    Reason::ArticleNotDeleted,
                    format!("article {} is not deleted", id.name()),
                ));
            };
            let change = state_change(ChangeKind::ArticleUndeleted, id, &restored)?;
            self.commit_with(tx, &[change]).await?;
            self.fetch_article(id).await
        })
    }

    async fn set_legal_hold(&self, id: &ArticleId, hold: bool) -> Result<ArticleRecord> {
        timed!("set_legal_hold", async {
            let mut tx = self.begin_write().await?;
            let changed = sqlx::query(
                "UPDATE articles SET legal_hold = $1 WHERE id = $2 AND delete_time_us IS NULL \
                 RETURNING etag, revision, title, publish_time_us",
            )
            .bind(i64::from(hold))
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            let Some(changed) = changed else { return Err(article_not_found(id)) };
            let kind = if hold { ChangeKind::LegalHoldSet } else { ChangeKind::LegalHoldCleared };
            let change = state_change(kind, id, &changed)?;
            self.commit_with(tx, &[change]).await?;
            self.fetch_article(id).await
        })
    }

    async fn purgeable_articles(&self, deleted_before: DateTime<Utc>, limit: u32) -> Result<Vec<ArticleId>> {
        timed!("purgeable_articles", async {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT id FROM articles WHERE delete_time_us IS NOT NULL AND delete_time_us < $1 AND legal_hold = 0 \
                 ORDER BY delete_time_us{}",
                super::builder::limit(limit)
            )))
            .bind(micros(&deleted_before))
            .fetch_all(&self.readers)
            .await?;
            rows.iter().map(|row| stored_id(ArticleId::parse, &row.try_get::<String, _>("id")?)).collect()
        })
    }

    async fn purge_article(&self, id: &ArticleId) -> Result<Vec<BlobKey>> {
        timed!("purge_article", async {
            let mut tx = self.begin_write().await?;
            // Claim the row: only a deleted article without hold may go.
            let claimed = sqlx::query(
                "UPDATE articles SET update_time_us = update_time_us \
                 WHERE id = $1 AND delete_time_us IS NOT NULL AND legal_hold = 0",
            )
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
            if claimed.rows_affected() == 0 {
                return Err(ArchiveError::new(
                    Reason::NotPurgeable,
                    format!("article {} is not deleted, is on hold, or does not exist", id.name()),
                ));
            }
            let keys: Vec<String> =
                sqlx::query_scalar("SELECT DISTINCT body_key FROM article_revisions WHERE article_id = $1")
                    .bind(id.as_str())
                    .fetch_all(&mut *tx)
                    .await?;
            for table in ["article_texts", "article_media", "article_keywords", "article_revisions"] {
                sqlx::query(AssertSqlSafe(format!("DELETE FROM {table} WHERE article_id = $1")))
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM articles WHERE id = $1").bind(id.as_str()).execute(&mut *tx).await?;
            self.commit_with(tx, &[Change::article_purged(id)]).await?;
            keys.iter().map(|key| stored_key(key)).collect()
        })
    }

    async fn restore_article(&self, export: &ArticleExport, text: &SearchText) -> Result<()> {
        timed!("restore_article", async {
            let mut tx = self.begin_write().await?;
            self.insert_head(&mut tx, &export.current).await?;
            for revision in &export.revisions {
                self.insert_revision(&mut tx, revision).await?;
            }
            self.replace_details(&mut tx, &export.current, text).await?;
            // Consumers of the feed (each replica's search index) learn of
            // it as of an article that appeared.
            self.commit_with(tx, &[Change::article(ChangeKind::ArticleCreated, &export.current)]).await
        })
    }
}
