//! Vietnamese search, with and without diacritics, and its index across upgrades.

use super::*;

async fn search_folds_vietnamese_both_ways(store: Arc<dyn MetadataStore>) {
    insert_corpus(&store).await;
    let hits = |query: &'static str, filters: ArticleQuery| {
        let store = store.clone();
        async move { search_ids(&store, query, filters).await }
    };
    let none = ArticleQuery::default;
    assert_eq!(hits("sinh hoat chi bo", none()).await, ["s1"]);
    assert_eq!(hits("sinh hoạt", none()).await, ["s1", "s4"]);
    assert_eq!(hits("Dang", none()).await, ["s1", "s3"], "keyword Đảng of s1, body of s3");
    assert_eq!(hits("duong", none()).await, ["s2"]);
    assert_eq!(hits("hòa", none()).await, hits("hoà", none()).await);
    assert_eq!(hits("hoa", none()).await, ["s2", "s3"]);
    assert_eq!(hits("thuý", none()).await, ["s4"]);
    assert_eq!(hits("thúy kieu", none()).await, ["s4"]);
    assert_eq!(hits("pham ngoc", none()).await, ["s1", "s3"], "author");
    assert_eq!(hits("van hoc", none()).await, ["s4"], "keywords");
    assert_eq!(hits("quy 4 2019", none()).await, ["s5"]);
    assert!(hits("không có từ này", none()).await.is_empty());
    assert_eq!(
        hits("Đảng", ArticleQuery { author: Some("Phạm Ngọc".into()), keyword: Some("Thái Bình".into()), ..none() })
            .await,
        ["s3"]
    );
    let late = ArticleQuery { publish_time_start: Some(time(1_569_838_859 + 2)), ..none() };
    assert_eq!(hits("dang", late).await, ["s3"]);

    // A new author and keywords: the filters follow them (PostgreSQL keeps
    // both beside the words).
    let s3 = store.get_article(&ArticleId::parse("s3").unwrap(), None).await.unwrap();
    let (_, _, _, _, body) = CORPUS.iter().find(|c| c.0 == "s3").unwrap();
    let mut renamed = s3.clone();
    assert_eq!(hits("Đảng", ArticleQuery { keyword: Some("Thái Bình".into()), ..none() }).await, ["s3"]);
    (renamed.revision, renamed.etag, renamed.author) = (2, "e2".into(), "Lê Thị Thuý".into());
    renamed.keywords = vec!["Xây dựng Đảng".into()];
    store.update_article(&s3.etag, &renamed, &search::indexed_text(&renamed, body.to_string())).await.unwrap();
    let by = |author: &str| ArticleQuery { author: Some(author.into()), ..none() };
    assert_eq!(hits("Đảng", by("Phạm Ngọc")).await, ["s1"]);
    assert_eq!(hits("Đảng", by("Lê Thị Thuý")).await, ["s3"]);
    let tagged = |keyword: &str| ArticleQuery { keyword: Some(keyword.into()), ..none() };
    assert!(hits("Đảng", tagged("Thái Bình")).await.is_empty(), "the old keyword is gone");
    assert_eq!(hits("Đảng", tagged("Xây dựng Đảng")).await, ["s3"]);
    assert_eq!(hits("Đảng", tagged("Đảng")).await, ["s1"]);

    // Ranked: best first, and pages follow one another.
    let query = |offset| search::query(search::tokens("sinh hoat"), ArticleQuery { page_size: 1, ..none() }, offset);
    let first = store.search_articles(&query(0)).await.unwrap();
    let second = store.search_articles(&query(1)).await.unwrap();
    assert_eq!((first.len(), second.len()), (1, 1));
    assert_ne!(first[0].article.id, second[0].article.id);
    assert!(first[0].score >= second[0].score);
    assert_eq!(first[0].body, CORPUS.iter().find(|c| c.0 == first[0].article.id.as_str()).unwrap().4, "body as stored");
}

/// Filtered search on the corpus finds what it finds on a fresh store.
async fn assert_filters_find(store: &Arc<dyn MetadataStore>) {
    let by = |author: Option<&str>, keyword: Option<&str>| ArticleQuery {
        author: author.map(Into::into),
        keyword: keyword.map(Into::into),
        ..Default::default()
    };
    assert_eq!(search_ids(store, "Đảng", by(Some("Phạm Ngọc"), Some("Thái Bình"))).await, ["s3"]);
    assert_eq!(search_ids(store, "Đảng", by(Some("Phạm Ngọc"), None)).await, ["s1", "s3"]);
    assert_eq!(search_ids(store, "Đảng", by(None, Some("Thái Bình"))).await, ["s3"]);
    assert_eq!(search_ids(store, "Đảng", by(None, Some("Đảng"))).await, ["s1"]);
    assert_eq!(search_ids(store, "sinh hoạt", ArticleQuery::default()).await, ["s1", "s4"]);
}

/// An SQLite archive whose index lacks the filter tokens, or holds them in
/// an older format: opening it derives every article's tokens again, and
/// filtered search finds what it found. Two such archives: one from before
/// migrations 0009 and 0010 (the words only), and one whose tokens are of
/// format 0 (here blanked, so only the derivation on open can bring them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_search_index_gains_filter_tokens_on_upgrade() {
    let (store, dir) = sqlite().await;
    insert_corpus(&store).await;
    assert_filters_find(&store).await;
    drop(store);

    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    let settings = MetadataSettings { url: url.clone(), max_connections: 4, ..Default::default() };
    let older = [
        // The index as migration 0002 made it.
        "DROP TABLE article_fts; \
         CREATE VIRTUAL TABLE article_fts USING fts5 (folded, tokenize = 'unicode61 remove_diacritics 0'); \
         INSERT INTO article_fts (rowid, folded) SELECT rowid, folded FROM article_texts; \
         DROP TABLE search_tokens; DELETE FROM _sqlx_migrations WHERE version IN (9, 10)",
        "UPDATE article_fts SET tags = ''; UPDATE search_tokens SET format = 0",
    ];
    for state in older {
        let mut db = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.unwrap();
        sqlx::raw_sql(state).execute(&mut db).await.unwrap();
        sqlx::Connection::close(db).await.unwrap();

        let store =
            metadata::open(&settings, archive::domain::search::FILTER_TOKENS).await.expect("opens and migrates");
        assert_filters_find(&store).await;
        let db = sqlx::SqlitePool::connect(&url).await.unwrap();
        assert_keyword_tokens("SELECT count(*) FROM article_fts WHERE article_fts MATCH 'tags : ' || $1", &db).await;
        let format: i64 = sqlx::query_scalar("SELECT format FROM search_tokens").fetch_one(&db).await.unwrap();
        assert_eq!(format, search::TOKENS_FORMAT);
    }
}

/// Every article's keyword tokens are in: as many rows hold a keyword's
/// token as articles of the corpus have the keyword. `count` takes the
/// token as `$1`.
async fn assert_keyword_tokens<DB: sqlx::Database>(count: &'static str, db: &sqlx::Pool<DB>)
where
    i64: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    String: sqlx::Type<DB> + for<'q> sqlx::Encode<'q, DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    for<'e> &'e sqlx::Pool<DB>: sqlx::Executor<'e, Database = DB>,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    for keyword in ["Thái Bình", "Đảng"] {
        let token = search::filter_tokens("", &[keyword.to_string()]);
        let tagged: i64 = sqlx::query_scalar(count).bind(token).fetch_one(db).await.unwrap();
        let expected = CORPUS.iter().filter(|c| c.3.contains(&keyword)).count() as i64;
        assert_eq!((keyword, tagged), (keyword, expected));
        assert!(expected > 0);
    }
}

/// The same on PostgreSQL: an archive from before migrations 0012 and 0014,
/// whose search vectors held the words only, and one whose tokens are of
/// format 0 (blanked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_search_vectors_gain_keyword_tokens_on_upgrade() {
    crate::skip_without!(POSTGRES);
    let url = common::fresh_postgres_url().await;
    let settings = MetadataSettings { url: url.clone(), max_connections: 4, ..Default::default() };
    let store = metadata::open(&settings, archive::domain::search::FILTER_TOKENS).await.expect("opens");
    insert_corpus(&store).await;
    assert_filters_find(&store).await;
    drop(store);

    let db = sqlx::PgPool::connect(&url).await.unwrap();
    let words_only = "UPDATE article_search s SET vector = to_tsvector('simple', t.folded) FROM article_texts t \
                      WHERE t.article_id = s.article_id";
    let older = [
        format!("{words_only}; DROP TABLE search_tokens; DELETE FROM _sqlx_migrations WHERE version IN (12, 14)"),
        format!("{words_only}; UPDATE search_tokens SET format = 0"),
    ];
    for state in older {
        sqlx::raw_sql(sqlx::AssertSqlSafe(state)).execute(&db).await.unwrap();
        let store =
            metadata::open(&settings, archive::domain::search::FILTER_TOKENS).await.expect("opens and migrates");
        assert_filters_find(&store).await;
        assert_keyword_tokens("SELECT count(*) FROM article_search WHERE vector @@ to_tsquery('simple', $1)", &db)
            .await;
        let format: i64 = sqlx::query_scalar("SELECT format FROM search_tokens").fetch_one(&db).await.unwrap();
        assert_eq!(format, search::TOKENS_FORMAT);
    }
}

on_every_database!(search_folds_vietnamese_both_ways,);
