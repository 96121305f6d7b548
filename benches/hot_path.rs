//! The hot path from outside: a release `archived` in its own process,
//! driven over loopback by a tonic load client, on the embedded default
//! (SQLite + file system) and on PostgreSQL + SeaweedFS. Every figure is
//! printed beside a baseline measured on the same server in the same run,
//! medians of several rounds, in one table:
//!
//! - GetArticle (basic and full view) at 1, 16 and 64 concurrent callers
//!   against grpc.health Check (the transport's own limit), with the
//!   article cache warm and on a second archived over the same store with
//!   it off (every call a miss), and the warm server's hit rate;
//! - ListArticles (page of 50) and SearchArticles at 1 and 16 callers over the
//!   seeded corpus, against Check at the same number of callers;
//! - time to the first byte of a clip through ReadMedia and through the
//!   gateway, against a direct read of the same stored object; GetMedia at
//!   16 callers;
//! - on PostgreSQL, two replicas: how long after an update answers on one
//!   the other serves the new revision (`staleness`);
//! - cold start to SERVING on an empty store and with the corpus stored,
//!   each attempt on a fresh connection.
//!
//! `scripts/bench.sh [--quick] [--articles N]` starts the services and runs
//! it; see BENCHMARKS.md. `--profile ROW` drives one row alone for a
//! profiler instead (`perf record -p PID`, the pid printed).

#[path = "../tests/it/common/mod.rs"]
mod common;
#[allow(dead_code)] // the view counts are the metadata bench's
mod corpus;
mod load;
#[path = "hot_path/staleness.rs"]
mod staleness;

use archive::proto::v1::{
    self as pb, article_service_client::ArticleServiceClient, media_service_client::MediaServiceClient,
    metadata_service_client::MetadataServiceClient,
};
use clap::Parser;
use futures::StreamExt;
use load::{Budget, Figures};
use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use tempfile::TempDir;
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

const SEED: u64 = 20_260_101;
const CALLERS: [usize; 3] = [1, 16, 64];
/// ListArticles and SearchArticles run at these: one caller for a single
/// call's latency, 16 for a loaded server.
const CORPUS_CALLERS: [usize; 2] = [1, 16];
const IMPORT_CALLERS: usize = 16;
/// Distinct article names the GetArticle rows cycle through.
const SAMPLED_NAMES: usize = 10_000;
const SEARCH_QUERIES: usize = 500;
const MIB: u64 = 1024 * 1024;
/// Pause between first-byte samples (see `first_byte_rows`).
const FIRST_BYTE_SETTLE: Duration = Duration::from_millis(200);

#[derive(Parser, Debug)]
#[command(about = "archived's hot path from outside, each figure against its baseline")]
struct Args {
    /// Fewer articles, a smaller clip, fewer and shorter rounds (minutes, not tens of minutes).
    #[arg(long)]
    quick: bool,
    /// Articles in the corpus (default 100,000; 5,000 with --quick).
    #[arg(long)]
    articles: Option<usize>,
    /// Databases to run on.
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
    databases: Vec<Database>,
    /// Clip size for the first-byte rows, MiB (default 1024; 64 with --quick).
    #[arg(long)]
    clip_mib: Option<u64>,
    /// Drive this one row at 16 callers for 60 s after the import, for a
    /// profiler attached to the pid it prints; no table.
    #[arg(long)]
    profile: Option<Profiled>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
enum Database {
    Sqlite,
    Postgres,
}

/// A row `--profile` can drive alone.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
enum Profiled {
    Check,
    Basic,
    Full,
    BasicCold,
    List,
    Search,
}

impl Database {
    fn label(self) -> &'static str {
        match self {
            Database::Sqlite => "SQLite + fs",
            Database::Postgres => "PostgreSQL + S3",
        }
    }
}

struct Plan {
    profile: Option<Profiled>,
    articles: usize,
    clip_bytes: u64,
    rounds: usize,
    budget: Budget,
    cold_starts: usize,
    first_bytes: usize,
    staleness_samples: usize,
}

impl Plan {
    fn from(args: &Args) -> Self {
        let quick = args.quick;
        Self {
            profile: args.profile,
            articles: args.articles.unwrap_or(if quick { 5_000 } else { 100_000 }),
            clip_bytes: args.clip_mib.unwrap_or(if quick { 64 } else { 1024 }) * MIB,
            rounds: if quick { 3 } else { 5 },
            budget: Budget {
                requests: if quick { 50_000 } else { 200_000 },
                time: Duration::from_millis(if quick { 1_000 } else { 3_000 }),
            },
            cold_starts: if quick { 3 } else { 5 },
            first_bytes: if quick { 10 } else { 20 },
            staleness_samples: if quick { 50 } else { 200 },
        }
    }
}

// ------------------------------------------------------------------ table

/// One line of the table: a figure beside the baseline it is measured against.
struct Line {
    measurement: String,
    database: Database,
    figure: String,
    baseline: String,
    ratio: String,
}

fn ms(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1000.0)
}

fn ratio(value: f64, baseline: f64) -> String {
    format!("{:.2}", value / baseline)
}

fn load_figures(figures: &Figures) -> String {
    format!("{:.0}/s · {} · {} · {} ms", figures.calls_per_second, ms(figures.p50), ms(figures.p95), ms(figures.p99))
}

fn load_line(measurement: String, database: Database, figures: &Figures, baseline: &Figures) -> Line {
    Line {
        measurement,
        database,
        figure: load_figures(figures),
        baseline: format!("Check {}", load_figures(baseline)),
        ratio: format!(
            "{} · {} · {} · {}",
            ratio(figures.calls_per_second, baseline.calls_per_second),
            ratio(figures.p50.as_secs_f64(), baseline.p50.as_secs_f64()),
            ratio(figures.p95.as_secs_f64(), baseline.p95.as_secs_f64()),
            ratio(figures.p99.as_secs_f64(), baseline.p99.as_secs_f64()),
        ),
    }
}

fn table_line(line: &Line) -> String {
    format!(
        "| {} | {} | {} | {} | {} |",
        line.measurement,
        line.database.label(),
        line.figure,
        line.baseline,
        line.ratio
    )
}

fn print_table(lines: &[Line]) {
    println!();
    println!("| measurement | database | figure | baseline | ratio |");
    println!("| --- | --- | --- | --- | --- |");
    for line in lines {
        println!("{}", table_line(line));
    }
    println!();
    println!(
        "Load rows: calls/s · p50 · p95 · p99 (ratios in the same order; calls/s above 1 is faster, times below 1)."
    );
}

// ------------------------------------------------------------------ archived

/// A release `archived` on fixed loopback ports, killed on drop.
struct Archived {
    child: Child,
    grpc: String,
    gateway: String,
    admin: String,
}

impl Archived {
    /// The article cache's hits and misses so far, from its metrics.
    async fn article_cache_lookups(&self) -> (f64, f64) {
        let metrics =
            reqwest::get(format!("{}/metrics", self.admin)).await.expect("metrics").text().await.expect("text");
        let count = |result: &str| {
            metrics
                .lines()
                .filter(|line| line.starts_with("archive_article_cache_lookups_total") && line.contains(result))
                .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>()
        };
        (count("\"hit\""), count("\"miss\""))
    }
}

impl Drop for Archived {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).expect("a free port").port()
}

/// Where one database's archived keeps its state, and how it is started.
struct Site {
    database: Database,
    dir: TempDir,
    env: Vec<(String, String)>,
}

impl Site {
    /// A fresh, empty store: a new directory (the embedded default keeps
    /// everything under `./data`), or a new PostgreSQL database on the shared
    /// SeaweedFS bucket.
    async fn fresh(database: Database) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let env = match database {
            Database::Sqlite => Vec::new(),
            Database::Postgres => common::production_config(dir.path(), "").await,
        };
        Self { database, dir, env }
    }

    /// Starts archived here and waits until it answers SERVING; returns it
    /// and the time from spawn to SERVING.
    async fn start(&self) -> (Archived, Duration) {
        self.start_with(&[]).await
    }

    /// The setting that gives a second replica on this site its own copy of
    /// the search index (one per replica): a copy of the idle index resumes
    /// where it stood instead of a rebuild loading the cores during the rows.
    fn copied_index(&self, name: &str) -> (&'static str, String) {
        let (from, to) = (self.dir.path().join("data/search"), self.dir.path().join(format!("data/search-{name}")));
        let copied = Command::new("cp").arg("-a").arg(&from).arg(&to).status().expect("cp runs");
        assert!(copied.success(), "copies {from:?} to {to:?}");
        ("ARCHIVE__SEARCH__INDEX_DIR", to.display().to_string())
    }

    /// [`Site::start`] with settings of its own (environment variables).
    async fn start_with(&self, settings: &[(&str, &str)]) -> (Archived, Duration) {
        let (grpc_port, gateway_port, admin_port) = (free_port(), free_port(), free_port());
        let spawned = Instant::now();
        // ARCHIVE_BENCH_ARCHIVED: another build (a baseline) to measure.
        let binary = std::env::var_os("ARCHIVE_BENCH_ARCHIVED").unwrap_or(env!("CARGO_BIN_EXE_archived").into());
        let child = Command::new(binary)
            .current_dir(self.dir.path())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .envs(settings.iter().copied())
            .env("ARCHIVE__SERVER__GRPC_ADDR", format!("127.0.0.1:{grpc_port}"))
            .env("ARCHIVE__SERVER__GATEWAY_ADDR", format!("127.0.0.1:{gateway_port}"))
            .env("ARCHIVE__SERVER__ADMIN_ADDR", format!("127.0.0.1:{admin_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("archived starts");
        let archived = Archived {
            child,
            grpc: format!("http://127.0.0.1:{grpc_port}"),
            gateway: format!("http://127.0.0.1:{gateway_port}"),
            admin: format!("http://127.0.0.1:{admin_port}"),
        };
        let took = wait_serving(&archived.grpc, spawned).await;
        (archived, took)
    }
}

/// Polls grpc.health on a fresh connection per attempt (a reused channel
/// backs off ~1 s after a refused connection) until it answers SERVING.
async fn wait_serving(url: &str, spawned: Instant) -> Duration {
    let endpoint = Channel::from_shared(url.to_owned()).expect("url").connect_timeout(Duration::from_millis(200));
    loop {
        assert!(spawned.elapsed() < Duration::from_secs(120), "archived not SERVING after 120 s");
        if let Ok(channel) = endpoint.connect().await {
            let answer = HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await;
            if answer.is_ok_and(|answer| answer.into_inner().status == ServingStatus::Serving as i32) {
                return spawned.elapsed();
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

// ------------------------------------------------------------------ corpus

/// Creates `articles` synthetic articles over gRPC; returns the rate and a
/// sample of their names.
async fn import(url: &str, articles: usize) -> (f64, Vec<String>) {
    let channels = load::connect(url, load::connections_for(IMPORT_CALLERS)).await;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for caller in 0..IMPORT_CALLERS {
        let mut client = ArticleServiceClient::new(channels[caller % channels.len()].clone());
        tasks.spawn(async move {
            // Each caller draws its own share from its own seeded stream.
            let mut corpus = corpus::Corpus::new(SEED + caller as u64);
            let mut names = Vec::new();
            for _ in (caller..articles).step_by(IMPORT_CALLERS) {
                let a = corpus.next_article();
                let article = pb::Article {
                    title: a.title,
                    body: a.body,
                    author: a.author,
                    keywords: a.keywords,
                    publish_time: Some(pbjson_types::Timestamp { seconds: a.publish_seconds, nanos: 0 }),
                    publish_utc_offset_seconds: 7 * 3600,
                    ..Default::default()
                };
                let request = pb::CreateArticleRequest { article: Some(article), ..Default::default() };
                let created = client.create_article(request).await.expect("creates").into_inner();
                if names.len() < SAMPLED_NAMES / IMPORT_CALLERS {
                    names.push(created.article.expect("article").name);
                }
            }
            names
        });
    }
    let mut names = Vec::new();
    while let Some(done) = tasks.join_next().await {
        names.extend(done.expect("import task"));
    }
    if started.elapsed() > Duration::from_secs(30) {
        eprintln!("  imported {articles} articles in {:.0} s", started.elapsed().as_secs_f64());
    }
    (articles as f64 / started.elapsed().as_secs_f64(), names)
}

// ------------------------------------------------------------------ the rows

async fn check(channel: Channel, _: u64) -> Result<(), tonic::Status> {
    HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await.map(drop)
}

fn get_article(names: &[String], view: pb::ArticleView) -> impl Fn(Channel, u64) -> CallFuture + Clone + use<> {
    let names: std::sync::Arc<[String]> = names.into();
    move |channel, number| {
        let request = pb::GetArticleRequest {
            name: names[number as usize % names.len()].clone(),
            view: view.into(),
            revision: 0,
        };
        Box::pin(async move { ArticleServiceClient::new(channel).get_article(request).await.map(drop) })
    }
}
type CallFuture = std::pin::Pin<Box<dyn Future<Output = Result<(), tonic::Status>> + Send>>;

fn list_articles(authors: &[String], keywords: &[String]) -> impl Fn(Channel, u64) -> CallFuture + Clone + use<> {
    let (authors, keywords): (std::sync::Arc<[String]>, std::sync::Arc<[String]>) = (authors.into(), keywords.into());
    move |channel, number| {
        let index = number as usize;
        // One listing in three unfiltered, one by author, one by keyword.
        let mut request = pb::ListArticlesRequest { page_size: 50, ..Default::default() };
        match index % 3 {
            0 => {}
            1 => request.author = authors[index % authors.len()].clone(),
            _ => request.keyword = keywords[index % keywords.len()].clone(),
        }
        Box::pin(async move { MetadataServiceClient::new(channel).list_articles(request).await.map(drop) })
    }
}

fn search_articles(queries: &[String]) -> impl Fn(Channel, u64) -> CallFuture + Clone + use<> {
    let queries: std::sync::Arc<[String]> = queries.into();
    move |channel, number| {
        let request = pb::SearchArticlesRequest {
            query: queries[number as usize % queries.len()].clone(),
            page_size: 20,
            ..Default::default()
        };
        Box::pin(async move { MetadataServiceClient::new(channel).search_articles(request).await.map(drop) })
    }
}

/// The setting that turns the article cache off: every GetArticle a miss.
const CACHE_OFF: (&str, &str) = ("ARCHIVE__METADATA__ARTICLE_CACHE_BYTES", "0");

/// The unary rows: on `warm` (the article cache on, warmed first) and on
/// `cold` (same store, the cache off), each against Check on `warm`.
async fn unary_rows(
    plan: &Plan,
    database: Database,
    (warm, cold): (&Archived, &Archived),
    names: &[String],
    lines: &mut Vec<Line>,
) {
    let calls = Calls::new(names);
    let (hits_before, misses_before) = warm.article_cache_lookups().await;
    for callers in CALLERS {
        let channels = load::connect(&warm.grpc, load::connections_for(callers)).await;
        let cold_channels = load::connect(&cold.grpc, load::connections_for(callers)).await;
        // Warm every connection and cache, then alternate the calls round by
        // round so that drift on the machine is shared.
        load::run(&channels, callers, short(plan.budget), check).await;
        load::run(&channels, callers, short(plan.budget), drive(&calls.full)).await;
        load::run(&cold_channels, callers, short(plan.budget), drive(&calls.full)).await;
        let mut rounds: [Vec<load::Round>; 7] = Default::default();
        let [checks, basics, fulls, basics_cold, fulls_cold, lists, searches] = &mut rounds;
        for _ in 0..plan.rounds {
            checks.push(load::run(&channels, callers, plan.budget, check).await);
            basics.push(load::run(&channels, callers, plan.budget, drive(&calls.basic)).await);
            fulls.push(load::run(&channels, callers, plan.budget, drive(&calls.full)).await);
            basics_cold.push(load::run(&cold_channels, callers, plan.budget, drive(&calls.basic)).await);
            fulls_cold.push(load::run(&cold_channels, callers, plan.budget, drive(&calls.full)).await);
            if CORPUS_CALLERS.contains(&callers) {
                lists.push(load::run(&channels, callers, plan.budget, drive(&calls.list)).await);
                searches.push(load::run(&channels, callers, plan.budget, drive(&calls.search)).await);
            }
        }
        let check = Figures::median_of(checks);
        let row = |what: &str| format!("{what}, {callers} caller{}", if callers == 1 { "" } else { "s" });
        let mut line = |what: &str, rounds: &[load::Round]| {
            if !rounds.is_empty() {
                lines.push(load_line(row(what), database, &Figures::median_of(rounds), &check));
            }
        };
        line("GetArticle basic", basics);
        line("GetArticle full", fulls);
        line("GetArticle basic, cache off", basics_cold);
        line("GetArticle full, cache off", fulls_cold);
        line("ListArticles (50, filters mixed)", lists);
        line("SearchArticles (20)", searches);
        eprintln!("  {database:?}: {callers} callers done");
    }
    let (hits, misses) = warm.article_cache_lookups().await;
    let (hits, misses) = (hits - hits_before, misses - misses_before);
    lines.push(Line {
        measurement: format!("article cache hit rate over the rows above ({} articles read)", names.len()),
        database,
        figure: format!("{:.4}", hits / (hits + misses).max(1.0)),
        baseline: format!("{hits:.0} hits, {misses:.0} misses"),
        ratio: String::new(),
    });
}

/// The unary calls of the rows, each cycling through its requests.
struct Calls {
    basic: Call,
    full: Call,
    list: Call,
    search: Call,
}

type Call = std::sync::Arc<dyn Fn(Channel, u64) -> CallFuture + Send + Sync>;

/// `call` as [`load::run`] takes it.
fn drive(call: &Call) -> impl Fn(Channel, u64) -> CallFuture + Clone + Send + Sync + 'static + use<> {
    let call = call.clone();
    move |channel, number| call(channel, number)
}

impl Calls {
    fn new(names: &[String]) -> Self {
        let mut queries = corpus::Corpus::new(SEED ^ 0xfeed);
        let search: Vec<String> = (0..SEARCH_QUERIES).map(|_| queries.next_query()).collect();
        let authors: Vec<String> = (0..64).map(|_| queries.author()).collect();
        let keywords: Vec<String> = (0..64).map(|_| queries.keyword()).collect();
        Self {
            basic: std::sync::Arc::new(get_article(names, pb::ArticleView::Basic)),
            full: std::sync::Arc::new(get_article(names, pb::ArticleView::Full)),
            list: std::sync::Arc::new(list_articles(&authors, &keywords)),
            search: std::sync::Arc::new(search_articles(&search)),
        }
    }
}

/// `--profile`: one row alone for a minute at 16 callers.
async fn profile_row(row: Profiled, (warm, cold): (&Archived, &Archived), names: &[String]) {
    let calls = Calls::new(names);
    let (server, call): (&Archived, Call) = match row {
        Profiled::Check => {
            (warm, std::sync::Arc::new(|channel, number| Box::pin(check(channel, number)) as CallFuture))
        }
        Profiled::Basic => (warm, calls.basic),
        Profiled::Full => (warm, calls.full),
        Profiled::BasicCold => (cold, calls.basic),
        Profiled::List => (warm, calls.list),
        Profiled::Search => (warm, calls.search),
    };
    let channels = load::connect(&server.grpc, load::connections_for(16)).await;
    load::run(&channels, 16, Budget { requests: 20_000, time: Duration::from_secs(2) }, drive(&call)).await;
    println!("profile {row:?}: archived pid {} for 60 s", server.child.id());
    let round =
        load::run(&channels, 16, Budget { requests: u64::MAX, time: Duration::from_secs(60) }, drive(&call)).await;
    println!("{:.0} calls/s, p50 {} ms", round.calls_per_second(), ms(round.quantile(0.5)));
}

fn short(budget: Budget) -> Budget {
    Budget { requests: budget.requests / 4, time: budget.time / 4 }
}

// ------------------------------------------------------------------ first byte

/// A clip of `len` pseudo-random bytes in a file under `dir`.
fn clip_file(dir: &Path, len: u64) -> PathBuf {
    use rand::{RngCore, SeedableRng};
    use std::io::Write;
    let path = dir.join("clip.bin");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("creates the clip"));
    let mut rng = rand::rngs::StdRng::seed_from_u64(SEED);
    let mut chunk = vec![0u8; MIB as usize];
    let mut written = 0;
    while written < len {
        let take = (len - written).min(MIB) as usize;
        rng.fill_bytes(&mut chunk[..take]);
        file.write_all(&chunk[..take]).expect("writes the clip");
        written += take as u64;
    }
    file.flush().expect("writes the clip");
    path
}

/// The stored object of `clip`, read directly from the store: its first
/// chunk's latency is the baseline of the first-byte rows.
enum Direct {
    File(PathBuf),
    S3 { client: aws_sdk_s3::Client, bucket: String, key: String },
}

impl Direct {
    async fn locate(site: &Site, clip: &pb::Media) -> Self {
        let prefix = format!("{}/original-", clip.name);
        match site.database {
            Database::Sqlite => {
                let dir = site.dir.path().join("data/blobs").join(&clip.name);
                let file = std::fs::read_dir(&dir)
                    .expect("the clip's directory")
                    .flatten()
                    .find(|entry| entry.file_name().to_string_lossy().starts_with("original-"))
                    .expect("the clip's original");
                Direct::File(file.path())
            }
            Database::Postgres => {
                let (client, bucket) = common::s3_client().await;
                let listed = client.list_objects_v2().bucket(&bucket).prefix(&prefix).send().await.expect("lists");
                let key = listed.contents().first().and_then(|o| o.key()).expect("the clip's object").to_owned();
                Direct::S3 { client, bucket, key }
            }
        }
    }

    async fn first_byte(&self) -> Duration {
        use tokio::io::AsyncReadExt;
        let started = Instant::now();
        match self {
            Direct::File(path) => {
                let mut file = tokio::fs::File::open(path).await.expect("opens");
                let mut byte = [0u8; 1];
                assert_eq!(file.read(&mut byte).await.expect("reads"), 1);
            }
            Direct::S3 { client, bucket, key } => {
                let mut body = client.get_object().bucket(bucket).key(key).send().await.expect("gets").body;
                assert!(!body.next().await.expect("a first chunk").expect("reads").is_empty());
            }
        }
        started.elapsed()
    }
}

async fn read_media_first_byte(client: &mut MediaServiceClient<Channel>, name: &str) -> Duration {
    let started = Instant::now();
    let request = pb::ReadMediaRequest { name: name.into(), offset: 0, limit: 0 };
    let mut stream = client.read_media(request).await.expect("reads").into_inner();
    let chunk = stream.message().await.expect("reads").expect("a first chunk");
    assert!(!chunk.data.is_empty());
    started.elapsed()
}

async fn http_first_byte(http: &reqwest::Client, url: &str) -> Duration {
    let started = Instant::now();
    let response = http.get(url).send().await.expect("gets");
    assert!(response.status().is_success(), "{}", response.status());
    let mut body = response.bytes_stream();
    assert!(!body.next().await.expect("a first chunk").expect("reads").is_empty());
    started.elapsed()
}

/// Uploads the clip and measures its first byte; returns its name.
async fn first_byte_rows(plan: &Plan, site: &Site, archived: &Archived, lines: &mut Vec<Line>) -> String {
    let path = clip_file(site.dir.path(), plan.clip_bytes);
    let mut media = archive::client::media_client(archive::client::connect(&archived.grpc).await.expect("connects"));
    let header = pb::UploadHeader {
        filename: "clip.bin".into(),
        content_type: "application/octet-stream".into(),
        ..Default::default()
    };
    let file = tokio::fs::File::open(&path).await.expect("opens the clip");
    let messages = archive::client::upload_messages(header, file, |_| {});
    let clip = media.upload_media(messages).await.expect("uploads").into_inner().media.expect("media");
    std::fs::remove_file(&path).expect("removes the local clip");
    let direct = Direct::locate(site, &clip).await;
    // The gateway, whatever the store: on S3 playback URLs are presigned, so
    // the gateway URL is signed here with the key the replicas share.
    let gateway_url = match site.database {
        Database::Sqlite => {
            let request = pb::GetPlaybackUrlRequest { name: clip.name.clone(), ..Default::default() };
            media.get_playback_url(request).await.expect("signs").into_inner().url
        }
        Database::Postgres => {
            use archive::domain::signing::{SigningKey, UrlSigner};
            let key = SigningKey { id: "shared".into(), secret: common::GATEWAY_KEY.as_bytes().to_vec().into() };
            let signer = UrlSigner::new(vec![key]).expect("signer");
            let path = format!("/media/{}", clip.name.trim_start_matches("media/"));
            let expires = chrono::Utc::now().timestamp() + 3600;
            format!("{}{path}?{}", archived.gateway, signer.sign(&path, expires, false))
        }
    };
    let http = reqwest::Client::new();
    let (mut direct_times, mut read_times, mut gateway_times) = (Vec::new(), Vec::new(), Vec::new());
    // One warm-up of each, then alternating samples.
    direct.first_byte().await;
    read_media_first_byte(&mut media, &clip.name).await;
    http_first_byte(&http, &gateway_url).await;
    // Each sample drops its read after the first chunk; the store goes on
    // with the GETs it was sent for a moment, so samples are spaced out.
    let settle = || tokio::time::sleep(FIRST_BYTE_SETTLE);
    for _ in 0..plan.first_bytes {
        direct_times.push(direct.first_byte().await);
        settle().await;
        read_times.push(read_media_first_byte(&mut media, &clip.name).await);
        settle().await;
        gateway_times.push(http_first_byte(&http, &gateway_url).await);
        settle().await;
    }
    let direct = load::median(direct_times);
    let baseline = match site.database {
        Database::Sqlite => format!("file read {} ms", ms(direct)),
        Database::Postgres => format!("S3 GET {} ms", ms(direct)),
    };
    let size = format!("{} MiB clip", plan.clip_bytes / MIB);
    for (what, times) in [("ReadMedia", read_times), ("gateway GET", gateway_times)] {
        let median = load::median(times);
        lines.push(Line {
            measurement: format!("first byte: {what}, {size}"),
            database: site.database,
            figure: format!("{} ms", ms(median)),
            baseline: baseline.clone(),
            ratio: format!("{} (goal ≤ 1.2 + 1 ms: {})", ratio(median.as_secs_f64(), direct.as_secs_f64()), {
                let goal = direct.mul_f64(1.2) + Duration::from_millis(1);
                if median <= goal { "met" } else { "missed" }
            }),
        });
    }
    clip.name
}

/// GetMedia on the clip at 16 callers, against Check.
async fn media_row(plan: &Plan, database: Database, archived: &Archived, clip: &str, lines: &mut Vec<Line>) {
    const CALLERS: usize = 16;
    let channels = load::connect(&archived.grpc, load::connections_for(CALLERS)).await;
    let name = clip.to_owned();
    let get_media = move |channel: Channel, _: u64| {
        let request = pb::GetMediaRequest { name: name.clone() };
        Box::pin(async move { MetadataServiceClient::new(channel).get_media(request).await.map(drop) }) as CallFuture
    };
    load::run(&channels, CALLERS, short(plan.budget), get_media.clone()).await;
    let (mut checks, mut gets) = (Vec::new(), Vec::new());
    for _ in 0..plan.rounds {
        checks.push(load::run(&channels, CALLERS, plan.budget, check).await);
        gets.push(load::run(&channels, CALLERS, plan.budget, get_media.clone()).await);
    }
    let check = Figures::median_of(&checks);
    lines.push(load_line(format!("GetMedia, {CALLERS} callers"), database, &Figures::median_of(&gets), &check));
}

// ------------------------------------------------------------------ sizes

fn directory_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => directory_bytes(&entry.path()),
            _ => entry.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

/// What the corpus takes: the database and the stored objects.
async fn sizes(site: &Site) -> (u64, u64) {
    match site.database {
        Database::Sqlite => {
            let data = site.dir.path().join("data");
            let database: u64 = ["archive.db", "archive.db-wal", "archive.db-shm"]
                .iter()
                .map(|name| std::fs::metadata(data.join(name)).map(|m| m.len()).unwrap_or(0))
                .sum();
            (database, directory_bytes(&data.join("blobs")))
        }
        Database::Postgres => {
            use sqlx::Connection;
            // The database production_config chose, read the way archived reads it.
            let config = site.dir.path().join("archived.toml");
            let url = archive::config::Settings::load(Some(&config)).expect("the bench's config").metadata.url;
            let mut connection = sqlx::PgConnection::connect(&url).await.expect("PostgreSQL answers");
            let database: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
                .fetch_one(&mut connection)
                .await
                .expect("sizes");
            // The bucket is shared by every database of the run; its
            // objects are not counted.
            (database as u64, 0)
        }
    }
}

// ------------------------------------------------------------------ main

async fn run_database(plan: &Plan, database: Database, lines: &mut Vec<Line>) {
    eprintln!("{database:?}: cold starts on empty stores");
    let mut empty = Vec::new();
    for _ in 0..plan.cold_starts {
        let site = Site::fresh(database).await;
        empty.push(site.start().await.1);
    }
    let empty = load::median(empty);

    let site = Site::fresh(database).await;
    let (archived, _) = site.start().await;
    eprintln!("{database:?}: importing {} articles", plan.articles);
    let (rate, names) = import(&archived.grpc, plan.articles).await;
    lines.push(Line {
        measurement: format!("import over gRPC, {IMPORT_CALLERS} callers"),
        database,
        figure: format!("{rate:.0} articles/s"),
        baseline: String::new(),
        ratio: String::new(),
    });
    // The index's last commit (commits are paced 250 ms apart) before a copy.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let index = site.copied_index("cold");
    let (cold, _) = site.start_with(&[CACHE_OFF, (index.0, &index.1)]).await;
    if let Some(row) = plan.profile {
        return profile_row(row, (&archived, &cold), &names).await;
    }
    eprintln!("{database:?}: unary rows");
    unary_rows(plan, database, (&archived, &cold), &names, lines).await;
    drop(cold);
    eprintln!("{database:?}: first-byte rows");
    let clip = first_byte_rows(plan, &site, &archived, lines).await;
    media_row(plan, database, &archived, &clip, lines).await;
    if database == Database::Postgres {
        eprintln!("{database:?}: staleness across two replicas");
        let index = site.copied_index("b");
        let (other, _) = site.start_with(&[(index.0, &index.1)]).await;
        lines.push(staleness::row(plan.staleness_samples, (&archived, &other), &names).await);
    }
    let statistics = MetadataServiceClient::new(archive::client::connect(&archived.grpc).await.expect("connects"))
        .get_archive_statistics(pb::GetArchiveStatisticsRequest::default())
        .await
        .expect("statistics")
        .into_inner();
    drop(archived);

    eprintln!("{database:?}: cold starts with the corpus stored");
    let mut stored = Vec::new();
    for _ in 0..plan.cold_starts {
        stored.push(site.start().await.1);
    }
    let stored = load::median(stored);
    lines.push(Line {
        measurement: "cold start to SERVING, empty store".into(),
        database,
        figure: format!("{} ms", ms(empty)),
        baseline: String::new(),
        ratio: format!("goal < 1 s: {}", if empty < Duration::from_secs(1) { "met" } else { "missed" }),
    });
    lines.push(Line {
        measurement: format!("cold start to SERVING, {} articles stored", plan.articles),
        database,
        figure: format!("{} ms", ms(stored)),
        baseline: format!("empty {} ms", ms(empty)),
        ratio: format!(
            "{} (goal < 1 s: {})",
            ratio(stored.as_secs_f64(), empty.as_secs_f64()),
            if stored < Duration::from_secs(1) { "met" } else { "missed" }
        ),
    });
    let (database_bytes, blob_bytes) = sizes(&site).await;
    lines.push(Line {
        measurement: format!("stored: {} articles, {} clip", statistics.article_count, statistics.media_count),
        database,
        figure: format!(
            "database {:.1} MiB{}",
            database_bytes as f64 / MIB as f64,
            if blob_bytes > 0 { format!(", objects {:.1} MiB", blob_bytes as f64 / MIB as f64) } else { String::new() }
        ),
        baseline: String::new(),
        ratio: String::new(),
    });
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let plan = Plan::from(&args);
    println!(
        "hot path bench: {} articles, {} MiB clip, {} rounds of ≤ {} calls / {:?} each, release archived, loopback",
        plan.articles,
        plan.clip_bytes / MIB,
        plan.rounds,
        plan.budget.requests,
        plan.budget.time
    );
    let mut lines = Vec::new();
    for database in &args.databases {
        let first = lines.len();
        run_database(&plan, *database, &mut lines).await;
        // A long run (a million articles) keeps what it measured even if a
        // later database is stopped.
        for line in &lines[first..] {
            eprintln!("  {}", table_line(line));
        }
    }
    print_table(&lines);
}
