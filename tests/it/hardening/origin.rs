//! Findings 3, 4 and part of 9, from outside a running archived: unknown
//! paths leave the metric series as they are; the media origin never
//! serves what an uploader sent as HTML, SVG or script, and the MP4 check
//! holds whatever the content type's parameters or case; malformed
//! messages are INVALID_ARGUMENT with a reason on every service; client
//! errors are not logged as ERROR; request ids are checked before they
//! reach the log.

use crate::common::{Stack, TestServer, assert_nothing_left, fixture, reason, sha256_hex};
use archive::{
    client::{Bearer, upload_messages},
    proto::v1::{self as pb, article_service_client::ArticleServiceClient, upload_media_request::Kind},
    service::auth::{Scope, file_entry, new_token},
};
use bytes::{Buf, BufMut};
use std::{
    io::BufRead,
    sync::{Arc, Mutex},
    time::Duration,
};
use tonic::{
    Code,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    codegen::http::uri::PathAndQuery,
    service::interceptor::InterceptedService,
    transport::Channel,
};

// ---------------------------------------------------------------- helpers

/// Messages as raw bytes: what a hostile caller puts in a gRPC frame.
#[derive(Debug, Clone, Copy, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

/// One unary call of `bytes` to `path`, with `token` if any.
async fn raw_call(channel: &Channel, token: Option<&str>, path: &str, bytes: Vec<u8>) -> tonic::Status {
    raw_call_with(channel, token, path, bytes, None).await.expect_err("refused")
}

async fn raw_call_with(
    channel: &Channel,
    token: Option<&str>,
    path: &str,
    bytes: Vec<u8>,
    request_id: Option<&str>,
) -> Result<tonic::Response<Vec<u8>>, tonic::Status> {
    let service = InterceptedService::new(channel.clone(), Bearer::new(token).unwrap());
    let mut client = tonic::client::Grpc::new(service);
    client.ready().await.expect("connection ready");
    let mut request = tonic::Request::new(bytes);
    if let Some(id) = request_id {
        request.metadata_mut().insert("x-request-id", id.parse().expect("an ASCII header value"));
    }
    client.unary(request, PathAndQuery::try_from(path).expect("a path"), Raw).await
}

/// A tokens file with one `read,write` token, and the token.
fn tokens_file(dir: &std::path::Path) -> (std::path::PathBuf, String) {
    let token = new_token();
    let path = dir.join("tokens.toml");
    std::fs::write(&path, file_entry("cms", &[Scope::Read, Scope::Write], &token)).unwrap();
    (path, token)
}

async fn start_with_auth(stack: Stack) -> (TestServer, String, tempfile::TempDir) {
    let keys = tempfile::tempdir().unwrap();
    let (path, token) = tokens_file(keys.path());
    let server = TestServer::start_with(stack, |settings| {
        settings.auth.tokens_file = Some(path.display().to_string());
    })
    .await;
    (server, token, keys)
}

// ---------------------------------------------------------------- finding 3

/// The `grpc_server_*` series in the metrics text, without their values.
fn rpc_series(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter(|line| line.starts_with("grpc_server_"))
        .filter_map(|line| line.rsplit_once(' ').map(|(series, _)| series.to_owned()))
        .collect()
}

/// 300 calls without a token to made-up paths (auth on) add no series
/// after the first: they share `grpc_service="unknown"`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_add_no_metric_series() {
    let (server, _token, _keys) = start_with_auth(Stack::Embedded).await;
    let first = raw_call(&server.channel, None, "/x0.Svc/mmm", Vec::new()).await;
    assert_eq!(first.code(), Code::Unimplemented);
    let before = archive::metrics::render();
    for i in 1..=300 {
        let path = match i % 3 {
            0 => format!("/x{i}.Svc/{}", "m".repeat(i)),
            1 => format!("/archive.v1.Nope{i}/GetArticle"),
            _ => format!("/archive.v1.ArticleService/Nope{i}"),
        };
        let code = raw_call(&server.channel, None, &path, Vec::new()).await.code();
        assert!(matches!(code, Code::Unimplemented | Code::Unauthenticated), "{path}: {code:?}");
    }
    let after = archive::metrics::render();
    assert_eq!(rpc_series(&before), rpc_series(&after), "unknown paths made new series");
    assert!(after.contains(r#"grpc_service="unknown",grpc_method="unknown""#), "{after}");
    assert!(!after.contains("x1.Svc") && !after.contains("Nope"), "a made-up path is a label");
    // Only values change: a few digits, not a series per path. (Other
    // series come and go with the background jobs.)
    let rpc_bytes =
        |text: &str| text.lines().filter(|line| line.starts_with("grpc_server_")).map(str::len).sum::<usize>();
    let (before, after) = (rpc_bytes(&before), rpc_bytes(&after));
    assert!(after < before + 256, "grpc_server_* series: {before} bytes, then {after}");
}

// ---------------------------------------------------------------- finding 9

/// A gRPC frame whose message is not protobuf (a varint that never ends).
const GARBAGE: &[u8] = &[0xff, 0xff, 0xff, 0xff];

/// Malformed messages are INVALID_ARGUMENT / MALFORMED_MESSAGE with a short
/// message, on the open health service as on ours, unary or streaming.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_are_invalid_argument_with_a_reason() {
    let (server, token, _keys) = start_with_auth(Stack::Embedded).await;
    let calls = [
        (None, "/grpc.health.v1.Health/Check"),
        (Some(token.as_str()), "/archive.v1.ArticleService/GetArticle"),
        (Some(token.as_str()), "/archive.v1.MetadataService/ListArticles"),
    ];
    for (token, path) in calls {
        let status = raw_call(&server.channel, token, path, GARBAGE.to_vec()).await;
        assert_eq!((status.code(), reason(&status).as_str()), (Code::InvalidArgument, "MALFORMED_MESSAGE"), "{path}");
        assert!(!status.message().contains("Protobuf") && !status.message().contains("varint"), "{status:?}");
    }
    // A stream: UploadMedia's first message.
    let service = InterceptedService::new(server.channel.clone(), Bearer::new(Some(&token)).unwrap());
    let mut client = tonic::client::Grpc::new(service);
    client.ready().await.unwrap();
    let path = PathAndQuery::from_static("/archive.v1.MediaService/UploadMedia");
    let messages = futures::stream::iter(vec![GARBAGE.to_vec()]);
    let status = client.client_streaming(tonic::Request::new(messages), path, Raw).await.unwrap_err();
    assert_eq!((status.code(), reason(&status).as_str()), (Code::InvalidArgument, "MALFORMED_MESSAGE"), "{status:?}");
}

/// A running `archived` (the binary, auth on, JSON logs) whose log lines
/// the test reads.
struct Logged {
    child: std::process::Child,
    grpc: String,
    lines: Arc<Mutex<Vec<String>>>,
    token: String,
    _dir: tempfile::TempDir,
}

impl Logged {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (tokens, token) = tokens_file(dir.path());
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_archived"))
            .current_dir(dir.path())
            .env("ARCHIVE__SERVER__GRPC_ADDR", "127.0.0.1:0")
            .env("ARCHIVE__SERVER__GATEWAY_ADDR", "127.0.0.1:0")
            .env("ARCHIVE__SERVER__ADMIN_ADDR", "127.0.0.1:0")
            .env("ARCHIVE__AUTH__TOKENS_FILE", &tokens)
            .env("ARCHIVE__LOG__FORMAT", "json")
            .env("RUST_LOG", "info")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("archived starts");
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (serving, address) = std::sync::mpsc::channel();
        let collected = lines.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
                    && let Some(grpc) = event["fields"]["grpc"].as_str()
                {
                    let _ = serving.send(grpc.to_owned());
                }
                collected.lock().unwrap().push(line);
            }
        });
        let Ok(grpc) = address.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            panic!("archived did not serve: {:?}", lines.lock().unwrap());
        };
        Self { child, grpc: format!("http://{grpc}"), lines, token, _dir: dir }
    }

    async fn channel(&self) -> Channel {
        archive::client::connect(&self.grpc).await.expect("archived answers")
    }

    /// Every line logged so far, after a moment for the last ones.
    async fn lines(&self) -> Vec<String> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.lines.lock().unwrap().clone()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn level(line: &str) -> String {
    serde_json::from_str::<serde_json::Value>(line).map(|event| event["level"].to_string()).unwrap_or_default()
}

/// Calls refused for the caller's own reasons (no token, an unknown path, a
/// missing article) log no ERROR line, but are logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_are_not_logged_as_errors() {
    let logged = Logged::start();
    let channel = logged.channel().await;
    let unauthenticated = ArticleServiceClient::new(channel.clone())
        .get_article(pb::GetArticleRequest { name: "articles/x".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(unauthenticated.code(), Code::Unauthenticated);
    assert_eq!(raw_call(&channel, None, "/x1.Svc/m", Vec::new()).await.code(), Code::Unimplemented);
    let authed = InterceptedService::new(channel.clone(), Bearer::new(Some(&logged.token)).unwrap());
    let missing = ArticleServiceClient::new(authed)
        .get_article(pb::GetArticleRequest { name: "articles/khong-co".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    let lines = logged.lines().await;
    let errors: Vec<&String> = lines.iter().filter(|line| level(line) == "\"ERROR\"").collect();
    assert!(errors.is_empty(), "client errors logged as ERROR: {errors:#?}");
    let refusals = lines.iter().filter(|line| line.contains("call refused")).count();
    assert!(refusals >= 3, "each refusal is logged (below ERROR): {lines:#?}");
}

/// An 8,000-character request id with JSON and log syntax in it never
/// reaches the log: the call gets a fresh UUID, returned to the caller; a
/// plain id is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_request_ids_are_replaced() {
    let logged = Logged::start();
    let channel = logged.channel().await;
    let forged = format!("x\"}} level=ERROR {{\"forged\":\"{}\"}}", "f".repeat(8000));
    let (health, article) = ("/grpc.health.v1.Health/Check", "/archive.v1.ArticleService/GetArticle");
    let returned_id = |metadata: &tonic::metadata::MetadataMap| {
        metadata.get("x-request-id").expect("an id returned").to_str().unwrap().to_owned()
    };
    for (id, kept) in [(forged.as_str(), false), ("cms-42.import:7_a", true), ("a b", false)] {
        // Served, and refused (logged, in the call's span).
        let served = raw_call_with(&channel, None, health, Vec::new(), Some(id)).await.expect("serving");
        let refused = raw_call_with(&channel, None, article, Vec::new(), Some(id)).await.unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated);
        for returned in [returned_id(served.metadata()), returned_id(refused.metadata())] {
            if kept {
                assert_eq!(returned, id);
            } else {
                assert!(uuid::Uuid::parse_str(&returned).is_ok(), "a fresh UUID, not {returned:?}");
            }
        }
    }

    let lines = logged.lines().await;
    assert!(lines.iter().any(|line| line.contains("cms-42.import:7_a")), "a plain id is logged: {lines:#?}");
    // (A run of 64 f's is in the forged id, never in a UUID.)
    let run = "f".repeat(64);
    let leaked: Vec<&String> = lines.iter().filter(|line| line.contains("forged") || line.contains(&run)).collect();
    assert!(leaked.is_empty(), "a forged id reached the log: {:?}", leaked.iter().map(|l| &l[..200.min(l.len())]));
}

// ---------------------------------------------------------------- finding 4

/// Script, as uploaders sent it to the probe.
const SCRIPT: &[u8] = b"<html><body><script>alert(document.domain)</script><svg onload=alert(1)></svg></body></html>";

fn upload_header(filename: &str, content_type: &str, media_id: &str) -> pb::UploadHeader {
    pb::UploadHeader {
        filename: filename.into(),
        content_type: content_type.into(),
        media_id: media_id.into(),
        ..Default::default()
    }
}

async fn upload(server: &TestServer, header: pb::UploadHeader, data: &[u8]) -> Result<pb::Media, tonic::Status> {
    let messages = upload_messages(header, std::io::Cursor::new(data.to_vec()), |_| {});
    Ok(server.media().upload_media(messages).await?.into_inner().media.expect("media"))
}

async fn assert_nothing_stored(server: &TestServer, media_id: &str) {
    let get = server.metadata().get_media(pb::GetMediaRequest { name: format!("media/{media_id}") }).await;
    assert_eq!(get.unwrap_err().code(), Code::NotFound, "no record for {media_id}");
    assert_nothing_left(server, media_id).await;
}

/// Status and headers of a GET.
async fn get(url: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let response = reqwest::get(url).await.expect("an HTTP answer");
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, headers, response.bytes().await.expect("a body").to_vec())
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers.get(name).map(|value| value.to_str().unwrap()).unwrap_or("")
}

/// What every answer of the gateway carries.
fn assert_origin_headers(headers: &reqwest::header::HeaderMap, what: &str) {
    assert_eq!(header(headers, "x-content-type-options"), "nosniff", "{what}: {headers:?}");
    let csp = header(headers, "content-security-policy");
    assert!(csp.contains("default-src 'none'") && csp.contains("sandbox"), "{what}: {csp:?}");
}

/// A clip that must never render: opaque bytes, as a download.
fn assert_download(headers: &reqwest::header::HeaderMap, what: &str) {
    assert_eq!(header(headers, "content-type"), "application/octet-stream", "{what}: {headers:?}");
    assert!(header(headers, "content-disposition").starts_with("attachment"), "{what}: {headers:?}");
}

/// A URL for `media` on the gateway, whatever the backend (on S3 playback
/// URLs are presigned, but the gateway serves the same clips).
fn gateway_url(server: &TestServer, name: &str) -> String {
    let id = name.strip_prefix("media/").unwrap();
    let path = format!("/media/{id}");
    let expires = chrono::Utc::now().timestamp() + 600;
    format!("http://{}{path}?{}", server.gateway_addr, server.archive.signer().sign(&path, expires, false))
}

/// An inline playback URL of `name`, and the content type it says it serves.
async fn playback(server: &TestServer, name: &str) -> (String, String) {
    let request = pb::GetPlaybackUrlRequest {
        name: name.into(),
        disposition: pb::Disposition::Inline.into(),
        ..Default::default()
    };
    let url = server.media().get_playback_url(request).await.expect("a playback URL").into_inner();
    (url.url, url.content_type)
}

/// HTML, SVG and script are refused when declared; sent under such a name
/// without a type (or recorded before this rule), they go out only as a
/// download, by the gateway and by a presigned URL alike; every gateway
/// answer says nosniff and a sandboxing CSP, and a clip still goes out as
/// video/mp4 inline.
async fn script_never_renders_on_the_media_origin(stack: Stack) {
    let server = TestServer::start(stack).await;
    let declared = [
        ("a.html", "text/html", Code::InvalidArgument, "UNSUPPORTED_MEDIA_TYPE"),
        ("a.html", "TEXT/HTML; charset=utf-8", Code::InvalidArgument, "UNSUPPORTED_MEDIA_TYPE"),
        ("a.svg", "image/svg+xml", Code::InvalidArgument, "UNSUPPORTED_MEDIA_TYPE"),
        ("a.js", "application/javascript", Code::InvalidArgument, "UNSUPPORTED_MEDIA_TYPE"),
        ("a.xhtml", "application/xhtml+xml", Code::InvalidArgument, "UNSUPPORTED_MEDIA_TYPE"),
        ("a.bin", "*/*", Code::InvalidArgument, "INVALID_CONTENT_TYPE"),
        ("a.bin", "*", Code::InvalidArgument, "INVALID_CONTENT_TYPE"),
        ("a.mp4", "video/*", Code::InvalidArgument, "INVALID_CONTENT_TYPE"),
    ];
    for (i, (filename, content_type, code, expected)) in declared.into_iter().enumerate() {
        let id = format!("kich-ban-{i}");
        let refused = upload(&server, upload_header(filename, content_type, &id), SCRIPT).await.unwrap_err();
        assert_eq!((refused.code(), reason(&refused).as_str()), (code, expected), "{content_type}: {refused:?}");
        assert_nothing_stored(&server, &id).await;
    }

    // Named like script, no type declared: stored as opaque bytes.
    let mut downloads = Vec::new();
    for filename in ["trang.html", "logo.svg", "app.js", "tokens.toml"] {
        let media = upload(&server, upload_header(filename, "", ""), SCRIPT).await.expect("stored as bytes");
        assert_eq!(media.content_type, "application/octet-stream", "{filename}");
        downloads.push(media.name);
    }
    // Recorded as HTML before this rule (the probe's uploads).
    let stored = archive::ids::MediaId::from_name(&downloads[0]).unwrap();
    let mut legacy = server.archive.metadata().get_media(&stored).await.unwrap();
    legacy.id = archive::ids::MediaId::generate();
    legacy.content_type = "text/html".into();
    server.archive.metadata().insert_media_copy(&legacy).await.expect("a record made before");
    downloads.push(legacy.id.name());

    for name in &downloads {
        let (status, headers, body) = get(&gateway_url(&server, name)).await;
        assert_eq!((status, body.as_slice()), (200, SCRIPT), "{name}");
        assert_download(&headers, &format!("gateway {name}"));
        assert_origin_headers(&headers, &format!("gateway {name}"));

        let (url, content_type) = playback(&server, name).await;
        assert_eq!(content_type, "application/octet-stream", "{name}");
        let (status, headers, body) = get(&url).await;
        assert_eq!((status, body.as_slice()), (200, SCRIPT), "{name} at {url}");
        assert_download(&headers, &format!("playback URL of {name} ({stack:?})"));
    }

    // A clip plays inline, and refusals carry the origin's headers too.
    let clip = upload(&server, upload_header("clip.mp4", "", ""), &fixture("clip-faststart.mp4")).await.unwrap();
    let (url, content_type) = playback(&server, &clip.name).await;
    assert_eq!(content_type, "video/mp4");
    for url in [url, gateway_url(&server, &clip.name)] {
        let (status, headers, _) = get(&url).await;
        assert_eq!((status, header(&headers, "content-type")), (200, "video/mp4"), "{url}");
        assert_eq!(header(&headers, "content-disposition"), "", "{url}");
    }
    let (_, headers, _) = get(&gateway_url(&server, &clip.name)).await;
    assert_origin_headers(&headers, "a clip");
    let forged = gateway_url(&server, &clip.name).replace("sig=", "sig=0");
    let (status, headers, _) = get(&forged).await;
    assert_eq!(status, 403);
    assert_origin_headers(&headers, "a refusal");
}

/// Bytes that are not MP4 are refused as NOT_MP4 whatever parameters, case
/// or spaces the declared type has, and leave nothing; bytes stored as
/// something else do not become an MP4 by being shared; a real clip with
/// parameters is stored as plain video/mp4, probed.
async fn the_mp4_check_cannot_be_skipped(stack: Stack) {
    let server = TestServer::start(stack).await;
    for (i, content_type) in
        ["video/mp4; codecs=\"avc1\"", "VIDEO/MP4", " Video/Mp4 ", "video/mp4;x=1"].iter().enumerate()
    {
        let id = format!("gia-mp4-{i}");
        let refused = upload(&server, upload_header("clip.mp4", content_type, &id), SCRIPT).await.unwrap_err();
        assert_eq!((refused.code(), reason(&refused).as_str()), (Code::InvalidArgument, "NOT_MP4"), "{content_type:?}");
        assert_nothing_stored(&server, &id).await;
    }

    // The same bytes stored first as opaque bytes...
    let bytes = [SCRIPT, b" shared"].concat();
    upload(&server, upload_header("trang.bin", "", ""), &bytes).await.expect("stored as bytes");
    // ... sent again as MP4,
    let refused = upload(&server, upload_header("clip.mp4", "video/mp4", "chia-se"), &bytes).await.unwrap_err();
    assert_eq!(reason(&refused), "NOT_MP4", "{refused:?}");
    assert_nothing_stored(&server, "chia-se").await;
    // ... or only declared by SHA-256 and size, as an MP4: the bytes are
    // asked for, then checked.
    let declared = pb::UploadHeader {
        sha256: sha256_hex(&bytes),
        size_bytes: bytes.len() as i64,
        ..upload_header("clip.mp4", "video/mp4", "khai-bao")
    };
    let header_only = vec![pb::UploadMediaRequest { kind: Some(Kind::Header(declared.clone())) }];
    let answer = server.media().upload_media(futures::stream::iter(header_only)).await;
    assert!(answer.is_err(), "a copy of bytes never checked as MP4 was recorded as one: {answer:?}");
    let refused = upload(&server, declared, &bytes).await.unwrap_err();
    assert_eq!(reason(&refused), "NOT_MP4", "{refused:?}");
    assert_nothing_stored(&server, "khai-bao").await;

    let clip = fixture("clip-faststart.mp4");
    let media =
        upload(&server, upload_header("clip.mp4", "Video/MP4; codecs=\"avc1.4d401e\"", ""), &clip).await.unwrap();
    assert_eq!(media.content_type, "video/mp4");
    assert!(media.mp4.is_some(), "probed");
}

on_both_stacks!(script_never_renders_on_the_media_origin, the_mp4_check_cannot_be_skipped);
