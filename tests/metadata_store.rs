//! The MetadataStore contract, run on every database backend (SQLite now;
//! PostgreSQL joins by adding a line to `on_every_database!`).

use archive::{
    blob::BlobKey,
    config::MetadataSettings,
    error::ErrorKind,
    ids::{ArticleId, MediaId},
    metadata::{self, ArticleQuery, ArticleRecord, MediaLink, MediaRecord, MetadataStore, ObjectRef},
};
use chrono::{DateTime, Utc};
use std::sync::Arc;

async fn sqlite() -> (Arc<dyn MetadataStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let settings =
        MetadataSettings { url: format!("sqlite://{}", dir.path().join("m.db").display()), max_connections: 4 };
    (metadata::open(&settings).await.expect("opens"), dir)
}

fn time(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap()
}

fn record(id: &str, publish: i64, keywords: &[&str]) -> ArticleRecord {
    let id = ArticleId::parse(id).unwrap();
    ArticleRecord {
        body: ObjectRef { key: BlobKey::new_article_body(&id), size_bytes: 3, sha256: "ab".repeat(32) },
        id,
        revision: 1,
        etag: "e1".into(),
        title: "Hội nghị giao ban".into(),
        author: "Phạm Ngọc".into(),
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
        publish_time: time(publish),
        publish_utc_offset_seconds: 25_200,
        view_count: 89,
        create_time: time(1_700_000_000),
        update_time: time(1_700_000_000),
        media: vec![MediaLink { reference: "93019_OHAI1.mp4".into(), media_id: None, in_body: true }],
    }
}

fn media(id: &str) -> MediaRecord {
    let id = MediaId::parse(id).unwrap();
    MediaRecord {
        object: ObjectRef { key: BlobKey::new_media_original(&id), size_bytes: 816_813, sha256: "cd".repeat(32) },
        id,
        filename: "93019_OHAI1.mp4".into(),
        content_type: "video/mp4".into(),
        create_time: time(1_700_000_001),
    }
}

async fn articles_round_trip_with_revisions_and_etags(store: Arc<dyn MetadataStore>) {
    let first = record("a1", 1_569_838_859, &["Đảng", "Thái Bình"]);
    store.insert_article(&first).await.unwrap();
    assert_eq!(store.get_article(&first.id, None).await.unwrap(), first);
    assert_eq!(store.insert_article(&first).await.unwrap_err().kind, ErrorKind::AlreadyExists);

    let mut second = first.clone();
    second.revision = 2;
    second.etag = "e2".into();
    second.title = "Tiêu đề mới".into();
    second.update_time = time(1_700_000_100);
    assert_eq!(store.update_article("stale", &second).await.unwrap_err().kind, ErrorKind::Aborted);
    store.update_article("e1", &second).await.unwrap();
    assert_eq!(store.get_article(&first.id, None).await.unwrap(), second);
    assert_eq!(store.update_article("e1", &second).await.unwrap_err().kind, ErrorKind::Aborted, "same etag twice");
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

async fn media_and_links(store: Arc<dyn MetadataStore>) {
    let article = record("with-clip", 1_569_838_859, &[]);
    store.insert_article(&article).await.unwrap();
    let clip = media("clip-1");
    store.insert_media(&clip).await.unwrap();
    assert_eq!(store.get_media(&clip.id).await.unwrap(), clip);
    assert_eq!(store.insert_media(&clip).await.unwrap_err().kind, ErrorKind::AlreadyExists);
    assert_eq!(store.get_media(&MediaId::parse("nope").unwrap()).await.unwrap_err().kind, ErrorKind::NotFound);

    let linked = store.attach_media(&article.id, "93019_OHAI1.mp4", &clip.id).await.unwrap();
    assert_eq!(
        linked.media,
        vec![MediaLink { reference: "93019_OHAI1.mp4".into(), media_id: Some(clip.id.clone()), in_body: true }]
    );
    let extra = store.attach_media(&article.id, "extra.mp4", &clip.id).await.unwrap();
    assert_eq!(extra.media.len(), 2);
    assert!(!extra.media[1].in_body);
    let missing = store.attach_media(&article.id, "x", &MediaId::parse("nope").unwrap()).await.unwrap_err();
    assert_eq!(missing.kind, ErrorKind::NotFound);
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
            store.insert_article(&article).await?;
            store.attach_media(&article.id, "93019_OHAI1.mp4", &clip_id).await?;
            let mut next = store.get_article(&article.id, None).await?;
            next.revision = 2;
            next.etag = "e2".into();
            store.update_article("e1", &next).await
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
        store.insert_article(&record(&format!("l{i}"), 1_000 + i as i64 * 10, keywords)).await.unwrap();
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

macro_rules! on_every_database {
    ($($test:ident),* $(,)?) => {
        mod sqlite_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let (store, _dir) = super::sqlite().await;
                    super::$test(store).await;
                }
            )*
        }
    };
}

on_every_database!(
    articles_round_trip_with_revisions_and_etags,
    media_and_links,
    concurrent_writers_never_fail_busy,
    listing_pages_and_filters,
);
