//! ArticleService and MetadataService over a real server, on both stacks.

use crate::common;

use archive::proto::v1::{self as pb};
use common::{Stack, TestServer, article, fixture, reason, update_request};
use tonic::Code;

const SEED: &str = "article-2019-09-30-giao-ban-truc-tuyen.txt";

async fn create(server: &TestServer, article: pb::Article, id: &str) -> Result<pb::Article, tonic::Status> {
    let request = pb::CreateArticleRequest { request_id: String::new(), article: Some(article), article_id: id.into() };
    Ok(server.articles().create_article(request).await?.into_inner().article.expect("article"))
}

async fn get(server: &TestServer, name: &str, full: bool, revision: i64) -> Result<pb::Article, tonic::Status> {
    let view = if full { pb::ArticleView::Full } else { pb::ArticleView::Basic };
    let request = pb::GetArticleRequest { name: name.into(), view: view.into(), revision };
    Ok(server.articles().get_article(request).await?.into_inner().article.expect("article"))
}

async fn seed_import_keeps_every_field(stack: Stack) {
    let server = TestServer::start(stack).await;
    let text = fixture(SEED);
    let request = pb::ImportArticleRequest {
        request_id: String::new(),
        export_text: text.clone().into(),
        article_id: String::new(),
    };
    let imported = server.articles().import_article(request).await.expect("imports").into_inner().article.unwrap();

    let stored = get(&server, &imported.name, true, 0).await.expect("reads back");
    assert_eq!(stored.title, "Giao ban trực tuyến Toàn quốc về công tác tổ chức xây dựng Đảng 9 tháng 2019");
    // 2019-09-30T17:20:59+07:00
    assert_eq!(stored.publish_time.as_ref().unwrap().seconds, 1569838859);
    assert_eq!(stored.publish_utc_offset_seconds, 7 * 3600);
    assert_eq!(stored.view_count, 89);
    assert_eq!(stored.author, "Phạm Ngọc");
    assert!(stored.keywords.is_empty());
    let text = String::from_utf8(text).unwrap();
    for paragraph in text.split("\n\n").skip(2).take(8) {
        assert!(stored.body.contains(paragraph), "paragraph not kept byte for byte: {paragraph:?}");
    }
    assert!(stored.body.contains("\n\nVideo: 93019_OHAI1.mp4\n\n"), "video reference kept in place");
    assert_eq!(stored.body_sha256, common::sha256_hex(stored.body.as_bytes()));
    assert_eq!(stored.media.len(), 1);
    assert_eq!(stored.media[0].reference, "93019_OHAI1.mp4");
    assert!(stored.media[0].media.is_empty(), "not linked before the clip is uploaded");
    assert!(stored.media[0].in_body);

    let basic = get(&server, &imported.name, false, 0).await.unwrap();
    assert!(basic.body.is_empty(), "basic view has no body");
    assert_eq!(basic.body_size_bytes, stored.body.len() as i64);
}

async fn malformed_export_names_the_line(stack: Stack) {
    let server = TestServer::start(stack).await;
    let request = pb::ImportArticleRequest {
        request_id: String::new(),
        export_text: fixture("exports/bad-date.txt").into(),
        article_id: String::new(),
    };
    let status = server.articles().import_article(request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("line 3"), "{}", status.message());
    assert_eq!(reason(&status), "EXPORT_MALFORMED");

    let request = pb::ImportArticleRequest {
        request_id: String::new(),
        export_text: b"Ti\xeau \xc4\n".to_vec().into(),
        article_id: String::new(),
    };
    let status = server.articles().import_article(request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("line 1") && status.message().contains("UTF-8"), "{}", status.message());
}

async fn create_update_revisions_and_delete(stack: Stack) {
    let server = TestServer::start(stack).await;
    let body =
        "Đồng chí Phó bí thư nhấn mạnh: nâng cao chất lượng sinh hoạt chi bộ.\u{a0}\u{a0}\n\nĐoạn hai — “trích dẫn”.";
    let created = create(
        &server,
        article("Thái Bình: hội nghị", body, "Phạm Ngọc", &["Đảng", "Thái Bình"], 1569838859),
        "thai-binh-1",
    )
    .await
    .expect("creates");
    assert_eq!(created.name, "articles/thai-binh-1");
    assert_eq!(created.revision, 1);
    let full = get(&server, &created.name, true, 0).await.unwrap();
    assert_eq!(full.body.as_bytes(), body.as_bytes(), "Vietnamese body byte-exact");
    assert_eq!(full.keywords, ["Đảng", "Thái Bình"]);

    let duplicate = create(&server, article("x", "", "", &[], 0), "thai-binh-1").await.unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);

    let retitle =
        |article: &pb::Article, title: &str| update_request(article, &["title"], |new| new.title = title.into());
    let updated = server.articles().update_article(retitle(&created, "Tiêu đề mới")).await.unwrap().into_inner();
    let updated = updated.article.unwrap();
    assert_eq!(updated.revision, 2);
    assert_ne!(updated.etag, created.etag);
    assert_eq!(updated.title, "Tiêu đề mới");
    assert_eq!(updated.body, body, "fields outside the mask are kept");

    let stale = server.articles().update_article(retitle(&created, "lost")).await.unwrap_err();
    assert_eq!(stale.code(), Code::Aborted, "{stale:?}");
    assert_eq!(reason(&stale), "ETAG_MISMATCH");

    let bad_mask = update_request(&updated, &["view_count"], |new| new.title = "x".into());
    assert_eq!(server.articles().update_article(bad_mask).await.unwrap_err().code(), Code::InvalidArgument);
    let no_etag = pb::UpdateArticleRequest { etag: String::new(), ..retitle(&created, "x") };
    let no_etag = server.articles().update_article(no_etag).await.unwrap_err();
    assert_eq!(no_etag.code(), Code::InvalidArgument);

    let body_update = update_request(&updated, &["body"], |new| new.body = "Nội dung mới\n\nVideo: clip-2.mp4".into());
    let third = server.articles().update_article(body_update).await.unwrap().into_inner().article.unwrap();
    assert_eq!(third.revision, 3);
    assert_eq!(third.media.iter().map(|m| m.reference.as_str()).collect::<Vec<_>>(), ["clip-2.mp4"]);

    let first = get(&server, &created.name, true, 1).await.expect("revision 1 readable");
    assert_eq!((first.title.as_str(), first.body.as_str()), ("Thái Bình: hội nghị", body));
    let second = get(&server, &created.name, true, 2).await.unwrap();
    assert_eq!((second.title.as_str(), second.body.as_str()), ("Tiêu đề mới", body));
    assert_eq!(get(&server, &created.name, false, 9).await.unwrap_err().code(), Code::NotFound);

    let wrong_etag = pb::DeleteArticleRequest { name: created.name.clone(), etag: created.etag.clone() };
    assert_eq!(server.articles().delete_article(wrong_etag).await.unwrap_err().code(), Code::Aborted);
    let delete = pb::DeleteArticleRequest { name: created.name.clone(), etag: third.etag.clone() };
    server.articles().delete_article(delete).await.expect("deletes");
    assert_eq!(get(&server, &created.name, false, 0).await.unwrap_err().code(), Code::NotFound);
}

async fn bad_requests_get_clear_statuses(stack: Stack) {
    let server = TestServer::start(stack).await;
    let missing = server.articles().create_article(pb::CreateArticleRequest::default()).await.unwrap_err();
    assert_eq!((missing.code(), reason(&missing).as_str()), (Code::InvalidArgument, "MISSING_FIELD"));
    let untitled = create(&server, article("  ", "x", "", &[], 0), "").await.unwrap_err();
    assert_eq!((untitled.code(), reason(&untitled).as_str()), (Code::InvalidArgument, "MISSING_TITLE"));
    let bad_id = create(&server, article("t", "", "", &[], 0), "Bad/Id").await.unwrap_err();
    assert_eq!(bad_id.code(), Code::InvalidArgument);
    for name in ["", "article/x", "articles/", "media/abc"] {
        let status = get(&server, name, false, 0).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{name:?}");
    }
    let unknown = get(&server, "articles/does-not-exist", false, 0).await.unwrap_err();
    assert_eq!((unknown.code(), reason(&unknown).as_str()), (Code::NotFound, "ARTICLE_NOT_FOUND"));
    let delete = pb::DeleteArticleRequest { name: "articles/does-not-exist".into(), etag: String::new() };
    assert_eq!(server.articles().delete_article(delete).await.unwrap_err().code(), Code::NotFound);
    let absent = pb::Article { name: "articles/x".into(), etag: "e".into(), ..Default::default() };
    let no_mask = pb::UpdateArticleRequest { update_mask: None, ..update_request(&absent, &[], |_| {}) };
    assert_eq!(server.articles().update_article(no_mask).await.unwrap_err().code(), Code::InvalidArgument);
}

async fn list_filters_and_pages(stack: Stack) {
    let server = TestServer::start(stack).await;
    let day = 86_400;
    let base = 1_569_838_859; // 2019-09-30
    let specs = [
        ("a1", "Phạm Ngọc", &["Đảng"][..], base),
        ("a2", "Phạm Ngọc", &["Thái Bình"][..], base + day),
        ("a3", "Ngô Đông Hải", &["Đảng", "Thái Bình"][..], base + 2 * day),
        ("a4", "Phạm Ngọc", &[][..], base + 3 * day),
        ("a5", "Đỗ Xuân Thành", &["Đảng"][..], base + 3 * day),
    ];
    for (id, author, keywords, time) in specs {
        create(&server, article(&format!("Bài {id}"), "nội dung", author, keywords, time), id).await.unwrap();
    }
    let list = |request: pb::ListArticlesRequest| {
        let mut client = server.metadata();
        async move { client.list_articles(request).await.map(|r| r.into_inner()) }
    };
    // Paging through everything, two at a time: newest first, ties by id.
    let mut names = Vec::new();
    let mut token = String::new();
    loop {
        let page = list(pb::ListArticlesRequest { page_size: 2, page_token: token.clone(), ..Default::default() })
            .await
            .unwrap();
        assert!(page.articles.len() <= 2);
        assert!(page.articles.iter().all(|a| a.body.is_empty()));
        names.extend(page.articles.into_iter().map(|a| a.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(names, ["articles/a5", "articles/a4", "articles/a3", "articles/a2", "articles/a1"]);

    let names_of = |page: pb::ListArticlesResponse| page.articles.into_iter().map(|a| a.name).collect::<Vec<_>>();
    let by_author = list(pb::ListArticlesRequest { author: "Phạm Ngọc".into(), ..Default::default() }).await.unwrap();
    assert_eq!(names_of(by_author), ["articles/a4", "articles/a2", "articles/a1"]);
    let by_keyword = list(pb::ListArticlesRequest { keyword: "Thái Bình".into(), ..Default::default() }).await.unwrap();
    assert_eq!(names_of(by_keyword), ["articles/a3", "articles/a2"]);
    let window = pb::ListArticlesRequest {
        publish_time_start: Some(pbjson_types::Timestamp { seconds: base + day, nanos: 0 }),
        publish_time_end: Some(pbjson_types::Timestamp { seconds: base + 3 * day, nanos: 0 }),
        ..Default::default()
    };
    assert_eq!(names_of(list(window).await.unwrap()), ["articles/a3", "articles/a2"]);

    let bad_token =
        list(pb::ListArticlesRequest { page_token: "garbage".into(), ..Default::default() }).await.unwrap_err();
    assert_eq!(bad_token.code(), Code::InvalidArgument);
    let first = list(pb::ListArticlesRequest { page_size: 1, ..Default::default() }).await.unwrap();
    let other_filter =
        pb::ListArticlesRequest { page_token: first.next_page_token, author: "x".into(), ..Default::default() };
    assert_eq!(list(other_filter).await.unwrap_err().code(), Code::InvalidArgument);
    let negative = list(pb::ListArticlesRequest { page_size: -1, ..Default::default() }).await.unwrap_err();
    assert_eq!(negative.code(), Code::InvalidArgument);
}

async fn search_views_revisions_and_retention(stack: Stack) {
    let server = TestServer::start_with(stack, |s| s.retention.deleted_retention_seconds = 0).await;
    // Ids no other test or run writes: the bucket is shared (and kept
    // between the passes of scripts/test.sh), and the objects under these
    // articles' prefixes are counted below.
    let run = &uuid::Uuid::now_v7().simple().to_string()[24..];
    let (giao_ban, truong_son) = (format!("giao-ban-{run}"), format!("truong-son-{run}"));
    let request = pb::ImportArticleRequest {
        request_id: String::new(),
        export_text: fixture(SEED).into(),
        article_id: giao_ban.clone(),
    };
    let seeded = server.articles().import_article(request).await.unwrap().into_inner().article.unwrap();
    create(
        &server,
        article("Đường Trường Sơn", "Con đường huyền thoại.", "Ngô Đông Hải", &[], 1_569_900_000),
        &truong_son,
    )
    .await
    .unwrap();

    let search = |query: &str| {
        let mut client = server.metadata();
        let request = pb::SearchArticlesRequest { query: query.into(), ..Default::default() };
        async move { client.search_articles(request).await.map(|r| r.into_inner()) }
    };
    let found = search("sinh hoat chi bo").await.unwrap();
    assert_eq!(found.results.len(), 1);
    let hit = &found.results[0];
    assert_eq!(hit.article.as_ref().unwrap().name, seeded.name);
    let highlighted: Vec<&str> =
        hit.highlights.iter().map(|r| &hit.snippet[r.start as usize..r.end as usize]).collect();
    assert!(highlighted.starts_with(&["sinh", "hoạt", "chi", "bộ"]), "{highlighted:?} in {:?}", hit.snippet);
    let names = |page: pb::SearchArticlesResponse| {
        page.results.into_iter().map(|r| r.article.unwrap().name).collect::<Vec<_>>()
    };
    assert_eq!(names(search("duong").await.unwrap()), [format!("articles/{truong_son}")]);
    assert_eq!(names(search("Dang").await.unwrap()), [format!("articles/{giao_ban}")]);
    let by_author = |query: &str, author: &str| {
        let mut client = server.metadata();
        let request = pb::SearchArticlesRequest { query: query.into(), author: author.into(), ..Default::default() };
        async move { client.search_articles(request).await.unwrap().into_inner() }
    };
    assert_eq!(names(by_author("Dang", "Phạm Ngọc").await), [format!("articles/{giao_ban}")]);
    assert!(names(by_author("Dang", "Ngô Đông Hải").await).is_empty(), "the filter is exact");
    assert_eq!(names(by_author("duong", "Ngô Đông Hải").await), [format!("articles/{truong_son}")]);
    let empty = search("  — ").await.unwrap_err();
    assert_eq!((empty.code(), reason(&empty).as_str()), (Code::InvalidArgument, "MISSING_QUERY"));

    let view = pb::RecordViewRequest { name: seeded.name.clone(), count: 0 };
    assert_eq!(server.metadata().record_view(view).await.unwrap().into_inner().view_count, 90);
    let many = pb::RecordViewRequest { name: seeded.name.clone(), count: 10 };
    assert_eq!(server.metadata().record_view(many).await.unwrap().into_inner().view_count, 100);
    let negative = pb::RecordViewRequest { name: seeded.name.clone(), count: -1 };
    assert_eq!(server.metadata().record_view(negative).await.unwrap_err().code(), Code::InvalidArgument);

    let update = update_request(&seeded, &["title"], |new| new.title = "Giao ban quý 4".into());
    server.articles().update_article(update).await.unwrap();
    let list = pb::ListArticleRevisionsRequest { name: seeded.name.clone(), page_size: 1, page_token: String::new() };
    let first_page = server.articles().list_article_revisions(list.clone()).await.unwrap().into_inner();
    assert_eq!(first_page.revisions.iter().map(|r| r.revision).collect::<Vec<_>>(), [2]);
    let next = pb::ListArticleRevisionsRequest { page_token: first_page.next_page_token, ..list };
    let second_page = server.articles().list_article_revisions(next).await.unwrap().into_inner();
    assert_eq!(second_page.revisions.iter().map(|r| r.revision).collect::<Vec<_>>(), [1]);
    assert_eq!(second_page.revisions[0].title, seeded.title);
    assert!(second_page.next_page_token.is_empty());
    assert_eq!(
        names(search("giao ban quy 4").await.unwrap()),
        [format!("articles/{giao_ban}")],
        "search sees the new title"
    );

    let hold = pb::SetLegalHoldRequest { name: seeded.name.clone(), legal_hold: true };
    assert!(server.articles().set_legal_hold(hold).await.unwrap().into_inner().article.unwrap().legal_hold);
    let delete = pb::DeleteArticleRequest { name: seeded.name.clone(), etag: String::new() };
    let held = server.articles().delete_article(delete.clone()).await.unwrap_err();
    assert_eq!((held.code(), reason(&held).as_str()), (Code::FailedPrecondition, "LEGAL_HOLD"));
    let release = pb::SetLegalHoldRequest { name: seeded.name.clone(), legal_hold: false };
    server.articles().set_legal_hold(release).await.unwrap();
    server.articles().delete_article(delete.clone()).await.expect("deletes once released");
    assert!(search("sinh hoat chi bo").await.unwrap().results.is_empty(), "deleted articles are not found");
    let undelete = pb::UndeleteArticleRequest { name: seeded.name.clone() };
    let restored = server.articles().undelete_article(undelete.clone()).await.unwrap().into_inner().article.unwrap();
    assert_eq!((restored.revision, restored.view_count), (2, 100));
    assert_eq!(search("sinh hoat chi bo").await.unwrap().results.len(), 1);

    // Retention 0 s: once deleted, the purge removes records and text objects.
    let objects = article_objects(&server, &seeded.name).await;
    assert_eq!(objects.len(), 2, "one body (a title change shares it) and the manifest: {objects:?}");
    server.articles().delete_article(delete).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(server.archive.purge_expired().await.unwrap(), 1);
    assert_eq!(server.articles().undelete_article(undelete).await.unwrap_err().code(), Code::NotFound);
    assert_eq!(article_objects(&server, &seeded.name).await, Vec::<String>::new(), "text objects purged");
    assert_eq!(article_objects(&server, &format!("articles/{truong_son}")).await.len(), 2, "others untouched");
}

/// Keys of the objects stored under an article.
async fn article_objects(server: &TestServer, name: &str) -> Vec<String> {
    let id = name.trim_start_matches("articles/");
    match server.stack {
        Stack::Embedded => common::files_under(&server.blob_root().join("articles").join(id)),
        Stack::Production => common::s3_leftovers(&format!("articles/{id}/")).await.0,
    }
}

/// An export saved decomposed (NFD, as macOS and some CMSes write) is
/// stored as sent and found by precomposed queries, and by author and
/// keyword filters in either form.
async fn an_nfd_import_is_kept_as_sent_and_found_either_way(stack: Stack) {
    use unicode_normalization::UnicodeNormalization;
    let server = TestServer::start(stack).await;
    let export = String::from_utf8(fixture("exports/crlf-two-videos.txt")).unwrap();
    let decomposed: String = export.nfd().collect();
    let request = pb::ImportArticleRequest {
        request_id: String::new(),
        export_text: decomposed.clone().into(),
        article_id: "nfd".into(),
    };
    let article = server.articles().import_article(request).await.expect("imports").into_inner().article.unwrap();
    assert_eq!(article.keywords.len(), 2, "the keyword line is recognised: {:?}", article.keywords);
    assert_eq!(article.author, "Minh Hương".nfd().collect::<String>(), "the byline, as sent");
    let stored = get(&server, "articles/nfd", true, 0).await.unwrap();
    let body = &stored.body;
    assert!(decomposed.replace("\r\n", "\n").contains(body.as_str()), "the body byte for byte, decomposed");
    assert!(body.nfc().collect::<String>() != *body, "and not composed on the way");

    let search = |query: &str, keyword: &str| {
        let request = pb::SearchArticlesRequest { query: query.into(), keyword: keyword.into(), ..Default::default() };
        let mut metadata = server.metadata();
        async move { metadata.search_articles(request).await.unwrap().into_inner().results.len() }
    };
    assert_eq!(search("sinh hoạt chi bộ", "").await, 1, "a precomposed query");
    assert_eq!(search("Thái Bình", "").await, 1, "a keyword's words, precomposed");
    // Exact filters match the value in either normal form, searched and listed.
    let list = |author: &str, keyword: &str| {
        let request = pb::ListArticlesRequest { author: author.into(), keyword: keyword.into(), ..Default::default() };
        let mut metadata = server.metadata();
        async move { metadata.list_articles(request).await.unwrap().into_inner().articles.len() }
    };
    for keyword in ["Thái Bình".to_owned(), "Thái Bình".nfd().collect()] {
        assert_eq!(search("sinh hoat chi bo", &keyword).await, 1, "keyword {keyword:?}");
        assert_eq!(list("", &keyword).await, 1, "keyword {keyword:?}");
    }
    for author in ["Minh Hương".to_owned(), "Minh Hương".nfd().collect()] {
        let request = pb::SearchArticlesRequest {
            query: "sinh hoat chi bo".into(),
            author: author.clone(),
            ..Default::default()
        };
        let found = server.metadata().search_articles(request).await.unwrap().into_inner().results;
        assert_eq!(found.len(), 1, "author {author:?}");
        assert_eq!(list(&author, "").await, 1, "author {author:?}");
    }
    // Still exact: another spelling, or a part of the value, is another value.
    assert_eq!(list("Minh Huong", "").await, 0);
    assert_eq!(list("", "Thái").await, 0);
    assert_eq!(search("sinh hoat chi bo", "Thai Binh").await, 0);
}

on_both_stacks!(
    an_nfd_import_is_kept_as_sent_and_found_either_way,
    seed_import_keeps_every_field,
    malformed_export_names_the_line,
    create_update_revisions_and_delete,
    bad_requests_get_clear_statuses,
    list_filters_and_pages,
    search_views_revisions_and_retention,
);
