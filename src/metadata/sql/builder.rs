//! Statements built piece by piece, with `$N` placeholders.
//!
//! Not `sqlx::QueryBuilder`: through the `Any` driver it writes `?`
//! placeholders whatever the database, which PostgreSQL rejects
//! (transact-rs/sqlx#3000, open in sqlx 0.9), and this store runs one set
//! of statements on both databases.

use super::rows::micros;
use crate::{error::Result, metadata::ArticleQuery};
use sqlx::{Any, AssertSqlSafe, Executor, any::AnyRow};

/// SQL with `$N` placeholders built up piece by piece.
#[derive(Default)]
pub(super) struct SqlBuilder {
    sql: String,
    args: Vec<Arg>,
}

pub(super) enum Arg {
    Int(i64),
    Text(String),
}

impl rusqlite::ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Arg::Int(value) => value.to_sql(),
            Arg::Text(value) => value.to_sql(),
        }
    }
}

impl SqlBuilder {
    pub(super) fn new(sql: &str) -> Self {
        Self { sql: sql.to_owned(), args: Vec::new() }
    }

    pub(super) fn sql(&self) -> &str {
        &self.sql
    }

    pub(super) fn args(&self) -> &[Arg] {
        &self.args
    }

    pub(super) fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    pub(super) fn bind(&mut self, arg: Arg) -> &mut Self {
        self.args.push(arg);
        self.sql.push_str(&format!("${}", self.args.len()));
        self
    }

    /// ` LIMIT rows` ([`limit`]).
    pub(super) fn limit(&mut self, rows: impl Into<i64>) -> &mut Self {
        self.push(&limit(rows))
    }

    /// ` IN (…)` the exact filter `value` in each of its normal forms
    /// ([`crate::format::forms::equivalent_forms`]).
    pub(super) fn any_form_of(&mut self, value: &str) -> &mut Self {
        for (i, form) in crate::format::forms::equivalent_forms(value).into_iter().enumerate() {
            self.push(if i == 0 { " IN (" } else { ", " }).bind(Arg::Text(form));
        }
        self.push(")")
    }

    /// `AND` the rows after a keyset position in a listing ordered by
    /// `time_column DESC, id_column DESC`, written so that both databases
    /// bound the index range with it.
    pub(super) fn after_position(&mut self, time_column: &str, id_column: &str, time: i64, id: &str) -> &mut Self {
        self.push(&format!(" AND {time_column} <= "))
            .bind(Arg::Int(time))
            .push(&format!(" AND ({time_column} < "))
            .bind(Arg::Int(time))
            .push(&format!(" OR {id_column} < "))
            .bind(Arg::Text(id.to_owned()))
            .push(")")
    }

    fn build(self) -> sqlx::query::Query<'static, Any, <Any as sqlx::Database>::Arguments> {
        let mut query = sqlx::query::<Any>(AssertSqlSafe(self.sql));
        for arg in self.args {
            query = match arg {
                Arg::Int(value) => query.bind(value),
                Arg::Text(value) => query.bind(value),
            };
        }
        query
    }

    pub(super) async fn fetch_all<'c>(self, executor: impl Executor<'c, Database = Any>) -> Result<Vec<AnyRow>> {
        Ok(self.build().fetch_all(executor).await?)
    }

    pub(super) async fn fetch_optional<'c>(
        self,
        executor: impl Executor<'c, Database = Any>,
    ) -> Result<Option<AnyRow>> {
        Ok(self.build().fetch_optional(executor).await?)
    }

    pub(super) async fn execute<'c>(self, executor: impl Executor<'c, Database = Any>) -> Result<()> {
        self.build().execute(executor).await?;
        Ok(())
    }
}

/// ` LIMIT rows`, written into the statement, never bound: SQLite reads a
/// bound LIMIT while planning and then marks the statement to be planned
/// again whenever that parameter is bound, which sqlx does on every
/// execution: each call parsed and planned its statement anew (~15% of
/// ListArticles' CPU). A literal keeps the cached plan; the few distinct
/// values stay within sqlx's statement cache.
pub(super) fn limit(rows: impl Into<i64>) -> String {
    format!(" LIMIT {}", rows.into())
}

/// The filters shared by listing and search, on table alias `a`.
pub(super) fn push_filters(sql: &mut SqlBuilder, query: &ArticleQuery) {
    sql.push(" AND a.delete_time_us IS NULL");
    if let Some(start) = &query.publish_time_start {
        sql.push(" AND a.publish_time_us >= ").bind(Arg::Int(micros(start)));
    }
    if let Some(end) = &query.publish_time_end {
        sql.push(" AND a.publish_time_us < ").bind(Arg::Int(micros(end)));
    }
    if let Some(author) = &query.author {
        sql.push(" AND a.author");
        sql.any_form_of(author);
    }
    if let Some(keyword) = &query.keyword {
        sql.push(" AND EXISTS (SELECT 1 FROM article_keywords k WHERE k.article_id = a.id AND k.keyword");
        sql.any_form_of(keyword).push(")");
    }
}
