//! Clip records: links to articles, shared bytes, detaching and deleting.

use super::*;

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

fn picture(media: &MediaId, name: &str) -> PictureRecord {
    let key = BlobKey::new_picture(media, name.rsplit_once('.').unwrap().1);
    PictureRecord {
        media_id: media.clone(),
        name: name.into(),
        object: ObjectRef { key, size_bytes: 1234, sha256: "ab".repeat(32) },
        content_type: "image/jpeg".into(),
        create_time: time(1_800_000_000),
    }
}

/// A clip's pictures are recorded under a bound (concurrently too), once
/// per name, only while the clip exists; they are named objects, listed
/// for the manifest, audited, and handed back when the clip is deleted.
async fn pictures_are_recorded_within_bounds(store: Arc<dyn MetadataStore>) {
    let clip = media("with-pictures");
    store.insert_media(&clip).await.unwrap();
    let thumbnails: Vec<PictureRecord> =
        (0..5).map(|i| picture(&clip.id, &format!("thumbnails/{i}000-160x90.jpg"))).collect();
    let added = futures::future::join_all(thumbnails.iter().map(|p| store.add_picture(p, Some(3)))).await;
    let added: Vec<PictureAdded> = added.into_iter().map(Result::unwrap).collect();
    assert_eq!(added.iter().filter(|a| **a == PictureAdded::Added).count(), 3, "exactly the bound: {added:?}");
    assert_eq!(added.iter().filter(|a| **a == PictureAdded::Full).count(), 2, "{added:?}");
    let kept: Vec<PictureRecord> =
        thumbnails.iter().zip(&added).filter(|(_, a)| **a == PictureAdded::Added).map(|(p, _)| p.clone()).collect();

    let again = PictureRecord { object: picture(&clip.id, "x.jpg").object, ..kept[0].clone() };
    assert_eq!(store.add_picture(&again, None).await.unwrap(), PictureAdded::Exists(kept[0].clone()));
    let sprite = picture(&clip.id, "storyboard.jpg");
    assert_eq!(store.add_picture(&sprite, None).await.unwrap(), PictureAdded::Added, "no bound: no limit");
    let gone = picture(&MediaId::parse("nope").unwrap(), "thumbnails/0-1x1.jpg");
    assert_eq!(store.add_picture(&gone, None).await.unwrap(), PictureAdded::MediaGone);

    let lookup = store.picture(&clip.id, &kept[1].name).await.unwrap();
    assert_eq!(lookup, PictureLookup { found: Some(kept[1].clone()), stored: 4 });
    let none = store.picture(&clip.id, "thumbnails/9-1x1.jpg").await.unwrap();
    assert_eq!(none, PictureLookup { found: None, stored: 4 });
    let mut all = kept.clone();
    all.push(sprite.clone());
    all.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(store.pictures(&clip.id).await.unwrap(), all, "by name, as recorded");

    let keys: Vec<BlobKey> = all.iter().map(|p| p.object.key.clone()).chain([again.object.key.clone()]).collect();
    let named = store.referenced_objects(&keys).await.unwrap();
    assert_eq!(named, all.iter().map(|p| p.object.key.clone()).collect(), "the refused one is named by nothing");
    let audited = store.recorded_objects(ObjectKind::Picture, None, 100).await.unwrap();
    assert_eq!(audited.len(), 4);
    assert!(audited.iter().all(|object| object.size_bytes == 1234));

    // Forgotten only while the record still names the object found missing.
    store.remove_picture(&clip.id, &sprite.name, &kept[0].object.key).await.unwrap();
    assert_eq!(store.picture(&clip.id, &sprite.name).await.unwrap().found, Some(sprite.clone()));
    store.remove_picture(&clip.id, &sprite.name, &sprite.object.key).await.unwrap();
    assert_eq!(store.picture(&clip.id, &sprite.name).await.unwrap(), PictureLookup { found: None, stored: 3 });
    store.add_picture(&sprite, None).await.unwrap();

    let deleted = store.delete_media(&clip.id, false).await.unwrap();
    for picture in &all {
        assert!(deleted.files.contains(&picture.object.key), "{} handed back: {deleted:?}", picture.name);
    }
    assert!(store.pictures(&clip.id).await.unwrap().is_empty());
    store.insert_media(&clip).await.unwrap();
    store.restore_pictures(&all).await.unwrap();
    assert_eq!(store.pictures(&clip.id).await.unwrap(), all, "a rebuild restores them as they were");
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
    assert_eq!((again.kind, again.reason), (ErrorKind::NotFound, Reason::ReferenceNotLinked));
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
    assert_eq!((in_use.kind, in_use.reason), (ErrorKind::FailedPrecondition, Reason::MediaInUse));
    assert!(in_use.message.contains("articles/with-clip") && in_use.message.contains("articles/da-xoa"), "{in_use}");
    let held = record("giu", 1_569_838_861, &[]);
    store.insert_article(&held, &text("y")).await.unwrap();
    store.attach_media(&held.id, "93019_OHAI1.mp4", &clip.id).await.unwrap();
    store.set_legal_hold(&held.id, true).await.unwrap();
    // A held article keeps its clips: no detaching, no replacing, no deleting.
    let detach_held = store.detach_media(&held.id, "93019_OHAI1.mp4").await.unwrap_err();
    assert_eq!((detach_held.kind, detach_held.reason), (ErrorKind::FailedPrecondition, Reason::LegalHold));
    let other = media("other-clip");
    store.insert_media(&other).await.unwrap();
    let replace_held = store.attach_media(&held.id, "93019_OHAI1.mp4", &other.id).await.unwrap_err();
    assert_eq!((replace_held.kind, replace_held.reason), (ErrorKind::FailedPrecondition, Reason::LegalHold));
    store
        .attach_media(&held.id, "93019_OHAI1.mp4", &clip.id)
        .await
        .expect("linking the same clip again changes nothing");
    let added = store.attach_media(&held.id, "them.mp4", &other.id).await.expect("adding a clip is fine");
    assert_eq!(added.media.len(), 2);
    let not_forced = store.delete_media(&clip.id, false).await.unwrap_err();
    assert_eq!(not_forced.reason, Reason::LegalHold, "the hold is the reason that force cannot lift");
    let on_hold = store.delete_media(&clip.id, true).await.unwrap_err();
    assert_eq!((on_hold.kind, on_hold.reason), (ErrorKind::FailedPrecondition, Reason::LegalHold));
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
    assert_eq!((refused.kind, refused.reason), (ErrorKind::Aborted, Reason::CopySourceGone));
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
                assert_eq!(e.reason, Reason::CopySourceGone, "round {round}");
                assert_eq!(deleted.unreferenced.len(), 2, "round {round}: nothing names the bytes");
            }
        }
        outcomes.insert(deleted.unreferenced.is_empty());
    }
    // Which side wins is up to the scheduler; the assertions above hold for both.
    eprintln!("outcomes seen (copy won = true): {outcomes:?}");
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
        last_fixity_audit: None,
    };
    assert_eq!(store.statistics().await.unwrap(), expected);
}

/// PostgreSQL, with another transaction's deletion of a clip held open: a
/// deletion of a clip sharing its bytes and a copy of them both wait for it,
/// then see the clip gone (the last deletion takes the bytes; the copy is
/// refused). Without their row locks both would read the clip as present.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_deletions_and_copies_wait_for_a_deletion_in_flight() {
    crate::skip_without!(POSTGRES);
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
    assert_eq!(refused.reason, Reason::CopySourceGone);
    assert_eq!(store.get_media(&MediaId::parse("late-copy").unwrap()).await.unwrap_err().kind, ErrorKind::NotFound);
}

/// A tus upload's tail moves only from where it stands, and stored parts
/// take it in.
async fn upload_tails_move_with_the_committed_offset(store: Arc<dyn MetadataStore>) {
    let session = UploadSession { declared_size: Some(5 << 20), ..upload_session("with-tail") };
    store.insert_upload(&session).await.unwrap();
    let stored = store.get_upload(&session.id).await.unwrap();
    assert_eq!((stored.declared_size, stored.tail_bytes, stored.resume_offset()), (Some(5 << 20), 0, 0));

    let expire = time(1_800_000_100);
    store.set_upload_tail(&session.id, 0, 0, 1000, expire).await.unwrap();
    let moved = store.set_upload_tail(&session.id, 0, 0, 2000, expire).await.unwrap_err();
    assert_eq!(moved.reason, Reason::UploadMovedOn, "a tail set meanwhile is not overwritten");
    let stored = store.get_upload(&session.id).await.unwrap();
    assert_eq!((stored.tail_bytes, stored.resume_offset(), stored.expire_time), (1000, 1000, expire));

    let progress = UploadProgress { committed_offset: 1 << 20, parts_done: 1, sha256_state: vec![1; 8], crc32c: 7 };
    let part = archive::blob::CompletedPart { number: 1, etag: "e1".into(), size: 1 << 20 };
    store.advance_upload(&session.id, 0, &progress, &[part], expire).await.unwrap();
    let stored = store.get_upload(&session.id).await.unwrap();
    assert_eq!((stored.tail_bytes, stored.resume_offset()), (0, 1 << 20), "the part took the tail in");
    let stale = store.set_upload_tail(&session.id, 0, 1000, 10, expire).await.unwrap_err();
    assert_eq!(stale.reason, Reason::UploadMovedOn);
    store.set_upload_tail(&session.id, 1 << 20, 0, 10, expire).await.unwrap();
    assert_eq!(store.get_upload(&session.id).await.unwrap().resume_offset(), (1 << 20) + 10);
}

on_every_database!(
    upload_tails_move_with_the_committed_offset,
    media_and_links,
    pictures_are_recorded_within_bounds,
    records_tell_which_objects_they_name,
    clips_detach_and_delete,
    updates_keep_links_changed_meanwhile,
    copies_never_name_deleted_bytes,
    media_listing_and_statistics,
);
