//! What search reads, written beside each article: its text and, per
//! database, the index of its words and filter tokens. Both are stored as
//! the application derived them ([`SearchText`]); nothing here derives a
//! token.

use crate::{
    error::Result,
    metadata::{
        SearchText, TokenFormat,
        sql::{Dialect, SqlMetadataStore, rows::keywords_from_json},
    },
};
use sqlx::{Any, Row, Transaction};

/// Articles whose tokens one transaction of an upgrade derives again.
const UPGRADE_BATCH: i64 = 500;

impl SqlMetadataStore {
    pub(in crate::metadata::sql) async fn replace_text(
        &self,
        tx: &mut Transaction<'static, Any>,
        id: &str,
        text: &SearchText,
        live: bool,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO article_texts (article_id, body, folded) VALUES ($1, $2, $3) \
             ON CONFLICT (article_id) DO UPDATE SET body = excluded.body, folded = excluded.folded",
        )
        .bind(id)
        .bind(&text.body)
        .bind(&text.folded)
        .execute(&mut **tx)
        .await?;
        match self.dialect {
            Dialect::Postgres => {
                sqlx::query(
                    "INSERT INTO article_search (article_id, live, vector, author) \
                     VALUES ($1, $2, to_tsvector('simple', $3 || ' ' || $4), (SELECT author FROM articles WHERE id = $1)) \
                     ON CONFLICT (article_id) DO UPDATE SET live = excluded.live, vector = excluded.vector, \
                     author = excluded.author",
                )
                .bind(id)
                .bind(i64::from(live))
                .bind(&text.folded)
                .bind(&text.tags)
                .execute(&mut **tx)
                .await?;
            }
            Dialect::Sqlite => {
                // FTS5 rows share the rowid of their article_texts row.
                let rowid: i64 = sqlx::query_scalar("SELECT rowid FROM article_texts WHERE article_id = $1")
                    .bind(id)
                    .fetch_one(&mut **tx)
                    .await?;
                sqlx::query("DELETE FROM article_fts WHERE rowid = $1").bind(rowid).execute(&mut **tx).await?;
                sqlx::query("INSERT INTO article_fts (rowid, folded, tags) VALUES ($1, $2, $3)")
                    .bind(rowid)
                    .bind(&text.folded)
                    .bind(&text.tags)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Ok(())
    }

    /// Brings every article's filter tokens to `tokens.version`, derived by
    /// `tokens.derive` from its author and keywords, when the index holds an
    /// older format
    /// (migrations 0010 on SQLite, 0014 on PostgreSQL). In batches, each
    /// one transaction; an article changed meanwhile (another etag) was
    /// written with fresh tokens and is left alone. Interrupted, it starts
    /// over at the next open: rewriting a token is idempotent.
    pub async fn upgrade_search_tokens(&self, tokens: TokenFormat) -> Result<u64> {
        let TokenFormat { version: format, derive: tokens } = tokens;
        // NULL when the index is empty: nothing to bring forward.
        let stored: Option<i64> =
            sqlx::query_scalar("SELECT MIN(format) FROM search_tokens").fetch_one(&self.readers).await?;
        if stored.is_none_or(|stored| stored >= format) {
            return Ok(0);
        }
        tracing::info!(from = stored, to = format, "deriving every article's search tokens again");
        let rewrite = match self.dialect {
            Dialect::Sqlite => {
                "UPDATE article_fts SET tags = $1 WHERE rowid = (SELECT t.rowid FROM article_texts t \
                 JOIN articles a ON a.id = t.article_id WHERE t.article_id = $2 AND a.etag = $3)"
            }
            Dialect::Postgres => {
                "UPDATE article_search s SET vector = to_tsvector('simple', t.folded || ' ' || $1) \
                 FROM article_texts t, articles a \
                 WHERE s.article_id = $2 AND t.article_id = $2 AND a.id = $2 AND a.etag = $3"
            }
        };
        let (mut after, mut upgraded) = (String::new(), 0u64);
        loop {
            let rows =
                sqlx::query("SELECT id, author, keywords, etag FROM articles WHERE id > $1 ORDER BY id LIMIT $2")
                    .bind(&after)
                    .bind(UPGRADE_BATCH)
                    .fetch_all(&self.readers)
                    .await?;
            let Some(last) = rows.last() else { break };
            after = last.try_get("id")?;
            let mut tx = self.begin_write().await?;
            for row in &rows {
                let author: String = row.try_get("author")?;
                let keywords: Vec<String> = keywords_from_json(&row.try_get::<String, _>("keywords")?)?;
                sqlx::query(rewrite)
                    .bind(tokens(&author, &keywords))
                    .bind(row.try_get::<String, _>("id")?)
                    .bind(row.try_get::<String, _>("etag")?)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            upgraded += rows.len() as u64;
        }
        sqlx::query("UPDATE search_tokens SET format = $1 WHERE format < $1")
            .bind(format)
            .execute(&self.writer)
            .await?;
        tracing::info!(articles = upgraded, format, "search tokens derived again");
        Ok(upgraded)
    }
}
