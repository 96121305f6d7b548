//! Article records: revisions and etags, listing, views, deletion and holds.

use super::*;

async fn articles_round_trip_with_revisions_and_etags(store: Arc<dyn MetadataStore>) {
    let first = record("a1", 1_569_838_859, &["Đảng", "Thái Bình"]);
    store.insert_article(&first, &text("nội dung")).await.unwrap();
    assert_eq!(store.get_article(&first.id, None).await.unwrap(), first);
    assert_eq!(store.insert_article(&first, &text("nội dung")).await.unwrap_err().kind, ErrorKind::AlreadyExists);

    let mut second = first.clone();
    second.revision = 2;
    second.etag = "e2".into();
    second.title = "Tiêu đề mới".into();
    second.update_time = time(1_700_000_100);
    assert_eq!(store.update_article("stale", &second, &text("x")).await.unwrap_err().kind, ErrorKind::Aborted);
    store.update_article("e1", &second, &text("x")).await.unwrap();
    assert_eq!(store.get_article(&first.id, None).await.unwrap(), second);
    assert_eq!(
        store.update_article("e1", &second, &text("x")).await.unwrap_err().kind,
        ErrorKind::Aborted,
        "same etag twice"
    );
    let old = store.get_article(&first.id, Some(1)).await.unwrap();
    assert_eq!((old.title.as_str(), old.revision, old.update_time), ("Hội nghị giao ban", 1, first.update_time));
    assert_eq!(store.get_article(&first.id, Some(3)).await.unwrap_err().kind, ErrorKind::NotFound);

    assert_eq!(store.delete_article(&first.id, Some("e1")).await.unwrap_err().kind, ErrorKind::Aborted);
    store.delete_article(&first.id, Some("e2")).await.unwrap();
    assert_eq!(store.get_article(&first.id, None).await.unwrap_err().kind, ErrorKind::NotFound);
    assert!(
        store.list_articles(&ArticleQuery { page_size: 10, ..Default::default() }).await.unwrap().articles.is_empty()
    );
}

async fn concurrent_writers_never_fail_busy(store: Arc<dyn MetadataStore>) {
    let clip = media("shared-clip");
    store.insert_media(&clip).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let store = store.clone();
        let clip_id = clip.id.clone();
        tasks.spawn(async move {
            let article = record(&format!("c{i}"), 1_569_838_859 + i, &["Đảng"]);
            store.insert_article(&article, &text("nội dung")).await?;
            store.attach_media(&article.id, "93019_OHAI1.mp4", &clip_id).await?;
            let mut next = store.get_article(&article.id, None).await?;
            next.revision = 2;
            next.etag = "e2".into();
            store.update_article("e1", &next, &text("y")).await
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().expect("every concurrent write succeeds");
    }
    let all = store.list_articles(&ArticleQuery { page_size: 100, ..Default::default() }).await.unwrap();
    assert_eq!(all.articles.len(), 40);
    assert!(all.articles.iter().all(|a| a.revision == 2 && a.media[0].media_id.as_ref() == Some(&clip.id)));
}

async fn listing_pages_and_filters(store: Arc<dyn MetadataStore>) {
    for (i, keywords) in [&["Đảng"][..], &[][..], &["Đảng", "Thái Bình"][..]].iter().enumerate() {
        store
            .insert_article(&record(&format!("l{i}"), 1_000 + i as i64 * 10, keywords), &text("nội dung"))
            .await
            .unwrap();
    }
    let page = store.list_articles(&ArticleQuery { page_size: 2, ..Default::default() }).await.unwrap();
    let ids: Vec<&str> = page.articles.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["l2", "l1"]);
    let rest =
        store.list_articles(&ArticleQuery { page_size: 2, after: page.next, ..Default::default() }).await.unwrap();
    assert_eq!(rest.articles.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["l0"]);
    assert!(rest.next.is_none());
    let tagged = ArticleQuery { page_size: 10, keyword: Some("Đảng".into()), ..Default::default() };
    assert_eq!(store.list_articles(&tagged).await.unwrap().articles.len(), 2);
    let window = ArticleQuery {
        page_size: 10,
        publish_time_start: Some(time(1_010)),
        publish_time_end: Some(time(1_020)),
        ..Default::default()
    };
    assert_eq!(
        store.list_articles(&window).await.unwrap().articles.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        ["l1"]
    );
}

/// A page is `page_size` articles whatever their links, each with all its
/// links in their order, and the next page starts after the last article.
async fn listing_pages_carry_every_link(store: Arc<dyn MetadataStore>) {
    let (first, second) = (media("clip-one"), media("clip-two"));
    store.insert_media(&first).await.unwrap();
    store.insert_media(&second).await.unwrap();
    let links: [&[(&str, &MediaRecord)]; 4] = [
        &[],
        &[("a.mp4", &first), ("b.mp4", &second), ("c.mp4", &first)],
        &[("z.mp4", &second)],
        &[("y.mp4", &first), ("x.mp4", &second)],
    ];
    let mut expected = Vec::new();
    for (i, linked) in links.iter().enumerate() {
        let article = record(&format!("p{i}"), 2_000 + i as i64, &[]);
        store.insert_article(&article, &text("nội dung")).await.unwrap();
        // The references its body names first, then those added, in order.
        let mut references: Vec<String> = article.media.iter().map(|l| l.reference.clone()).collect();
        for (reference, clip) in *linked {
            store.attach_media(&article.id, reference, &clip.id).await.unwrap();
            references.push(reference.to_string());
        }
        expected.insert(0, (article.id.as_str().to_owned(), references));
    }
    let mut listed = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_articles(&ArticleQuery { page_size: 2, after, ..Default::default() }).await.unwrap();
        assert!(page.articles.len() <= 2);
        listed.extend(page.articles);
        after = page.next;
        if after.is_none() {
            break;
        }
    }
    let seen: Vec<(String, Vec<String>)> = listed
        .iter()
        .map(|a| (a.id.as_str().to_owned(), a.media.iter().map(|l| l.reference.clone()).collect()))
        .collect();
    assert_eq!(seen, expected, "newest first, every link in its order, pages of two articles");
    for article in &listed {
        assert_eq!(article, &store.get_article(&article.id, None).await.unwrap(), "a listing reads like a get");
    }
}

async fn views_add_up_under_concurrency(store: Arc<dyn MetadataStore>) {
    let article = record("viewed", 1_569_838_859, &[]);
    store.insert_article(&article, &text("x")).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (store, id) = (store.clone(), article.id.clone());
        tasks.spawn(async move {
            for _ in 0..20 {
                store.record_views(&id, 1).await?;
            }
            Ok::<_, archive::ArchiveError>(())
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().expect("views recorded");
    }
    assert_eq!(store.get_article(&article.id, None).await.unwrap().view_count, 89 + 1000);
    let unknown = ArticleId::parse("nope").unwrap();
    assert_eq!(store.record_views(&unknown, 1).await.unwrap_err().kind, ErrorKind::NotFound);
}

async fn views_not_yet_in_a_manifest_are_tracked(store: Arc<dyn MetadataStore>) {
    let (a, b) = (record("views-a", 1_569_838_859, &[]), record("views-b", 1_569_838_860, &[]));
    for article in [&a, &b] {
        store.insert_article(article, &text("x")).await.unwrap();
    }
    let pending = |after: Option<&ArticleId>, limit| {
        let (store, after) = (store.clone(), after.cloned());
        async move {
            let ids = store.articles_with_unwritten_views(after.as_ref(), limit).await.unwrap();
            ids.iter().map(|id| id.as_str().to_owned()).collect::<Vec<_>>()
        }
    };
    // Views an article is created (or restored) with count as written.
    assert_eq!(pending(None, 10).await, Vec::<String>::new());
    let total = store.record_views(&a.id, 3).await.unwrap();
    store.record_views(&b.id, 1).await.unwrap();
    assert_eq!(pending(None, 10).await, ["views-a", "views-b"]);
    assert_eq!(pending(None, 1).await, ["views-a"]);
    assert_eq!(pending(Some(&a.id), 10).await, ["views-b"]);
    store.manifest_views_written(&a.id, total).await.unwrap();
    assert_eq!(pending(None, 10).await, ["views-b"]);
    // A view after the manifest was written makes it pending again.
    store.record_views(&a.id, 1).await.unwrap();
    assert_eq!(pending(None, 10).await, ["views-a", "views-b"]);
}

async fn revisions_list_newest_first(store: Arc<dyn MetadataStore>) {
    let mut current = record("revised", 1_569_838_859, &[]);
    store.insert_article(&current, &text("v1")).await.unwrap();
    for revision in 2..=5 {
        let mut next = current.clone();
        next.revision = revision;
        next.etag = format!("e{revision}");
        next.title = format!("Tiêu đề {revision}");
        store.update_article(&current.etag, &next, &text("v")).await.unwrap();
        current = next;
    }
    let page = store.list_revisions(&current.id, None, 2).await.unwrap();
    assert_eq!(page.iter().map(|r| r.revision).collect::<Vec<_>>(), [5, 4]);
    let rest = store.list_revisions(&current.id, Some(4), 10).await.unwrap();
    assert_eq!(rest.iter().map(|r| r.revision).collect::<Vec<_>>(), [3, 2, 1]);
    assert_eq!(rest[2].title, "Hội nghị giao ban");
}

async fn deletion_hold_restore_and_purge(store: Arc<dyn MetadataStore>) {
    let held = record("held", 1_569_838_859, &[]);
    store.insert_article(&held, &text("x")).await.unwrap();
    assert!(store.set_legal_hold(&held.id, true).await.unwrap().legal_hold);
    let refused = store.delete_article(&held.id, None).await.unwrap_err();
    assert_eq!((refused.kind, refused.reason), (ErrorKind::FailedPrecondition, Reason::LegalHold));

    let gone = record("gone", 1_569_838_860, &["Đảng"]);
    store.insert_article(&gone, &text("Đảng bộ")).await.unwrap();
    store.delete_article(&gone.id, None).await.unwrap();
    assert_eq!(store.get_article(&gone.id, None).await.unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(store.delete_article(&gone.id, None).await.unwrap_err().kind, ErrorKind::NotFound);
    let restored = store.undelete_article(&gone.id).await.unwrap();
    assert_eq!(restored.delete_time, None);
    assert_eq!(store.undelete_article(&gone.id).await.unwrap_err().kind, ErrorKind::FailedPrecondition);
    assert_eq!(store.purge_article(&gone.id).await.unwrap_err().kind, ErrorKind::FailedPrecondition, "live");

    store.delete_article(&gone.id, None).await.unwrap();
    let future = Utc::now() + chrono::Duration::seconds(60);
    assert_eq!(store.purgeable_articles(future, 10).await.unwrap(), vec![gone.id.clone()]);
    assert!(store.purgeable_articles(time(0), 10).await.unwrap().is_empty(), "not yet expired");
    let keys = store.purge_article(&gone.id).await.unwrap();
    assert_eq!(keys, vec![gone.body.key.clone()]);
    assert_eq!(store.undelete_article(&gone.id).await.unwrap_err().kind, ErrorKind::NotFound, "purged for good");
    let dir = tempfile::tempdir().unwrap();
    let index = index_of(&store, dir.path()).await;
    assert!(search_ids(&index, "Đảng", Filters::default()).is_empty(), "purged text is not searchable");

    assert!(!store.set_legal_hold(&held.id, false).await.unwrap().legal_hold);
    store.delete_article(&held.id, None).await.expect("released hold allows deletion");
}

on_every_database!(
    articles_round_trip_with_revisions_and_etags,
    concurrent_writers_never_fail_busy,
    listing_pages_and_filters,
    listing_pages_carry_every_link,
    views_add_up_under_concurrency,
    views_not_yet_in_a_manifest_are_tracked,
    revisions_list_newest_first,
    deletion_hold_restore_and_purge,
);
