//! SearchArticles and ListRelatedArticles through gRPC on both stacks:
//! ranking over every match, the query language, diacritic-exact
//! preference, totals, orders, pages, filters and facets (held against a
//! count by brute force), related articles, and what deletion and holds do.

use crate::common::{Stack, TestServer, reason};
use archive::proto::v1 as pb;
use chrono::{Datelike, FixedOffset, TimeZone};
use futures::{StreamExt, TryStreamExt};
use std::collections::{BTreeMap, HashSet};
use tonic::Code;

const SEED: &str = include_str!("../fixtures/article-2019-09-30-giao-ban-truc-tuyen.txt");

/// 2019-10-01 00:00 +07:00, as seconds.
const OCTOBER_2019: i64 = 1_569_862_800;

fn article(title: &str, body: &str, author: &str, keywords: &[&str], publish_seconds: i64) -> pb::Article {
    pb::Article {
        title: title.into(),
        body: body.into(),
        author: author.into(),
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
        publish_time: Some(pbjson_types::Timestamp { seconds: publish_seconds, nanos: 0 }),
        publish_utc_offset_seconds: 7 * 3600,
        ..Default::default()
    }
}

async fn create(server: &TestServer, id: &str, article: pb::Article) -> pb::Article {
    let request = pb::CreateArticleRequest { request_id: String::new(), article: Some(article), article_id: id.into() };
    server.articles().create_article(request).await.expect("creates").into_inner().article.expect("article")
}

/// Creates `articles` 16 at a time.
async fn create_all(server: &TestServer, articles: Vec<(String, pb::Article)>) {
    futures::stream::iter(articles)
        .map(|(id, article)| async move { create(server, &id, article).await })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
}

fn request(query: &str) -> pb::SearchArticlesRequest {
    pb::SearchArticlesRequest { query: query.into(), page_size: 100, ..Default::default() }
}

async fn search(
    server: &TestServer,
    request: pb::SearchArticlesRequest,
) -> Result<pb::SearchArticlesResponse, tonic::Status> {
    Ok(server.metadata().search_articles(request).await?.into_inner())
}

fn names(response: &pb::SearchArticlesResponse) -> Vec<String> {
    response.results.iter().map(|r| r.article.as_ref().unwrap().name.clone()).collect()
}

/// The seed article (2019, naming Thái Bình five times) is the best match
/// for `Thái Bình` while 1,200 newer articles each name it once; every
/// match is counted and every one is reached by paging.
async fn the_best_match_ranks_first_whatever_its_age(stack: Stack) {
    let server = TestServer::start(stack).await;
    let body = SEED.split_once("\n\n").map_or(SEED, |(_, body)| body);
    assert!(body.matches("Thái Bình").count() >= 4, "the seed names Thái Bình");
    create(&server, "seed", article("Hội nghị Tỉnh ủy Thái Bình", body, "Phạm Ngọc", &["Thái Bình"], OCTOBER_2019))
        .await;
    let newer = (0..1200)
        .map(|i| {
            let text = format!("Bản tin số {i}: thời tiết hôm nay ở Thái Bình nắng nhẹ, giao thông thông suốt.");
            (
                format!("tin-{i}"),
                article(&format!("Bản tin {i}"), &text, "Ban biên tập", &[], OCTOBER_2019 + 86_400 * (i + 1)),
            )
        })
        .collect();
    create_all(&server, newer).await;

    for query in ["Thái Bình", "thai binh", "THÁI BÌNH"] {
        let found = search(&server, request(query)).await.unwrap();
        assert_eq!(names(&found)[0], "articles/seed", "{query}: the best match first");
        assert_eq!((found.total_size, found.total_size_is_lower_bound), (1201, false), "{query}");
        let title = &found.results[0].article.as_ref().unwrap().title;
        let marked: Vec<&str> =
            found.results[0].title_highlights.iter().map(|r| &title[r.start as usize..r.end as usize]).collect();
        assert_eq!(marked, ["Thái", "Bình"], "{query}: its words in the title");
    }
    // Ties (the newer ones score alike) newest first; pages reach every match once.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page =
            search(&server, pb::SearchArticlesRequest { page_token: token, ..request("thai binh") }).await.unwrap();
        seen.extend(names(&page));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(seen.len(), 1201);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 1201, "no match twice");
    assert_eq!(seen[1], "articles/tin-1199", "ties: newest first");
    assert_eq!(seen[1200], "articles/tin-0");
    // A token belongs to its query.
    let first = search(&server, pb::SearchArticlesRequest { page_size: 10, ..request("thai binh") }).await.unwrap();
    let other = pb::SearchArticlesRequest { page_token: first.next_page_token, ..request("thời tiết") };
    let refused = search(&server, other).await.unwrap_err();
    assert_eq!(reason(&refused), "PAGE_TOKEN_FILTER_MISMATCH");

    // Newest and oldest first.
    let newest =
        pb::SearchArticlesRequest { order_by: pb::SearchOrder::Newest.into(), page_size: 3, ..request("thai binh") };
    assert_eq!(
        names(&search(&server, newest).await.unwrap()),
        ["articles/tin-1199", "articles/tin-1198", "articles/tin-1197"]
    );
    let oldest =
        pb::SearchArticlesRequest { order_by: pb::SearchOrder::Oldest.into(), page_size: 2, ..request("thai binh") };
    let oldest = search(&server, oldest).await.unwrap();
    assert_eq!(names(&oldest), ["articles/seed", "articles/tin-0"]);
    let next = pb::SearchArticlesRequest {
        order_by: pb::SearchOrder::Oldest.into(),
        page_size: 2,
        page_token: oldest.next_page_token,
        ..request("thai binh")
    };
    assert_eq!(names(&search(&server, next).await.unwrap()), ["articles/tin-1", "articles/tin-2"]);
}

/// Each element of the syntax finds what it says and nothing else.
async fn the_query_language(stack: Stack) {
    let server = TestServer::start(stack).await;
    let corpus = [
        ("a", "Sinh hoạt chi bộ", "Nề nếp sinh hoạt chi bộ ở Thái Bình."),
        ("b", "Chi ủy họp", "Bộ chi tiêu công khai, sinh hoạt định kỳ."),
        ("c", "Văn nghệ", "Hội diễn văn nghệ quần chúng ở Nam Định."),
        ("d", "Giao thông", "Đường Thái Bình – Hà Nam thông xe."),
    ];
    for (id, title, body) in corpus {
        create(&server, id, article(title, body, "Phạm Ngọc", &[], OCTOBER_2019)).await;
    }
    let hits = |query: &'static str| {
        let server = &server;
        async move {
            let mut found: Vec<String> = names(&search(server, request(query)).await.unwrap())
                .into_iter()
                .map(|n| n.trim_start_matches("articles/").to_owned())
                .collect();
            found.sort();
            found
        }
    };
    assert_eq!(hits("chi bộ").await, ["a", "b"], "both words anywhere");
    assert_eq!(hits("\"chi bộ\"").await, ["a"], "adjacent, in order");
    assert_eq!(hits("\"chi bo\"").await, ["a"], "a phrase folds too");
    assert_eq!(hits("“sinh hoạt chi bộ”").await, ["a"], "typographic quotes");
    assert_eq!(hits("\"chi bộ\" -Thái").await, Vec::<String>::new(), "the phrase, without Thái");
    assert_eq!(hits("sinh hoạt -\"Thái Bình\"").await, ["b"]);
    assert_eq!(hits("thai -binh").await, Vec::<String>::new());
    assert_eq!(hits("\"Thái Bình\"").await, ["a", "d"]);
    assert_eq!(hits("văn OR giao").await, ["c", "d"]);
    assert_eq!(hits("\"văn nghệ\" OR \"thông xe\" Định").await, ["c"]);
    assert_eq!(hits("văn or giao").await, Vec::<String>::new(), "lower-case or is a word");
    assert_eq!(hits("Thái-Bình").await, ["a", "d"], "a hyphenated word is a phrase");

    for (query, code, expected, says) in [
        ("\"chi bộ", Code::InvalidArgument, "MALFORMED_QUERY", "not closed"),
        ("-Thái -Bình", Code::InvalidArgument, "MALFORMED_QUERY", "add at least one word"),
        ("OR văn", Code::InvalidArgument, "MALFORMED_QUERY", "OR"),
        ("văn - giao", Code::InvalidArgument, "MALFORMED_QUERY", "minus"),
        ("\"\"", Code::InvalidArgument, "MALFORMED_QUERY", "no word"),
        (" — ", Code::InvalidArgument, "MISSING_QUERY", "no word"),
    ] {
        let status = search(&server, request(query)).await.unwrap_err();
        assert_eq!((status.code(), reason(&status).as_str()), (code, expected), "{query}: {}", status.message());
        assert!(status.message().contains(says), "{query}: {}", status.message());
    }
    let long = (0..40).map(|i| format!("từ{i}")).collect::<Vec<_>>().join(" ");
    assert_eq!(reason(&search(&server, request(&long)).await.unwrap_err()), "QUERY_TOO_LONG");

    // Snippets mark a phrase as one range.
    let found = search(&server, request("\"sinh hoạt chi bộ\" Thái")).await.unwrap();
    let hit = &found.results[0];
    let marked: Vec<&str> = hit.highlights.iter().map(|r| &hit.snippet[r.start as usize..r.end as usize]).collect();
    assert_eq!(marked, ["sinh hoạt chi bộ", "Thái"]);
}

/// A word typed with diacritics prefers its exact form; without them every
/// form matches alike.
async fn diacritics_typed_rank_exact_forms_first(stack: Stack) {
    let server = TestServer::start(stack).await;
    for (id, word) in [("ma-sac", "má"), ("ma-huyen", "mà"), ("ma-nga", "mã"), ("ma-khong", "ma")] {
        let body = format!("Trong câu chuyện này có chữ {word} ở giữa một đoạn văn bình thường.");
        create(&server, id, article("Chuyện làng", &body, "Phạm Ngọc", &[], OCTOBER_2019)).await;
    }
    for (query, first) in [("má", "articles/ma-sac"), ("mà", "articles/ma-huyen"), ("mã", "articles/ma-nga")] {
        let found = search(&server, request(query)).await.unwrap();
        assert_eq!(found.total_size, 4, "{query}: every form matches");
        assert_eq!(names(&found)[0], first, "{query}: the exact form first");
        assert!(found.results[0].score > found.results[1].score, "{query}: strictly above the others");
    }
    // Decomposed input is the same word.
    let nfd: String = unicode_normalization::UnicodeNormalization::nfd("má").collect();
    assert_eq!(names(&search(&server, request(&nfd)).await.unwrap())[0], "articles/ma-sac");
    let plain = search(&server, request("ma")).await.unwrap();
    assert_eq!(plain.total_size, 4);
    let scores: HashSet<u64> = plain.results.iter().map(|r| r.score.to_bits()).collect();
    assert_eq!(scores.len(), 1, "without diacritics every form ranks alike: {plain:?}");
}

/// Facet counts and filters over every match, held against counts made by
/// brute force over the same corpus.
async fn facets_and_filters_count_every_match(stack: Stack) {
    let server = TestServer::start(stack).await;
    let vietnam = FixedOffset::east_opt(7 * 3600).unwrap();
    let authors = ["Phạm Ngọc", "Ngô Đông Hải", "Lê Thị Thuý"];
    let keywords = ["Đảng", "Thái Bình", "kinh tế", "văn hóa"];
    // 2019-12-31 17:00 UTC is already January 2020 in Vietnam: articles
    // around that instant land in their Vietnamese month.
    let around_new_year = 1_577_811_600 - 1800;
    let mut corpus = Vec::new();
    for i in 0..120i64 {
        let author = authors[(i % 3) as usize];
        let tags: Vec<&str> =
            keywords.iter().copied().filter(|_| true).skip((i % 4) as usize).take(1 + (i % 2) as usize).collect();
        let publish = around_new_year + (i - 60) * 60;
        let text = if i % 5 == 0 {
            "Hội nghị tổng kết công tác năm."
        } else {
            "Hội nghị sơ kết công tác."
        };
        corpus.push((format!("f-{i}"), author, tags, publish, text));
    }
    let articles = corpus
        .iter()
        .map(|(id, author, tags, publish, text)| (id.clone(), article("Hội nghị", text, author, tags, *publish)))
        .collect();
    create_all(&server, articles).await;
    let linked = ["f-3", "f-7", "f-11"];
    let clip = server.upload("clip.mp4", crate::common::fixture("clip-faststart.mp4")).await.unwrap();
    for id in linked {
        let attach = pb::AttachMediaRequest {
            article: format!("articles/{id}"),
            media: clip.name.clone(),
            reference: String::new(),
        };
        server.media().attach_media(attach).await.unwrap();
    }

    let all_facets = vec![
        pb::SearchFacet::Author as i32,
        pb::SearchFacet::Keyword as i32,
        pb::SearchFacet::PublishYear as i32,
        pb::SearchFacet::PublishMonth as i32,
        pb::SearchFacet::HasMedia as i32,
    ];
    for (query, matches) in [("hội nghị", None), ("tổng kết", Some("tổng kết"))] {
        let found = search(
            &server,
            pb::SearchArticlesRequest { facets: all_facets.clone(), facet_size: 100, page_size: 5, ..request(query) },
        )
        .await
        .unwrap();
        let hits: Vec<_> = corpus.iter().filter(|c| matches.is_none_or(|m| c.4.contains(m))).collect();
        assert_eq!((found.total_size, found.total_size_is_lower_bound), (hits.len() as i64, false));
        let mut expected: BTreeMap<(i32, String), i64> = BTreeMap::new();
        for (id, author, tags, publish, _) in &hits {
            let local = vietnam.timestamp_opt(*publish, 0).unwrap();
            let mut count =
                |facet: pb::SearchFacet, value: String| *expected.entry((facet as i32, value)).or_default() += 1;
            count(pb::SearchFacet::Author, author.to_string());
            for tag in tags {
                count(pb::SearchFacet::Keyword, tag.to_string());
            }
            count(pb::SearchFacet::PublishYear, format!("{:04}", local.year()));
            count(pb::SearchFacet::PublishMonth, format!("{:04}-{:02}", local.year(), local.month()));
            count(pb::SearchFacet::HasMedia, linked.contains(&id.as_str()).to_string());
        }
        let got: BTreeMap<(i32, String), i64> = found
            .facets
            .iter()
            .flat_map(|f| f.values.iter().map(move |v| ((f.facet, v.value.clone()), v.count)))
            .collect();
        assert_eq!(got, expected, "{query}: facet counts equal a count by brute force");
        assert!(found.facets.iter().all(|f| f.other_count == 0));
        assert!(expected.contains_key(&(pb::SearchFacet::PublishMonth as i32, "2020-01".into())), "Vietnamese days");
    }
    // Facets are cut to facet_size, the rest counted as other.
    let cut = search(
        &server,
        pb::SearchArticlesRequest {
            facets: vec![pb::SearchFacet::Author as i32],
            facet_size: 1,
            ..request("hội nghị")
        },
    )
    .await
    .unwrap();
    assert_eq!(cut.facets[0].values.len(), 1);
    assert_eq!(cut.facets[0].values[0].count + cut.facets[0].other_count, 120);

    // Filters: any of several authors and keywords, a time range, clips.
    let filtered = |filters: pb::SearchArticlesRequest| {
        let server = &server;
        async move { search(server, pb::SearchArticlesRequest { page_size: 100, ..filters }).await.unwrap().total_size }
    };
    let count =
        |keep: &dyn Fn(&(String, &str, Vec<&str>, i64, &str)) -> bool| corpus.iter().filter(|c| keep(c)).count() as i64;
    let two = vec![authors[0].to_string(), authors[2].to_string()];
    assert_eq!(
        filtered(pb::SearchArticlesRequest { authors: two.clone(), ..request("hội nghị") }).await,
        count(&|c| c.1 != authors[1])
    );
    let tagged = vec!["Đảng".to_string(), "văn hóa".to_string()];
    assert_eq!(
        filtered(pb::SearchArticlesRequest { keywords: tagged, ..request("hội nghị") }).await,
        count(&|c| c.2.contains(&"Đảng") || c.2.contains(&"văn hóa"))
    );
    let start = pbjson_types::Timestamp { seconds: around_new_year, nanos: 0 };
    assert_eq!(
        filtered(pb::SearchArticlesRequest { publish_time_start: Some(start), ..request("hội nghị") }).await,
        count(&|c| c.3 >= around_new_year)
    );
    assert_eq!(filtered(pb::SearchArticlesRequest { has_media: Some(true), ..request("hội nghị") }).await, 3);
    assert_eq!(filtered(pb::SearchArticlesRequest { has_media: Some(false), ..request("hội nghị") }).await, 117);
    let bad = search(&server, pb::SearchArticlesRequest { facets: vec![0], ..request("hội nghị") }).await.unwrap_err();
    assert_eq!(reason(&bad), "INVALID_SEARCH_OPTION");
    let bad = search(&server, pb::SearchArticlesRequest { facet_size: 5000, ..request("hội nghị") }).await.unwrap_err();
    assert_eq!(reason(&bad), "INVALID_SEARCH_OPTION");
}

/// The articles most like one, without it, under the filters.
async fn related_articles_share_the_subject(stack: Stack) {
    let server = TestServer::start(stack).await;
    let about = |topic: &str, i: usize| format!("{topic} {topic} bài số {i}: {topic} và đời sống.");
    let mut articles = Vec::new();
    for i in 0..6 {
        let text = about("lúa gạo nông nghiệp thu hoạch", i);
        articles.push((
            format!("lua-{i}"),
            article("Vụ mùa lúa gạo", &text, "Phạm Ngọc", &["nông nghiệp"], OCTOBER_2019 + i as i64),
        ));
        let text = about("bóng đá giải vô địch cầu thủ", i);
        articles.push((
            format!("bong-{i}"),
            article("Giải bóng đá", &text, "Ngô Đông Hải", &["thể thao"], OCTOBER_2019 + i as i64),
        ));
    }
    create_all(&server, articles).await;
    let related = |name: &str, authors: Vec<String>| {
        let request = pb::ListRelatedArticlesRequest { name: name.into(), page_size: 5, authors, ..Default::default() };
        let mut client = server.metadata();
        async move { client.list_related_articles(request).await.map(|r| r.into_inner()) }
    };
    let found = related("articles/lua-0", vec![]).await.unwrap();
    let found: Vec<String> = found.results.iter().map(|r| r.article.as_ref().unwrap().name.clone()).collect();
    assert_eq!(found.len(), 5);
    assert!(found.iter().all(|n| n.starts_with("articles/lua-")), "same subject: {found:?}");
    assert!(!found.contains(&"articles/lua-0".to_string()), "not itself");
    let other = related("articles/lua-0", vec!["Ngô Đông Hải".into()]).await.unwrap();
    assert!(other.results.iter().all(|r| r.article.as_ref().unwrap().author == "Ngô Đông Hải"), "filters apply");
    let missing = related("articles/khong-co", vec![]).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}

/// Deleted articles leave search as they leave reads; held ones stay; a
/// write is searchable on its replica at once (read-your-writes).
async fn search_follows_writes_like_reads(stack: Stack) {
    let server = TestServer::start(stack).await;
    let a =
        create(&server, "tin-moi", article("Tin mới", "Đê điều an toàn mùa lũ.", "Phạm Ngọc", &[], OCTOBER_2019)).await;
    assert_eq!(names(&search(&server, request("đê điều")).await.unwrap()), [a.name.clone()], "at once");
    server.articles().set_legal_hold(pb::SetLegalHoldRequest { name: a.name.clone(), legal_hold: true }).await.unwrap();
    assert_eq!(search(&server, request("đê điều")).await.unwrap().total_size, 1, "held: still found");
    server
        .articles()
        .set_legal_hold(pb::SetLegalHoldRequest { name: a.name.clone(), legal_hold: false })
        .await
        .unwrap();
    let retitle = crate::common::update_request(&a, &["title"], |new| new.title = "Tin cập nhật về lũ".into());
    server.articles().update_article(retitle).await.unwrap();
    assert_eq!(search(&server, request("cập nhật")).await.unwrap().total_size, 1, "the new title");
    assert_eq!(search(&server, request("\"tin mới\"")).await.unwrap().total_size, 0, "not the old one");
    server
        .articles()
        .delete_article(pb::DeleteArticleRequest { name: a.name.clone(), etag: String::new() })
        .await
        .unwrap();
    assert_eq!(search(&server, request("đê điều")).await.unwrap().total_size, 0, "deleted: gone");
    server.articles().undelete_article(pb::UndeleteArticleRequest { name: a.name.clone() }).await.unwrap();
    assert_eq!(search(&server, request("đê điều")).await.unwrap().total_size, 1, "undeleted: back");
    let names_found: Vec<String> = futures::stream::iter(0..3)
        .then(|_| async { search(&server, request("đê điều")).await.map(|r| names(&r)) })
        .try_concat()
        .await
        .unwrap();
    assert!(names_found.iter().all(|n| n == &a.name));
}

on_both_stacks!(
    the_best_match_ranks_first_whatever_its_age,
    the_query_language,
    diacritics_typed_rank_exact_forms_first,
    facets_and_filters_count_every_match,
    related_articles_share_the_subject,
    search_follows_writes_like_reads,
);

/// archived killed (SIGKILL) while its index follows a burst of writes
/// loses none of them: the next start resumes from the position the last
/// index commit stored, without a rebuild, and catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_while_indexing_loses_no_change() {
    use crate::common::spawn_archived;
    let dir = tempfile::tempdir().unwrap();
    let index_dir = dir.path().join("index");
    let env = [("ARCHIVE__SEARCH__INDEX_DIR", index_dir.display().to_string())];
    let server = spawn_archived(dir.path(), &env);
    let channel = server.channel().await;
    const WRITES: usize = 400;
    futures::stream::iter(0..WRITES)
        .map(|i| {
            let mut client = pb::article_service_client::ArticleServiceClient::new(channel.clone());
            async move {
                let text = format!("Bản tin khẩn số {i} về mưa lũ ở Thái Bình.");
                let request = pb::CreateArticleRequest {
                    request_id: String::new(),
                    article: Some(article(&format!("Khẩn {i}"), &text, "Ban biên tập", &[], OCTOBER_2019 + i as i64)),
                    article_id: format!("khan-{i}"),
                };
                client.create_article(request).await.unwrap();
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    drop(server); // SIGKILL, at once: the index is still following the burst.

    let server = spawn_archived(dir.path(), &env);
    server.search_caught_up().await;
    let metrics = reqwest::get(format!("{}/metrics", server.admin)).await.unwrap().text().await.unwrap();
    assert!(
        !metrics.lines().any(|line| line.starts_with("archive_search_index_rebuilds_total") && !line.ends_with(" 0")),
        "resumed from its cursor, not rebuilt:\n{metrics}"
    );
    let mut metadata = pb::metadata_service_client::MetadataServiceClient::new(server.channel().await);
    let request = pb::SearchArticlesRequest { query: "khẩn mưa lũ".into(), ..Default::default() };
    let found = metadata.search_articles(request).await.unwrap().into_inner();
    assert_eq!((found.total_size, found.total_size_is_lower_bound), (WRITES as i64, false));
}
