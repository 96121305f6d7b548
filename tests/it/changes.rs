//! The change feed (issue 20): every kind of change has its event with its
//! fields, in commit order, on both databases; a failed write has none;
//! cursors resume without gaps and are refused once pruned or from another
//! database; concurrent writers on PostgreSQL give a gapless feed; a
//! consumer on one replica sees writes made through another.

use crate::common::{Stack, TestServer, fixture, production_config, reason, spawn_archived, update_request};
use archive::proto::v1::{
    self as pb, ChangeKind, article_service_client::ArticleServiceClient,
    metadata_service_client::MetadataServiceClient,
};
use std::time::Duration;
use tonic::{Code, Streaming, transport::Channel};

/// Changes from `stream` until `count` arrived (at most `limit` to wait).
async fn next_changes(stream: &mut Streaming<pb::WatchChangesResponse>, count: usize) -> Vec<pb::Change> {
    let mut changes = Vec::new();
    let collect = async {
        while changes.len() < count {
            let message = stream.message().await.expect("the watch goes on").expect("the watch is open");
            changes.extend(message.changes);
        }
    };
    if tokio::time::timeout(Duration::from_secs(20), collect).await.is_err() {
        panic!("only {} of {count} changes arrived: {changes:#?}", changes.len());
    }
    changes
}

async fn watch(
    client: &mut MetadataServiceClient<Channel>,
    cursor: &str,
    kinds: &[ChangeKind],
    names: &[&str],
) -> Result<Streaming<pb::WatchChangesResponse>, tonic::Status> {
    let request = pb::WatchChangesRequest {
        cursor: cursor.into(),
        kinds: kinds.iter().map(|kind| *kind as i32).collect(),
        names: names.iter().map(|name| name.to_string()).collect(),
    };
    Ok(client.watch_changes(request).await?.into_inner())
}

async fn now_cursor(client: &mut MetadataServiceClient<Channel>) -> String {
    client.get_change_cursor(pb::GetChangeCursorRequest {}).await.unwrap().into_inner().cursor
}

/// The seq a cursor carries (`{feed}:{seq}`), to check there are no gaps.
fn seq(cursor: &str) -> i64 {
    cursor.rsplit_once(':').and_then(|(_, seq)| seq.parse().ok()).unwrap_or_else(|| panic!("cursor {cursor:?}"))
}

async fn every_change_has_its_event(stack: Stack) {
    let server = TestServer::start_with(stack, |settings| {
        settings.retention.deleted_retention_seconds = 0;
        settings.retention.purge_interval_seconds = 0;
        settings.metadata.view_flush_interval_seconds = 0;
    })
    .await;
    let (mut articles, mut metadata, mut media) = (server.articles(), server.metadata(), server.media());
    let start = now_cursor(&mut metadata).await;
    let mut live = watch(&mut metadata, &start, &[], &[]).await.unwrap();

    let article = pb::Article {
        title: "Hội nghị giao ban trực tuyến".into(),
        body: "Sáng 30/9, Ban Tuyên giáo Tỉnh ủy tổ chức hội nghị.".into(),
        publish_time: Some(pbjson_types::Timestamp { seconds: 1_569_838_859, nanos: 0 }),
        ..Default::default()
    };
    let request =
        pb::CreateArticleRequest { request_id: String::new(), article: Some(article), article_id: "giao-ban".into() };
    let created = articles.create_article(request).await.unwrap().into_inner().article.unwrap();
    let name = created.name.clone();
    let update = update_request(&created, &["title"], |new| new.title = "Giao ban quý III".into());
    let updated = articles.update_article(update).await.unwrap();
    let updated = updated.into_inner().article.unwrap();
    // Refused writes: a stale etag, then deleting a held article; neither has an event.
    let stale = update_request(&created, &["title"], |new| new.title = "Không được".into());
    let stale = articles.update_article(stale).await.unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let clip = server.upload("ban-tin.mp4", fixture("clip-faststart.mp4")).await.unwrap();
    let attach = pb::AttachMediaRequest { article: name.clone(), media: clip.name.clone(), reference: "clip".into() };
    media.attach_media(attach.clone()).await.unwrap();
    let detach = pb::DetachMediaRequest { article: name.clone(), reference: "clip".into() };
    media.detach_media(detach).await.unwrap();
    media.attach_media(attach).await.unwrap();
    metadata.record_view(pb::RecordViewRequest { name: name.clone(), count: 5 }).await.unwrap();
    metadata.record_view(pb::RecordViewRequest { name: name.clone(), count: 2 }).await.unwrap();
    server.archive.flush_views().await.unwrap();
    let hold = |legal_hold| pb::SetLegalHoldRequest { name: name.clone(), legal_hold };
    articles.set_legal_hold(hold(true)).await.unwrap();
    let delete = pb::DeleteArticleRequest { name: name.clone(), etag: String::new() };
    assert_eq!(articles.delete_article(delete.clone()).await.unwrap_err().code(), Code::FailedPrecondition);
    articles.set_legal_hold(hold(false)).await.unwrap();
    media.delete_media(pb::DeleteMediaRequest { name: clip.name.clone(), force: true }).await.unwrap();
    articles.delete_article(delete.clone()).await.unwrap();
    articles.undelete_article(pb::UndeleteArticleRequest { name: name.clone() }).await.unwrap();
    articles.delete_article(delete).await.unwrap();
    assert_eq!(server.archive.purge_expired().await.unwrap(), 1);

    use ChangeKind::*;
    let expected = [
        ArticleCreated,
        ArticleUpdated,
        MediaUploaded,
        MediaAttached,
        MediaDetached,
        MediaAttached,
        ArticleViews,
        LegalHoldSet,
        LegalHoldCleared,
        MediaDetached,
        MediaDeleted,
        ArticleDeleted,
        ArticleUndeleted,
        ArticleDeleted,
        ArticlePurged,
    ];
    let changes = next_changes(&mut live, expected.len()).await;
    let kinds: Vec<ChangeKind> = changes.iter().map(|change| change.kind()).collect();
    assert_eq!(kinds, expected, "{changes:#?}");
    // In commit order, no gaps, starting right after the cursor.
    let seqs: Vec<i64> = changes.iter().map(|change| seq(&change.cursor)).collect();
    let first = seq(&start) + 1;
    assert_eq!(seqs, (first..first + expected.len() as i64).collect::<Vec<_>>());
    assert_eq!(now_cursor(&mut metadata).await, changes.last().unwrap().cursor, "refused writes have no event");
    let time = |change: &pb::Change| change.commit_time.as_ref().map(|t| (t.seconds, t.nanos)).unwrap();
    assert!(changes.windows(2).all(|pair| time(&pair[0]) <= time(&pair[1])));

    // What a consumer acts on, without another call.
    let [created_change, updated_change, uploaded, attached, detached, ..] = changes.as_slice() else { panic!() };
    assert_eq!((created_change.name.as_str(), created_change.revision), (name.as_str(), 1));
    assert_eq!(
        (created_change.etag.as_str(), created_change.title.as_str()),
        (created.etag.as_str(), "Hội nghị giao ban trực tuyến")
    );
    assert_eq!(created_change.publish_time.as_ref().map(|t| t.seconds), Some(1_569_838_859));
    assert_eq!((updated_change.revision, updated_change.etag.as_str()), (2, updated.etag.as_str()));
    assert_eq!(updated_change.title, "Giao ban quý III");
    assert_eq!((uploaded.name.as_str(), uploaded.filename.as_str()), (clip.name.as_str(), "ban-tin.mp4"));
    assert_eq!((uploaded.size_bytes, uploaded.sha256.as_str()), (clip.size_bytes, clip.sha256.as_str()));
    assert_eq!(uploaded.content_type, "video/mp4");
    for link in [attached, detached] {
        assert_eq!(
            (link.name.as_str(), link.media.as_str(), link.reference.as_str()),
            (name.as_str(), clip.name.as_str(), "clip")
        );
    }
    assert_eq!(changes[6].view_count, 7, "views as one total per flush");
    assert_eq!((changes[9].media.as_str(), changes[9].reference.as_str()), (clip.name.as_str(), "clip"));
    assert_eq!(changes[10].name, clip.name);
    assert_eq!(changes[11].title, "Giao ban quý III");
    assert_eq!(changes[14].name, name);

    // Filters: a clip's links and deletion, by kind and by name.
    let link_kinds = [MediaAttached, MediaDetached, MediaDeleted];
    let mut links = watch(&mut metadata, &start, &link_kinds, &[&clip.name]).await.unwrap();
    let kinds: Vec<ChangeKind> = next_changes(&mut links, 5).await.iter().map(|change| change.kind()).collect();
    assert_eq!(kinds, [MediaAttached, MediaDetached, MediaAttached, MediaDetached, MediaDeleted]);

    // Resuming after the 5th change gives the 6th on, exactly.
    let mut resumed = watch(&mut metadata, &changes[4].cursor, &[], &[]).await.unwrap();
    let rest = next_changes(&mut resumed, expected.len() - 5).await;
    assert_eq!(rest, changes[5..]);
}

async fn cursors_are_checked(stack: Stack) {
    let server = TestServer::start(stack).await;
    let other = TestServer::start(stack).await;
    let mut metadata = server.metadata();
    let old = now_cursor(&mut metadata).await;
    let request = pb::CreateArticleRequest {
        article: Some(pb::Article { title: "Tin ngắn".into(), body: "Nội dung".into(), ..Default::default() }),
        ..Default::default()
    };
    server.articles().create_article(request).await.unwrap();
    let latest = now_cursor(&mut metadata).await;
    assert_eq!(seq(&latest), seq(&old) + 1);

    let refused = |status: tonic::Status| (status.code(), reason(&status));
    for garbage in ["garbage", "ab:cd", "zz:1", ":3"] {
        let status = watch(&mut metadata, garbage, &[], &[]).await.expect_err("refused");
        assert_eq!(refused(status), (Code::InvalidArgument, "INVALID_CURSOR".into()), "{garbage}");
    }
    let foreign = now_cursor(&mut other.metadata()).await;
    let status = watch(&mut metadata, &foreign, &[], &[]).await.expect_err("another database's cursor");
    assert!(status.message().contains("another database"), "{}", status.message());
    assert_eq!(refused(status), (Code::OutOfRange, "CURSOR_EXPIRED".into()));
    let kinds = pb::WatchChangesRequest { kinds: vec![0], ..Default::default() };
    assert_eq!(metadata.watch_changes(kinds).await.err().map(|s| s.code()), Some(Code::InvalidArgument));
    let names = pb::WatchChangesRequest { names: vec!["khong-phai-ten".into()], ..Default::default() };
    assert_eq!(metadata.watch_changes(names).await.err().map(|s| s.code()), Some(Code::InvalidArgument));

    // Pruned (once the manifest repair has seen them): the old cursor must
    // resync; the latest still works.
    let later = chrono::Utc::now() + chrono::Duration::days(1);
    assert_eq!(server.archive.metadata().prune_changes(later, 100).await.unwrap(), 0, "not before the repair");
    server.archive.repair_manifests(Duration::ZERO).await.unwrap();
    assert_eq!(server.archive.metadata().prune_changes(later, 100).await.unwrap(), 1);
    let status = watch(&mut metadata, &old, &[], &[]).await.expect_err("a pruned cursor");
    assert!(status.message().contains("older than the change feed keeps"), "{}", status.message());
    assert!(status.message().contains("resync with ListArticles"), "{}", status.message());
    assert_eq!(refused(status), (Code::OutOfRange, "CURSOR_EXPIRED".into()));
    let mut from_latest = watch(&mut metadata, &latest, &[], &[]).await.expect("the latest cursor works");
    let request = pb::CreateArticleRequest {
        article: Some(pb::Article { title: "Tin thứ hai".into(), body: "Nội dung".into(), ..Default::default() }),
        ..Default::default()
    };
    server.articles().create_article(request).await.unwrap();
    assert_eq!(next_changes(&mut from_latest, 1).await[0].title, "Tin thứ hai");
}

on_both_stacks!(every_change_has_its_event, cursors_are_checked);

/// 16 writers on PostgreSQL, their commits interleaved, while a consumer
/// follows: a feed with no gap and no reordering, matching the final state.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_on_postgresql_give_a_gapless_feed() {
    crate::skip_without!(S3, POSTGRES);
    let server = TestServer::start(Stack::Production).await;
    let mut metadata = server.metadata();
    let start = now_cursor(&mut metadata).await;
    let mut live = watch(&mut metadata, &start, &[], &[]).await.unwrap();
    const WRITERS: usize = 16;
    const UPDATES: usize = 8;
    let writers = (0..WRITERS).map(|writer| {
        let mut articles = server.articles();
        tokio::spawn(async move {
            let request = pb::CreateArticleRequest {
                request_id: String::new(),
                article: Some(pb::Article {
                    title: format!("Bài {writer}"),
                    body: "Nội dung".into(),
                    ..Default::default()
                }),
                article_id: format!("bai-{writer:02}"),
            };
            let mut article = articles.create_article(request).await.unwrap().into_inner().article.unwrap();
            for round in 0..UPDATES {
                let update =
                    update_request(&article, &["title"], |new| new.title = format!("Bài {writer}, bản {round}"));
                article = articles.update_article(update).await.unwrap().into_inner().article.unwrap();
            }
            article
        })
    });
    let finals: Vec<pb::Article> = futures::future::try_join_all(writers).await.unwrap();
    let total = WRITERS * (UPDATES + 1);
    let changes = next_changes(&mut live, total).await;
    assert_eq!(changes.len(), total);
    let seqs: Vec<i64> = changes.iter().map(|change| seq(&change.cursor)).collect();
    let first = seq(&start) + 1;
    assert_eq!(seqs, (first..first + total as i64).collect::<Vec<_>>(), "gapless, in order");
    for article in &finals {
        let mine: Vec<&pb::Change> = changes.iter().filter(|change| change.name == article.name).collect();
        let revisions: Vec<i64> = mine.iter().map(|change| change.revision).collect();
        assert_eq!(revisions, (1..=UPDATES as i64 + 1).collect::<Vec<_>>(), "{}", article.name);
        let last = mine.last().unwrap();
        assert_eq!((last.etag.as_str(), last.title.as_str()), (article.etag.as_str(), article.title.as_str()));
    }
}

/// Two archived on one PostgreSQL: a consumer on B sees writes made through
/// A in order, woken by NOTIFY (B's poll is a minute); after B is killed
/// mid-watch, A resumes from the last cursor B gave, with no gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_on_one_replica_follows_writes_through_another() {
    crate::skip_without!(S3, POSTGRES);
    let dir = tempfile::tempdir().unwrap();
    let env = production_config(dir.path(), "[changes]\npoll_interval_ms = 60000\n").await;
    let (a, b) = (spawn_archived(dir.path(), &env), spawn_archived(dir.path(), &env));
    let mut articles_a = ArticleServiceClient::new(a.channel().await);
    let mut metadata_b = MetadataServiceClient::new(b.channel().await);
    let start = now_cursor(&mut metadata_b).await;
    let mut on_b = watch(&mut metadata_b, &start, &[], &[]).await.unwrap();
    let create = |n: usize| pb::CreateArticleRequest {
        request_id: String::new(),
        article: Some(pb::Article {
            title: format!("Bản tin số {n}"), body: "Nội dung".into(), ..Default::default()
        }),
        article_id: format!("ban-tin-{n}"),
    };
    for n in 0..3 {
        articles_a.create_article(create(n)).await.unwrap();
        let started = std::time::Instant::now();
        let change = next_changes(&mut on_b, 1).await.remove(0);
        assert_eq!(change.title, format!("Bản tin số {n}"));
        assert!(started.elapsed() < Duration::from_secs(30), "woken by NOTIFY, not the minute's poll");
    }
    let last_seen = now_cursor(&mut metadata_b).await;
    drop(on_b);
    drop(b); // SIGKILL
    for n in 3..6 {
        articles_a.create_article(create(n)).await.unwrap();
    }
    let mut metadata_a = MetadataServiceClient::new(a.channel().await);
    let mut on_a = watch(&mut metadata_a, &last_seen, &[], &[]).await.unwrap();
    let rest = next_changes(&mut on_a, 3).await;
    let titles: Vec<&str> = rest.iter().map(|change| change.title.as_str()).collect();
    assert_eq!(titles, ["Bản tin số 3", "Bản tin số 4", "Bản tin số 5"]);
    assert_eq!(seq(&rest[0].cursor), seq(&last_seen) + 1);
}

/// `archivectl watch`: one JSON line per change and the cursor last, or
/// text lines; a kind it does not know is a usage error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archivectl_watch_prints_changes_and_the_cursor_to_resume_from() {
    let server = TestServer::start(Stack::Embedded).await;
    let dir = tempfile::tempdir().unwrap();
    let grpc = format!("http://{}", server.grpc_addr);
    let since = now_cursor(&mut server.metadata()).await;
    let run = |args: Vec<String>| {
        let mut command = crate::cli::archivectl_command(dir.path());
        command.args(["--server", &grpc]).args(args);
        tokio::task::spawn_blocking(move || command.output().unwrap())
    };
    let json = run(["-O", "json", "watch", "--since", &since, "--limit", "2"].map(String::from).to_vec());
    let text =
        run(["watch", "--since", &since, "--kinds", "article_updated", "--limit", "1"].map(String::from).to_vec());
    let mut articles = server.articles();
    let request = pb::CreateArticleRequest {
        request_id: String::new(),
        article: Some(pb::Article {
            title: "Thời sự tối".into(), body: "Nội dung".into(), ..Default::default()
        }),
        article_id: "thoi-su".into(),
    };
    let created = articles.create_article(request).await.unwrap().into_inner().article.unwrap();
    let update = update_request(&created, &["title"], |new| new.title = "Thời sự 19 giờ".into());
    articles.update_article(update).await.unwrap();

    let output = json.await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8(output.stdout).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let [created_line, updated_line, end] = lines.as_slice() else { panic!("{lines:?}") };
    assert_eq!(
        (created_line["kind"].as_str(), created_line["title"].as_str()),
        (Some("CHANGE_KIND_ARTICLE_CREATED"), Some("Thời sự tối"))
    );
    assert_eq!(updated_line["revision"], "2");
    assert_eq!(end["cursor"], updated_line["cursor"], "resume after the last change printed");
    assert_eq!(seq(end["cursor"].as_str().unwrap()), seq(&since) + 2);

    let output = text.await.unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success());
    assert!(stdout.trim_end().ends_with("\tarticle_updated\tarticles/thoi-su\tr2 Thời sự 19 giờ"), "{stdout}");
    assert!(stdout.starts_with("20"), "a time first: {stdout}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("resume with: archivectl watch --since "));

    let output = run(["watch", "--kinds", "article_exploded"].map(String::from).to_vec()).await.unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("one of article_created, article_updated"));
}

/// Watches are not counted in flight (three outlive a limit of two), and a
/// server that starts shutting down ends them UNAVAILABLE with the cursor
/// to resume from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_are_not_counted_in_flight_and_end_at_shutdown() {
    let mut server =
        TestServer::start_with(Stack::Embedded, |settings| settings.server.max_in_flight_requests = 2).await;
    let mut metadata = server.metadata();
    let cursor = now_cursor(&mut metadata).await;
    let mut watches = Vec::new();
    for _ in 0..3 {
        watches.push(watch(&mut metadata, &cursor, &[], &[]).await.expect("a watch is admitted"));
    }
    assert!(now_cursor(&mut metadata).await.starts_with(cursor.split(':').next().unwrap()), "unary calls still go");
    // The database outlives the server here: with its directory gone, a
    // watch could fail on a missing file before it sees the shutdown.
    let _database = std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap());
    drop(server); // starts the shutdown
    for mut watch in watches {
        let ended = tokio::time::timeout(Duration::from_secs(10), watch.message()).await.expect("ends at shutdown");
        let status = ended.expect_err("UNAVAILABLE");
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        assert!(status.message().contains(&format!("watch again from cursor {cursor}")), "{}", status.message());
    }
}
