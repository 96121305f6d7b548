//! Links between articles and clips in SQL: attaching a clip to an
//! article's reference and detaching it. Both lock the article row first
//! (PostgreSQL); attaching then share-locks the clip, the order deletion
//! takes them in too (`media.rs`).

use super::{
    Dialect, SqlMetadataStore,
    errors::{article_not_found, media_not_found, stored_id},
    timing::timed,
};
use crate::{
    error::{ArchiveError, Reason, Result},
    ids::{ArticleId, MediaId},
    metadata::{
        ArticleRecord, LinkStore,
        changes::{Change, ChangeKind},
    },
};
use async_trait::async_trait;
use sqlx::{Any, AssertSqlSafe};

fn under_hold(article: &ArticleId, what: &str) -> ArchiveError {
    ArchiveError::new(Reason::LegalHold, format!("article {} is under legal hold: {what}", article.name()))
}

impl SqlMetadataStore {
    /// Locks the article row (PostgreSQL) so concurrent link changes queue;
    /// NOT_FOUND unless the article is live. Returns its legal hold.
    async fn lock_live_article(&self, tx: &mut sqlx::Transaction<'static, Any>, article: &ArticleId) -> Result<bool> {
        let held: Option<i64> = sqlx::query_scalar(
            "UPDATE articles SET update_time_us = update_time_us WHERE id = $1 AND delete_time_us IS NULL \
             RETURNING legal_hold",
        )
        .bind(article.as_str())
        .fetch_optional(&mut **tx)
        .await?;
        held.map(|hold| hold != 0).ok_or_else(|| article_not_found(article))
    }
}

#[async_trait]
impl LinkStore for SqlMetadataStore {
    async fn attach_media(&self, article: &ArticleId, reference: &str, media: &MediaId) -> Result<ArticleRecord> {
        timed!("attach_media", async {
            let mut tx = self.begin_write().await?;
            let held = self.lock_live_article(&mut tx, article).await?;
            // Share-locks the clip (PostgreSQL) so that it cannot be deleted
            // until this link is committed (DeleteMedia then sees it).
            let lock = if self.dialect == Dialect::Postgres { " FOR KEY SHARE" } else { "" };
            let media_exists = sqlx::query(AssertSqlSafe(format!("SELECT 1 AS one FROM media WHERE id = $1{lock}")))
                .bind(media.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            if !media_exists {
                return Err(media_not_found(media));
            }
            if held {
                // Filling a reference is fine; replacing a held article's clip would free it for deletion.
                let replaces: Option<i64> = sqlx::query_scalar(
                    "SELECT 1 FROM article_media WHERE article_id = $1 AND reference = $2 \
                     AND media_id IS NOT NULL AND media_id <> $3",
                )
                .bind(article.as_str())
                .bind(reference)
                .bind(media.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                if replaces.is_some() {
                    return Err(under_hold(article, "its linked clips cannot be replaced"));
                }
            }
            let linked = sqlx::query("UPDATE article_media SET media_id = $1 WHERE article_id = $2 AND reference = $3")
                .bind(media.as_str())
                .bind(article.as_str())
                .bind(reference)
                .execute(&mut *tx)
                .await?;
            if linked.rows_affected() == 0 {
                sqlx::query(
                    "INSERT INTO article_media (article_id, position, reference, media_id, in_body) \
                     VALUES ($1, (SELECT COALESCE(MAX(position), -1) + 1 FROM article_media WHERE article_id = $2), $3, $4, 0)",
                )
                .bind(article.as_str())
                .bind(article.as_str())
                .bind(reference)
                .bind(media.as_str())
                .execute(&mut *tx)
                .await?;
            }
            self.commit_with(tx, &[Change::link(ChangeKind::MediaAttached, article, reference, media)]).await?;
            self.fetch_article(article).await
        })
    }

    async fn detach_media(&self, article: &ArticleId, reference: &str) -> Result<ArticleRecord> {
        timed!("detach_media", async {
            let mut tx = self.begin_write().await?;
            if self.lock_live_article(&mut tx, article).await? {
                return Err(under_hold(article, "its clips cannot be detached"));
            }
            let linked: Option<String> = sqlx::query_scalar(
                "SELECT media_id FROM article_media WHERE article_id = $1 AND reference = $2 AND media_id IS NOT NULL",
            )
            .bind(article.as_str())
            .bind(reference)
            .fetch_optional(&mut *tx)
            .await?;
            // An added reference goes; one the body names stays, without a clip.
            let mut unlinked = 0;
            for statement in [
                "DELETE FROM article_media WHERE article_id = $1 AND reference = $2 AND in_body = 0 AND media_id IS NOT NULL",
                "UPDATE article_media SET media_id = NULL WHERE article_id = $1 AND reference = $2 AND media_id IS NOT NULL",
            ] {
                let done = sqlx::query(statement).bind(article.as_str()).bind(reference).execute(&mut *tx).await?;
                unlinked += done.rows_affected();
            }
            if unlinked == 0 {
                return Err(ArchiveError::new(
                    Reason::ReferenceNotLinked,
                    format!("article {} links no clip at reference {reference:?}", article.name()),
                ));
            }
            let changes: Vec<Change> = linked
                .iter()
                .map(|media| {
                    let media = stored_id(MediaId::parse, media)?;
                    Ok(Change::link(ChangeKind::MediaDetached, article, reference, &media))
                })
                .collect::<Result<_>>()?;
            self.commit_with(tx, &changes).await?;
            self.fetch_article(article).await
        })
    }
}
