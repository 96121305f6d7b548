//! The embedded default under concurrent writers: SQLite has one writer at
//! a time, and archived must queue its writes, never answer SQLITE_BUSY.

use crate::common::{Stack, TestServer, update_request};
use archive::proto::v1 as pb;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const WRITERS: usize = 64;
const RUN: Duration = Duration::from_secs(4);

/// 64 writers for a few seconds, each its own article: import, then
/// alternately update its title, count views and upload a small clip.
/// Every call succeeds, and every write is there afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_takes_64_concurrent_writers_without_busy_errors() {
    // As many upload slots as writers: the upload limit is not under test.
    let server =
        TestServer::start_with(Stack::Embedded, |settings| settings.media.max_concurrent_uploads = WRITERS).await;
    let export = crate::common::fixture("article-2019-09-30-giao-ban-truc-tuyen.txt");
    let (writes, uploads) = (AtomicU64::new(0), AtomicU64::new(0));
    let started = Instant::now();
    let writers = (0..WRITERS).map(|writer| {
        let (server, export, writes, uploads) = (&server, export.clone(), &writes, &uploads);
        async move {
            let id = format!("w{writer}");
            let import = pb::ImportArticleRequest {
                request_id: String::new(),
                export_text: export.into(),
                article_id: id.clone(),
            };
            let mut article = server.articles().import_article(import).await?.into_inner().article.unwrap();
            let (mut titles, mut views) = (0u32, 0i64);
            while started.elapsed() < RUN {
                match (titles + views as u32) % 3 {
                    0 => {
                        titles += 1;
                        let title = format!("Bài {writer}, lần {titles}");
                        let update = update_request(&article, &["title"], |new| new.title = title);
                        article = server.articles().update_article(update).await?.into_inner().article.unwrap();
                    }
                    1 => {
                        views += 1;
                        let view = pb::RecordViewRequest { name: article.name.clone(), count: 1 };
                        server.metadata().record_view(view).await?;
                    }
                    _ => {
                        titles += 1; // keeps the rotation going
                        server.upload(&format!("{id}.bin"), vec![writer as u8; 4096]).await?;
                        uploads.fetch_add(1, Ordering::Relaxed);
                    }
                }
                writes.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, tonic::Status>((article, views))
        }
    });
    let results = futures::future::join_all(writers).await;
    let elapsed = started.elapsed();
    let failures: Vec<&tonic::Status> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    let busy = failures.iter().filter(|s| s.message().contains("locked") || s.message().contains("busy")).count();
    let total = writes.load(Ordering::Relaxed);
    println!(
        "{WRITERS} writers, {:.1} s: {total} writes ({:.0}/s, {} uploads), {} errors, {busy} SQLITE_BUSY",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        uploads.load(Ordering::Relaxed),
        failures.len()
    );
    assert!(failures.is_empty(), "{} writers failed, {busy} busy: {:?}", failures.len(), failures.first());
    assert!(total >= WRITERS as u64, "every writer wrote");

    // Every acknowledged write is there.
    for (article, views) in results.into_iter().map(Result::unwrap) {
        let request = pb::GetArticleRequest { name: article.name.clone(), ..Default::default() };
        let stored = server.articles().get_article(request).await.unwrap().into_inner().article.unwrap();
        assert_eq!((stored.revision, &stored.title), (article.revision, &article.title), "the last update");
        assert_eq!(stored.view_count, 89 + views, "{}: every view counted", article.name);
    }
    let counts = server.metadata().get_archive_statistics(pb::GetArchiveStatisticsRequest {}).await.unwrap();
    assert_eq!(counts.into_inner().media_count as u64, uploads.load(Ordering::Relaxed), "every clip recorded");
}
