//! What an export or a write may carry (findings 1, 2, 7, 8 and part of 9
//! of issue 32): clip references that are paths, imports too large to
//! answer or too costly to store, retries that must not duplicate, view
//! counts that overflowed statistics, names echoed whole, upload sessions
//! anyone could take over, a database file others could read.

use crate::common::{Stack, TestServer, files_under, fixture, reason, s3_leftovers};
use archive::proto::v1 as pb;
use std::time::{Duration, Instant};
use tonic::Code;

const SEED: &str = "article-2019-09-30-giao-ban-truc-tuyen.txt";

/// The code and ErrorInfo reason of a refusal.
fn refusal<T: std::fmt::Debug>(result: Result<T, tonic::Status>) -> (Code, String) {
    let status = result.expect_err("refused");
    (status.code(), reason(&status))
}

/// A fresh article id, unique in the shared test bucket.
fn fresh_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// What the stores hold of article `id`: its record (if any) and objects.
async fn traces_of(server: &TestServer, id: &str) -> (bool, Vec<String>) {
    let request = pb::GetArticleRequest { name: format!("articles/{id}"), ..Default::default() };
    let recorded = server.articles().get_article(request).await.is_ok();
    let objects = match server.stack {
        Stack::Embedded => files_under(&server.blob_root().join("articles").join(id)),
        Stack::Production => s3_leftovers(&format!("articles/{id}/")).await.0,
    };
    (recorded, objects)
}

async fn import(server: &TestServer, text: impl Into<Vec<u8>>, id: &str) -> Result<pb::Article, tonic::Status> {
    let request =
        pb::ImportArticleRequest { export_text: text.into().into(), article_id: id.into(), request_id: "".into() };
    Ok(server.articles().import_article(request).await?.into_inner().article.expect("article"))
}

fn seed() -> String {
    String::from_utf8(fixture(SEED)).unwrap()
}

/// Finding 1: `Video:` lines naming paths (the probe pulled the tokens file
/// off the importing machine) are refused by the server, and nothing is kept.
async fn clip_references_that_are_paths_are_refused(stack: Stack) {
    let server = TestServer::start(stack).await;
    for reference in ["../../secret", "/etc/archived/tokens.toml", "..\\..\\secret", "C:secret.mp4", ".."] {
        let text = seed().replace("Video: 93019_OHAI1.mp4", &format!("Video: {reference}"));
        let id = fresh_id("duong-dan");
        let (code, reason) = refusal(import(&server, text, &id).await);
        assert_eq!((code, reason.as_str()), (Code::InvalidArgument, "INVALID_CLIP_REFERENCE"), "{reference}");
        assert_eq!(traces_of(&server, &id).await, (false, vec![]), "{reference}: nothing kept");
    }
    // The same rule on CreateArticle and AttachMedia.
    let body = "Đoạn một.\n\nVideo: ../ban-tin.mp4\n".to_owned();
    let article = pb::Article { title: "Tiêu đề".into(), body, ..Default::default() };
    let created = server
        .articles()
        .create_article(pb::CreateArticleRequest { article: Some(article), ..Default::default() })
        .await;
    assert_eq!(refusal(created).1, "INVALID_CLIP_REFERENCE");
    let article = import(&server, seed(), &fresh_id("hop-le")).await.expect("the seed imports");
    let clip = server.upload("ban-tin.mp4", fixture("clip-faststart.mp4")).await.unwrap();
    let attach = pb::AttachMediaRequest { article: article.name, media: clip.name, reference: "../x.mp4".into() };
    assert_eq!(refusal(server.media().attach_media(attach).await).1, "INVALID_CLIP_REFERENCE");
}

/// Finding 2: 100k clip references, a 10 MB title, an oversized body: each
/// refused at once with its reason, nothing written.
async fn oversized_imports_are_refused_fast_and_leave_nothing(stack: Stack) {
    let server = TestServer::start(stack).await;
    let references: String = (0..100_000).map(|i| format!("Video: c{i}.mp4\n")).collect();
    let text = seed().replace("Video: 93019_OHAI1.mp4", &references);
    assert!(text.len() < 2 << 20, "under the body limit: the reference count is what is refused");
    let id = fresh_id("nhieu-clip");
    let started = Instant::now();
    let (code, reason) = refusal(import(&server, text, &id).await);
    let took = started.elapsed();
    assert_eq!((code, reason.as_str()), (Code::InvalidArgument, "TOO_MANY_CLIP_REFERENCES"));
    // The probe's 300k references took minutes of CPU and then committed.
    assert!(took < Duration::from_secs(5), "refused in {took:?}");
    assert_eq!(traces_of(&server, &id).await, (false, vec![]));

    // A 10 MB title: over the message limit before it is read.
    let text = seed().replacen("Giao ban", &"Giao ban ".repeat((10 << 20) / 9), 1);
    let id = fresh_id("tieu-de-dai");
    let (code, _) = refusal(import(&server, text.clone(), &id).await);
    assert!(matches!(code, Code::ResourceExhausted | Code::InvalidArgument), "{code:?}");
    assert_eq!(traces_of(&server, &id).await, (false, vec![]));
    // A title over its limit but under the message limit: FIELD_TOO_LONG.
    let text = seed().replacen("Giao ban", &"Giao ban ".repeat(10_000), 1);
    assert_eq!(refusal(import(&server, text, &fresh_id("tieu-de")).await).1, "FIELD_TOO_LONG");

    // The probe's imports of 8,388,602 bytes and more (the message limit)
    // answered OUT_OF_RANGE yet committed; this one leaves room for its id.
    let padding = "Đảng bộ tỉnh Thái Bình. ".repeat(8_388_602 / 28);
    let mut text = seed().replace("Video: 93019_OHAI1.mp4", &padding).into_bytes();
    text.resize(8_388_602 - 64, b'.');
    let id = fresh_id("than-lon");
    let (code, reason) = refusal(import(&server, text, &id).await);
    assert_eq!((code, reason.as_str()), (Code::InvalidArgument, "BODY_TOO_LARGE"));
    assert_eq!(traces_of(&server, &id).await, (false, vec![]));
    let body = "a".repeat((2 << 20) + 1);
    let article = pb::Article { title: "Dài".into(), body, ..Default::default() };
    let request =
        pb::CreateArticleRequest { article: Some(article), article_id: fresh_id("dai"), ..Default::default() };
    assert_eq!(refusal(server.articles().create_article(request).await).1, "BODY_TOO_LARGE");

    let statistics = server.metadata().get_archive_statistics(pb::GetArchiveStatisticsRequest {}).await.unwrap();
    assert_eq!(statistics.into_inner().article_count, 0, "not one of them was recorded");
}

/// Finding 7: a write whose answer would be over the message limit is
/// refused before its commit (it used to commit and answer OUT_OF_RANGE).
async fn a_write_too_large_to_answer_is_refused_before_its_commit(stack: Stack) {
    const LIMIT: usize = 256 * 1024;
    let server = TestServer::start_with(stack, |settings| {
        settings.server.max_message_bytes = LIMIT;
        settings.media.chunk_size_bytes = LIMIT / 4;
    })
    .await;
    // The request fits; its answer (with a link for every clip) would not.
    let references: String = (0..100).map(|i| format!("Video: clip-{i:03}.mp4\n")).collect();
    let body = format!("{}\n{references}", "x".repeat(LIMIT - 8 * 1024));
    let article = pb::Article { title: "Vừa khít".into(), body, ..Default::default() };
    let id = fresh_id("vua-khit");
    let request = pb::CreateArticleRequest { article: Some(article), article_id: id.clone(), ..Default::default() };
    let status = server.articles().create_article(request).await.expect_err("refused");
    assert_eq!((status.code(), reason(&status).as_str()), (Code::ResourceExhausted, "MESSAGE_TOO_LARGE"), "{status:?}");
    assert!(status.message().contains("nothing was written"), "{}", status.message());
    assert_eq!(traces_of(&server, &id).await, (false, vec![]));
}

/// Finding 7: a retry with the same request_id answers the article the
/// first call made, however many arrive at once.
async fn retries_with_a_request_id_never_duplicate(stack: Stack) {
    let server = TestServer::start(stack).await;
    let request_id = uuid::Uuid::new_v4().to_string();
    let request = pb::ImportArticleRequest { export_text: fixture(SEED).into(), article_id: "".into(), request_id };
    let calls = (0..8).map(|_| {
        let mut articles = server.articles();
        let request = request.clone();
        async move { articles.import_article(request).await.map(|r| r.into_inner().article.unwrap()) }
    });
    let answers = futures::future::join_all(calls).await;
    let names: std::collections::HashSet<String> = answers.into_iter().map(|a| a.expect("answers").name).collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let again = server.articles().import_article(request.clone()).await.unwrap().into_inner().article.unwrap();
    assert_eq!(Some(&again.name), names.iter().next());
    assert!(again.body.contains("Video: 93019_OHAI1.mp4"), "the retry answers the whole article");

    let article = pb::Article { title: "Một lần".into(), body: "Nội dung.".into(), ..Default::default() };
    let create = pb::CreateArticleRequest { article: Some(article), request_id: "tao-1".into(), ..Default::default() };
    let first = server.articles().create_article(create.clone()).await.unwrap().into_inner().article.unwrap();
    let second = server.articles().create_article(create.clone()).await.unwrap().into_inner().article.unwrap();
    assert_eq!((first.name, first.etag), (second.name, second.etag));
    let statistics = server.metadata().get_archive_statistics(pb::GetArchiveStatisticsRequest {}).await.unwrap();
    assert_eq!(statistics.into_inner().article_count, 2);

    let bad = pb::CreateArticleRequest { request_id: "có dấu cách".into(), ..create };
    assert_eq!(refusal(server.articles().create_article(bad).await).1, "INVALID_REQUEST_ID");
}

/// Finding 8: a view count past what the stores sum is refused; one stored
/// before the bound (written straight into the database here) no longer
/// breaks statistics or RecordView for everyone.
async fn view_counts_cannot_overflow(stack: Stack) {
    let server = TestServer::start(stack).await;
    let text = seed().replace("89 lượt xem", "9223372036854775807 lượt xem");
    let id = fresh_id("luot-xem");
    let (code, reason) = refusal(import(&server, text, &id).await);
    assert_eq!((code, reason.as_str()), (Code::InvalidArgument, "VIEW_COUNT_TOO_LARGE"));
    assert_eq!(traces_of(&server, &id).await, (false, vec![]));

    let stored = import(&server, seed(), &fresh_id("cu")).await.unwrap();
    let other = import(&server, seed(), &fresh_id("cu-nua")).await.unwrap();
    for name in [&stored.name, &other.name] {
        let id = name.strip_prefix("articles/").unwrap();
        set_view_count(&server, id, i64::MAX).await;
    }
    let statistics = server.metadata().get_archive_statistics(pb::GetArchiveStatisticsRequest {}).await;
    let views = statistics.expect("statistics answer").into_inner().view_count;
    assert_eq!(views, 2 * archive::domain::bounds::MAX_VIEW_COUNT, "each count at most the bound");
    let recorded = server
        .metadata()
        .record_view(pb::RecordViewRequest { name: stored.name.clone(), count: 5 })
        .await
        .expect("RecordView answers")
        .into_inner();
    assert_eq!(recorded.view_count, archive::domain::bounds::MAX_VIEW_COUNT, "saturated");
}

/// A count from before the bound, as the probe left one.
async fn set_view_count(server: &TestServer, id: &str, count: i64) {
    use sqlx::{Connection, Executor};
    let sql = format!("UPDATE articles SET view_count = {count} WHERE id = '{id}'");
    match server.stack {
        Stack::Embedded => {
            let mut db = sqlx::SqliteConnection::connect(&server.settings.metadata.url).await.unwrap();
            db.execute(sqlx::AssertSqlSafe(sql)).await.unwrap();
        }
        Stack::Production => {
            let mut db = sqlx::PgConnection::connect(&server.settings.metadata.url).await.unwrap();
            db.execute(sqlx::AssertSqlSafe(sql)).await.unwrap();
        }
    }
}

/// Finding 9: an upload belongs to the caller that started it; another
/// write token can neither query, resume nor cancel it; an admin can.
async fn uploads_belong_to_their_caller(stack: Stack) {
    use archive::{
        client::Bearer,
        service::auth::{Scope, file_entry, new_token},
    };
    use pb::media_service_client::MediaServiceClient;
    use tonic::service::interceptor::InterceptedService;
    let keys = tempfile::tempdir().unwrap();
    let path = keys.path().join("tokens.toml");
    let (cms, other, ops) = (new_token(), new_token(), new_token());
    let file = file_entry("cms", &[Scope::Read, Scope::Write], &cms)
        + &file_entry("mobile", &[Scope::Read, Scope::Write], &other)
        + &file_entry("ops", &[Scope::Read, Scope::Write, Scope::Admin], &ops);
    std::fs::write(&path, file).unwrap();
    let server =
        TestServer::start_with(stack, |settings| settings.auth.tokens_file = Some(path.display().to_string())).await;
    let client = |token: &str| {
        MediaServiceClient::new(InterceptedService::new(server.channel.clone(), Bearer::new(Some(token)).unwrap()))
    };
    let header = pb::UploadHeader { filename: "cua-toi.bin".into(), ..Default::default() };
    let started =
        client(&cms).start_upload(pb::StartUploadRequest { header: Some(header) }).await.unwrap().into_inner();
    let upload_id = started.upload_id;

    let query = pb::QueryUploadRequest { upload_id: upload_id.clone() };
    let cancel = pb::CancelUploadRequest { upload_id: upload_id.clone() };
    let denied = (Code::PermissionDenied, "UPLOAD_NOT_YOURS".to_owned());
    assert_eq!(refusal(client(&other).query_upload(query.clone()).await), denied);
    assert_eq!(refusal(client(&other).cancel_upload(cancel.clone()).await), denied);
    let resume = pb::UploadMediaRequest {
        kind: Some(pb::upload_media_request::Kind::Resume(pb::UploadResume {
            upload_id: upload_id.clone(),
            offset: 0,
        })),
    };
    let resumed = client(&other).upload_media(futures::stream::iter(vec![resume])).await;
    assert_eq!(refusal(resumed), denied);

    assert!(client(&cms).query_upload(query.clone()).await.is_ok(), "the owner may");
    assert!(client(&ops).query_upload(query).await.is_ok(), "an admin may");
    client(&cms).cancel_upload(cancel).await.expect("the owner cancels");
}

/// Finding 2: however many clips each article links, a listing page stays
/// under the 4 MiB a default client accepts (the probe's listing was 5.2 MB
/// and `archivectl ls` failed for everybody); paging goes on to the end.
async fn listings_are_paged_by_bytes(stack: Stack) {
    use prost::Message;
    const ARTICLES: usize = 70;
    let server = TestServer::start(stack).await;
    let references: String =
        (0..archive::domain::bounds::MAX_CLIP_REFERENCES).map(|i| format!("Video: {i:0>251}.mp4\n")).collect();
    for n in 0..ARTICLES {
        let article = pb::Article { title: format!("Bài {n}"), body: references.clone(), ..Default::default() };
        let request = pb::CreateArticleRequest { article: Some(article), ..Default::default() };
        server.articles().create_article(request).await.expect("creates");
    }
    let (mut seen, mut pages, mut page_token) = (0, 0, String::new());
    loop {
        let request = pb::ListArticlesRequest { page_size: 1000, page_token, ..Default::default() };
        let page = server.metadata().list_articles(request).await.expect("a page").into_inner();
        assert!(page.encoded_len() < 4 << 20, "a page of {} bytes", page.encoded_len());
        (seen, pages, page_token) = (seen + page.articles.len(), pages + 1, page.next_page_token);
        if page_token.is_empty() {
            break;
        }
    }
    assert_eq!(seen, ARTICLES);
    assert!(pages > 1, "{ARTICLES} articles of 100 links each took {pages} page");
}

on_both_stacks!(
    listings_are_paged_by_bytes,
    clip_references_that_are_paths_are_refused,
    oversized_imports_are_refused_fast_and_leave_nothing,
    a_write_too_large_to_answer_is_refused_before_its_commit,
    retries_with_a_request_id_never_duplicate,
    view_counts_cannot_overflow,
    uploads_belong_to_their_caller,
);

/// Finding 9: a 4 MB name comes back neither in the status message nor in
/// its details (the probe measured 9.3 MB of trailers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_not_echoed_whole() {
    let server = TestServer::start(Stack::Embedded).await;
    let name = format!("articles/{}", "x".repeat(4 << 20));
    let status = server.articles().get_article(pb::GetArticleRequest { name, ..Default::default() }).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().len() < 1024, "{} bytes of message", status.message().len());
    assert!(status.details().len() < 1024, "{} bytes of details", status.details().len());
}

/// Finding 9: the database is created readable by its owner only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let server = TestServer::start(Stack::Embedded).await;
    import(&server, seed(), "rieng-tu").await.unwrap();
    let path = server.settings.metadata.url.strip_prefix("sqlite://").unwrap().to_owned();
    for file in [path.clone(), format!("{path}-wal")] {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}: {mode:o}");
    }
}

/// Finding 1 from archivectl's side: it resolves a `Video:` name only
/// inside the media directory, and never follows a link out of it.
#[test]
fn archivectl_uploads_only_files_inside_the_media_directory() {
    use crate::{cli::archivectl_command, common::spawn_archived};
    let dir = tempfile::tempdir().unwrap();
    let ports = [("ARCHIVE__SERVER__GRPC_ADDR", "127.0.0.1:0"), ("ARCHIVE__SERVER__GATEWAY_ADDR", "127.0.0.1:0")];
    let server = spawn_archived(dir.path(), &ports);
    let clips = dir.path().join("clips");
    std::fs::create_dir(&clips).unwrap();
    std::fs::write(dir.path().join("secret.toml"), "token = \"bi-mat\"\n").unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.toml"), clips.join("lien-ket.mp4")).unwrap();
    let run = |reference: &str| {
        let export = dir.path().join("bai.txt");
        std::fs::write(&export, seed().replace("Video: 93019_OHAI1.mp4", &format!("Video: {reference}"))).unwrap();
        let output = archivectl_command(dir.path())
            .env("ARCHIVE_SERVER", &server.grpc)
            .args(["import", export.to_str().unwrap(), "--media", "clips"])
            .output()
            .expect("archivectl runs");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr),
        )
    };
    let (code, said) = run("../secret.toml");
    assert_ne!(code, Some(0), "{said}");
    assert!(said.contains("is a path"), "{said}");
    let (code, said) = run("lien-ket.mp4");
    assert_ne!(code, Some(0), "{said}");
    assert!(said.contains("outside"), "{said}");
    let listed = archivectl_command(dir.path()).env("ARCHIVE_SERVER", &server.grpc).args(["media"]).output().unwrap();
    assert!(listed.status.success());
    assert!(String::from_utf8_lossy(&listed.stdout).trim().is_empty(), "no file was uploaded");
}

/// The import findings from outside: gRPC's Python client replays the
/// probe (scripts/probe_imports.py) and every answer is the hardened one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_import_probe_from_python_finds_nothing() {
    crate::skip_without!(PYTHON);
    let server = TestServer::start(Stack::Embedded).await;
    let output = crate::common::python(&["scripts/probe_imports.py", "--check", &server.grpc_addr.to_string()]);
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && stdout.trim_end().ends_with("ok"), "{stdout}{stderr}");
}
