//! The article cache (GetArticle's current revision) stays true: every
//! kind of write is seen by the next read on the replica that made it, and
//! by reads on another replica within the bound docs/design.md states.

use crate::common::{Stack, TestServer, article, fixture, spawn_archived, update_request};
use archive::proto::v1::{self as pb, article_service_client::ArticleServiceClient};
use tonic::Code;

const OCTOBER_2019: i64 = 1_569_862_800;

async fn get(server: &TestServer, name: &str) -> Result<pb::Article, tonic::Status> {
    let request = pb::GetArticleRequest { name: name.into(), ..Default::default() };
    Ok(server.articles().get_article(request).await?.into_inner().article.expect("article"))
}

/// What a basic GetArticle answers of `article` (no body).
fn basic(article: &pb::Article) -> pb::Article {
    pb::Article { body: String::new(), ..article.clone() }
}

/// The hits the cache answered, from the admin listener's metrics.
async fn hits(server: &TestServer) -> f64 {
    let metrics = reqwest::get(format!("http://{}/metrics", server.admin_addr)).await.unwrap().text().await.unwrap();
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("archive_article_cache_lookups_total{result=\"hit\"} "))
        .map_or(0.0, |value| value.parse().unwrap())
}

async fn every_write_is_read_back_at_once(stack: Stack) {
    let server = TestServer::start(stack).await;
    let request = pb::CreateArticleRequest {
        request_id: String::new(),
        article: Some(article("Tin", "Nội dung.\n\nVideo: clip.mp4", "Phạm Ngọc", &["Thái Bình"], OCTOBER_2019)),
        article_id: "tin".into(),
    };
    let created = server.articles().create_article(request).await.unwrap().into_inner().article.unwrap();
    let name = created.name.clone();
    let before = hits(&server).await;
    for _ in 0..5 {
        assert_eq!(get(&server, &name).await.unwrap(), basic(&created));
    }
    assert!(hits(&server).await >= before + 4.0, "warm reads are hits");

    let retitled = update_request(&created, &["title"], |new| new.title = "Tin mới".into());
    let updated = server.articles().update_article(retitled).await.unwrap().into_inner().article.unwrap();
    assert_eq!(get(&server, &name).await.unwrap(), basic(&updated), "an update");

    let view = pb::RecordViewRequest { name: name.clone(), count: 7 };
    let views = server.metadata().record_view(view).await.unwrap().into_inner().view_count;
    assert_eq!(get(&server, &name).await.unwrap().view_count, views, "views");

    let hold = |legal_hold| pb::SetLegalHoldRequest { name: name.clone(), legal_hold };
    server.articles().set_legal_hold(hold(true)).await.unwrap();
    assert!(get(&server, &name).await.unwrap().legal_hold, "a hold");
    server.articles().set_legal_hold(hold(false)).await.unwrap();
    assert!(!get(&server, &name).await.unwrap().legal_hold, "a hold cleared");

    let clip = server.upload("clip.mp4", fixture("clip-faststart.mp4")).await.unwrap();
    let attach =
        pb::AttachMediaRequest { article: name.clone(), media: clip.name.clone(), reference: "clip.mp4".into() };
    server.media().attach_media(attach).await.unwrap();
    assert_eq!(get(&server, &name).await.unwrap().media[0].media, clip.name, "an attach");
    let detach = pb::DetachMediaRequest { article: name.clone(), reference: "clip.mp4".into() };
    server.media().detach_media(detach).await.unwrap();
    assert_eq!(get(&server, &name).await.unwrap().media[0].media, "", "a detach");

    let delete = pb::DeleteArticleRequest { name: name.clone(), etag: String::new() };
    server.articles().delete_article(delete).await.unwrap();
    assert_eq!(get(&server, &name).await.unwrap_err().code(), Code::NotFound, "a deletion");
    assert_eq!(get(&server, &name).await.unwrap_err().code(), Code::NotFound, "NOT_FOUND is not cached away");
    server.articles().undelete_article(pb::UndeleteArticleRequest { name: name.clone() }).await.unwrap();
    assert_eq!(get(&server, &name).await.unwrap().title, "Tin mới", "an undeletion");
}

async fn list(server: &TestServer) -> Vec<pb::Article> {
    let request = pb::ListArticlesRequest { page_size: 10, ..Default::default() };
    server.metadata().list_articles(request).await.unwrap().into_inner().articles
}

/// Listings take their articles from the cache when it holds the listed
/// revision, and every write shows in the next listing.
async fn listings_come_from_the_cache_and_stay_true(stack: Stack) {
    let server = TestServer::start(stack).await;
    let mut created = Vec::new();
    for (i, id) in ["mot", "hai", "ba"].into_iter().enumerate() {
        let request = pb::CreateArticleRequest {
            request_id: String::new(),
            article: Some(article(
                id,
                "Nội dung.\n\nVideo: clip.mp4",
                "Phạm Ngọc",
                &["Thái Bình"],
                OCTOBER_2019 + i as i64,
            )),
            article_id: id.into(),
        };
        created.push(server.articles().create_article(request).await.unwrap().into_inner().article.unwrap());
    }
    let newest_first: Vec<pb::Article> = created.iter().rev().map(basic).collect();
    assert_eq!(list(&server).await, newest_first, "a first listing (fills)");
    let before = hits(&server).await;
    assert_eq!(list(&server).await, newest_first, "a second listing");
    assert!(hits(&server).await >= before + 3.0, "the second listing's articles are hits");

    let retitled = update_request(&created[1], &["title"], |new| new.title = "hai mới".into());
    let updated = server.articles().update_article(retitled).await.unwrap().into_inner().article.unwrap();
    assert_eq!(list(&server).await[1], basic(&updated), "an update");

    let view = pb::RecordViewRequest { name: updated.name.clone(), count: 3 };
    let views = server.metadata().record_view(view).await.unwrap().into_inner().view_count;
    assert_eq!(list(&server).await[1].view_count, views, "views");

    let clip = server.upload("clip.mp4", fixture("clip-faststart.mp4")).await.unwrap();
    let attach = pb::AttachMediaRequest {
        article: updated.name.clone(),
        media: clip.name.clone(),
        reference: "clip.mp4".into(),
    };
    server.media().attach_media(attach).await.unwrap();
    assert_eq!(list(&server).await[1].media[0].media, clip.name, "an attach");

    let delete = pb::DeleteArticleRequest { name: created[2].name.clone(), etag: String::new() };
    server.articles().delete_article(delete).await.unwrap();
    let names: Vec<String> = list(&server).await.into_iter().map(|a| a.name).collect();
    assert_eq!(names, [created[1].name.clone(), created[0].name.clone()], "a deletion");
    for listed in list(&server).await {
        assert_eq!(get(&server, &listed.name).await.unwrap(), listed, "listing and GetArticle agree");
    }
}

on_both_stacks!(every_write_is_read_back_at_once, listings_come_from_the_cache_and_stay_true);

/// An update through A is read through B within a second (PostgreSQL
/// NOTIFY wakes B's consumer), and a client reading B never sees a revision
/// older than one it saw there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_on_one_replica_is_read_on_the_other_within_a_second() {
    crate::skip_without!(S3, POSTGRES);
    let dir = tempfile::tempdir().unwrap();
    let env = crate::common::production_config(dir.path(), "").await;
    let (a, b) = (spawn_archived(dir.path(), &env), spawn_archived(dir.path(), &env));
    let mut articles_a = ArticleServiceClient::new(a.channel().await);
    let mut articles_b = ArticleServiceClient::new(b.channel().await);
    let request = pb::CreateArticleRequest {
        request_id: String::new(),
        article: Some(article("Tin", "Nội dung.", "Phạm Ngọc", &[], OCTOBER_2019)),
        article_id: String::new(),
    };
    let mut current = articles_a.create_article(request).await.unwrap().into_inner().article.unwrap();
    let read = pb::GetArticleRequest { name: current.name.clone(), ..Default::default() };
    let mut waits = Vec::new();
    for round in 0..20 {
        articles_b.get_article(read.clone()).await.unwrap(); // warm on B
        let retitle = update_request(&current, &["title"], |new| new.title = format!("Tin {round}"));
        current = articles_a.update_article(retitle).await.unwrap().into_inner().article.unwrap();
        let written = std::time::Instant::now();
        let mut seen = 0;
        loop {
            let on_b = articles_b.get_article(read.clone()).await.unwrap().into_inner().article.unwrap();
            assert!(on_b.revision >= seen, "round {round}: revision {} after {seen}", on_b.revision);
            seen = on_b.revision;
            if on_b == basic(&current) {
                break;
            }
            assert!(written.elapsed() < std::time::Duration::from_secs(1), "round {round}: B still stale");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        waits.push(written.elapsed());
    }
    waits.sort();
    println!("update on A read on B after: median {:?}, max {:?}", waits[10], waits[19]);
}
