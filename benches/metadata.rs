//! Metadata at scale: imports N synthetic Vietnamese articles (default
//! 100,000; `ARCHIVE_BENCH_ARTICLES`) into SQLite and into PostgreSQL through
//! the service's own import path (body object on the file system, metadata,
//! manifest), then prints, side by side: import rate, SearchArticles p50/p95
//! (with snippets; right after the import and again once PostgreSQL's
//! statistics have settled), ListArticles page p95, the background chores at that
//! scale (a view flush with nothing and with 1,000 articles pending, a sweep
//! of unreferenced objects checking every body).
//!
//! Run with the services the test command starts:
//! `ARCHIVE_TEST_RUNNER="cargo bench --bench metadata" scripts/test.sh`

mod corpus;

use archive::{
    app::Application,
    config::Settings,
    domain::{Archive, ArticleFields, ListArticles, SearchArticles},
    ids::ArticleId,
    search::Filters,
};
use chrono::DateTime;
use corpus::Corpus;
use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

const SEED: u64 = 20_191_030;
const IMPORT_TASKS: usize = 8;
const SEARCHES: usize = 400;
const LISTINGS: usize = 300;
/// Articles whose views the flush timing moves.
const VIEWED: usize = 1_000;

struct Figures {
    import_per_second: f64,
    search: Vec<Duration>,
    search_settled: Vec<Duration>,
    search_filtered: Vec<Duration>,
    search_by_keyword: Vec<Duration>,
    list: Vec<Duration>,
    hits_per_search: f64,
    flush_idle: Duration,
    flush_pending: Duration,
    sweep: Duration,
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

async fn open(metadata_url: String, dir: &std::path::Path) -> Archive {
    let mut settings = Settings::default();
    settings.server.grpc_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    settings.server.gateway_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    settings.server.admin_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    settings.storage.url = format!("file://{}", dir.join("blobs").display());
    settings.metadata.url = metadata_url;
    settings.metadata.max_connections = 16;
    settings.gateway.key_file = dir.join("gateway.key").display().to_string();
    settings.search.index_dir = dir.join("search").display().to_string();
    Application::build(settings).await.expect("opens").archive().clone()
}

/// Imports `articles`; returns the rate and the ids of some of them.
async fn import(archive: &Archive, articles: usize) -> (f64, Vec<ArticleId>) {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..IMPORT_TASKS {
        let archive = archive.clone();
        tasks.spawn(async move {
            // Each task draws its own share from its own seeded stream.
            let mut corpus = Corpus::new(SEED + task as u64);
            let mut ids = Vec::new();
            for _ in (task..articles).step_by(IMPORT_TASKS) {
                let a = corpus.next_article();
                let fields = ArticleFields {
                    title: a.title,
                    body: a.body,
                    author: a.author,
                    keywords: a.keywords,
                    publish_time: DateTime::from_timestamp(a.publish_seconds, 0),
                    publish_utc_offset_seconds: 7 * 3600,
                    view_count: a.view_count,
                };
                let (record, _) = archive.create_article(fields, "", "").await.expect("imports");
                if ids.len() < VIEWED / IMPORT_TASKS {
                    ids.push(record.id);
                }
            }
            ids
        });
    }
    let mut ids = Vec::new();
    while let Some(done) = tasks.join_next().await {
        ids.extend(done.expect("import task"));
    }
    (articles as f64 / started.elapsed().as_secs_f64(), ids)
}

/// How long `chore` takes, once.
async fn time<T>(chore: impl Future<Output = T>) -> Duration {
    let started = Instant::now();
    chore.await;
    started.elapsed()
}

/// The background chores at this scale: view flushes and a sweep.
async fn chores(archive: &Archive, viewed: &[ArticleId]) -> (Duration, Duration, Duration) {
    let flush_idle = time(async { assert_eq!(archive.flush_views().await.expect("flushes"), 0) }).await;
    for id in viewed {
        archive.record_views(id, 3).await.expect("records views");
    }
    let flush_pending = time(async { assert_eq!(archive.flush_views().await.expect("flushes"), viewed.len()) }).await;
    // No grace: every body is checked against the database; none goes.
    let sweep = time(async {
        let report = archive.sweep_unreferenced(Duration::ZERO).await.expect("sweeps");
        assert_eq!(report.deleted, 0, "{report:?}");
    })
    .await;
    (flush_idle, flush_pending, sweep)
}

/// What autovacuum does after a bulk import on PostgreSQL: `VACUUM ANALYZE`.
/// SQLite keeps no planner statistics unless told to, and archived does not.
async fn settle(metadata_url: &str) {
    use sqlx::{Connection, Executor};
    if metadata_url.starts_with("postgres") {
        let mut connection = sqlx::PgConnection::connect(metadata_url).await.expect("PostgreSQL answers");
        connection.execute("VACUUM ANALYZE").await.expect("vacuums");
    }
}

/// How long one search takes.
async fn timed_search(archive: &Archive, request: &SearchArticles) -> Duration {
    let started = Instant::now();
    archive.search_articles(request).await.expect("searches");
    started.elapsed()
}

async fn measure(archive: &Archive, articles: usize, metadata_url: &str) -> Figures {
    let (import_per_second, viewed) = import(archive, articles).await;
    let mut queries = Corpus::new(SEED ^ 0xfeed);
    let mut search = Vec::with_capacity(SEARCHES);
    let mut hits = 0usize;
    for _ in 0..SEARCHES {
        let request = SearchArticles { query: queries.next_query(), page_size: 20, ..Default::default() };
        let started = Instant::now();
        let page = archive.search_articles(&request).await.expect("searches");
        search.push(started.elapsed());
        hits += page.results.len();
    }
    // The same searches again once the planner's statistics have caught up
    // with the bulk import, as autovacuum does within a minute on PostgreSQL.
    settle(metadata_url).await;
    let mut queries_again = Corpus::new(SEED ^ 0xfeed);
    let mut search_settled = Vec::with_capacity(SEARCHES);
    for _ in 0..SEARCHES {
        let request = SearchArticles { query: queries_again.next_query(), page_size: 20, ..Default::default() };
        search_settled.push(timed_search(archive, &request).await);
    }
    let mut search_filtered = Vec::with_capacity(SEARCHES / 2);
    for _ in 0..SEARCHES / 2 {
        let filters = Filters { authors: vec![queries.author()], ..Default::default() };
        let request = SearchArticles { query: queries.next_query(), page_size: 20, filters, ..Default::default() };
        search_filtered.push(timed_search(archive, &request).await);
    }
    let mut search_by_keyword = Vec::with_capacity(SEARCHES / 2);
    for _ in 0..SEARCHES / 2 {
        let filters = Filters { keywords: vec![queries.keyword()], ..Default::default() };
        let request = SearchArticles { query: queries.next_query(), page_size: 20, filters, ..Default::default() };
        search_by_keyword.push(timed_search(archive, &request).await);
    }
    let mut list = Vec::with_capacity(LISTINGS);
    for round in 0..LISTINGS {
        let mut request = match round % 3 {
            0 => ListArticles::default(),
            1 => ListArticles { author: queries.author(), ..Default::default() },
            _ => ListArticles { keyword: queries.keyword(), ..Default::default() },
        };
        request.page_size = 50;
        // The first page and four more by token.
        for _ in 0..5 {
            let started = Instant::now();
            let (_, token) = archive.list_articles(&request).await.expect("lists");
            list.push(started.elapsed());
            if token.is_empty() {
                break;
            }
            request.page_token = token;
        }
    }
    let (flush_idle, flush_pending, sweep) = chores(archive, &viewed).await;
    Figures {
        import_per_second,
        search,
        search_settled,
        search_filtered,
        search_by_keyword,
        list,
        hits_per_search: hits as f64 / SEARCHES as f64,
        flush_idle,
        flush_pending,
        sweep,
    }
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let articles: usize = std::env::var("ARCHIVE_BENCH_ARTICLES").ok().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let mut columns = Vec::new();

    // `ARCHIVE_BENCH_DATABASES=postgres` (or `sqlite`) runs one of them only.
    let only = std::env::var("ARCHIVE_BENCH_DATABASES").unwrap_or_default();
    let sqlite_dir = tempfile::tempdir().expect("temp dir");
    if only.is_empty() || only == "sqlite" {
        let sqlite_url = format!("sqlite://{}", sqlite_dir.path().join("bench.db").display());
        eprintln!("importing {articles} articles into SQLite…");
        let archive = open(sqlite_url.clone(), sqlite_dir.path()).await;
        columns.push(("SQLite", measure(&archive, articles, &sqlite_url).await));
    }

    match std::env::var("ARCHIVE_TEST_POSTGRES_URL") {
        Ok(_) if only == "sqlite" => {}
        Ok(server) => {
            use sqlx::{Connection, Executor};
            let mut admin = sqlx::PgConnection::connect(&server).await.expect("PostgreSQL answers");
            admin.execute("DROP DATABASE IF EXISTS archive_bench").await.expect("drop");
            admin.execute("CREATE DATABASE archive_bench").await.expect("create");
            let url = format!("{}/archive_bench", server.rsplit_once('/').expect("database in URL").0);
            let pg_dir = tempfile::tempdir().expect("temp dir");
            eprintln!("importing {articles} articles into PostgreSQL…");
            let archive = open(url.clone(), pg_dir.path()).await;
            columns.push(("PostgreSQL", measure(&archive, articles, &url).await));
        }
        Err(_) => eprintln!("ARCHIVE_TEST_POSTGRES_URL unset: PostgreSQL skipped (run through scripts/test.sh)"),
    }

    println!("\nmetadata benchmark, {articles} synthetic articles (seed {SEED}), 2 cores");
    print!("{:<34}", "");
    for (name, _) in &columns {
        print!("{name:>14}");
    }
    println!();
    type Row = (&'static str, fn(&mut Figures) -> String);
    let rows: [Row; 14] = [
        ("import (articles/s, 8 tasks)", |f| format!("{:.0}", f.import_per_second)),
        ("search p50, right after import", |f| ms(percentile(&mut f.search, 0.50))),
        ("search p95, right after import", |f| ms(percentile(&mut f.search, 0.95))),
        ("search max", |f| ms(percentile(&mut f.search, 1.0))),
        ("search p50, statistics settled", |f| ms(percentile(&mut f.search_settled, 0.50))),
        ("search p95, statistics settled", |f| ms(percentile(&mut f.search_settled, 0.95))),
        ("search + author filter p95", |f| ms(percentile(&mut f.search_filtered, 0.95))),
        ("search + keyword filter p95", |f| ms(percentile(&mut f.search_by_keyword, 0.95))),
        ("results per search (of 20)", |f| format!("{:.1}", f.hits_per_search)),
        ("list page (50) p50", |f| ms(percentile(&mut f.list, 0.50))),
        ("list page (50) p95", |f| ms(percentile(&mut f.list, 0.95))),
        ("view flush, nothing pending", |f| ms(f.flush_idle)),
        ("view flush, 1,000 articles", |f| ms(f.flush_pending)),
        ("sweep, every body checked", |f| ms(f.sweep)),
    ];
    for (label, value) in rows {
        print!("{label:<34}");
        for (_, figures) in &mut columns {
            print!("{:>14}", value(figures));
        }
        println!();
    }
}
