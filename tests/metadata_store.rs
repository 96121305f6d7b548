//! The MetadataStore contract, run on every database backend (SQLite now;
//! PostgreSQL joins by adding a line to `on_every_database!`).

mod common;

use archive::{
    blob::BlobKey,
    config::MetadataSettings,
    error::ErrorKind,
    ids::{ArticleId, MediaId, UploadId},
    metadata::{
        self, ArchiveStatistics, ArticleQuery, ArticleRecord, MediaCursor, MediaLink, MediaRecord, MetadataStore,
        ObjectRef, SearchQuery, SearchText, UploadProgress, UploadSession,
    },
    search,
};
use chrono::{DateTime, Utc};
use std::sync::Arc;

async fn sqlite() -> (Arc<dyn MetadataStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let settings = MetadataSettings {
        url: format!("sqlite://{}", dir.path().join("m.db").display()),
        max_connections: 4,
        ..Default::default()
    };
    (metadata::open(&settings).await.expect("opens"), dir)
}

async fn postgres() -> (Arc<dyn MetadataStore>, ()) {
    let settings =
        MetadataSettings { url: common::fresh_postgres_url().await, max_connections: 8, ..Default::default() };
    (metadata::open(&settings).await.expect("opens"), ())
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
        delete_time: None,
        legal_hold: false,
    }
}

fn text(body: &str) -> SearchText {
    SearchText { body: body.into(), folded: archive::search::fold(body) }
}

fn media(id: &str) -> MediaRecord {
    let id = MediaId::parse(id).unwrap();
    MediaRecord {
        object: ObjectRef { key: BlobKey::new_media_original(&id), size_bytes: 816_813, sha256: "cd".repeat(32) },
        crc32c: 0xDEAD_BEEF,
        mp4: Some(archive::mp4::Mp4Info {
            duration_ms: 9_000,
            video_codec: "avc1.4D401E".into(),
            audio_codec: "mp4a.40.2".into(),
            width: 320,
            height: 240,
            bitrate_bps: 726_056,
            faststart: false,
        }),
        rendition: Some(ObjectRef {
            key: BlobKey::new_media_rendition(&id),
            size_bytes: 816_800,
            sha256: "ef".repeat(32),
        }),
        id,
        filename: "93019_OHAI1.mp4".into(),
        content_type: "video/mp4".into(),
        create_time: time(1_700_000_001),
    }
}

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

async fn media_and_links(store: Arc<dyn MetadataStore>) {
    let article = record("with-clip", 1_569_838_859, &[]);
    store.insert_article(&article, &text("nội dung")).await.unwrap();
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
    // GetArticle reads the article and its links in one query: every link,
    // in order, on one row each.
    let read = store.get_article(&article.id, None).await.unwrap();
    assert_eq!(read.media, extra.media);
    let references: Vec<&str> = read.media.iter().map(|link| link.reference.as_str()).collect();
    assert_eq!(references, ["93019_OHAI1.mp4", "extra.mp4"]);
    assert_eq!(read.title, article.title, "the article's own columns survive the join");
    let missing = store.attach_media(&article.id, "x", &MediaId::parse("nope").unwrap()).await.unwrap_err();
    assert_eq!(missing.kind, ErrorKind::NotFound);
}

/// The sweep of unreferenced objects keeps what any record names: every
/// revision's body, originals (also shared ones), renditions, the objects
/// of upload sessions.
async fn records_tell_which_objects_they_name(store: Arc<dyn MetadataStore>) {
    let first = record("named", 1_569_838_859, &[]);
    store.insert_article(&first, &text("một")).await.unwrap();
    let mut second = first.clone();
    (second.revision, second.etag) = (2, "e2".into());
    second.body.key = BlobKey::new_article_body(&first.id);
    store.update_article("e1", &second, &text("hai")).await.unwrap();
    let clip = media("named-clip");
    store.insert_media(&clip).await.unwrap();
    let mut copy = media("named-copy");
    (copy.object, copy.rendition) = (clip.object.clone(), None);
    store.insert_media(&copy).await.unwrap();
    let session = upload_session("in-flight");
    store.insert_upload(&session).await.unwrap();

    let named = [
        first.body.key.clone(),
        second.body.key.clone(),
        clip.object.key.clone(),
        clip.rendition.clone().unwrap().key,
        session.key.clone(),
    ];
    let unnamed = [
        BlobKey::new_article_body(&first.id),
        BlobKey::new_media_original(&clip.id),
        BlobKey::new_media_rendition(&copy.id),
    ];
    let asked: Vec<BlobKey> = named.iter().chain(&unnamed).cloned().collect();
    let found = store.referenced_objects(&asked).await.unwrap();
    assert_eq!(found, named.iter().cloned().collect(), "asked {asked:?}");
    assert!(store.referenced_objects(&[]).await.unwrap().is_empty());
}

/// DetachMedia unlinks one reference; DeleteMedia refuses a linked clip
/// unless forced, and a held article's clip even then; the clip's objects
/// are handed back for deletion only once no record names them.
async fn clips_detach_and_delete(store: Arc<dyn MetadataStore>) {
    let article = record("with-clip", 1_569_838_859, &[]); // names 93019_OHAI1.mp4 in its body
    store.insert_article(&article, &text("nội dung")).await.unwrap();
    let clip = media("clip-1");
    store.insert_media(&clip).await.unwrap();
    let body_link = |media_id: Option<&MediaId>| MediaLink {
        reference: "93019_OHAI1.mp4".into(),
        media_id: media_id.cloned(),
        in_body: true,
    };
    store.attach_media(&article.id, "93019_OHAI1.mp4", &clip.id).await.unwrap();
    store.attach_media(&article.id, "extra.mp4", &clip.id).await.unwrap();

    let detached = store.detach_media(&article.id, "extra.mp4").await.unwrap();
    assert_eq!(detached.media, [body_link(Some(&clip.id))], "an added reference goes");
    let detached = store.detach_media(&article.id, "93019_OHAI1.mp4").await.unwrap();
    assert_eq!(detached.media, [body_link(None)], "a reference of the body stays, without its clip");
    let again = store.detach_media(&article.id, "93019_OHAI1.mp4").await.unwrap_err();
    assert_eq!((again.kind, again.reason), (ErrorKind::NotFound, "REFERENCE_NOT_LINKED"));
    let unknown = store.detach_media(&ArticleId::parse("nope").unwrap(), "x.mp4").await.unwrap_err();
    assert_eq!(unknown.kind, ErrorKind::NotFound);

    // Linked from a live article and from a soft-deleted one.
    store.attach_media(&article.id, "93019_OHAI1.mp4", &clip.id).await.unwrap();
    store.attach_media(&article.id, "extra.mp4", &clip.id).await.unwrap();
    let gone = record("da-xoa", 1_569_838_860, &[]);
    store.insert_article(&gone, &text("x")).await.unwrap();
    store.attach_media(&gone.id, "93019_OHAI1.mp4", &clip.id).await.unwrap();
    store.delete_article(&gone.id, None).await.unwrap();
    let in_use = store.delete_media(&clip.id, false).await.unwrap_err();
    assert_eq!((in_use.kind, in_use.reason), (ErrorKind::FailedPrecondition, "MEDIA_IN_USE"));
    assert!(in_use.message.contains("articles/with-clip") && in_use.message.contains("articles/da-xoa"), "{in_use}");
    let held = record("giu", 1_569_838_861, &[]);
    store.insert_article(&held, &text("y")).await.unwrap();
    store.attach_media(&held.id, "93019_OHAI1.mp4", &clip.id).await.unwrap();
    store.set_legal_hold(&held.id, true).await.unwrap();
    // A held article keeps its clips: no detaching, no replacing, no deleting.
    let detach_held = store.detach_media(&held.id, "93019_OHAI1.mp4").await.unwrap_err();
    assert_eq!((detach_held.kind, detach_held.reason), (ErrorKind::FailedPrecondition, "LEGAL_HOLD"));
    let other = media("other-clip");
    store.insert_media(&other).await.unwrap();
    let replace_held = store.attach_media(&held.id, "93019_OHAI1.mp4", &other.id).await.unwrap_err();
    assert_eq!((replace_held.kind, replace_held.reason), (ErrorKind::FailedPrecondition, "LEGAL_HOLD"));
    store
        .attach_media(&held.id, "93019_OHAI1.mp4", &clip.id)
        .await
        .expect("linking the same clip again changes nothing");
    let added = store.attach_media(&held.id, "them.mp4", &other.id).await.expect("adding a clip is fine");
    assert_eq!(added.media.len(), 2);
    let not_forced = store.delete_media(&clip.id, false).await.unwrap_err();
    assert_eq!(not_forced.reason, "LEGAL_HOLD", "the hold is the reason that force cannot lift");
    let on_hold = store.delete_media(&clip.id, true).await.unwrap_err();
    assert_eq!((on_hold.kind, on_hold.reason), (ErrorKind::FailedPrecondition, "LEGAL_HOLD"));
    assert!(on_hold.message.contains("articles/giu"), "{on_hold}");
    assert_eq!(store.get_media(&clip.id).await.unwrap(), clip, "refused deletions change nothing");
    assert_eq!(store.get_article(&held.id, None).await.unwrap().media[0], body_link(Some(&clip.id)));
    store.set_legal_hold(&held.id, false).await.unwrap();

    // A copy shares the bytes: they outlive the clip and go with the copy.
    let mut copy = media("clip-copy");
    (copy.object, copy.rendition) = (clip.object.clone(), clip.rendition.clone());
    store.insert_media_copy(&copy).await.unwrap();
    let deleted = store.delete_media(&clip.id, true).await.unwrap();
    assert_eq!(deleted.detached, [gone.id.clone(), held.id.clone(), article.id.clone()], "in id order");
    assert!(deleted.unreferenced.is_empty(), "the copy still names the bytes: {deleted:?}");
    assert_eq!(store.get_media(&clip.id).await.unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(store.get_article(&article.id, None).await.unwrap().media, [body_link(None)]);
    store.undelete_article(&gone.id).await.unwrap();
    assert_eq!(store.get_article(&gone.id, None).await.unwrap().media, [body_link(None)]);

    let deleted = store.delete_media(&copy.id, false).await.unwrap();
    assert_eq!(deleted.detached, []);
    assert_eq!(deleted.unreferenced, [clip.object.key.clone(), clip.rendition.clone().unwrap().key]);
    assert!(store.referenced_objects(&deleted.unreferenced).await.unwrap().is_empty());
    let mut late = media("late-copy");
    (late.object, late.rendition) = (clip.object.clone(), clip.rendition.clone());
    let refused = store.insert_media_copy(&late).await.unwrap_err();
    assert_eq!((refused.kind, refused.reason), (ErrorKind::Aborted, metadata::COPY_SOURCE_GONE));
    assert_eq!(store.get_media(&late.id).await.unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(store.delete_media(&copy.id, false).await.unwrap_err().kind, ErrorKind::NotFound);

    // Uploaded through a session, which stays (finished) until it expires:
    // the clip's record, not the session, holds its bytes.
    let session = upload_session("via-session");
    store.insert_upload(&session).await.unwrap();
    let mut uploaded = media("via-session");
    (uploaded.object.key, uploaded.rendition) = (session.key.clone(), None);
    store.finish_upload(&session.id, &uploaded, time(1_800_000_000)).await.unwrap();
    let deleted = store.delete_media(&uploaded.id, false).await.unwrap();
    assert_eq!(deleted.unreferenced, std::slice::from_ref(&session.key));
}

/// An update writes the links committed when it writes, not those it read:
/// a detach or attach landing in between is kept, fitted to the new body.
async fn updates_keep_links_changed_meanwhile(store: Arc<dyn MetadataStore>) {
    let first = record("cap-nhat", 1_569_838_859, &[]); // body names 93019_OHAI1.mp4
    store.insert_article(&first, &text("Video: 93019_OHAI1.mp4")).await.unwrap();
    let clip = media("clip-u");
    store.insert_media(&clip).await.unwrap();
    store.attach_media(&first.id, "93019_OHAI1.mp4", &clip.id).await.unwrap();
    let read = store.get_article(&first.id, None).await.unwrap();
    // Meanwhile: detached, and another clip added.
    store.detach_media(&first.id, "93019_OHAI1.mp4").await.unwrap();
    store.attach_media(&first.id, "them.mp4", &clip.id).await.unwrap();
    let committed = store.get_article(&first.id, None).await.unwrap().media;

    let mut next = read.clone();
    (next.revision, next.etag, next.title) = (2, "e2".into(), "Tiêu đề mới".into());
    let links = store.update_article("e1", &next, &text("Video: 93019_OHAI1.mp4")).await.unwrap();
    assert_eq!(links, committed, "the stale links read before the detach are not written back");
    assert_eq!(store.get_article(&first.id, None).await.unwrap().media, committed);

    // A new body, read before the detach: its references first, then the
    // linked clips it no longer names.
    let mut third = next.clone();
    (third.revision, third.etag) = (3, "e3".into());
    third.media = archive::metadata::links_for_body("Video: moi.mp4", &read.media);
    let links = store.update_article("e2", &third, &text("Video: moi.mp4")).await.unwrap();
    let expected = [
        MediaLink { reference: "moi.mp4".into(), media_id: None, in_body: true },
        MediaLink { reference: "them.mp4".into(), media_id: Some(clip.id.clone()), in_body: false },
    ];
    assert_eq!(links, expected);
    assert_eq!(store.get_article(&first.id, None).await.unwrap().media, expected);
}

/// A copy recorded while its source is deleted: either the copy wins and
/// the bytes stay, or the deletion wins and the copy is refused. Never a
/// copy naming bytes handed out for deletion.
async fn copies_never_name_deleted_bytes(store: Arc<dyn MetadataStore>) {
    let mut outcomes = std::collections::HashSet::new();
    for round in 0..24 {
        let source = media(&format!("source-{round}"));
        store.insert_media(&source).await.unwrap();
        let mut copy = media(&format!("copy-{round}"));
        (copy.object, copy.rendition) = (source.object.clone(), source.rendition.clone());
        let (deleted, copied) = tokio::join!(
            {
                let store = store.clone();
                let id = source.id.clone();
                tokio::spawn(async move { store.delete_media(&id, false).await })
            },
            {
                let store = store.clone();
                // Staggered, so that either side gets to go first.
                let delay = std::time::Duration::from_micros(250 * round);
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    store.insert_media_copy(&copy).await
                })
            }
        );
        let deleted = deleted.unwrap().expect("the deletion succeeds either way");
        match copied.unwrap() {
            Ok(()) => assert!(deleted.unreferenced.is_empty(), "round {round}: a recorded copy names {deleted:?}"),
            Err(e) => {
                assert_eq!(e.reason, metadata::COPY_SOURCE_GONE, "round {round}");
                assert_eq!(deleted.unreferenced.len(), 2, "round {round}: nothing names the bytes");
            }
        }
        outcomes.insert(deleted.unreferenced.is_empty());
    }
    // Which side wins is up to the scheduler; the assertions above hold for both.
    eprintln!("outcomes seen (copy won = true): {outcomes:?}");
}

/// An open upload session of a new clip.
fn upload_session(media_id: &str) -> UploadSession {
    let media_id = MediaId::parse(media_id).unwrap();
    UploadSession {
        id: UploadId::generate(),
        key: BlobKey::new_media_original(&media_id),
        media_id,
        filename: "dang-tai.mp4".into(),
        content_type: "video/mp4".into(),
        multipart_id: "mp-1".into(),
        part_size: 1 << 20,
        progress: UploadProgress { committed_offset: 0, parts_done: 0, sha256_state: vec![0; 8], crc32c: 0 },
        create_time: time(1_700_000_000),
        expire_time: time(1_800_000_000),
        finished: false,
    }
}

fn micros_of(media: &MediaRecord) -> i64 {
    media.create_time.timestamp_micros()
}

/// Clips page newest first; the counts are exact, stored bytes counted once
/// however many clips share them.
async fn media_listing_and_statistics(store: Arc<dyn MetadataStore>) {
    assert_eq!(store.statistics().await.unwrap(), ArchiveStatistics::default(), "an empty archive");
    let live = record("song", 1_569_838_859, &[]); // 89 views
    store.insert_article(&live, &text("một")).await.unwrap();
    let mut second = live.clone();
    (second.revision, second.etag) = (2, "e2".into());
    store.update_article("e1", &second, &text("hai")).await.unwrap();
    let held = record("giu", 1_569_838_860, &[]);
    store.insert_article(&held, &text("x")).await.unwrap();
    store.set_legal_hold(&held.id, true).await.unwrap();
    let deleted = record("xoa", 1_569_838_861, &[]);
    store.insert_article(&deleted, &text("y")).await.unwrap();
    store.delete_article(&deleted.id, None).await.unwrap();

    let mut clips = Vec::new();
    for (i, id) in ["clip-a", "clip-b", "clip-c"].into_iter().enumerate() {
        let mut clip = media(id);
        clip.create_time = time(1_700_000_000 + i as i64);
        clip.rendition = clip.rendition.filter(|_| i == 0);
        store.insert_media(&clip).await.unwrap();
        clips.push(clip);
    }
    // A copy shares the original and the rendition of clip-a, as dedup makes them.
    let mut copy = media("clip-d");
    (copy.object, copy.rendition, copy.create_time) =
        (clips[0].object.clone(), clips[0].rendition.clone(), time(1_700_000_002));
    store.insert_media(&copy).await.unwrap();

    // Newest first; clip-c and clip-d share a creation time, ids break the tie.
    let ids = |page: &[MediaRecord]| page.iter().map(|m| m.id.to_string()).collect::<Vec<_>>();
    let first = store.list_media(None, 1).await.unwrap();
    assert_eq!(first, [copy.clone()], "listed records are whole");
    let mut after = MediaCursor { create_time_micros: micros_of(&first[0]), id: first[0].id.to_string() };
    let mut listed = ids(&first);
    loop {
        let page = store.list_media(Some(&after), 1).await.unwrap();
        let Some(last) = page.last() else { break };
        after = MediaCursor { create_time_micros: micros_of(last), id: last.id.to_string() };
        listed.extend(ids(&page));
    }
    assert_eq!(listed, ["clip-d", "clip-c", "clip-b", "clip-a"], "pages of one, across the tie");

    let stored = 3 * clips[0].object.size_bytes + clips[0].rendition.as_ref().unwrap().size_bytes;
    let expected = ArchiveStatistics {
        articles: 2,
        deleted_articles: 1,
        held_articles: 1,
        revisions: 4,
        views: 3 * 89,
        media: 4,
        media_stored_bytes: stored as i64,
        open_uploads: 0,
    };
    assert_eq!(store.statistics().await.unwrap(), expected);
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
    assert_eq!((refused.kind, refused.reason), (ErrorKind::FailedPrecondition, "LEGAL_HOLD"));

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
    let query = SearchQuery {
        terms: search::tokens("Đảng"),
        filters: ArticleQuery { page_size: 10, ..Default::default() },
        offset: 0,
    };
    assert!(store.search_articles(&query).await.unwrap().is_empty(), "purged text is not searchable");

    assert!(!store.set_legal_hold(&held.id, false).await.unwrap().legal_hold);
    store.delete_article(&held.id, None).await.expect("released hold allows deletion");
}

/// The shared corpus: both databases must give exactly these hits.
const CORPUS: &[(&str, &str, &str, &[&str], &str)] = &[
    (
        "s1",
        "Nâng cao chất lượng sinh hoạt chi bộ",
        "Phạm Ngọc",
        &["Đảng"],
        "Tỉnh Thái Bình duy trì nề nếp sinh hoạt chi bộ vào ngày mùng 3.",
    ),
    ("s2", "Đường Trường Sơn", "Ngô Đông Hải", &[], "Con đường huyền thoại, hòa bình và thống nhất."),
    ("s3", "Giao ban trực tuyến", "Phạm Ngọc", &["Thái Bình"], "Xây dựng Đảng trong sạch, vững mạnh; hoà hợp dân tộc."),
    ("s4", "Thuý Kiều", "Nguyễn Du", &["văn học"], "Chị em Thúy Kiều, sinh hoạt văn nghệ."),
    ("s5", "Kinh tế quý 4.2019", "Đỗ Xuân Thành", &[], "Tăng trưởng kinh tế xã hội của địa phương."),
];

async fn insert_corpus(store: &Arc<dyn MetadataStore>) {
    for (i, (id, title, author, keywords, body)) in CORPUS.iter().enumerate() {
        let mut article = record(id, 1_569_838_859 + i as i64, keywords);
        article.title = title.to_string();
        article.author = author.to_string();
        let folded = search::document_text(title, author, &article.keywords, body);
        store.insert_article(&article, &SearchText { body: body.to_string(), folded }).await.unwrap();
    }
}

/// The ids of the first ten hits of `query`, sorted.
async fn search_ids(store: &Arc<dyn MetadataStore>, query: &str, filters: ArticleQuery) -> Vec<String> {
    let query =
        SearchQuery { terms: search::tokens(query), filters: ArticleQuery { page_size: 10, ..filters }, offset: 0 };
    let mut ids: Vec<String> =
        store.search_articles(&query).await.unwrap().into_iter().map(|h| h.article.id.to_string()).collect();
    ids.sort();
    ids
}

async fn search_folds_vietnamese_both_ways(store: Arc<dyn MetadataStore>) {
    insert_corpus(&store).await;
    let hits = |query: &'static str, filters: ArticleQuery| {
        let store = store.clone();
        async move { search_ids(&store, query, filters).await }
    };
    let none = ArticleQuery::default;
    assert_eq!(hits("sinh hoat chi bo", none()).await, ["s1"]);
    assert_eq!(hits("sinh hoạt", none()).await, ["s1", "s4"]);
    assert_eq!(hits("Dang", none()).await, ["s1", "s3"], "keyword Đảng of s1, body of s3");
    assert_eq!(hits("duong", none()).await, ["s2"]);
    assert_eq!(hits("hòa", none()).await, hits("hoà", none()).await);
    assert_eq!(hits("hoa", none()).await, ["s2", "s3"]);
    assert_eq!(hits("thuý", none()).await, ["s4"]);
    assert_eq!(hits("thúy kieu", none()).await, ["s4"]);
    assert_eq!(hits("pham ngoc", none()).await, ["s1", "s3"], "author");
    assert_eq!(hits("van hoc", none()).await, ["s4"], "keywords");
    assert_eq!(hits("quy 4 2019", none()).await, ["s5"]);
    assert!(hits("không có từ này", none()).await.is_empty());
    assert_eq!(
        hits("Đảng", ArticleQuery { author: Some("Phạm Ngọc".into()), keyword: Some("Thái Bình".into()), ..none() })
            .await,
        ["s3"]
    );
    let late = ArticleQuery { publish_time_start: Some(time(1_569_838_859 + 2)), ..none() };
    assert_eq!(hits("dang", late).await, ["s3"]);

    // A new author and keywords: the filters follow them (PostgreSQL keeps
    // both beside the words).
    let s3 = store.get_article(&ArticleId::parse("s3").unwrap(), None).await.unwrap();
    let (_, title, _, _, body) = CORPUS.iter().find(|c| c.0 == "s3").unwrap();
    let mut renamed = s3.clone();
    assert_eq!(hits("Đảng", ArticleQuery { keyword: Some("Thái Bình".into()), ..none() }).await, ["s3"]);
    (renamed.revision, renamed.etag, renamed.author) = (2, "e2".into(), "Lê Thị Thuý".into());
    renamed.keywords = vec!["Xây dựng Đảng".into()];
    let folded = search::document_text(title, &renamed.author, &renamed.keywords, body);
    store.update_article(&s3.etag, &renamed, &SearchText { body: body.to_string(), folded }).await.unwrap();
    let by = |author: &str| ArticleQuery { author: Some(author.into()), ..none() };
    assert_eq!(hits("Đảng", by("Phạm Ngọc")).await, ["s1"]);
    assert_eq!(hits("Đảng", by("Lê Thị Thuý")).await, ["s3"]);
    let tagged = |keyword: &str| ArticleQuery { keyword: Some(keyword.into()), ..none() };
    assert!(hits("Đảng", tagged("Thái Bình")).await.is_empty(), "the old keyword is gone");
    assert_eq!(hits("Đảng", tagged("Xây dựng Đảng")).await, ["s3"]);
    assert_eq!(hits("Đảng", tagged("Đảng")).await, ["s1"]);

    // Ranked: best first, and pages follow one another.
    let query = |offset| SearchQuery {
        terms: search::tokens("sinh hoat"),
        filters: ArticleQuery { page_size: 1, ..none() },
        offset,
    };
    let first = store.search_articles(&query(0)).await.unwrap();
    let second = store.search_articles(&query(1)).await.unwrap();
    assert_eq!((first.len(), second.len()), (1, 1));
    assert_ne!(first[0].article.id, second[0].article.id);
    assert!(first[0].score >= second[0].score);
    assert_eq!(first[0].body, CORPUS.iter().find(|c| c.0 == first[0].article.id.as_str()).unwrap().4, "body as stored");
}

macro_rules! on_every_database {
    ($($test:ident),* $(,)?) => {
        on_every_database!(@database sqlite_backend, sqlite; $($test),*);
        on_every_database!(@database postgres_backend, postgres; $($test),*);
    };
    (@database $module:ident, $open:ident; $($test:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let (store, _guard) = super::$open().await;
                    super::$test(store).await;
                }
            )*
        }
    };
}

on_every_database!(
    articles_round_trip_with_revisions_and_etags,
    media_and_links,
    clips_detach_and_delete,
    updates_keep_links_changed_meanwhile,
    copies_never_name_deleted_bytes,
    records_tell_which_objects_they_name,
    media_listing_and_statistics,
    concurrent_writers_never_fail_busy,
    listing_pages_and_filters,
    views_add_up_under_concurrency,
    views_not_yet_in_a_manifest_are_tracked,
    revisions_list_newest_first,
    deletion_hold_restore_and_purge,
    search_folds_vietnamese_both_ways,
);

/// An SQLite archive from before migration 0009, whose search index held
/// the words only: opening it rebuilds the index with the tokens of each
/// article's author and keywords, and filtered search finds what it found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_search_index_gains_filter_tokens_on_upgrade() {
    let (store, dir) = sqlite().await;
    insert_corpus(&store).await;
    let by = |author: &str, keyword: Option<&str>| ArticleQuery {
        author: Some(author.into()),
        keyword: keyword.map(Into::into),
        ..Default::default()
    };
    assert_eq!(search_ids(&store, "Đảng", by("Phạm Ngọc", Some("Thái Bình"))).await, ["s3"]);
    assert_eq!(search_ids(&store, "Đảng", by("Phạm Ngọc", None)).await, ["s1", "s3"]);
    drop(store);

    // The index as migration 0002 made it, and 0009 not yet applied.
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    let mut db = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.unwrap();
    sqlx::raw_sql(
        "DROP TABLE article_fts; \
         CREATE VIRTUAL TABLE article_fts USING fts5 (folded, tokenize = 'unicode61 remove_diacritics 0'); \
         INSERT INTO article_fts (rowid, folded) SELECT rowid, folded FROM article_texts; \
         DELETE FROM _sqlx_migrations WHERE version = 9",
    )
    .execute(&mut db)
    .await
    .unwrap();
    sqlx::Connection::close(db).await.unwrap();

    let settings = MetadataSettings { url: url.clone(), max_connections: 4, ..Default::default() };
    let store = metadata::open(&settings).await.expect("opens and migrates");
    assert_eq!(search_ids(&store, "Đảng", by("Phạm Ngọc", Some("Thái Bình"))).await, ["s3"]);
    assert_eq!(search_ids(&store, "Đảng", by("Phạm Ngọc", None)).await, ["s1", "s3"]);
    assert_eq!(search_ids(&store, "sinh hoạt", ArticleQuery::default()).await, ["s1", "s4"]);
    let db = sqlx::SqlitePool::connect(&url).await.unwrap();
    assert_keyword_tokens("SELECT count(*) FROM article_fts WHERE article_fts MATCH 'tags : ' || $1", &db).await;
}

/// Every article's keyword tokens are in: as many rows hold a keyword's
/// token as articles of the corpus have the keyword. `count` takes the
/// token as `$1`.
async fn assert_keyword_tokens<DB: sqlx::Database>(count: &'static str, db: &sqlx::Pool<DB>)
where
    i64: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    String: sqlx::Type<DB> + for<'q> sqlx::Encode<'q, DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    for<'e> &'e sqlx::Pool<DB>: sqlx::Executor<'e, Database = DB>,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    for keyword in ["Thái Bình", "Đảng"] {
        let token = format!("keyword{}", hex::encode(keyword));
        let tagged: i64 = sqlx::query_scalar(count).bind(token).fetch_one(db).await.unwrap();
        let expected = CORPUS.iter().filter(|c| c.3.contains(&keyword)).count() as i64;
        assert_eq!((keyword, tagged), (keyword, expected));
        assert!(expected > 0);
    }
}

/// A PostgreSQL archive from before migration 0012, whose search vectors
/// held the words only: opening it adds each keyword's token, and
/// keyword-filtered search finds what it found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_search_vectors_gain_keyword_tokens_on_upgrade() {
    let url = common::fresh_postgres_url().await;
    let settings = MetadataSettings { url: url.clone(), max_connections: 4, ..Default::default() };
    let store = metadata::open(&settings).await.expect("opens");
    insert_corpus(&store).await;
    let tagged = |keyword: &str| ArticleQuery { keyword: Some(keyword.into()), ..Default::default() };
    assert_eq!(search_ids(&store, "Đảng", tagged("Thái Bình")).await, ["s3"]);
    drop(store);

    let db = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::raw_sql(
        "UPDATE article_search s SET vector = to_tsvector('simple', t.folded) FROM article_texts t \
         WHERE t.article_id = s.article_id; DELETE FROM _sqlx_migrations WHERE version = 12",
    )
    .execute(&db)
    .await
    .unwrap();
    let store = metadata::open(&settings).await.expect("opens and migrates");
    assert_eq!(search_ids(&store, "Đảng", tagged("Thái Bình")).await, ["s3"]);
    assert_eq!(search_ids(&store, "Đảng", tagged("Đảng")).await, ["s1"]);
    assert_keyword_tokens("SELECT count(*) FROM article_search WHERE vector @@ to_tsquery('simple', $1)", &db).await;
}

/// PostgreSQL, with another transaction's deletion of a clip held open: a
/// deletion of a clip sharing its bytes and a copy of them both wait for it,
/// then see the clip gone (the last deletion takes the bytes; the copy is
/// refused). Without their row locks both would read the clip as present.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_deletions_and_copies_wait_for_a_deletion_in_flight() {
    let url = common::fresh_postgres_url().await;
    let settings = MetadataSettings { url: url.clone(), max_connections: 8, ..Default::default() };
    let store = metadata::open(&settings).await.expect("opens");
    let other = sqlx::PgPool::connect(&url).await.unwrap();
    let source = media("source");
    store.insert_media(&source).await.unwrap();
    let shares = |id: &str| {
        let mut copy = media(id);
        (copy.object, copy.rendition) = (source.object.clone(), source.rendition.clone());
        copy
    };
    let copy = shares("copy");
    store.insert_media(&copy).await.unwrap();
    let blocked = std::time::Duration::from_millis(300);

    let in_flight = async || {
        let mut tx = other.begin().await.unwrap();
        sqlx::query("DELETE FROM media WHERE id = 'source'").execute(&mut *tx).await.unwrap();
        tx
    };
    let tx = in_flight().await;
    let deleting = tokio::spawn({
        let store = store.clone();
        let id = copy.id.clone();
        async move { store.delete_media(&id, false).await }
    });
    tokio::time::sleep(blocked).await;
    assert!(!deleting.is_finished(), "the deletion waits for the one in flight");
    tx.commit().await.unwrap();
    let deleted = deleting.await.unwrap().unwrap();
    assert_eq!(deleted.unreferenced.len(), 2, "the last clip naming the bytes takes them: {deleted:?}");

    store.insert_media(&source).await.unwrap();
    let tx = in_flight().await;
    let copying = tokio::spawn({
        let store = store.clone();
        let late = shares("late-copy");
        async move { store.insert_media_copy(&late).await }
    });
    tokio::time::sleep(blocked).await;
    assert!(!copying.is_finished(), "the copy waits for the deletion in flight");
    tx.commit().await.unwrap();
    let refused = copying.await.unwrap().unwrap_err();
    assert_eq!(refused.reason, metadata::COPY_SOURCE_GONE);
    assert_eq!(store.get_media(&MediaId::parse("late-copy").unwrap()).await.unwrap_err().kind, ErrorKind::NotFound);
}
