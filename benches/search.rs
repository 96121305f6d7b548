//! The search index alone, at scale: N synthetic Vietnamese articles
//! (`ARCHIVE_BENCH_ARTICLES`, default 100,000; the corpus and query streams
//! of benches/metadata.rs) written straight into a `SearchIndex`, then
//! SearchIndex::search at one caller for each kind of query, with
//! relevance ranked as served (MaxScore pruning) beside the same ranking
//! with pruning off (every candidate scored: what ranking costs without
//! it), in one run.
//!
//! The index is kept under `target/bench-search/` per size and schema, so a
//! second run measures at once. `ARCHIVE_BENCH_SEARCHES` (200) sets the
//! searches of each kind.
//!
//! `cargo bench --bench search`

mod corpus;

use archive::{
    ids::ArticleId,
    metadata::{ArticleRecord, IndexedArticle, ObjectRef},
    search::{
        Facet, Filters, IndexSearch, IndexState, Order, SearchIndex, query, rank::Pruning, schema::SCHEMA_VERSION,
    },
};
use chrono::DateTime;
use corpus::Corpus;
use std::time::{Duration, Instant};

const SEED: u64 = 20_191_030;
/// Streams the articles are drawn from in turn, as metadata's import tasks.
const STREAMS: u64 = 8;
const COMMIT_EVERY: usize = 50_000;
const WRITER_MEMORY_BYTES: usize = 256 << 20;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn record(n: usize, a: corpus::SyntheticArticle) -> IndexedArticle {
    let id = ArticleId::parse(&format!("bench-{n}")).expect("an id");
    let time = DateTime::from_timestamp(a.publish_seconds, 0).expect("a time");
    IndexedArticle {
        record: ArticleRecord {
            body: ObjectRef {
                key: archive::blob::BlobKey::new_article_body(&id),
                size_bytes: 0,
                sha256: String::new(),
            },
            id,
            revision: 1,
            etag: "e".into(),
            title: a.title,
            author: a.author,
            keywords: a.keywords,
            publish_time: time,
            publish_utc_offset_seconds: 7 * 3600,
            view_count: a.view_count,
            create_time: time,
            update_time: time,
            media: Vec::new(),
            delete_time: None,
            legal_hold: false,
        },
        body: a.body,
        captions: Vec::new(),
    }
}

/// The index of `articles` articles, built unless a complete one is kept.
fn index(articles: usize) -> SearchIndex {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-search")
        .join(format!("{articles}-v{SCHEMA_VERSION}"));
    let index = SearchIndex::open(&dir, WRITER_MEMORY_BYTES).expect("opens");
    if index.state().is_some_and(|s| s.complete && s.seq == articles as i64) {
        eprintln!("index of {articles} articles kept in {}", dir.display());
        return index;
    }
    index.clear().expect("clears");
    let started = Instant::now();
    let mut streams: Vec<Corpus> = (0..STREAMS).map(|s| Corpus::new(SEED + s)).collect();
    for n in 0..articles {
        let article = record(n, streams[n % STREAMS as usize].next_article());
        index.put(&article.record.id, Some(&article)).expect("puts");
        let done = n + 1;
        if done % COMMIT_EVERY == 0 || done == articles {
            let complete = done == articles;
            let state = IndexState { schema: SCHEMA_VERSION, feed_id: "bench".into(), seq: done as i64, complete };
            index.commit(&state).expect("commits");
            eprintln!("  {done} articles indexed in {:.0} s", started.elapsed().as_secs_f64());
        }
    }
    index
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Plain,
    Phrase,
    Author,
    Keyword,
    Newest,
    Facets,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Plain => "plain words (1-3)",
            Kind::Phrase => "phrase (2 adjacent words)",
            Kind::Author => "plain + author filter",
            Kind::Keyword => "plain + keyword filter",
            Kind::Newest => "plain, newest first",
            Kind::Facets => "plain + 5 facets",
        }
    }
}

const KINDS: [Kind; 6] = [Kind::Plain, Kind::Phrase, Kind::Author, Kind::Keyword, Kind::Newest, Kind::Facets];

fn searches(kind: Kind, count: usize) -> Vec<IndexSearch> {
    let mut queries = Corpus::new(SEED ^ 0xfeed);
    let mut phrases = Corpus::new(SEED);
    (1..=count)
        .map(|pick| {
            let text = if kind == Kind::Phrase { phrases.next_phrase(pick * 7) } else { queries.next_query() };
            let mut search = IndexSearch {
                query: query::parse(&text).expect("parses"),
                filters: Filters::default(),
                order: Order::Relevance,
                limit: 21,
                after: None,
                facets: Vec::new(),
                facet_size: 10,
            };
            match kind {
                Kind::Plain | Kind::Phrase => {}
                Kind::Author => search.filters.authors = vec![queries.author()],
                Kind::Keyword => search.filters.keywords = vec![queries.keyword()],
                Kind::Newest => search.order = Order::Newest,
                Kind::Facets => {
                    search.facets =
                        vec![Facet::Author, Facet::Keyword, Facet::PublishYear, Facet::PublishMonth, Facet::HasMedia]
                }
            }
            search
        })
        .collect()
}

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1000.0
}

fn spread(samples: &mut [Duration]) -> String {
    let (p50, p95, p99) = (percentile(samples, 0.5), percentile(samples, 0.95), percentile(samples, 0.99));
    format!("{p50:.2} / {p95:.2} / {p99:.2}")
}

fn main() {
    let articles = env("ARCHIVE_BENCH_ARTICLES", 100_000);
    let count = env("ARCHIVE_BENCH_SEARCHES", 200);
    let index = index(articles);
    println!("\nsearch index alone, {articles} synthetic articles (seed {SEED}), {count} searches of each kind");
    println!(
        "| one caller, ms p50 / p95 / p99 | as served (ranking, count or facets) | ranking alone | ranking without pruning | matches (mean) |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for kind in KINDS {
        let batch = searches(kind, count);
        let mut served = Vec::with_capacity(count);
        let mut unpruned = Vec::new();
        let mut pruned = Vec::new();
        let mut matches = 0u64;
        for search in &batch {
            let started = Instant::now();
            let found = index.search(search).expect("searches");
            served.push(started.elapsed());
            matches += found.total;
            if search.order == Order::Relevance {
                let started = Instant::now();
                let hits = index
                    .ranked(&search.query, &search.filters, search.limit, None, Pruning::Off)
                    .expect("ranks unpruned");
                unpruned.push(started.elapsed());
                let started = Instant::now();
                let ranked =
                    index.ranked(&search.query, &search.filters, search.limit, None, Pruning::MaxScore).expect("ranks");
                pruned.push(started.elapsed());
                assert_eq!(hits, ranked, "pruning changed the results of {:?}", search.query);
            }
        }
        let cell = |samples: &mut Vec<Duration>| if samples.is_empty() { "–".to_owned() } else { spread(samples) };
        let (pruned, unpruned) = (cell(&mut pruned), cell(&mut unpruned));
        println!("| {} | {} | {pruned} | {unpruned} | {} |", kind.name(), spread(&mut served), matches / count as u64);
    }
}
