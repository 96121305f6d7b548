//! What the search index (`crate::search`) is built from: the current
//! revision of each live article with its links and its body, as
//! `article_texts` keeps it beside the article in the same transaction,
//! and the words of the caption tracks of the clips it links.

use super::{
    SqlMetadataStore,
    builder::{Arg, SqlBuilder},
    captions::cues_from_json,
    errors::stored_id,
    rows::article_from_row,
    timing::timed,
};
use crate::{
    error::Result,
    ids::{ArticleId, MediaId},
    metadata::{ArticleRecord, ClipCaptions, IndexedArticle, SearchSource, SearchText},
};
use async_trait::async_trait;
use sqlx::{Any, Row, Transaction, any::AnyRow};
use std::collections::HashMap;

/// Columns of an indexed article: the article row and its body.
const INDEXED: &str = "SELECT a.*, COALESCE(t.body, '') AS search_body FROM articles a \
     LEFT JOIN article_texts t ON t.article_id = a.id WHERE a.delete_time_us IS NULL";

impl SqlMetadataStore {
    /// Keeps the article's current body for the search index.
    pub(super) async fn replace_text(
        &self,
        tx: &mut Transaction<'static, Any>,
        id: &str,
        text: &SearchText,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO article_texts (article_id, body) VALUES ($1, $2) \
             ON CONFLICT (article_id) DO UPDATE SET body = excluded.body",
        )
        .bind(id)
        .bind(&text.body)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn indexed(&self, rows: Vec<AnyRow>) -> Result<Vec<IndexedArticle>> {
        let mut bodies = Vec::with_capacity(rows.len());
        let mut records = Vec::with_capacity(rows.len());
        for row in &rows {
            records.push(article_from_row(row)?);
            bodies.push(row.try_get::<String, _>("search_body")?);
        }
        let records = self.with_links(records).await?;
        let mut captions = self.captions_of(&records).await?;
        Ok(records
            .into_iter()
            .zip(bodies)
            .map(|(record, body)| {
                let captions = captions.remove(&record.id).unwrap_or_default();
                IndexedArticle { record, body, captions }
            })
            .collect())
    }

    /// The caption words of the clips each of `records` links, by article.
    async fn captions_of(&self, records: &[ArticleRecord]) -> Result<HashMap<ArticleId, Vec<ClipCaptions>>> {
        if !records.iter().any(|record| record.media.iter().any(|link| link.media_id.is_some())) {
            return Ok(HashMap::new());
        }
        let mut sql = SqlBuilder::new(
            "SELECT DISTINCT m.article_id, t.media_id, t.track_id, t.language, t.cues FROM article_media m \
             JOIN caption_tracks t ON t.media_id = m.media_id WHERE m.article_id IN (",
        );
        for (i, record) in records.iter().enumerate() {
            sql.push(if i == 0 { "" } else { ", " }).bind(Arg::Text(record.id.as_str().to_owned()));
        }
        sql.push(") ORDER BY m.article_id, t.media_id, t.track_id");
        let mut captions: HashMap<ArticleId, Vec<ClipCaptions>> = HashMap::new();
        for row in sql.fetch_all(&self.readers).await? {
            let article = stored_id(ArticleId::parse, &row.try_get::<String, _>("article_id")?)?;
            captions.entry(article).or_default().push(ClipCaptions {
                media_id: stored_id(MediaId::parse, &row.try_get::<String, _>("media_id")?)?,
                track_id: row.try_get("track_id")?,
                language: row.try_get("language")?,
                cues: cues_from_json(&row.try_get::<String, _>("cues")?)?,
            });
        }
        Ok(captions)
    }
}

#[async_trait]
impl SearchSource for SqlMetadataStore {
    async fn indexable_articles(&self, after: Option<&ArticleId>, limit: u32) -> Result<Vec<IndexedArticle>> {
        timed!("indexable_articles", async {
            let sql = format!("{INDEXED} AND a.id > $1 ORDER BY a.id{}", super::builder::limit(limit));
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(after.map_or("", |id| id.as_str()))
                .fetch_all(&self.readers)
                .await?;
            self.indexed(rows).await
        })
    }

    async fn indexable_articles_by_id(&self, ids: &[ArticleId]) -> Result<Vec<IndexedArticle>> {
        timed!("indexable_articles_by_id", async {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let mut sql = SqlBuilder::new(&format!("{INDEXED} AND a.id IN ("));
            for (i, id) in ids.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.bind(Arg::Text(id.as_str().to_owned()));
            }
            sql.push(")");
            let rows = sql.fetch_all(&self.readers).await?;
            self.indexed(rows).await
        })
    }

    async fn articles_linking(&self, media: &[MediaId]) -> Result<Vec<ArticleId>> {
        timed!("articles_linking", async {
            if media.is_empty() {
                return Ok(Vec::new());
            }
            let mut sql = SqlBuilder::new("SELECT DISTINCT article_id FROM article_media WHERE media_id IN (");
            for (i, id) in media.iter().enumerate() {
                sql.push(if i == 0 { "" } else { ", " }).bind(Arg::Text(id.as_str().to_owned()));
            }
            sql.push(") ORDER BY article_id");
            let rows = sql.fetch_all(&self.readers).await?;
            rows.iter().map(|row| stored_id(ArticleId::parse, &row.try_get::<String, _>("article_id")?)).collect()
        })
    }
}
