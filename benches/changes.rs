//! The change feed from outside: release `archived` processes over
//! loopback, on SQLite (one process) and on PostgreSQL (writes through one
//! replica, the consumer on another, woken by NOTIFY). Each figure beside
//! its baseline, in the same run:
//!
//! - commit to consumer: CreateArticle one at a time, the time from its
//!   answer (after the commit) and from its send (before it) to the
//!   consumer holding the change, against the call's own round trip;
//! - feed throughput to one consumer draining a backlog, against reading
//!   the same rows straight from the database.
//!
//! The outbox's cost on writes (import rate with and without it) is
//! `scripts/h2load.sh --rpc import` on two builds. `scripts/bench.sh` runs
//! this with `ARCHIVE_BENCHES=changes`; see BENCHMARKS.md.

#[path = "../tests/it/common/mod.rs"]
mod common;

use archive::proto::v1::{
    self as pb, article_service_client::ArticleServiceClient, metadata_service_client::MetadataServiceClient,
};
use hdrhistogram::Histogram;
use sqlx::{Connection, Executor};
use std::time::Instant;

const WRITES: usize = 500;
const BACKLOG: i64 = 200_000;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("bounds")
}

fn ms(histogram: &Histogram<u64>, quantile: f64) -> String {
    format!("{:.2}", histogram.value_at_quantile(quantile) as f64 / 1000.0)
}

/// Quantiles, in ms, of one sequential write's round trip, and of its answer
/// and its send to the consumer holding the change.
async fn latency(writer: tonic::transport::Channel, reader: tonic::transport::Channel) -> [Histogram<u64>; 3] {
    let mut metadata = MetadataServiceClient::new(reader);
    let cursor = metadata.get_change_cursor(pb::GetChangeCursorRequest {}).await.unwrap().into_inner().cursor;
    let request = pb::WatchChangesRequest { cursor, ..Default::default() };
    let mut stream = metadata.watch_changes(request).await.unwrap().into_inner();
    let (seen, mut arrivals) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(message)) = stream.message().await {
            let now = Instant::now();
            for change in message.changes {
                let _ = seen.send((change.name, now));
            }
        }
    });
    let mut articles = ArticleServiceClient::new(writer);
    let [mut round_trip, mut from_answer, mut from_send] = [histogram(), histogram(), histogram()];
    for n in 0..WRITES + 20 {
        let request = pb::CreateArticleRequest {
            article: Some(pb::Article {
                title: format!("Bản tin số {n}"),
                body: "Sáng 30/9, Ban Tuyên giáo Tỉnh ủy tổ chức hội nghị giao ban trực tuyến.".into(),
                ..Default::default()
            }),
            article_id: format!("tin-{n}"),
            request_id: String::new(),
        };
        let sent = Instant::now();
        articles.create_article(request).await.unwrap();
        let answered = Instant::now();
        let (name, arrived) = arrivals.recv().await.expect("the change arrives");
        assert_eq!(name, format!("articles/tin-{n}"));
        if n < 20 {
            continue; // warm-up
        }
        round_trip.record(answered.duration_since(sent).as_micros().max(1) as u64).unwrap();
        from_answer.record(arrived.saturating_duration_since(answered).as_micros().max(1) as u64).unwrap();
        from_send.record(arrived.duration_since(sent).as_micros().max(1) as u64).unwrap();
    }
    [round_trip, from_answer, from_send]
}

/// A backlog written straight into the feed, drained by one consumer;
/// events/s, and rows/s read from the database directly in the same pages.
async fn throughput(url: &str, channel: tonic::transport::Channel) -> (f64, f64) {
    let mut db = sqlx::AnyConnection::connect(url).await.unwrap();
    let now_us = chrono::Utc::now().timestamp_micros();
    let (start, feed): (i64, String) =
        sqlx::query_as("SELECT last_seq, feed_id FROM change_feed").fetch_one(&mut db).await.unwrap();
    let title = "Hội nghị giao ban trực tuyến sinh hoạt chi bộ";
    let rows = if url.starts_with("postgres") {
        format!("SELECT g FROM generate_series({}, {}) AS g", start + 1, start + BACKLOG)
    } else {
        format!(
            "WITH RECURSIVE n(g) AS (SELECT {} UNION ALL SELECT g + 1 FROM n WHERE g < {}) SELECT g FROM n",
            start + 1,
            start + BACKLOG
        )
    };
    let insert = format!(
        "INSERT INTO changes (seq, commit_time_us, kind, name, detail) SELECT g, {now_us}, 'article_updated', \
         'articles/bai-' || g, '{{\"revision\":2,\"title\":\"{title}\"}}' FROM ({rows}) AS s"
    );
    db.execute(sqlx::AssertSqlSafe(insert)).await.unwrap();
    db.execute(sqlx::AssertSqlSafe(format!("UPDATE change_feed SET last_seq = {}", start + BACKLOG))).await.unwrap();

    let started = Instant::now();
    let mut after = start;
    while after < start + BACKLOG {
        let page: Vec<(i64, String)> =
            sqlx::query_as("SELECT seq, detail FROM changes WHERE seq > $1 ORDER BY seq LIMIT 500")
                .bind(after)
                .fetch_all(&mut db)
                .await
                .unwrap();
        after = page.last().map(|(seq, _)| *seq).unwrap();
    }
    let direct = BACKLOG as f64 / started.elapsed().as_secs_f64();

    let mut metadata = MetadataServiceClient::new(channel);
    let request = pb::WatchChangesRequest { cursor: format!("{feed}:{start}"), ..Default::default() };
    let started = Instant::now();
    let mut stream = metadata.watch_changes(request).await.unwrap().into_inner();
    let mut seen = 0;
    while seen < BACKLOG {
        seen += stream.message().await.unwrap().unwrap().changes.len() as i64;
    }
    (BACKLOG as f64 / started.elapsed().as_secs_f64(), direct)
}

#[tokio::main]
async fn main() {
    let mut table = vec![];
    // SQLite: one process, the consumer beside the writer.
    let dir = tempfile::tempdir().unwrap();
    let env = [("ARCHIVE__SERVER__GRPC_ADDR", "127.0.0.1:0"), ("ARCHIVE__SERVER__GATEWAY_ADDR", "127.0.0.1:0")];
    let sqlite = common::spawn_archived(dir.path(), &env);
    let channel = sqlite.channel().await;
    let sqlite_latency = latency(channel.clone(), channel.clone()).await;
    let url = format!("sqlite://{}", dir.path().join("data/archive.db").display());
    sqlx::any::install_default_drivers();
    let sqlite_throughput = throughput(&url, channel).await;
    drop(sqlite);
    table.push(("SQLite, one process", sqlite_latency, sqlite_throughput));

    // PostgreSQL: written through A, consumed through B.
    let dir = tempfile::tempdir().unwrap();
    let env = common::production_config(dir.path(), "").await;
    let (a, b) = (common::spawn_archived(dir.path(), &env), common::spawn_archived(dir.path(), &env));
    let postgres_latency = latency(a.channel().await, b.channel().await).await;
    let config: toml::Value =
        toml::from_str(&std::fs::read_to_string(dir.path().join("archived.toml")).unwrap()).unwrap();
    let url = config["metadata"]["url"].as_str().unwrap().to_owned();
    let postgres_throughput = throughput(&url, b.channel().await).await;
    table.push(("PostgreSQL, A writes, B consumes", postgres_latency, postgres_throughput));

    println!("\n| change feed ({WRITES} sequential writes; backlog {BACKLOG}) | p50 ms | p99 ms |");
    println!("| --- | --- | --- |");
    for (name, [round_trip, from_answer, from_send], _) in &table {
        println!(
            "| {name}: CreateArticle round trip (baseline) | {} | {} |",
            ms(round_trip, 0.5),
            ms(round_trip, 0.99)
        );
        println!("| {name}: answer → consumer | {} | {} |", ms(from_answer, 0.5), ms(from_answer, 0.99));
        println!("| {name}: send → consumer | {} | {} |", ms(from_send, 0.5), ms(from_send, 0.99));
    }
    println!("\n| feed throughput, one consumer | WatchChanges events/s | database rows/s (baseline) | ratio |");
    println!("| --- | --- | --- | --- |");
    for (name, _, (feed, direct)) in &table {
        println!("| {name} | {feed:.0} | {direct:.0} | {:.2} |", feed / direct);
    }
}
