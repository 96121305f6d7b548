//! What search reads, written beside each article: its text and, per
//! database, the index of its words and filter tokens.

use crate::{
    error::Result,
    metadata::{
        SearchText,
        sql::{Dialect, SqlMetadataStore, errors::db_error},
    },
};
use sqlx::{Any, Transaction};

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
        .await
        .map_err(db_error)?;
        if self.dialect == Dialect::Postgres {
            sqlx::query(
                "INSERT INTO article_search (article_id, live, vector, author) \
                 VALUES ($1, $2, to_tsvector('simple', $3 || COALESCE((SELECT string_agg(' keyword' \
                 || encode(convert_to(keyword, 'UTF8'), 'hex'), '') FROM article_keywords WHERE article_id = $1), \
                 '')), (SELECT author FROM articles WHERE id = $1)) \
                 ON CONFLICT (article_id) DO UPDATE SET live = excluded.live, vector = excluded.vector, \
                 author = excluded.author",
            )
            .bind(id)
            .bind(i64::from(live))
            .bind(&text.folded)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        }
        if self.dialect == Dialect::Sqlite {
            // FTS5 rows share the rowid of their article_texts row.
            let rowid: i64 = sqlx::query_scalar("SELECT rowid FROM article_texts WHERE article_id = $1")
                .bind(id)
                .fetch_one(&mut **tx)
                .await
                .map_err(db_error)?;
            sqlx::query("DELETE FROM article_fts WHERE rowid = $1")
                .bind(rowid)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
            // The filters' tokens, as migration 0009 derives them.
            sqlx::query(
                "INSERT INTO article_fts (rowid, folded, tags) SELECT $1, $2, \
                 CASE WHEN a.author = '' THEN '' ELSE 'author' || hex(a.author) END \
                 || COALESCE((SELECT group_concat(' keyword' || hex(k.keyword), '') FROM article_keywords k \
                 WHERE k.article_id = a.id), '') FROM articles a WHERE a.id = $3",
            )
            .bind(rowid)
            .bind(&text.folded)
            .bind(id)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        }
        Ok(())
    }
}
