//! gRPC-Web on the gRPC port (`server.grpc_web`), spoken as a browser does
//! over HTTP/1.1: length-prefixed frames in, data frames and a trailer
//! frame out; the same tokens as gRPC, the gateway's CORS origins.

use crate::common::{Stack, TestServer};
use archive::{
    proto::v1 as pb,
    service::auth::{Scope, file_entry, new_token},
};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::Message;
use std::collections::HashMap;

/// One gRPC-Web call's answer: the messages, then the status (from the
/// trailer frame, or from the headers of a trailers-only answer).
pub(crate) struct Answer {
    pub http_status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub messages: Vec<Bytes>,
    pub grpc_status: Option<i32>,
    pub grpc_message: String,
}

fn frame(message: &impl Message) -> Bytes {
    let mut buffer = BytesMut::with_capacity(5 + message.encoded_len());
    buffer.put_u8(0);
    buffer.put_u32(message.encoded_len() as u32);
    message.encode(&mut buffer).unwrap();
    buffer.freeze()
}

async fn call(url: &str, method: &str, token: Option<&str>, message: &impl Message) -> Answer {
    let bearer = token.map(|token| format!("Bearer {token}"));
    let mut headers = vec![("x-grpc-web", "1"), ("origin", "https://cms.example")];
    headers.extend(bearer.as_deref().map(|bearer| ("authorization", bearer)));
    call_with(url, method, &headers, message).await
}

/// A gRPC-Web call to `{url}/{method}` with `headers` besides the content type.
pub(crate) async fn call_with(url: &str, method: &str, headers: &[(&str, &str)], message: &impl Message) -> Answer {
    let mut request = reqwest::Client::new()
        .post(format!("{url}/{method}"))
        .header("content-type", "application/grpc-web+proto")
        .body(frame(message));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("the server answers HTTP/1.1");
    let (http_status, headers) = (response.status().as_u16(), response.headers().clone());
    let mut fields: HashMap<String, String> = headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("grpc-"))
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
        .collect();
    let mut body = response.bytes().await.unwrap();
    let framed = headers.get("content-type").is_some_and(|t| t.to_str().unwrap().starts_with("application/grpc-web"));
    if !framed {
        // A refusal before gRPC-Web (HTTP status, text): no frames to read.
        let grpc_message = String::from_utf8_lossy(&body).into_owned();
        return Answer { http_status, headers, messages: Vec::new(), grpc_status: None, grpc_message };
    }
    let mut messages = Vec::new();
    while body.len() >= 5 {
        let (flag, len) = (body.get_u8(), body.get_u32() as usize);
        let payload = body.split_to(len);
        if flag & 0x80 == 0 {
            messages.push(payload);
            continue;
        }
        for line in std::str::from_utf8(&payload).unwrap().split("\r\n").filter(|line| !line.is_empty()) {
            let (name, value) = line.split_once(':').expect("name:value");
            fields.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    assert!(body.is_empty(), "no partial frame left");
    let grpc_message = fields.get("grpc-message").cloned().unwrap_or_default();
    Answer {
        http_status,
        headers,
        messages,
        grpc_status: fields.get("grpc-status").map(|code| code.parse().unwrap()),
        grpc_message: percent_encoding::percent_decode_str(&grpc_message).decode_utf8().unwrap().into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_web_calls_pass_the_same_tokens_and_cors_origins() {
    let keys = tempfile::tempdir().unwrap();
    let tokens = keys.path().join("tokens.toml");
    let (reader, writer) = (new_token(), new_token());
    let entries = file_entry("web", &[Scope::Read], &reader) + &file_entry("cms", &[Scope::Write], &writer);
    std::fs::write(&tokens, entries).unwrap();
    let server = TestServer::start_with(Stack::Embedded, |settings| {
        settings.server.grpc_web = true;
        settings.auth.tokens_file = Some(tokens.display().to_string());
        settings.gateway.cors_allowed_origins = vec!["https://cms.example".into()];
    })
    .await;
    let url = format!("http://{}", server.grpc_addr);
    const STATS: &str = "archive.v1.MetadataService/GetArchiveStatistics";

    let refused = call(&url, STATS, None, &pb::GetArchiveStatisticsRequest {}).await;
    assert_eq!((refused.http_status, refused.grpc_status), (200, Some(16)), "UNAUTHENTICATED");
    assert!(refused.messages.is_empty() && refused.grpc_message.contains("Bearer"), "{}", refused.grpc_message);

    let export = crate::common::fixture("article-2019-09-30-giao-ban-truc-tuyen.txt");
    let import =
        pb::ImportArticleRequest { request_id: String::new(), export_text: export.into(), article_id: "web".into() };
    const IMPORT: &str = "archive.v1.ArticleService/ImportArticle";
    let wrong_scope = call(&url, IMPORT, Some(&reader), &import).await;
    assert_eq!(wrong_scope.grpc_status, Some(7), "PERMISSION_DENIED: {}", wrong_scope.grpc_message);
    let imported = call(&url, IMPORT, Some(&writer), &import).await;
    assert_eq!(imported.grpc_status, Some(0), "{}", imported.grpc_message);
    let article = pb::ImportArticleResponse::decode(imported.messages[0].clone()).unwrap().article.unwrap();
    assert_eq!(article.title, "Giao ban trực tuyến Toàn quốc về công tác tổ chức xây dựng Đảng 9 tháng 2019");

    let stats = call(&url, STATS, Some(&reader), &pb::GetArchiveStatisticsRequest {}).await;
    assert_eq!(stats.grpc_status, Some(0), "{}", stats.grpc_message);
    assert_eq!(stats.headers["content-type"], "application/grpc-web+proto");
    assert!(stats.headers.contains_key("x-request-id"), "the request id comes back");
    let counts = pb::GetArchiveStatisticsResponse::decode(stats.messages[0].clone()).unwrap();
    assert_eq!(counts.article_count, 1);
    let exposed = stats.headers["access-control-expose-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(exposed.contains("grpc-status") && exposed.contains("grpc-message"), "{exposed}");

    // The browser asks first; only the configured origin is let through.
    let preflight = |origin: &'static str| {
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, format!("{url}/{STATS}"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization,content-type,x-grpc-web")
            .send()
    };
    let allowed = preflight("https://cms.example").await.unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://cms.example");
    let allowed_headers = allowed.headers()["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(allowed_headers.contains("authorization") && allowed_headers.contains("x-grpc-web"), "{allowed_headers}");
    let other = preflight("https://other.example").await.unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"), "{:?}", other.headers());

    // gRPC clients on HTTP/2 are served as before.
    let channel = archive::client::connect_with(
        &url,
        &archive::client::ClientOptions { token: Some(reader.clone()), ..Default::default() },
    )
    .await
    .unwrap();
    let counted = pb::metadata_service_client::MetadataServiceClient::new(channel)
        .get_archive_statistics(pb::GetArchiveStatisticsRequest {})
        .await
        .expect("gRPC as usual");
    assert_eq!(counted.into_inner().article_count, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_web_is_off_by_default() {
    let server = TestServer::start(Stack::Embedded).await;
    let url = format!("http://{}", server.grpc_addr);
    let request = reqwest::Client::new()
        .post(format!("{url}/archive.v1.MetadataService/GetArchiveStatistics"))
        .header("content-type", "application/grpc-web+proto")
        .body(frame(&pb::GetArchiveStatisticsRequest {}));
    assert!(request.send().await.is_err(), "HTTP/1.1 is not spoken on the gRPC port");
}
