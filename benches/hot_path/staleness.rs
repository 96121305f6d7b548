//! Staleness across replicas: an article read on replica B (so B holds
//! it in its article cache) is updated on replica A; from A's answer, B is
//! read as fast as it answers until it serves the new revision. The time
//! from A's answer to B's first new read is one sample.

use super::{Archived, Database, Line, ms};
use archive::proto::v1::{self as pb, article_service_client::ArticleServiceClient};
use std::time::{Duration, Instant};

/// No sample waits longer: past it the bench fails.
const LONGEST: Duration = Duration::from_secs(10);

pub async fn row(samples: usize, (a, b): (&Archived, &Archived), names: &[String]) -> Line {
    let mut on_a = ArticleServiceClient::new(archive::client::connect(&a.grpc).await.expect("connects to A"));
    let mut on_b = ArticleServiceClient::new(archive::client::connect(&b.grpc).await.expect("connects to B"));
    let read = |name: &str| pb::GetArticleRequest { name: name.to_owned(), ..Default::default() };
    let mut times = Vec::with_capacity(samples);
    for (sample, name) in names.iter().cycle().take(samples).enumerate() {
        let seen = on_b.get_article(read(name)).await.expect("reads on B").into_inner().article.expect("article");
        let update = pb::UpdateArticleRequest {
            article: Some(pb::Article {
                name: name.clone(),
                title: format!("{} ({sample})", seen.title),
                ..Default::default()
            }),
            update_mask: Some(pbjson_types::FieldMask { paths: vec!["title".into()] }),
            etag: seen.etag,
        };
        let updated = on_a.update_article(update).await.expect("updates on A").into_inner().article.expect("article");
        let answered = Instant::now();
        loop {
            let now = on_b.get_article(read(name)).await.expect("reads on B").into_inner().article.expect("article");
            if now.revision >= updated.revision {
                break;
            }
            assert!(answered.elapsed() < LONGEST, "B still serves revision {} after {LONGEST:?}", now.revision);
        }
        times.push(answered.elapsed());
        // Spaced out, as edits are: each sample starts with B caught up.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    times.sort();
    let quantile = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    let (p50, p99) = (quantile(0.50), quantile(0.99));
    Line {
        measurement: format!("staleness: update on replica A to the new revision read on B ({samples} samples)"),
        database: Database::Postgres,
        figure: format!("p50 {} · p99 {} ms", ms(p50), ms(p99)),
        baseline: String::new(),
        ratio: format!("goal p99 < 50 ms: {}", if p99 < Duration::from_millis(50) { "met" } else { "missed" }),
    }
}
