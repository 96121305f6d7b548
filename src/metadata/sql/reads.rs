//! Article reads: one article (GetArticle's hot path), its revisions,
//! listings and exports.

use super::{
    SqlMetadataStore,
    builder::{Arg, SqlBuilder, limit, push_filters},
    errors::article_not_found,
    errors::stored_id,
    local::Rows,
    rows::{ArticlesWithLinks, LINK_COLUMNS, REVISION_COLUMNS, article_from_row, link_from_row},
    timing::timed,
};
use crate::error::Reason;
use crate::{
    error::{ArchiveError, Result},
    ids::ArticleId,
    metadata::{
        ArticleCursor, ArticleExport, ArticleQuery, ArticleReads, ArticleRecord, ListedArticle, ListedPage, MediaLink,
        MediaRecord,
    },
};
use async_trait::async_trait;
use sqlx::{Any, AssertSqlSafe, Executor, Row};

impl SqlMetadataStore {
    /// A live article and its links in one round trip: one row per link,
    /// or one row with no link. GetArticle's hot path.
    pub(super) async fn fetch_article(&self, id: &ArticleId) -> Result<ArticleRecord> {
        let mut sql = SqlBuilder::new(&format!(
            "SELECT a.*, {LINK_COLUMNS} FROM articles a LEFT JOIN article_media m ON m.article_id = a.id \
             WHERE a.id = "
        ));
        sql.bind(Arg::Text(id.as_str().to_owned())).push(" AND a.delete_time_us IS NULL ORDER BY m.position");
        self.articles_with_links(sql, Rows::Few).await?.pop().ok_or_else(|| article_not_found(id))
    }

    /// Articles with their links from `sql` (rows of `articles` joined to
    /// [`LINK_COLUMNS`]).
    async fn articles_with_links(&self, sql: SqlBuilder, rows: Rows) -> Result<Vec<ArticleRecord>> {
        let mut articles = ArticlesWithLinks::default();
        self.read(sql, rows, |row| articles.push(row)).await?;
        Ok(articles.articles)
    }

    /// Media links of several articles, in position order.
    pub(super) async fn load_links<'c>(
        executor: impl Executor<'c, Database = Any>,
        ids: &[&str],
    ) -> Result<Vec<(String, MediaLink)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = SqlBuilder::new(&format!(
            "SELECT m.article_id, {LINK_COLUMNS} FROM article_media m WHERE m.article_id IN ("
        ));
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(Arg::Text((*id).to_owned()));
        }
        sql.push(") ORDER BY m.article_id, m.position");
        let rows = sql.fetch_all(executor).await?;
        rows.iter()
            .filter_map(|row| match link_from_row(row) {
                Ok(link) => link.map(|link| row.try_get("article_id").map_err(ArchiveError::from).map(|id| (id, link))),
                Err(error) => Some(Err(error)),
            })
            .collect()
    }

    pub(super) async fn with_links(&self, mut articles: Vec<ArticleRecord>) -> Result<Vec<ArticleRecord>> {
        let ids: Vec<&str> = articles.iter().map(|a| a.id.as_str()).collect();
        let links = Self::load_links(&self.readers, &ids).await?;
        for article in &mut articles {
            article.media =
                links.iter().filter(|(id, _)| id == article.id.as_str()).map(|(_, link)| link.clone()).collect();
        }
        Ok(articles)
    }
}

#[async_trait]
impl ArticleReads for SqlMetadataStore {
    async fn get_article(&self, id: &ArticleId, revision: Option<i64>) -> Result<ArticleRecord> {
        timed!("get_article", async {
            let Some(revision) = revision else {
                return self.fetch_article(id).await;
            };
            let current = self.fetch_article(id).await?;
            let sql = format!(
                "SELECT {REVISION_COLUMNS} FROM article_revisions r JOIN articles a ON a.id = r.article_id \
                 WHERE r.article_id = $1 AND r.revision = $2"
            );
            let row = sqlx::query(AssertSqlSafe(sql))
                .bind(id.as_str())
                .bind(revision)
                .fetch_optional(&self.readers)
                .await?
                .ok_or_else(|| {
                    ArchiveError::new(
                        Reason::RevisionNotFound,
                        format!("article {} has no revision {revision}", id.name()),
                    )
                })?;
            Ok(ArticleRecord { media: current.media, ..article_from_row(&row)? })
        })
    }

    async fn list_revisions(
        &self,
        id: &ArticleId,
        before_revision: Option<i64>,
        limit_rows: u32,
    ) -> Result<Vec<ArticleRecord>> {
        timed!("list_revisions", async {
            let current = self.fetch_article(id).await?;
            let sql = format!(
                "SELECT {REVISION_COLUMNS} FROM article_revisions r JOIN articles a ON a.id = r.article_id \
                 WHERE r.article_id = $1 AND r.revision < $2 ORDER BY r.revision DESC{}",
                limit(limit_rows)
            );
            let rows = sqlx::query(AssertSqlSafe(sql))
                .bind(id.as_str())
                .bind(before_revision.unwrap_or(i64::MAX))
                .fetch_all(&self.readers)
                .await?;
            rows.iter()
                .map(|row| Ok(ArticleRecord { media: current.media.clone(), ..article_from_row(row)? }))
                .collect()
        })
    }

    async fn list_article_keys(&self, query: &ArticleQuery) -> Result<ListedPage> {
        timed!("list_article_keys", async {
            // One more than the page, to know whether another follows.
            let mut sql = SqlBuilder::new("SELECT a.id, a.revision, a.publish_time_us FROM articles a WHERE 1 = 1");
            push_filters(&mut sql, query);
            if let Some(after) = &query.after {
                sql.after_position("a.publish_time_us", "a.id", after.publish_time_micros, &after.id);
            }
            sql.push(" ORDER BY a.publish_time_us DESC, a.id DESC").limit(i64::from(query.page_size) + 1);
            let mut listed = Vec::with_capacity(query.page_size as usize + 1);
            self.read(sql, Rows::Scan, |row| {
                listed.push(ListedArticle {
                    id: stored_id(ArticleId::parse, &row.text("id")?)?,
                    revision: row.int("revision")?,
                    publish_time_micros: row.int("publish_time_us")?,
                });
                Ok(())
            })
            .await?;
            let next = if listed.len() > query.page_size as usize {
                listed.truncate(query.page_size as usize);
                listed.last().map(ArticleCursor::after_listed)
            } else {
                None
            };
            Ok(ListedPage { listed, next })
        })
    }

    async fn current_articles(&self, ids: &[ArticleId]) -> Result<Vec<ArticleRecord>> {
        timed!("current_articles", async {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let mut sql = SqlBuilder::new(&format!(
                "SELECT a.*, {LINK_COLUMNS} FROM articles a LEFT JOIN article_media m ON m.article_id = a.id \
                 WHERE a.delete_time_us IS NULL AND a.id IN ("
            ));
            for (i, id) in ids.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.bind(Arg::Text(id.as_str().to_owned()));
            }
            sql.push(") ORDER BY a.id, m.position");
            self.articles_with_links(sql, Rows::Few).await
        })
    }

    async fn export_article(&self, id: &ArticleId) -> Result<Option<ArticleExport>> {
        timed!("export_article", async {
            let Some(row) = sqlx::query("SELECT * FROM articles WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(&self.readers)
                .await?
            else {
                return Ok(None);
            };
            let current = self.with_links(vec![article_from_row(&row)?]).await?.remove(0);
            let sql = format!(
                "SELECT {REVISION_COLUMNS} FROM article_revisions r JOIN articles a ON a.id = r.article_id \
                 WHERE r.article_id = $1 ORDER BY r.revision"
            );
            let rows = sqlx::query(AssertSqlSafe(sql)).bind(id.as_str()).fetch_all(&self.readers).await?;
            let revisions = rows
                .iter()
                .map(|row| Ok(ArticleRecord { media: current.media.clone(), ..article_from_row(row)? }))
                .collect::<Result<Vec<_>>>()?;
            let mut media = Vec::new();
            for id in current.media.iter().filter_map(|link| link.media_id.as_ref()) {
                if !media.iter().any(|m: &MediaRecord| &m.id == id) {
                    media.push(self.media_record(id).await?);
                }
            }
            Ok(Some(ArticleExport { current, revisions, media }))
        })
    }
}
