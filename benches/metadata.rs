//! Metadata and search at scale: imports N synthetic Vietnamese articles
//! (default 100,000; `ARCHIVE_BENCH_ARTICLES`) into SQLite and into
//! PostgreSQL through the service's own import path (body object on the file
//! system, metadata, manifest), then prints, side by side with the goals of
//! issue 27:
//!
//! - the import rate with the search index following (a projection on the
//!   change feed, as `archived` runs it) and without it, in alternating
//!   blocks (off, on, on, off, …, on: drift cancels out), and how long the
//!   index takes to catch up after each block;
//! - a full rebuild (index directory deleted, then `catch_up()` from the
//!   database), the index's size on disk, the process's RSS;
//! - SearchArticles p50/p95/p99 at 1 caller and at 16 concurrent callers:
//!   plain words by relevance and newest first, a phrase, an author filter, a
//!   keyword filter, five facets;
//! - write to searchable (one article at a time, polled by a word unique to
//!   it), related articles, ListArticles pages, and the background chores
//!   (view flushes, a sweep of unreferenced objects checking every body).
//!
//! Run with the services the scripts start:
//! `ARCHIVE_BENCHES=metadata scripts/bench.sh`, or
//! `ARCHIVE_TEST_RUNNER="cargo bench --bench metadata" scripts/test.sh`.
//! `ARCHIVE_BENCH_SEARCHES` (400) sets the searches of each kind at one
//! caller (twice as many at 16), e.g. fewer for a run at 1M articles.

mod corpus;

use archive::{
    app::Application,
    config::Settings,
    domain::{Archive, ArticleFields, ListArticles, RelatedArticles, SearchArticles},
    ids::ArticleId,
    metadata::MetadataStore,
    search::{Facet, Filters, IndexSearch, Order, SearchIndex, projection::Projection, query},
};
use chrono::DateTime;
use corpus::Corpus;
use std::{
    net::SocketAddr,
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};
use tokio_util::sync::CancellationToken;

const SEED: u64 = 20_191_030;
const IMPORT_TASKS: usize = 8;
/// The import in blocks, index on or off: ABBA pairs, so a drift of the
/// machine (or the database growing) weighs on both sides alike; the last
/// block has the index on, so the catch-up after it is the import's.
const BLOCKS: [bool; 10] = [false, true, true, false, false, true, true, false, false, true];
/// Searches of each kind at one caller (`ARCHIVE_BENCH_SEARCHES`, 400);
/// at 16 callers, twice as many.
fn searches_per_kind() -> usize {
    std::env::var("ARCHIVE_BENCH_SEARCHES").ok().and_then(|n| n.parse().ok()).unwrap_or(400)
}
const CALLERS: usize = 16;
const LISTINGS: usize = 300;
const RELATED: usize = 200;
const FRESHNESS_SAMPLES: usize = 200;
/// Articles whose views the flush timing moves.
const VIEWED: usize = 1_000;
/// The index's writer memory, as `archived` has it by default.
const WRITER_MEMORY_BYTES: usize = 64 << 20;

/// What a search is made of.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Plain,
    Newest,
    Phrase,
    Author,
    Keyword,
    Facets,
}

const KINDS: [Kind; 6] = [Kind::Plain, Kind::Newest, Kind::Phrase, Kind::Author, Kind::Keyword, Kind::Facets];

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Plain => "plain words, relevance",
            Kind::Newest => "plain words, newest first",
            Kind::Phrase => "phrase (2 adjacent words)",
            Kind::Author => "plain + author filter",
            Kind::Keyword => "plain + keyword filter",
            Kind::Facets => "plain + 5 facets",
        }
    }

    fn goal(self, callers: usize) -> &'static str {
        match (self, callers) {
            (Kind::Plain | Kind::Phrase, 1) => "p95 < 10 ms at 1M",
            (Kind::Facets, 1) => "p95 < 25 ms at 1M",
            _ => "",
        }
    }
}

/// Seeded requests of every kind.
struct Requests {
    queries: Corpus,
    /// The stream of import task 0: its phrases are in the archive.
    phrases: Corpus,
    picks: usize,
}

impl Requests {
    fn new() -> Self {
        Self { queries: Corpus::new(SEED ^ 0xfeed), phrases: Corpus::new(SEED), picks: 0 }
    }

    fn next(&mut self, kind: Kind) -> SearchArticles {
        let mut request = SearchArticles { page_size: 20, ..Default::default() };
        request.query = if kind == Kind::Phrase {
            self.picks += 1;
            self.phrases.next_phrase(self.picks * 7)
        } else {
            self.queries.next_query()
        };
        match kind {
            Kind::Plain | Kind::Phrase => {}
            Kind::Newest => request.order = Order::Newest,
            Kind::Author => request.filters = Filters { authors: vec![self.queries.author()], ..Default::default() },
            Kind::Keyword => request.filters = Filters { keywords: vec![self.queries.keyword()], ..Default::default() },
            Kind::Facets => {
                request.facets =
                    vec![Facet::Author, Facet::Keyword, Facet::PublishYear, Facet::PublishMonth, Facet::HasMedia]
            }
        }
        request
    }

    fn many(&mut self, kind: Kind, count: usize) -> Vec<SearchArticles> {
        (0..count).map(|_| self.next(kind)).collect()
    }
}

/// Latencies of a batch of searches and its wall time.
struct Timed {
    samples: Vec<Duration>,
    wall: Duration,
}

#[derive(Default)]
struct Figures {
    import_off: f64,
    import_on: f64,
    /// Articles per second with the index on, the catch-up after each
    /// block counted in.
    import_on_with_catch_up: f64,
    /// Catch-up after the last block (the end of the import).
    catch_up: Duration,
    /// Slowest catch-up after any block with the index on.
    catch_up_max: Duration,
    /// CPU of this process per article imported, index off and on (the
    /// catch-up counted in), ms.
    cpu_off_ms: f64,
    cpu_on_ms: f64,
    /// Index commits while the index followed the import, and their mean.
    commits: f64,
    commit_mean: Duration,
    rebuild: Duration,
    rebuilt_articles: u64,
    size_followed: u64,
    size_rebuilt: u64,
    rss_kib: u64,
    peak_rss_kib: u64,
    one_caller: Vec<(Kind, Timed)>,
    /// The same kinds on the index alone: no database read, no snippets.
    index_alone: Vec<(Kind, Vec<Duration>)>,
    many_callers: Vec<(Kind, Timed)>,
    plain_rebuilt: Vec<Duration>,
    hits_per_search: f64,
    phrases_found: f64,
    searchable: Vec<Duration>,
    create: Vec<Duration>,
    related: Vec<Duration>,
    list: Vec<Duration>,
    flush_idle: Duration,
    flush_pending: Duration,
    sweep: Duration,
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

fn settings(metadata_url: String, dir: &Path) -> Settings {
    let mut settings = Settings::default();
    settings.server.grpc_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    settings.server.gateway_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    settings.server.admin_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    settings.storage.url = format!("file://{}", dir.join("blobs").display());
    settings.metadata.url = metadata_url;
    settings.metadata.max_connections = 16;
    settings.gateway.key_file = dir.join("gateway.key").display().to_string();
    settings.search.index_dir = dir.join("search").display().to_string();
    settings.search.writer_memory_bytes = WRITER_MEMORY_BYTES;
    settings
}

/// The archive as `archived` builds it; no job runs (the bench drives the
/// projection itself).
async fn open(metadata_url: String, dir: &Path) -> Archive {
    Application::build(settings(metadata_url, dir)).await.expect("opens").archive().clone()
}

/// The eight import tasks' seeded streams, kept across blocks.
struct Importer {
    corpora: Vec<Option<Corpus>>,
    imported: usize,
    ids: Vec<ArticleId>,
}

impl Importer {
    fn new() -> Self {
        Self {
            corpora: (0..IMPORT_TASKS).map(|task| Some(Corpus::new(SEED + task as u64))).collect(),
            imported: 0,
            ids: Vec::new(),
        }
    }

    /// Imports the next `count` articles (8 tasks); returns how long it took.
    async fn block(&mut self, archive: &Archive, count: usize) -> Duration {
        let (from, to) = (self.imported, self.imported + count);
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for task in 0..IMPORT_TASKS {
            let archive = archive.clone();
            let mut corpus = self.corpora[task].take().expect("a corpus per task");
            let mine = (from..to).filter(|n| n % IMPORT_TASKS == task).count();
            tasks.spawn(async move {
                let mut ids = Vec::new();
                for _ in 0..mine {
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
                (task, corpus, ids)
            });
        }
        while let Some(done) = tasks.join_next().await {
            let (task, corpus, ids) = done.expect("import task");
            self.corpora[task] = Some(corpus);
            let room = VIEWED.saturating_sub(self.ids.len());
            self.ids.extend(ids.into_iter().take(room));
        }
        self.imported = to;
        started.elapsed()
    }
}

/// The projection as `archived` runs it, following the feed.
struct Following {
    ending: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn follow(index: &Arc<SearchIndex>, metadata: &Arc<dyn MetadataStore>) -> Following {
    let projection = Projection::new(index.clone(), metadata.clone(), metadata.clone());
    let ending = CancellationToken::new();
    let task = tokio::spawn(projection.run(ending.clone()));
    Following { ending, task }
}

impl Following {
    async fn stop(self) {
        self.ending.cancel();
        self.task.await.expect("projection task");
    }
}

/// How long until the index holds every change committed so far.
async fn caught_up(index: &SearchIndex, metadata: &Arc<dyn MetadataStore>) -> Duration {
    let started = Instant::now();
    let committed = metadata.change_feed().await.expect("feed").last_seq;
    assert!(index.wait_for(committed, Duration::from_secs(3600)).await, "the index catches up within an hour");
    started.elapsed()
}

/// Bytes of the files under `dir`.
fn size_of(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| match entry.metadata() {
                    Ok(m) if m.is_dir() => size_of(&entry.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// The index's size once background merges have settled (unchanged for
/// 3 s, at most a minute).
async fn settled_size(dir: &Path) -> u64 {
    let (mut last, mut same) = (size_of(dir), 0);
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = size_of(dir);
        same = if now == last { same + 1 } else { 0 };
        last = now;
        if same >= 3 {
            break;
        }
    }
    last
}

/// CPU time of this process (every thread), user and system.
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After the command's closing parenthesis: state is field 3, utime 14.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |n: usize| fields.get(n - 3).and_then(|t| t.parse::<u64>().ok()).unwrap_or(0);
    // USER_HZ is 100 on Linux.
    Duration::from_millis((ticks(14) + ticks(15)) * 10)
}

/// Index commits so far and their total time (the projection's histogram).
fn commits() -> (f64, f64) {
    archive::metrics::upkeep();
    let text = archive::metrics::render();
    let value = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    (value("archive_search_index_commit_seconds_count"), value("archive_search_index_commit_seconds_sum"))
}

/// VmRSS and VmHWM of this process, in KiB.
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
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

/// Runs `requests` from `callers` concurrent callers (each its share, one
/// after another); returns every call's latency and the wall time.
async fn searches(archive: &Archive, requests: Vec<SearchArticles>, callers: usize) -> Timed {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut shares: Vec<Vec<SearchArticles>> = vec![Vec::new(); callers];
    for (n, request) in requests.into_iter().enumerate() {
        shares[n % callers].push(request);
    }
    for share in shares {
        let archive = archive.clone();
        tasks.spawn(async move {
            let mut samples = Vec::with_capacity(share.len());
            for request in &share {
                let started = Instant::now();
                archive.search_articles(request).await.expect("searches");
                samples.push(started.elapsed());
            }
            samples
        });
    }
    let mut samples = Vec::new();
    while let Some(done) = tasks.join_next().await {
        samples.extend(done.expect("search caller"));
    }
    Timed { samples, wall: started.elapsed() }
}

/// A word no corpus article holds: `zzq` and `n` in letters.
fn unique_word(n: usize) -> String {
    let mut word = String::from("zzq");
    let mut n = n;
    for _ in 0..4 {
        word.push((b'a' + (n % 26) as u8) as char);
        n /= 26;
    }
    word
}

/// Creates one article at a time on an idle system and polls a search for
/// a word only it holds until it is found: (create to found, create alone).
async fn write_to_searchable(archive: &Archive) -> (Vec<Duration>, Vec<Duration>) {
    let (mut searchable, mut create) = (Vec::new(), Vec::new());
    for n in 0..FRESHNESS_SAMPLES {
        let word = unique_word(n);
        let fields = ArticleFields {
            title: format!("Bản tin {word}"),
            body: format!("Tin tức trong ngày, mã {word}."),
            author: "Phạm Ngọc".into(),
            keywords: vec!["báo chí".into()],
            publish_time: None,
            publish_utc_offset_seconds: 7 * 3600,
            view_count: 0,
        };
        let started = Instant::now();
        archive.create_article(fields, "", "").await.expect("creates");
        create.push(started.elapsed());
        let request = SearchArticles { query: word.clone(), page_size: 1, ..Default::default() };
        loop {
            if archive.search_articles(&request).await.expect("searches").total_size == 1 {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "{word} searchable within a minute");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        searchable.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (searchable, create)
}

/// Imports in blocks with the index on and off, into `figures`; returns the
/// projection, still following (the last block has the index on).
async fn import(archive: &Archive, importer: &mut Importer, articles: usize, figures: &mut Figures) -> Following {
    let metadata = archive.metadata().clone();
    let index = archive.search_index().expect("a search index").clone();
    let (mut off, mut on, mut off_articles, mut on_articles, mut tails) =
        (Duration::ZERO, Duration::ZERO, 0, 0, Duration::ZERO);
    let (mut cpu_off, mut cpu_on, mut commit_count, mut commit_seconds) = (Duration::ZERO, Duration::ZERO, 0.0, 0.0);
    let mut following: Option<Following> = None;
    for (block, index_on) in BLOCKS.iter().copied().enumerate() {
        let count = articles * (block + 1) / BLOCKS.len() - articles * block / BLOCKS.len();
        match (index_on, following.take()) {
            (true, None) => {
                // Untimed: the backlog of the block before (a rebuild after
                // the first) goes in before this block starts.
                following = Some(follow(&index, &metadata));
                caught_up(&index, &metadata).await;
            }
            (false, Some(projection)) => projection.stop().await,
            (_, kept) => following = kept,
        }
        eprintln!(
            "  block {}/{}: {count} articles, index {}",
            block + 1,
            BLOCKS.len(),
            if index_on { "on" } else { "off" }
        );
        let (cpu_before, commits_before) = (cpu(), commits());
        let took = importer.block(archive, count).await;
        if index_on {
            let tail = caught_up(&index, &metadata).await;
            (on, on_articles, tails) = (on + took, on_articles + count, tails + tail);
            cpu_on += cpu() - cpu_before;
            let commits_after = commits();
            commit_count += commits_after.0 - commits_before.0;
            commit_seconds += commits_after.1 - commits_before.1;
            figures.catch_up = tail;
            figures.catch_up_max = figures.catch_up_max.max(tail);
        } else {
            (off, off_articles) = (off + took, off_articles + count);
            cpu_off += cpu() - cpu_before;
        }
    }
    figures.import_off = off_articles as f64 / off.as_secs_f64();
    figures.import_on = on_articles as f64 / on.as_secs_f64();
    figures.import_on_with_catch_up = on_articles as f64 / (on + tails).as_secs_f64();
    figures.cpu_off_ms = cpu_off.as_secs_f64() * 1000.0 / off_articles as f64;
    figures.cpu_on_ms = cpu_on.as_secs_f64() * 1000.0 / on_articles as f64;
    figures.commits = commit_count;
    figures.commit_mean = Duration::from_secs_f64(commit_seconds / commit_count.max(1.0));
    following.expect("the last block has the index on")
}

/// What autovacuum does after a bulk import on PostgreSQL: `VACUUM ANALYZE`
/// (before searches and listings read articles back: steady state). SQLite
/// keeps no planner statistics unless told to, and archived does not.
async fn settle(metadata_url: &str) {
    use sqlx::{Connection, Executor};
    if metadata_url.starts_with("postgres") {
        let mut connection = sqlx::PgConnection::connect(metadata_url).await.expect("PostgreSQL answers");
        connection.execute("VACUUM ANALYZE").await.expect("vacuums");
    }
}

async fn measure(archive: Archive, articles: usize, metadata_url: &str) -> Figures {
    let mut figures = Figures::default();
    let mut importer = Importer::new();
    let following = import(&archive, &mut importer, articles, &mut figures).await;
    let metadata = archive.metadata().clone();
    let index = archive.search_index().expect("a search index").clone();
    eprintln!("  searching ({} documents)…", index.num_docs());
    settle(metadata_url).await;

    let searches_per_kind = searches_per_kind();
    let mut requests = Requests::new();
    let mut hits = (0usize, 0usize);
    for request in requests.many(Kind::Plain, 50) {
        // Warm-up, and how many results a search has.
        hits.0 += archive.search_articles(&request).await.expect("searches").results.len();
    }
    for request in requests.many(Kind::Phrase, 50) {
        hits.1 += usize::from(archive.search_articles(&request).await.expect("searches").total_size > 0);
    }
    figures.hits_per_search = hits.0 as f64 / 50.0;
    figures.phrases_found = hits.1 as f64 / 50.0;
    for kind in KINDS {
        let batch = requests.many(kind, searches_per_kind);
        figures.one_caller.push((kind, searches(&archive, batch, 1).await));
    }
    for kind in [Kind::Plain, Kind::Phrase, Kind::Facets] {
        let mut samples = Vec::with_capacity(searches_per_kind);
        for request in requests.many(kind, searches_per_kind) {
            let search = IndexSearch {
                query: query::parse(&request.query).expect("parses"),
                filters: request.filters,
                order: request.order,
                limit: 21,
                after: None,
                facets: request.facets,
                facet_size: 10,
            };
            let started = Instant::now();
            index.search(&search).expect("searches");
            samples.push(started.elapsed());
        }
        figures.index_alone.push((kind, samples));
    }
    for kind in KINDS {
        let batch = requests.many(kind, searches_per_kind * 2);
        figures.many_callers.push((kind, searches(&archive, batch, CALLERS).await));
    }
    let related = importer.ids.iter().take(RELATED).cloned().collect::<Vec<_>>();
    for id in related {
        let started = Instant::now();
        archive
            .related_articles(&RelatedArticles { id, page_size: 5, filters: Filters::default() })
            .await
            .expect("related");
        figures.related.push(started.elapsed());
    }
    eprintln!("  write to searchable…");
    (figures.searchable, figures.create) = write_to_searchable(&archive).await;
    figures.size_followed = settled_size(index.dir()).await;

    let mut queries = Corpus::new(SEED ^ 0xbeef);
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
            figures.list.push(started.elapsed());
            if token.is_empty() {
                break;
            }
            request.page_token = token;
        }
    }
    (figures.flush_idle, figures.flush_pending, figures.sweep) = chores(&archive, &importer.ids).await;

    // A full rebuild: the projection stops, the index goes (directory
    // and all), a new one is built from the database.
    eprintln!("  rebuilding the index…");
    caught_up(&index, &metadata).await;
    let dir = index.dir().to_owned();
    let parent = dir.parent().expect("index dir in a temp dir").to_owned();
    let stand_in = Arc::new(SearchIndex::open(&parent.join("stand-in"), WRITER_MEMORY_BYTES).expect("opens"));
    let archive = archive.with_search(stand_in);
    following.stop().await;
    let gone = Arc::downgrade(&index);
    drop(index);
    for _ in 0..100 {
        if gone.upgrade().is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone.upgrade().is_none(), "nothing holds the old index");
    std::fs::remove_dir_all(&dir).expect("index directory deleted");
    let index = Arc::new(SearchIndex::open(&dir, WRITER_MEMORY_BYTES).expect("opens"));
    let archive = archive.with_search(index.clone());
    let started = Instant::now();
    Projection::new(index.clone(), metadata.clone(), metadata.clone()).catch_up().await.expect("rebuilds");
    figures.rebuild = started.elapsed();
    figures.rebuilt_articles = index.num_docs();
    (figures.rss_kib, figures.peak_rss_kib) = rss_kib();
    figures.size_rebuilt = settled_size(&dir).await;
    for request in requests.many(Kind::Plain, searches_per_kind) {
        let started = Instant::now();
        archive.search_articles(&request).await.expect("searches");
        figures.plain_rebuilt.push(started.elapsed());
    }
    figures
}

fn ms(duration: Duration) -> String {
    let ms = duration.as_secs_f64() * 1000.0;
    if ms < 100.0 { format!("{ms:.2}") } else { format!("{ms:.0}") }
}

/// "p50 / p95 / p99" in ms.
fn spread(samples: &mut [Duration]) -> String {
    let mut p = |q| ms(percentile(samples, q));
    format!("{} / {} / {}", p(0.50), p(0.95), p(0.99))
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

/// The first line of /proc/loadavg: how busy the machine was.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// A cell per stack.
fn cells(columns: &mut [(&str, Figures)], mut f: impl FnMut(&mut Figures) -> String) -> Vec<String> {
    columns.iter_mut().map(|(_, figures)| f(figures)).collect()
}

/// One row: a label, a cell per stack, the goal.
fn row(label: &str, cells: &[String], goal: &str) {
    print!("{label:<40}");
    for cell in cells {
        print!("{cell:>28}");
    }
    println!("   {goal}");
}

#[tokio::main]
async fn main() {
    let articles: usize = std::env::var("ARCHIVE_BENCH_ARTICLES").ok().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let mut columns: Vec<(&str, Figures)> = Vec::new();
    let load_before = load();

    // `ARCHIVE_BENCH_DATABASES=postgres` (or `sqlite`) runs one of them only.
    let only = std::env::var("ARCHIVE_BENCH_DATABASES").unwrap_or_default();
    if only.is_empty() || only == "sqlite" {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        eprintln!("importing {articles} articles into SQLite…");
        let archive = open(url.clone(), dir.path()).await;
        columns.push(("SQLite", measure(archive, articles, &url).await));
    }

    match std::env::var("ARCHIVE_TEST_POSTGRES_URL") {
        Ok(_) if only == "sqlite" => {}
        Ok(server) => {
            use sqlx::{Connection, Executor};
            let mut admin = sqlx::PgConnection::connect(&server).await.expect("PostgreSQL answers");
            admin.execute("DROP DATABASE IF EXISTS archive_bench").await.expect("drop");
            admin.execute("CREATE DATABASE archive_bench").await.expect("create");
            let url = format!("{}/archive_bench", server.rsplit_once('/').expect("database in URL").0);
            let dir = tempfile::tempdir().expect("temp dir");
            eprintln!("importing {articles} articles into PostgreSQL…");
            let archive = open(url.clone(), dir.path()).await;
            columns.push(("PostgreSQL", measure(archive, articles, &url).await));
        }
        Err(_) => eprintln!("ARCHIVE_TEST_POSTGRES_URL unset: PostgreSQL skipped (run through scripts/test.sh)"),
    }

    println!(
        "\nmetadata and search, {articles} synthetic articles (seed {SEED}), {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let searches = searches_per_kind();
    println!("{searches} searches of each kind at 1 caller, {} at {CALLERS}", searches * 2);
    println!("load average before {load_before}, after {}", load());
    let names: Vec<String> = columns.iter().map(|(name, _)| name.to_string()).collect();
    row("", &names, "goal");
    row("import, index off (articles/s, 8 tasks)", &cells(&mut columns, |f| format!("{:.0}", f.import_off)), "");
    row("import, index following (articles/s)", &cells(&mut columns, |f| format!("{:.0}", f.import_on)), "");
    row(
        "  ratio on / off (catch-up counted in)",
        &cells(&mut columns, |f| {
            format!("{:.2} ({:.2})", f.import_on / f.import_off, f.import_on_with_catch_up / f.import_off)
        }),
        ">= 0.9",
    );
    row(
        "CPU per article in process, off / on",
        &cells(&mut columns, |f| format!("{:.2} / {:.2} ms", f.cpu_off_ms, f.cpu_on_ms)),
        "",
    );
    row(
        "index commits while following (mean)",
        &cells(&mut columns, |f| format!("{:.0} ({})", f.commits, ms(f.commit_mean))),
        "",
    );
    row(
        "catch-up after the import (worst block)",
        &cells(&mut columns, |f| format!("{:.2} s ({:.2} s)", f.catch_up.as_secs_f64(), f.catch_up_max.as_secs_f64())),
        "",
    );
    row(
        "full rebuild (articles/s)",
        &cells(&mut columns, |f| {
            format!("{:.1} s ({:.0}/s)", f.rebuild.as_secs_f64(), f.rebuilt_articles as f64 / f.rebuild.as_secs_f64())
        }),
        "< 5 min at 1M",
    );
    row(
        "index on disk, followed / rebuilt",
        &cells(&mut columns, |f| format!("{} / {}", mib(f.size_followed), mib(f.size_rebuilt))),
        "",
    );
    row(
        "RSS after the rebuild (peak)",
        &cells(&mut columns, |f| format!("{} ({})", mib(f.rss_kib << 10), mib(f.peak_rss_kib << 10))),
        "",
    );
    println!("SearchArticles (20 results, snippets), ms p50 / p95 / p99:");
    for (n, kind) in KINDS.iter().enumerate() {
        row(
            &format!("  1 caller: {}", kind.label()),
            &cells(&mut columns, |f| spread(&mut f.one_caller[n].1.samples)),
            kind.goal(1),
        );
    }
    for n in 0..3 {
        let label = format!("  index alone: {}", columns.first().map_or("", |(_, f)| f.index_alone[n].0.label()));
        row(&label, &cells(&mut columns, |f| spread(&mut f.index_alone[n].1)), "");
    }
    for (n, kind) in KINDS.iter().enumerate() {
        row(
            &format!("  {CALLERS} callers: {}", kind.label()),
            &cells(&mut columns, |f| spread(&mut f.many_callers[n].1.samples)),
            "",
        );
    }
    row(
        &format!("  {CALLERS} callers, calls/s: plain, facets"),
        &cells(&mut columns, |f| {
            let rate = |t: &Timed| t.samples.len() as f64 / t.wall.as_secs_f64();
            format!("{:.0}, {:.0}", rate(&f.many_callers[0].1), rate(&f.many_callers[5].1))
        }),
        "",
    );
    row("  1 caller, plain, on the rebuilt index", &cells(&mut columns, |f| spread(&mut f.plain_rebuilt)), "");
    row(
        "  results per plain search; phrases found",
        &cells(&mut columns, |f| format!("{:.1} of 20; {:.0}%", f.hits_per_search, f.phrases_found * 100.0)),
        "",
    );
    row(
        "write to searchable p50 / p99 (create)",
        &cells(&mut columns, |f| {
            let create = ms(percentile(&mut f.create, 0.5));
            format!(
                "{} / {} ({create})",
                ms(percentile(&mut f.searchable, 0.5)),
                ms(percentile(&mut f.searchable, 0.99))
            )
        }),
        "p99 < 1 s",
    );
    row(
        "related articles (5) p50 / p95",
        &cells(&mut columns, |f| {
            format!("{} / {}", ms(percentile(&mut f.related, 0.5)), ms(percentile(&mut f.related, 0.95)))
        }),
        "",
    );
    row(
        "list page (50) p50 / p95",
        &cells(&mut columns, |f| {
            format!("{} / {}", ms(percentile(&mut f.list, 0.5)), ms(percentile(&mut f.list, 0.95)))
        }),
        "",
    );
    row("view flush, nothing pending (ms)", &cells(&mut columns, |f| ms(f.flush_idle)), "");
    row("view flush, 1,000 articles (ms)", &cells(&mut columns, |f| ms(f.flush_pending)), "");
    row("sweep, every body checked (ms)", &cells(&mut columns, |f| ms(f.sweep)), "");
}
