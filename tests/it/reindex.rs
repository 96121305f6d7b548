//! The bucket describes itself: wipe the metadata database, reindex from the
//! manifests alone, and every query answers as before.

use crate::common;

use archive::proto::v1::{self as pb};
use common::{Stack, TestServer, fixture, update_request};

fn new_article(title: &str, body: &str, keywords: &[&str]) -> pb::Article {
    pb::Article {
        title: title.into(),
        body: body.into(),
        author: "Phạm Ngọc".into(),
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
        publish_time: Some(pbjson_types::Timestamp { seconds: 1_570_000_000, nanos: 0 }),
        publish_utc_offset_seconds: 25_200,
        ..Default::default()
    }
}

/// A status without its transport headers (which carry the date).
fn plain(status: tonic::Status) -> (tonic::Code, String) {
    (status.code(), status.message().to_owned())
}

/// Everything a client can ask about what `server` stores.
async fn answers(server: &TestServer, articles: &[&str], media: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let full = |name: &str, revision: i64| pb::GetArticleRequest {
        name: name.into(),
        view: pb::ArticleView::Full.into(),
        revision,
    };
    for name in articles {
        let current = server.articles().get_article(full(name, 0)).await.map(|r| r.into_inner().article).map_err(plain);
        out.push(format!("{name}: {current:?}"));
        let revisions = pb::ListArticleRevisionsRequest { name: name.to_string(), ..Default::default() };
        let listed = server.articles().list_article_revisions(revisions).await.map(|r| r.into_inner()).map_err(plain);
        out.push(format!("{name} revisions: {listed:?}"));
        if let Ok(listed) = listed {
            for revision in listed.revisions {
                let old = server.articles().get_article(full(name, revision.revision)).await.unwrap().into_inner();
                out.push(format!("{name}@{}: {old:?}", revision.revision));
            }
        }
    }
    let listed = server.metadata().list_articles(pb::ListArticlesRequest::default()).await.unwrap().into_inner();
    out.push(format!("list: {listed:?}"));
    for query in ["sinh hoat chi bo", "Đảng", "bao chi", "thai binh"] {
        let request = pb::SearchArticlesRequest { query: query.into(), ..Default::default() };
        let mut found = server.metadata().search_articles(request).await.unwrap().into_inner();
        // Scores depend on the index's history (documents replaced since
        // its segments merged), not only on what it holds: the order counts.
        found.results.iter_mut().for_each(|result| result.score = 0.0);
        out.push(format!("search {query}: {found:?}"));
    }
    for name in media {
        let record = server
            .metadata()
            .get_media(pb::GetMediaRequest { name: name.clone() })
            .await
            .map(|r| r.into_inner())
            .map_err(plain);
        out.push(format!("{name}: {record:?}"));
        let tracks = pb::ListCaptionTracksRequest { media: name.clone() };
        let tracks = server.media().list_caption_tracks(tracks).await.map(|r| r.into_inner()).map_err(plain);
        out.push(format!("{name} tracks: {tracks:?}"));
    }
    out
}

async fn rebuilt_database_answers_like_the_original(stack: Stack) {
    // The whole bucket is read back, so it must hold this test's objects only.
    let original = TestServer::start_isolated(stack, |settings| {
        // Flushes happen when this test says.
        settings.metadata.view_flush_interval_seconds = 0;
    })
    .await;
    let import = pb::ImportArticleRequest {
        request_id: String::new(),
        export_text: fixture("article-2019-09-30-giao-ban-truc-tuyen.txt").into(),
        article_id: "giao-ban".into(),
    };
    original.articles().import_article(import).await.unwrap();
    let clip = original.upload("93019_OHAI1.mp4", fixture("clip-faststart.mp4")).await.unwrap();
    let attach = pb::AttachMediaRequest {
        article: "articles/giao-ban".into(),
        media: clip.name.clone(),
        reference: "93019_OHAI1.mp4".into(),
    };
    original.media().attach_media(attach).await.unwrap();
    let captions = pb::PutCaptionTrackRequest {
        media: clip.name.clone(),
        language: "vi".into(),
        content: fixture("captions/vi-bom-crlf.srt").into(),
        ..Default::default()
    };
    original.media().put_caption_track(captions).await.unwrap();
    let loose = original.upload("khong-gan.mp4", fixture("clip-moov-at-end.mp4")).await.unwrap();
    let views = pb::RecordViewRequest { name: "articles/giao-ban".into(), count: 11 };
    let total = original.metadata().record_view(views).await.unwrap().into_inner().view_count;
    // A view does not rewrite the manifest; the next flush does, once.
    let manifest_views = || async {
        let id = archive::ids::ArticleId::parse("giao-ban").unwrap();
        let key = archive::blob::BlobKey::article_manifest(&id);
        let blobs = original.archive.blobs();
        let stored = blobs.get_bytes(&key, blobs.head(&key).await.unwrap().unwrap()).await.unwrap();
        serde_json::from_slice::<archive::domain::manifest::ArticleManifest>(&stored).unwrap().view_count
    };
    assert_eq!(manifest_views().await, total - 11);
    assert_eq!(original.archive.flush_views().await.unwrap(), 1);
    assert_eq!(manifest_views().await, total);
    assert_eq!(original.archive.flush_views().await.unwrap(), 0);

    let create = |id: &str, article: pb::Article| pb::CreateArticleRequest {
        request_id: String::new(),
        article: Some(article),
        article_id: id.into(),
    };
    let press = original
        .articles()
        .create_article(create("bao-chi", new_article("Báo chí cách mạng", "Ngày Báo chí Việt Nam.", &["báo chí"])))
        .await
        .unwrap()
        .into_inner()
        .article
        .unwrap();
    let update = update_request(&press, &["body"], |new| new.body = "Ngày Báo chí, Thái Bình.".into());
    original.articles().update_article(update).await.unwrap();
    original.articles().create_article(create("da-xoa", new_article("Đã xoá", "Đảng bộ.", &[]))).await.unwrap();
    let delete = pb::DeleteArticleRequest { name: "articles/da-xoa".into(), etag: String::new() };
    original.articles().delete_article(delete).await.unwrap();
    original.articles().create_article(create("giu-lai", new_article("Giữ lại", "Hồ sơ.", &[]))).await.unwrap();
    let hold = pb::SetLegalHoldRequest { name: "articles/giu-lai".into(), legal_hold: true };
    original.articles().set_legal_hold(hold).await.unwrap();

    let articles = ["articles/giao-ban", "articles/bao-chi", "articles/da-xoa", "articles/giu-lai"];
    let media = [clip.name.clone(), loose.name.clone()];
    let before = answers(&original, &articles, &media).await;
    assert!(before.iter().any(|answer| answer.contains("/captions/vi\"")), "a track to restore: {before:?}");

    // A new, empty database over the same bucket.
    let (settings, fresh_dir) = original.with_fresh_database().await;
    let blobs = archive::blob::open(&settings.storage, 65536).await.unwrap().store;
    let metadata = archive::metadata::open(&settings.metadata).await.unwrap();
    let report = archive::domain::reindex::rebuild(blobs.as_ref(), metadata.as_ref()).await.expect("reindexes");
    assert_eq!((report.articles, report.media, report.skipped.len()), (4, 2, 0), "{report:?}");
    let again = archive::domain::reindex::rebuild(blobs.as_ref(), metadata.as_ref()).await;
    assert!(again.is_err(), "a second reindex into a filled database is refused");

    let rebuilt = TestServer::start_from(stack, settings, fresh_dir).await;
    let after = answers(&rebuilt, &articles, &media).await;
    assert_eq!(before.len(), after.len());
    for (before, after) in before.iter().zip(&after) {
        assert_eq!(before, after);
    }
    assert_eq!(rebuilt.read_all(&clip.name, 0, 0).await.unwrap(), fixture("clip-faststart.mp4"));
    let playback = pb::GetPlaybackUrlRequest { name: clip.name.clone(), ..Default::default() };
    let playback = rebuilt.media().get_playback_url(playback).await.unwrap().into_inner();
    let served = reqwest::get(&playback.caption_tracks[0].url).await.unwrap().text().await.unwrap();
    assert!(served.contains("00:00:01.200 --> 00:00:04.750\nHội nghị giao ban"), "{served}");
    let undelete = pb::UndeleteArticleRequest { name: "articles/da-xoa".into() };
    rebuilt.articles().undelete_article(undelete).await.expect("the deleted article is still restorable");
    let held = pb::DeleteArticleRequest { name: "articles/giu-lai".into(), etag: String::new() };
    assert_eq!(rebuilt.articles().delete_article(held).await.unwrap_err().code(), tonic::Code::FailedPrecondition);
}

/// Manifests left behind their commit (a process killed between the two,
/// or a failed PUT) are rewritten from the change feed by the janitor's
/// repair pass, and a reindex then rebuilds the latest state.
async fn manifests_behind_the_database_are_repaired(stack: Stack) {
    use archive::{blob::BlobKey, ids::MediaId};
    use std::time::Duration;
    let server = TestServer::start_isolated(stack, |_| {}).await;
    let blobs = server.archive.blobs().clone();
    let request = pb::CreateArticleRequest {
        request_id: String::new(),
        article: Some(new_article("Giao ban quý III", "Nội dung hội nghị.", &["giao ban"])),
        article_id: "giao-ban".into(),
    };
    let created = server.articles().create_article(request).await.unwrap().into_inner().article.unwrap();
    let kept = server.upload("ban-tin.mp4", fixture("clip-faststart.mp4")).await.unwrap();
    let gone = server.upload("bien-ban.mp4", fixture("clip-moov-at-end.mp4")).await.unwrap();
    let article_key = BlobKey::article_manifest(&archive::ids::ArticleId::parse("giao-ban").unwrap());
    let kept_key = BlobKey::media_manifest(&MediaId::from_name(&kept.name).unwrap());
    let gone_key = BlobKey::media_manifest(&MediaId::from_name(&gone.name).unwrap());
    let read = |key: BlobKey| {
        let blobs = blobs.clone();
        async move {
            let size = blobs.head(&key).await.unwrap()?;
            Some(blobs.get_bytes(&key, size).await.unwrap())
        }
    };
    let (first_article, gone_manifest) =
        (read(article_key.clone()).await.unwrap(), read(gone_key.clone()).await.unwrap());

    // The update commits; its manifest PUT "fails": the old one is put back.
    let update = update_request(&created, &["title"], |new| new.title = "Giao ban quý IV".into());
    server.articles().update_article(update).await.unwrap();
    blobs.put(&article_key, first_article, "application/json").await.unwrap();
    // A clip whose manifest never landed, and one deleted whose manifest stayed.
    blobs.delete(&kept_key).await.unwrap();
    server.media().delete_media(pb::DeleteMediaRequest { name: gone.name.clone(), force: false }).await.unwrap();
    blobs.put(&gone_key, gone_manifest, "application/json").await.unwrap();

    // Within the lag nothing is touched; past it all three are mended, once.
    assert_eq!(server.archive.repair_manifests(Duration::from_secs(60)).await.unwrap(), 0);
    assert_eq!(server.archive.repair_manifests(Duration::ZERO).await.unwrap(), 3);
    assert_eq!(server.archive.repair_manifests(Duration::ZERO).await.unwrap(), 0);
    assert!(read(kept_key).await.is_some(), "the clip's manifest is back");
    assert!(read(gone_key).await.is_none(), "the deleted clip's manifest is gone");
    let manifest: serde_json::Value = serde_json::from_slice(&read(article_key).await.unwrap()).unwrap();
    assert_eq!(manifest["revisions"].as_array().map(Vec::len), Some(2), "{manifest}");

    // The bucket alone now rebuilds the latest state.
    let (settings, dir) = server.with_fresh_database().await;
    let rebuilt = TestServer::start_from(stack, settings, dir).await;
    archive::domain::reindex::rebuild(rebuilt.archive.blobs().as_ref(), rebuilt.archive.metadata().as_ref())
        .await
        .unwrap();
    let id = archive::ids::ArticleId::parse("giao-ban").unwrap();
    assert_eq!(rebuilt.archive.metadata().get_article(&id, None).await.unwrap().title, "Giao ban quý IV");
    assert!(rebuilt.archive.metadata().get_media(&MediaId::from_name(&kept.name).unwrap()).await.is_ok());
    assert!(rebuilt.archive.metadata().get_media(&MediaId::from_name(&gone.name).unwrap()).await.is_err());
}

on_both_stacks!(rebuilt_database_answers_like_the_original, manifests_behind_the_database_are_repaired);
