//! What the search index (`crate::search`) is built from: the current
//! revision of each live article with its links and its body, as
//! `article_texts` keeps it beside the article in the same transaction.

use super::{
    SqlMetadataStore,
    builder::{Arg, SqlBuilder},
    rows::article_from_row,
    timing::timed,
};
use crate::{
    error::Result,
    ids::ArticleId,
    metadata::{IndexedArticle, SearchSource, SearchText},
};
use async_trait::async_trait;
use sqlx::{Any, Row, Transaction, any::AnyRow};

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
        Ok(records.into_iter().zip(bodies).map(|(record, body)| IndexedArticle { record, body }).collect())
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
}
