//! Objects a crash left without a record are swept once they are old enough;
//! whatever a record or a manifest names stays, and an empty database stops
//! the sweep.

use crate::common;

use archive::{
    blob::{BlobKey, BlobStore},
    ids::MediaId,
    metadata::{ObjectRef, PictureRecord},
    proto::v1 as pb,
};
use bytes::Bytes;
use common::{Stack, TestServer, fixture, update_request};
use futures::TryStreamExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The production default.
const GRACE: Duration = Duration::from_secs(7 * 24 * 3600);
const CLIP: &str = "clip-moov-at-end.mp4";

/// A key as the service makes them (`{uuid}` replaced by a UUIDv7), made `age` ago.
fn key_made_ago(template: &str, age: Duration) -> BlobKey {
    let at = (SystemTime::now() - age).duration_since(UNIX_EPOCH).unwrap();
    let timestamp = uuid::Timestamp::from_unix(uuid::NoContext, at.as_secs(), at.subsec_nanos());
    let key = template.replace("{uuid}", &uuid::Uuid::new_v7(timestamp).to_string());
    BlobKey::parse(&key).unwrap_or_else(|| panic!("{key} is a valid key"))
}

async fn stored_keys(blobs: &dyn BlobStore) -> Vec<String> {
    let mut keys = Vec::new();
    for prefix in ["articles/", "media/"] {
        let listed: Vec<BlobKey> = blobs.list(prefix).try_collect().await.unwrap();
        keys.extend(listed.iter().map(|key| key.to_string()));
    }
    keys.sort();
    keys
}

async fn put(blobs: &dyn BlobStore, key: &BlobKey, data: &'static [u8]) {
    blobs.put(key, Bytes::from_static(data), "application/octet-stream").await.unwrap();
}

async fn only_unnamed_old_objects_are_swept(stack: Stack) {
    // The sweep reads the whole bucket, so it must hold this test's objects only.
    let server = TestServer::start_isolated(stack, |settings| {
        settings.retention.sweep_interval_seconds = 0; // sweeps happen when this test says
    })
    .await;
    let blobs = server.archive.blobs();

    let article = pb::Article {
        title: "Hội nghị giao ban trực tuyến".into(),
        body: "Sáng 30/9, Ban Tuyên giáo Tỉnh uỷ tổ chức hội nghị.".into(),
        author: "Phạm Ngọc".into(),
        ..Default::default()
    };
    let create =
        pb::CreateArticleRequest { request_id: String::new(), article: Some(article), article_id: "con-lai".into() };
    let created = server.articles().create_article(create).await.unwrap().into_inner().article.unwrap();
    let update = update_request(&created, &["body"], |new| new.body = "Bản sửa lần hai.".into());
    server.articles().update_article(update).await.unwrap();
    let clip = server.upload(CLIP, fixture(CLIP)).await.unwrap();
    let clip_id = clip.name.trim_start_matches("media/").to_owned();
    let recorded = stored_keys(blobs.as_ref()).await;
    // Two bodies, a manifest; original, rendition, manifest.
    assert_eq!(recorded.len(), 6, "{recorded:?}");

    let old = GRACE + Duration::from_secs(24 * 3600);
    let orphans = [
        key_made_ago("articles/con-lai/bodies/{uuid}.txt", old),
        key_made_ago("articles/khong-co/bodies/{uuid}.txt", old),
        key_made_ago(&format!("media/{clip_id}/faststart-{{uuid}}.mp4"), old),
        key_made_ago("media/mat-tich/original-{uuid}", old),
    ];
    for key in &orphans {
        put(blobs.as_ref(), key, b"left by a crash").await;
    }
    let young = key_made_ago("articles/con-lai/bodies/{uuid}.txt", Duration::from_secs(60));
    put(blobs.as_ref(), &young, b"a write still in progress").await;
    let foreign = BlobKey::parse(&format!("media/{clip_id}/notes.txt")).unwrap();
    put(blobs.as_ref(), &foreign, b"not a key this service makes").await;
    // An old object that only a manifest names, as after restoring an old
    // database backup: the manifest of a clip the database does not know.
    let described = key_made_ago("media/chi-manifest/original-{uuid}", old);
    put(blobs.as_ref(), &described, b"described by the bucket").await;
    let clip_manifest = BlobKey::media_manifest(&MediaId::parse(&clip_id).unwrap());
    let size = blobs.head(&clip_manifest).await.unwrap().expect("the clip has a manifest");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&blobs.get_bytes(&clip_manifest, size).await.unwrap()).unwrap();
    manifest["id"] = "chi-manifest".into();
    manifest["object"]["key"] = described.to_string().into();
    manifest["rendition"] = serde_json::Value::Null;
    let other_manifest = BlobKey::media_manifest(&MediaId::parse("chi-manifest").unwrap());
    blobs.put(&other_manifest, serde_json::to_vec(&manifest).unwrap().into(), "application/json").await.unwrap();

    // A clip without a manifest of its own can be named by the manifest of
    // a copy sharing its bytes, or inside the manifest of an article.
    let shared = key_made_ago("media/goc-da-mat/original-{uuid}", old);
    put(blobs.as_ref(), &shared, b"named by a copy").await;
    let copy_manifest = BlobKey::media_manifest(&MediaId::parse("ban-sao").unwrap());
    manifest["id"] = "ban-sao".into();
    manifest["object"]["key"] = shared.to_string().into();
    blobs.put(&copy_manifest, serde_json::to_vec(&manifest).unwrap().into(), "application/json").await.unwrap();
    let linked = key_made_ago("media/chi-lien-ket/original-{uuid}", old);
    put(blobs.as_ref(), &linked, b"named inside an article manifest").await;
    let article_manifest = BlobKey::parse("articles/con-lai/manifest.json").unwrap();
    let size = blobs.head(&article_manifest).await.unwrap().expect("the article has a manifest");
    let mut described_article: serde_json::Value =
        serde_json::from_slice(&blobs.get_bytes(&article_manifest, size).await.unwrap()).unwrap();
    manifest["id"] = "chi-lien-ket".into();
    manifest["object"]["key"] = linked.to_string().into();
    described_article["id"] = "bai-khac".into();
    described_article["media"] = serde_json::json!([{ "reference": "x.mp4", "in_body": false, "media": manifest }]);
    let other_article = BlobKey::parse("articles/bai-khac/manifest.json").unwrap();
    blobs
        .put(&other_article, serde_json::to_vec(&described_article).unwrap().into(), "application/json")
        .await
        .unwrap();

    let report = server.archive.sweep_unreferenced(GRACE).await.unwrap();
    assert_eq!(
        (report.checked, report.deleted, report.named_by_manifest_only, report.undecided),
        (7, 4, 3, 0),
        "{report:?}"
    );
    let mut expected: Vec<String> = recorded.clone();
    expected.extend(
        [&young, &foreign, &described, &other_manifest, &shared, &copy_manifest, &linked, &other_article]
            .map(|key| key.to_string()),
    );
    expected.sort();
    assert_eq!(stored_keys(blobs.as_ref()).await, expected, "only the old unnamed objects went");

    // With no grace at all, every generated object is a candidate: the
    // records keep theirs, and only the young orphan goes.
    let report = server.archive.sweep_unreferenced(Duration::ZERO).await.unwrap();
    assert_eq!((report.checked, report.deleted, report.named_by_manifest_only), (8, 1, 3), "{report:?}");
    expected.retain(|key| key != young.as_str());
    assert_eq!(stored_keys(blobs.as_ref()).await, expected);
    for revision in [1, 2] {
        let request =
            pb::GetArticleRequest { name: created.name.clone(), view: pb::ArticleView::Full.into(), revision };
        let article = server.articles().get_article(request).await.unwrap().into_inner().article.unwrap();
        assert!(!article.body.is_empty(), "revision {revision} still has its text");
    }
    assert_eq!(server.read_all(&clip.name, 0, 0).await.unwrap(), fixture(CLIP));
    let url = pb::GetPlaybackUrlRequest { name: clip.name.clone(), ..Default::default() };
    let url = server.media().get_playback_url(url).await.unwrap().into_inner().url;
    let played = reqwest::get(&url).await.unwrap();
    assert_eq!(played.status().as_u16(), 200, "the rendition still plays");

    // A manifest that cannot be read keeps what it might name: the bodies of
    // its article, and every clip object waiting for the pass over all manifests.
    let broken_manifest = BlobKey::parse("articles/hong/manifest.json").unwrap();
    put(blobs.as_ref(), &broken_manifest, b"{ not json").await;
    let body_of_broken = key_made_ago("articles/hong/bodies/{uuid}.txt", old);
    put(blobs.as_ref(), &body_of_broken, b"kept while unsure").await;
    let waiting_clip = key_made_ago("media/mat-tich-2/original-{uuid}", old);
    put(blobs.as_ref(), &waiting_clip, b"kept while unsure").await;
    let report = server.archive.sweep_unreferenced(GRACE).await.unwrap();
    // Old: described (named by its owner), body_of_broken (undecided), and
    // shared, linked and waiting_clip (no manifest of their own): the pass
    // over all manifests may read the copy's and the article's before the
    // broken one, never waiting_clip's.
    assert_eq!((report.checked, report.deleted), (5, 0), "{report:?}");
    assert_eq!(report.named_by_manifest_only + report.undecided, 5, "{report:?}");
    assert!(report.undecided >= 2, "{report:?}");
    blobs.delete(&broken_manifest).await.unwrap();
    let report = server.archive.sweep_unreferenced(GRACE).await.unwrap();
    assert_eq!((report.deleted, report.named_by_manifest_only, report.undecided), (2, 3, 0), "{report:?}");
    assert_eq!(stored_keys(blobs.as_ref()).await, expected, "both went once the manifest was gone");

    // Pictures made from a clip (thumbnails, storyboards) have records like
    // its other files: a recorded one stays; one whose record never came (a
    // crash between its bytes and its record) goes once old enough; those
    // older versions stored without records, which nothing reads now, go
    // as found, whatever their age.
    let media_id = MediaId::parse(&clip_id).unwrap();
    let recorded_picture = key_made_ago(&format!("media/{clip_id}/pictures/{{uuid}}.jpg"), old);
    put(blobs.as_ref(), &recorded_picture, b"a thumbnail").await;
    let record = PictureRecord {
        media_id: media_id.clone(),
        name: "thumbnails/1000-160x90.jpg".into(),
        object: ObjectRef::of(recorded_picture.clone(), b"a thumbnail"),
        content_type: "image/jpeg".into(),
        create_time: chrono::Utc::now(),
    };
    server.archive.metadata().restore_pictures(&[record]).await.unwrap();
    let unrecorded = key_made_ago(&format!("media/{clip_id}/pictures/{{uuid}}.webp"), old);
    // Its bytes stored, its record not yet committed: a picture being kept.
    let being_kept = key_made_ago(&format!("media/{clip_id}/pictures/{{uuid}}.vtt"), Duration::from_secs(60));
    let legacy = [
        BlobKey::parse(&format!("media/{clip_id}/thumbnails/1000-160x90.jpg")).unwrap(),
        BlobKey::parse("media/da-xoa/storyboard/storyboard.vtt").unwrap(),
    ];
    for key in legacy.iter().chain([&unrecorded, &being_kept]) {
        put(blobs.as_ref(), key, b"a derived picture").await;
    }
    let report = server.archive.sweep_unreferenced(GRACE).await.unwrap();
    assert_eq!((report.checked, report.deleted, report.named_by_manifest_only), (7, 3, 3), "{report:?}");
    expected.extend([recorded_picture.to_string(), being_kept.to_string()]);
    expected.sort();
    assert_eq!(stored_keys(blobs.as_ref()).await, expected, "only the unrecorded pictures went");

    // A server on an empty database (before a reindex) sweeps nothing.
    let (settings, fresh_dir) = server.with_fresh_database().await;
    let empty = TestServer::start_from(stack, settings, fresh_dir).await;
    assert_eq!(empty.archive.sweep_unreferenced(Duration::ZERO).await.unwrap(), Default::default());
    assert_eq!(stored_keys(blobs.as_ref()).await, expected);
}

/// Open uploads as the store lists them: (upload id, key).
async fn open_uploads(blobs: &dyn BlobStore) -> Vec<(String, Option<String>)> {
    let listed: Vec<archive::blob::OpenUpload> = blobs.multipart().list_open().try_collect().await.unwrap();
    let mut open: Vec<_> = listed.into_iter().map(|u| (u.upload_id, u.key.map(|k| k.to_string()))).collect();
    open.sort();
    open
}

/// What a process killed mid-upload leaves (a one-shot upload's open
/// multipart upload, on the file system an unfinished write) is aborted
/// once older than the grace period; a resumable session's stays and
/// finishes.
async fn abandoned_uploads_are_aborted_and_sessions_kept(stack: Stack) {
    let server = TestServer::start_isolated(stack, |settings| settings.retention.sweep_interval_seconds = 0).await;
    let blobs = server.archive.blobs();
    server.upload("ban-tin.mp4", fixture("clip-faststart.mp4")).await.unwrap(); // (an empty database stops the sweep)
    let started = pb::StartUploadRequest {
        header: Some(pb::UploadHeader { filename: "phong-su.mp4".into(), ..Default::default() }),
    };
    let session = server.media().start_upload(started).await.unwrap().into_inner();
    let session_only = open_uploads(blobs.as_ref()).await;
    assert_eq!(session_only.len(), 1, "the session's multipart upload: {session_only:?}");

    // A one-shot upload killed after its first part: nothing records it.
    let abandoned_key = BlobKey::new_media_original(&MediaId::generate());
    let abandoned = blobs.multipart().create(&abandoned_key, "video/mp4").await.unwrap();
    let part = Bytes::from(common::pseudo_random_bytes(64 * 1024, 3));
    let crc = crc32c::crc32c(&part);
    blobs.multipart().upload_part(&abandoned_key, &abandoned, 1, 0, part, crc).await.unwrap();
    let mut expected_aborted = 1;
    if stack == Stack::Embedded {
        // And a write killed before its rename.
        let name = uuid::Uuid::now_v7().to_string();
        std::fs::write(server.blob_root().join(".uploads").join(&name), b"half a manifest").unwrap();
        expected_aborted += 1;
    }
    assert_eq!(open_uploads(blobs.as_ref()).await.len(), 1 + expected_aborted);

    // Younger than the grace period: kept.
    let report = server.archive.sweep_unreferenced(GRACE).await.unwrap();
    assert_eq!(report.aborted_uploads, 0, "{report:?}");
    assert_eq!(open_uploads(blobs.as_ref()).await.len(), 1 + expected_aborted);
    // Older: the abandoned ones go, the session's stays.
    let report = server.archive.sweep_unreferenced(Duration::ZERO).await.unwrap();
    assert_eq!(report.aborted_uploads, expected_aborted, "{report:?}");
    assert_eq!(open_uploads(blobs.as_ref()).await, session_only);
    if stack == Stack::Production {
        let (objects, uploads) = common::s3_leftovers(abandoned_key.as_str()).await;
        assert!(objects.is_empty() && uploads.is_empty(), "{objects:?} {uploads:?}");
    }

    // The session goes on and finishes.
    let data = fixture(CLIP);
    let finish =
        pb::UploadFinish { size_bytes: data.len() as i64, sha256: common::sha256_hex(&data), ..Default::default() };
    let messages = archive::client::resumed_messages(session.upload_id, 0, std::io::Cursor::new(data), finish, |_| {});
    let media = server.media().upload_media(messages).await.expect("the session finishes").into_inner().media;
    assert!(media.is_some());
    assert!(open_uploads(blobs.as_ref()).await.is_empty());
}

on_both_stacks!(only_unnamed_old_objects_are_swept, abandoned_uploads_are_aborted_and_sessions_kept);
