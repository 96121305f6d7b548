//! Search finds the moment (issue 30): the words of a clip's caption
//! tracks are searchable with its article's, and a hit inside them comes
//! back as a moment (the clip, the track, the cue's times, its words
//! highlighted) that a playback URL can start at; the index follows the
//! tracks and the links as they change, on both stacks.

use crate::common::{Stack, TestServer, article, fixture, reason};
use archive::proto::v1 as pb;
use std::collections::HashSet;
use unicode_normalization::UnicodeNormalization;

/// 2019-10-01 00:00 +07:00, as seconds.
const OCTOBER_2019: i64 = 1_569_862_800;

fn track(media: &str, language: &str, vtt: &str) -> pb::PutCaptionTrackRequest {
    pb::PutCaptionTrackRequest {
        media: media.into(),
        language: language.into(),
        content: vtt.as_bytes().to_vec().into(),
        ..Default::default()
    }
}

async fn search(server: &TestServer, query: &str) -> pb::SearchArticlesResponse {
    let request = pb::SearchArticlesRequest { query: query.into(), page_size: 10, ..Default::default() };
    server.metadata().search_articles(request).await.expect("searches").into_inner()
}

fn names(found: &pb::SearchArticlesResponse) -> HashSet<String> {
    found.results.iter().map(|result| result.article.as_ref().unwrap().name.clone()).collect()
}

async fn caption_words_find_the_moment(stack: Stack) {
    let server = TestServer::start(stack).await;
    let body = "Hội nghị giao ban trực tuyến toàn tỉnh.\n\nVideo: 93019_OHAI1.mp4";
    let create = pb::CreateArticleRequest {
        request_id: String::new(),
        article: Some(article("Giao ban quý III", body, "Phạm Ngọc", &[], OCTOBER_2019)),
        article_id: "giao-ban".into(),
    };
    server.articles().create_article(create).await.unwrap();
    let other = pb::CreateArticleRequest {
        request_id: String::new(),
        article: Some(article("Tin khác", "Nông thôn và đô thị.", "Thu Trang", &[], OCTOBER_2019)),
        article_id: "tin-khac".into(),
    };
    server.articles().create_article(other).await.unwrap();
    let clip = server.upload("93019_OHAI1.mp4", fixture("clip-faststart.mp4")).await.unwrap();
    let attach = pb::AttachMediaRequest {
        article: "articles/giao-ban".into(),
        media: clip.name.clone(),
        reference: "93019_OHAI1.mp4".into(),
    };
    server.media().attach_media(attach).await.unwrap();
    assert!(names(&search(&server, "\"nong thon moi\"").await).is_empty(), "no article says it yet");

    // Decomposed Vietnamese in the file: found without diacritics, and with.
    let vtt = format!(
        "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n{}\n\n00:00:05.250 --> 00:00:07.500\n{}\n",
        "Kính thưa các đồng chí.".nfd().collect::<String>(),
        "Chúng ta quyết tâm xây dựng <b>nông thôn mới</b>.".nfd().collect::<String>()
    );
    server.media().put_caption_track(track(&clip.name, "vi", &vtt)).await.unwrap();
    for query in ["\"nong thon moi\"", "nông thôn mới xây dựng", "quyet tam"] {
        let found = search(&server, query).await;
        assert_eq!(names(&found), HashSet::from(["articles/giao-ban".to_owned()]), "{query}: {found:?}");
        let moment = &found.results[0].moments[0];
        assert_eq!(
            (moment.media.as_str(), moment.track.as_str()),
            (clip.name.as_str(), &*format!("{}/captions/vi", clip.name))
        );
        assert_eq!(moment.language, "vi");
        let start = moment.start.unwrap();
        assert_eq!((start.seconds, start.nanos), (5, 250_000_000), "{query}");
        assert_eq!(moment.end.unwrap().seconds, 7);
        assert_eq!(moment.text, "Chúng ta quyết tâm xây dựng nông thôn mới.", "plain words, NFC");
        assert!(!moment.highlights.is_empty());
    }
    let phrase = search(&server, "\"nong thon moi\"").await;
    let moment = phrase.results[0].moments[0].clone();
    let marked: Vec<&str> =
        moment.highlights.iter().map(|range| &moment.text[range.start as usize..range.end as usize]).collect();
    assert_eq!(marked, ["nông thôn mới"], "the phrase as one range");
    // Words the body has and the captions do not: no moment.
    assert!(search(&server, "giao ban").await.results[0].moments.is_empty());

    // The playback URL starts at the moment.
    let request = pb::GetPlaybackUrlRequest { name: clip.name.clone(), start: moment.start, ..Default::default() };
    let url = server.media().get_playback_url(request).await.unwrap().into_inner().url;
    assert!(url.ends_with("#t=5.250"), "{url}");
    let late = pb::GetPlaybackUrlRequest {
        name: clip.name.clone(),
        start: Some(pbjson_types::Duration { seconds: 3600, nanos: 0 }),
        ..Default::default()
    };
    let refused = server.media().get_playback_url(late).await.unwrap_err();
    assert_eq!(reason(&refused), "INVALID_START", "{refused:?}");

    // The index follows the tracks and the links.
    let replaced = "WEBVTT\n\n00:00:02.000 --> 00:00:03.000\nĐường giao thông nông thôn.\n";
    server.media().put_caption_track(track(&clip.name, "vi", replaced)).await.unwrap();
    assert!(names(&search(&server, "\"nong thon moi\"").await).is_empty(), "the replaced words are gone");
    assert_eq!(names(&search(&server, "duong giao thong").await).len(), 1);
    let detach = pb::DetachMediaRequest { article: "articles/giao-ban".into(), reference: "93019_OHAI1.mp4".into() };
    server.media().detach_media(detach).await.unwrap();
    assert!(names(&search(&server, "duong giao thong").await).is_empty(), "a detached clip's words go");
}

on_both_stacks!(caption_words_find_the_moment);
