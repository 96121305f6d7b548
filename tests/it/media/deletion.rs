//! DetachMedia and DeleteMedia over a real server, on both stacks: what a
//! deletion refuses, what it removes (records, manifests, bytes no other
//! clip shares, playback), and that the bucket then describes what is left.

use crate::common;

use archive::proto::v1::{self as pb, upload_media_request::Kind};
use common::{Stack, TestServer, fixture, reason, sha256_hex};
use futures::TryStreamExt;
use tonic::Code;

const ARTICLE: &str = "articles/giao-ban";
const REFERENCE: &str = "93019_OHAI1.mp4";

async fn attach(server: &TestServer, media: &str) {
    let request = pb::AttachMediaRequest { article: ARTICLE.into(), media: media.into(), reference: REFERENCE.into() };
    server.media().attach_media(request).await.expect("attaches");
}

async fn delete(server: &TestServer, name: &str, force: bool) -> Result<pb::DeleteMediaResponse, tonic::Status> {
    server.media().delete_media(pb::DeleteMediaRequest { name: name.into(), force }).await.map(|r| r.into_inner())
}

/// The clip the article's body names, as GetArticle shows it ("" when none).
async fn linked_clip(server: &TestServer) -> String {
    let request = pb::GetArticleRequest { name: ARTICLE.into(), ..Default::default() };
    let article = server.articles().get_article(request).await.unwrap().into_inner().article.unwrap();
    let link = article.media.iter().find(|link| link.reference == REFERENCE).expect("the body names the clip");
    link.media.clone()
}

async fn playback_status(url: &str) -> u16 {
    reqwest::get(url).await.expect("HTTP answer").status().as_u16()
}

/// The objects under a clip's own keys, manifest included.
async fn stored_under(server: &TestServer, name: &str) -> Vec<String> {
    let prefix = format!("{name}/");
    let keys: Vec<archive::blob::BlobKey> = server.archive.blobs().list(&prefix).try_collect().await.unwrap();
    let mut keys: Vec<String> = keys.iter().map(|key| key.as_str().to_owned()).collect();
    keys.sort();
    keys
}

async fn clips_are_detached_and_deleted(stack: Stack) {
    // The end reindexes the whole bucket, so it must hold this test's objects only.
    let server = TestServer::start_isolated(stack, |_| {}).await;
    let import = pb::ImportArticleRequest {
        request_id: String::new(),
        export_text: fixture("article-2019-09-30-giao-ban-truc-tuyen.txt").into(),
        article_id: "giao-ban".into(),
    };
    server.articles().import_article(import).await.unwrap();
    let clip = fixture("clip-moov-at-end.mp4"); // gets a faststart rendition
    let first = server.upload_with_id(REFERENCE, "first", clip.clone()).await.unwrap();
    assert!(first.playback_rendition.is_some());
    let declared = pb::UploadHeader {
        filename: "ban-sao.mp4".into(),
        media_id: "copy".into(),
        sha256: sha256_hex(&clip),
        size_bytes: clip.len() as i64,
        ..Default::default()
    };
    let copy = server
        .media()
        .upload_media(futures::stream::iter([pb::UploadMediaRequest { kind: Some(Kind::Header(declared)) }]))
        .await
        .expect("shares the stored bytes")
        .into_inner()
        .media
        .unwrap();
    let loose = server.upload("khong-gan.mp4", fixture("clip-faststart.mp4")).await.unwrap();
    attach(&server, &first.name).await;
    let first_bytes = stored_under(&server, &first.name).await;
    assert_eq!(first_bytes.len(), 3, "original, rendition and manifest: {first_bytes:?}");
    let url = |name: &str| {
        let request = pb::GetPlaybackUrlRequest { name: name.into(), ..Default::default() };
        let mut media = server.media();
        async move { media.get_playback_url(request).await.unwrap().into_inner().url }
    };
    let (first_url, copy_url, loose_url) = (url(&first.name).await, url(&copy.name).await, url(&loose.name).await);
    assert_eq!(playback_status(&first_url).await, 200);

    // Linked: kept, unless forced.
    let in_use = delete(&server, &first.name, false).await.unwrap_err();
    assert_eq!((in_use.code(), reason(&in_use).as_str()), (Code::FailedPrecondition, "MEDIA_IN_USE"));
    assert!(in_use.message().contains(ARTICLE), "{in_use:?}");
    assert_eq!(server.read_all(&first.name, 0, 0).await.unwrap(), clip, "a refused deletion changes nothing");

    // Detached, the body's reference stays without its clip.
    let detach = || pb::DetachMediaRequest { article: ARTICLE.into(), reference: REFERENCE.into() };
    let detached = server.media().detach_media(detach()).await.unwrap().into_inner().article.unwrap();
    assert_eq!(detached.media.len(), 1);
    assert_eq!((detached.media[0].reference.as_str(), detached.media[0].media.as_str()), (REFERENCE, ""));
    let again = server.media().detach_media(detach()).await.unwrap_err();
    assert_eq!((again.code(), reason(&again).as_str()), (Code::NotFound, "REFERENCE_NOT_LINKED"));
    let unknown = pb::DetachMediaRequest { article: "articles/nope".into(), reference: REFERENCE.into() };
    assert_eq!(server.media().detach_media(unknown).await.unwrap_err().code(), Code::NotFound);
    let bad_name = pb::DetachMediaRequest { article: "giao-ban".into(), reference: REFERENCE.into() };
    assert_eq!(server.media().detach_media(bad_name).await.unwrap_err().code(), Code::InvalidArgument);
    let no_reference = pb::DetachMediaRequest { article: ARTICLE.into(), reference: String::new() };
    let refused = server.media().detach_media(no_reference).await.unwrap_err();
    assert_eq!((refused.code(), reason(&refused).as_str()), (Code::InvalidArgument, "MISSING_REFERENCE"));

    // Linked again, then deleted with force: the copy keeps the shared bytes.
    attach(&server, &first.name).await;
    let deleted = delete(&server, &first.name, true).await.expect("force detaches and deletes");
    assert_eq!(deleted.detached_articles, [ARTICLE]);
    assert!(!deleted.objects_deleted, "the copy shares them");
    assert_eq!(linked_clip(&server).await, "");
    let gone = server.metadata().get_media(pb::GetMediaRequest { name: first.name.clone() }).await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    assert_eq!(server.read_all(&first.name, 0, 0).await.unwrap_err().code(), Code::NotFound);
    let shared: Vec<String> = first_bytes.iter().filter(|key| !key.ends_with("manifest.json")).cloned().collect();
    assert_eq!(stored_under(&server, &first.name).await, shared, "bytes kept, manifest gone");
    assert_eq!(server.read_all(&copy.name, 0, 0).await.unwrap(), clip, "the copy still reads");
    assert_eq!(playback_status(&copy_url).await, 200, "and still plays");
    if stack == Stack::Embedded {
        // The gateway signs for a clip that no longer exists.
        assert_eq!(playback_status(&first_url).await, 404);
    }
    assert_eq!(delete(&server, &first.name, true).await.unwrap_err().code(), Code::NotFound);

    // The last clip naming the bytes takes them along.
    let deleted = delete(&server, &copy.name, false).await.expect("deletes");
    assert!(deleted.detached_articles.is_empty());
    assert!(deleted.objects_deleted);
    assert_eq!(stored_under(&server, &first.name).await, Vec::<String>::new(), "nothing left of the first clip");
    assert_eq!(stored_under(&server, &copy.name).await, Vec::<String>::new(), "nor of the copy");
    assert_eq!(playback_status(&first_url).await, 404, "signed URLs of deleted bytes play nothing");
    assert_eq!(playback_status(&copy_url).await, 404);
    assert_eq!(playback_status(&loose_url).await, 200, "other clips are untouched");
    let counted = server.metadata().get_archive_statistics(pb::GetArchiveStatisticsRequest {}).await.unwrap();
    let counted = counted.into_inner();
    assert_eq!((counted.media_count, counted.media_stored_bytes), (1, loose.size_bytes));

    // The bucket agrees: rebuilt from its manifests alone, the deleted clips
    // stay deleted and the article links nothing.
    let (settings, fresh_dir) = server.with_fresh_database().await;
    let blobs = archive::blob::open(&settings.storage, 65536).await.unwrap().store;
    let metadata = archive::metadata::open(&settings.metadata).await.unwrap();
    let report = archive::domain::reindex::rebuild(blobs.as_ref(), metadata.as_ref()).await.expect("reindexes");
    assert_eq!((report.articles, report.media, report.skipped.len()), (1, 1, 0), "{report:?}");
    let rebuilt = TestServer::start_from(stack, settings, fresh_dir).await;
    assert_eq!(linked_clip(&rebuilt).await, "");
    assert_eq!(rebuilt.read_all(&loose.name, 0, 0).await.unwrap(), fixture("clip-faststart.mp4"));
}

/// Bytes deleted while an article's manifest could not be rewritten (it
/// still embeds the clip): a rebuild leaves the clip out and keeps the
/// article, its reference without a clip, instead of recording a clip
/// whose bytes are gone.
async fn reindex_leaves_out_linked_clips_whose_bytes_are_gone(stack: Stack) {
    let server = TestServer::start_isolated(stack, |_| {}).await;
    let import = pb::ImportArticleRequest {
        request_id: String::new(),
        export_text: fixture("article-2019-09-30-giao-ban-truc-tuyen.txt").into(),
        article_id: "giao-ban".into(),
    };
    server.articles().import_article(import).await.unwrap();
    let clip = server.upload(REFERENCE, fixture("clip-moov-at-end.mp4")).await.unwrap();
    attach(&server, &clip.name).await;
    let blobs = server.archive.blobs();
    for key in stored_under(&server, &clip.name).await {
        blobs.delete(&archive::blob::BlobKey::parse(&key).unwrap()).await.unwrap();
    }

    let (settings, fresh_dir) = server.with_fresh_database().await;
    let metadata = archive::metadata::open(&settings.metadata).await.unwrap();
    let report = archive::domain::reindex::rebuild(blobs.as_ref(), metadata.as_ref()).await.expect("reindexes");
    assert_eq!((report.articles, report.media, report.skipped.len()), (1, 0, 0), "{report:?}");
    let rebuilt = TestServer::start_from(stack, settings, fresh_dir).await;
    assert_eq!(linked_clip(&rebuilt).await, "", "the reference stays, without the clip");
    let gone = rebuilt.metadata().get_media(pb::GetMediaRequest { name: clip.name.clone() }).await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

on_both_stacks!(clips_are_detached_and_deleted, reindex_leaves_out_linked_clips_whose_bytes_are_gone);

/// PostgreSQL: an upload of bytes that are stored already, while the only
/// clip holding them is being deleted (another transaction has deleted its
/// record, not yet committed). The upload would share the bytes, whether it
/// declared them up front or its finish found them; it waits for the
/// deletion, finds them gone, and stores the bytes it sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_racing_the_deletion_of_its_twin_stores_its_own_bytes() {
    crate::skip_without!(S3, POSTGRES);
    let server = TestServer::start(Stack::Production).await;
    let other = sqlx::PgPool::connect(&server.settings.metadata.url).await.unwrap();
    // Other bytes each round: the first round's copy would be the second's twin.
    for (round, (declare, fixture_name)) in
        [(true, "clip-faststart.mp4"), (false, "clip-moov-at-end.mp4")].into_iter().enumerate()
    {
        let clip = fixture(fixture_name);
        let twin = format!("twin-{round}");
        server.upload_with_id("a.mp4", &twin, clip.clone()).await.unwrap();
        let mut deletion = other.begin().await.unwrap();
        sqlx::query("DELETE FROM media WHERE id = $1").bind(&twin).execute(&mut *deletion).await.unwrap();

        let mut header =
            pb::UploadHeader { filename: "b.mp4".into(), media_id: format!("copy-{round}"), ..Default::default() };
        if declare {
            (header.sha256, header.size_bytes) = (sha256_hex(&clip), clip.len() as i64);
        }
        let mut messages = vec![pb::UploadMediaRequest { kind: Some(Kind::Header(header)) }];
        messages.extend(
            clip.chunks(64 * 1024)
                .map(|chunk| pb::UploadMediaRequest { kind: Some(Kind::Chunk(bytes::Bytes::copy_from_slice(chunk))) }),
        );
        let finish = pb::UploadFinish { size_bytes: clip.len() as i64, sha256: sha256_hex(&clip), crc32c: None };
        messages.push(pb::UploadMediaRequest { kind: Some(Kind::Finish(finish)) });
        let mut media = server.media();
        let uploading = tokio::spawn(async move { media.upload_media(futures::stream::iter(messages)).await });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(!uploading.is_finished(), "declared {declare}: the copy waits for the deletion in flight");
        deletion.commit().await.unwrap();

        let copy = uploading.await.unwrap().expect("stored after all").into_inner().media.unwrap();
        assert_eq!(copy.name, format!("media/copy-{round}"));
        assert_eq!(server.read_all(&copy.name, 0, 0).await.unwrap(), clip);
        let own: Vec<String> =
            stored_under(&server, &copy.name).await.into_iter().filter(|key| key.contains("/original-")).collect();
        assert_eq!(own.len(), 1, "declared {declare}: its own original, not the bytes being deleted: {own:?}");
    }
}
