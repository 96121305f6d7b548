//! What an operator sees: Prometheus series after a few calls, and limits
//! answered with the status gRPC's guide gives and the setting's name.

use crate::common::{Backend, TestServer, fixture};
use archive::{
    client::upload_messages,
    proto::v1::{self as pb, upload_media_request::Kind},
};
use tonic::Code;
use tonic_types::StatusExt;

async fn scrape(server: &TestServer) -> String {
    let url = format!("http://{}/metrics", server.gateway_addr);
    let response = reqwest::get(&url).await.expect("metrics answer");
    assert_eq!(response.status().as_u16(), 200);
    response.text().await.unwrap()
}

/// The value of the first sample whose line has every one of `parts`.
fn sample(text: &str, parts: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find(|line| parts.iter().all(|part| line.contains(part)))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_rpcs_bytes_gateway_and_storage() {
    let server = TestServer::start(Backend::Fs).await;
    let article = pb::Article { title: "Giao ban".into(), body: "Nội dung".into(), ..Default::default() };
    let created = server
        .articles()
        .create_article(pb::CreateArticleRequest { article: Some(article), ..Default::default() })
        .await;
    let created = created.unwrap().into_inner().article.unwrap();
    let missing = server
        .articles()
        .get_article(pb::GetArticleRequest { name: "articles/khong-co".into(), ..Default::default() })
        .await;
    assert_eq!(missing.unwrap_err().code(), Code::NotFound);
    let clip = fixture("clip-faststart.mp4");
    let media = server.upload("ban-tin.mp4", clip.clone()).await.unwrap();
    let url = server
        .media()
        .get_playback_url(pb::GetPlaybackUrlRequest { name: media.name.clone(), ..Default::default() })
        .await;
    let url = url.unwrap().into_inner().url;
    let ranged = reqwest::Client::new().get(&url).header("Range", "bytes=0-99").send().await.unwrap();
    assert_eq!(ranged.status().as_u16(), 206);
    assert!(created.name.starts_with("articles/"));

    // Samples of a call are recorded once its last byte went; give the
    // server a moment, and the upkeep its tick.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let text = scrape(&server).await;
    let create = ["grpc_server_handled_total{", "grpc_method=\"CreateArticle\"", "grpc_code=\"Ok\""];
    assert_eq!(sample(&text, &create), Some(1.0), "{text}");
    let not_found = ["grpc_server_handled_total{", "grpc_method=\"GetArticle\"", "grpc_code=\"NotFound\""];
    assert_eq!(sample(&text, &not_found), Some(1.0));
    let latency = ["grpc_server_handling_seconds_count{", "grpc_method=\"UploadMedia\""];
    assert_eq!(sample(&text, &latency), Some(1.0), "a latency histogram per method");
    let received = sample(&text, &["grpc_server_received_bytes_total{", "grpc_method=\"UploadMedia\""]).unwrap();
    assert!(received >= clip.len() as f64, "bytes in: {received} for a {} byte clip", clip.len());
    let sent = sample(&text, &["grpc_server_sent_bytes_total{", "grpc_method=\"CreateArticle\""]).unwrap();
    assert!(sent > 0.0);
    assert_eq!(sample(&text, &["archive_gateway_requests_total{", "status=\"206\""]), Some(1.0));
    let puts = sample(&text, &["archive_storage_operation_seconds_count{", "operation=\"put\""]).unwrap();
    assert!(puts >= 1.0, "the article body was a PUT");
    assert!(text.contains("# HELP grpc_server_handled_total"), "series are described");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_limit_is_resource_exhausted_naming_the_setting() {
    let limit = 256 * 1024;
    let server = TestServer::start_with(Backend::Fs, |settings| {
        settings.server.max_message_bytes = limit;
        settings.media.chunk_size_bytes = limit / 4;
    })
    .await;
    let over_limit = |status: tonic::Status| {
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert!(status.message().contains("server.max_message_bytes"), "{}", status.message());
        let reason = status.get_details_error_info().map(|info| info.reason);
        assert_eq!(reason.as_deref(), Some("MESSAGE_TOO_LARGE"));
    };

    let body = "Đảng bộ tỉnh Thái Bình ".repeat(limit / 10);
    let article = pb::Article { title: "Quá dài".into(), body, ..Default::default() };
    let created = server
        .articles()
        .create_article(pb::CreateArticleRequest { article: Some(article), ..Default::default() })
        .await;
    over_limit(created.unwrap_err());

    // A chunk over the limit inside an upload stream.
    let header = pb::UploadHeader { filename: "lon.bin".into(), ..Default::default() };
    let messages = vec![
        pb::UploadMediaRequest { kind: Some(Kind::Header(header)) },
        pb::UploadMediaRequest { kind: Some(Kind::Chunk(vec![7u8; limit * 2].into())) },
    ];
    let upload = server.media().upload_media(futures::stream::iter(messages)).await;
    over_limit(upload.unwrap_err());

    // Under the limit, the same calls go through.
    let header = pb::UploadHeader { filename: "nho.bin".into(), ..Default::default() };
    let uploaded =
        server.media().upload_media(upload_messages(header, std::io::Cursor::new(vec![1u8; 1000]), |_| {})).await;
    assert!(uploaded.is_ok());
}
