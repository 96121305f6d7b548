//! The web console's server side (docs/console.md): its page under a strict
//! policy, a token exchanged for a session cookie, the services over
//! gRPC-Web under `/console/rpc/` with the cookie and nothing else, the same
//! scopes as gRPC, and `gateway.console = false` turning it all off.

use crate::common::{Stack, TestServer, fixture};
use crate::grpc_web::{Answer, call_with};
use archive::{
    proto::v1 as pb,
    service::auth::{Scope, file_entry, new_token},
};
use reqwest::{StatusCode, header};

const STATS: &str = "archive.v1.MetadataService/GetArchiveStatistics";
const CREATE: &str = "archive.v1.ArticleService/CreateArticle";

struct Tokens {
    reader: String,
    writer: String,
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

fn tokens() -> Tokens {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.toml");
    let (reader, writer) = (new_token(), new_token());
    let entries = file_entry("archivist", &[Scope::Read], &reader)
        + &file_entry("producer", &[Scope::Read, Scope::Write], &writer);
    std::fs::write(&path, entries).unwrap();
    Tokens { reader, writer, _dir: dir, path }
}

/// `POST /console/session` with `token`: the status and the `Set-Cookie` answer.
async fn sign_in(gateway: &str, token: &str) -> (StatusCode, Option<String>, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{gateway}/console/session"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let cookie = response.headers().get(header::SET_COOKIE).map(|v| v.to_str().unwrap().to_owned());
    let body = response.text().await.unwrap();
    (status, cookie, serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)))
}

/// The `name=value` a browser sends back for a `Set-Cookie`.
fn sent_back(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

async fn console_call(gateway: &str, method: &str, cookie: Option<&str>, message: &impl prost::Message) -> Answer {
    let mut headers = vec![("x-grpc-web", "1")];
    headers.extend(cookie.map(|cookie| ("cookie", cookie)));
    call_with(&format!("{gateway}/console/rpc"), method, &headers, message).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_becomes_a_session_that_calls_with_its_scopes() {
    let tokens = tokens();
    let server = TestServer::start_with(Stack::Embedded, |settings| {
        settings.auth.tokens_file = Some(tokens.path.display().to_string());
    })
    .await;
    let gateway = format!("http://{}", server.gateway_addr);

    // The page: no inline script may run, nobody may frame it.
    let page = reqwest::get(format!("{gateway}/console/")).await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
    for directive in ["script-src 'self'", "frame-ancestors 'none'", "default-src 'none'"] {
        assert!(csp.contains(directive), "{directive}: {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains("/console/assets/console.js") && !html.contains("<script>"), "{html}");
    // Its files: gzip to a browser that takes it, revalidated by ETag.
    let client = reqwest::Client::new();
    let script_url = format!("{gateway}/console/assets/console.js");
    let zipped = client.get(&script_url).header(header::ACCEPT_ENCODING, "gzip, br").send().await.unwrap();
    assert_eq!(zipped.headers()[header::CONTENT_ENCODING], "gzip");
    let etag = zipped.headers()[header::ETAG].clone();
    let zipped = zipped.bytes().await.unwrap();
    let script = reqwest::get(&script_url).await.unwrap();
    assert!(script.headers().get(header::CONTENT_ENCODING).is_none());
    let unzipped = flate2::read::GzDecoder::new(&zipped[..]);
    let unzipped: Vec<u8> = std::io::Read::bytes(unzipped).map(Result::unwrap).collect();
    assert!(zipped.len() * 2 < unzipped.len(), "{} gzip bytes of {}", zipped.len(), unzipped.len());
    let held = client
        .get(&script_url)
        .header(header::ACCEPT_ENCODING, "gzip")
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(held.status(), StatusCode::NOT_MODIFIED);
    let legal = reqwest::get(format!("{gateway}/console/assets/console.js.LEGAL.txt")).await.unwrap();
    assert_eq!(legal.status(), 200);
    assert_eq!(
        (script.status(), script.headers()[header::CONTENT_TYPE].to_str().unwrap()),
        (StatusCode::OK, "text/javascript; charset=utf-8")
    );

    // No session yet: the page is told so, and calls are refused.
    let none = reqwest::get(format!("{gateway}/console/session")).await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    let refused = console_call(&gateway, STATS, None, &pb::GetArchiveStatisticsRequest {}).await;
    assert_eq!(refused.grpc_status, Some(16), "UNAUTHENTICATED: {}", refused.grpc_message);
    let (status, cookie, _) = sign_in(&gateway, "arc_not_a_token").await;
    assert_eq!((status, cookie), (StatusCode::UNAUTHORIZED, None));

    // The reader's session: HttpOnly, SameSite=Strict, scoped to /console.
    let (status, set_cookie, session) = sign_in(&gateway, &tokens.reader).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    let set_cookie = set_cookie.expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(set_cookie.contains(attribute), "{attribute}: {set_cookie}");
    }
    assert!(!set_cookie.contains(&tokens.reader), "the cookie never carries the token");
    assert_eq!((session["name"].as_str(), session["scopes"][0].as_str()), (Some("archivist"), Some("read")));
    let reader = sent_back(&set_cookie);

    let current = reqwest::Client::new()
        .get(format!("{gateway}/console/session"))
        .header(header::COOKIE, &reader)
        .send()
        .await
        .unwrap();
    assert_eq!(current.status(), 200);
    let current: serde_json::Value = serde_json::from_str(&current.text().await.unwrap()).unwrap();
    assert_eq!(current["name"], "archivist");

    let stats = console_call(&gateway, STATS, Some(&reader), &pb::GetArchiveStatisticsRequest {}).await;
    assert_eq!(stats.grpc_status, Some(0), "{}", stats.grpc_message);
    assert_eq!(stats.messages.len(), 1);
    let create = pb::CreateArticleRequest {
        article: Some(pb::Article { title: "Bài thử".into(), body: "Nội dung".into(), ..Default::default() }),
        ..Default::default()
    };
    let denied = console_call(&gateway, CREATE, Some(&reader), &create).await;
    assert_eq!(denied.grpc_status, Some(7), "PERMISSION_DENIED: {}", denied.grpc_message);
    assert!(denied.grpc_message.contains("write"), "{}", denied.grpc_message);

    // Only the cookie counts there, only with the gRPC-Web header, and
    // only there: a bearer token on the mount, or the cookie on the gRPC
    // port, is no session.
    let bearer = format!("Bearer {}", tokens.writer);
    let with_bearer = call_with(
        &format!("{gateway}/console/rpc"),
        CREATE,
        &[("x-grpc-web", "1"), ("authorization", &bearer)],
        &create,
    )
    .await;
    assert_eq!(with_bearer.grpc_status, Some(16), "{}", with_bearer.grpc_message);
    let bare = call_with(
        &format!("{gateway}/console/rpc"),
        STATS,
        &[("cookie", &reader)],
        &pb::GetArchiveStatisticsRequest {},
    )
    .await;
    assert_eq!(bare.http_status, 403, "no x-grpc-web: {}", bare.grpc_message);
    let mut on_grpc_port = server.metadata();
    let mut request = tonic::Request::new(pb::GetArchiveStatisticsRequest {});
    request.metadata_mut().insert("cookie", reader.parse().unwrap());
    let status = on_grpc_port.get_archive_statistics(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);

    // No other origin may call the mount: no CORS preflight is answered.
    let preflight = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{gateway}/console/rpc/{STATS}"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type,x-grpc-web")
        .send()
        .await
        .unwrap();
    assert!(!preflight.headers().contains_key("access-control-allow-origin"), "{:?}", preflight.headers());

    // The producer writes through the same services and scopes.
    let (_, producer, _) = sign_in(&gateway, &tokens.writer).await;
    let producer = sent_back(&producer.unwrap());
    let created = console_call(&gateway, CREATE, Some(&producer), &create).await;
    assert_eq!(created.grpc_status, Some(0), "{}", created.grpc_message);

    // Signing out clears the cookie in the browser.
    let out = reqwest::Client::new()
        .delete(format!("{gateway}/console/session"))
        .header(header::COOKIE, &reader)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert!(out.headers()[header::SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_can_be_turned_off() {
    let server = TestServer::start_with(Stack::Embedded, |settings| settings.gateway.console = false).await;
    let gateway = format!("http://{}", server.gateway_addr);
    for path in ["/console/", "/console/session", "/console/assets/console.js"] {
        let response = reqwest::get(format!("{gateway}{path}")).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let call = console_call(&gateway, STATS, None, &pb::GetArchiveStatisticsRequest {}).await;
    assert_eq!(call.http_status, 404);
    drop(server);
    // Without tokens the console is everyone's, and says so.
    let open = TestServer::start(Stack::Embedded).await;
    let gateway = format!("http://{}", open.gateway_addr);
    let session = reqwest::get(format!("{gateway}/console/session")).await.unwrap();
    let session: serde_json::Value = serde_json::from_str(&session.text().await.unwrap()).unwrap();
    assert_eq!((session["auth"].as_bool(), session["name"].as_str()), (Some(false), Some("anonymous")));
    let stats = console_call(&gateway, STATS, None, &pb::GetArchiveStatisticsRequest {}).await;
    assert_eq!(stats.grpc_status, Some(0), "{}", stats.grpc_message);

    // Even so, only gRPC-Web to the gateway's own host gets through: not a
    // page's `no-cors` POST as text/plain, not a name rebound to this address.
    let frame = [0u8, 0, 0, 0, 0];
    let text = reqwest::Client::new()
        .post(format!("{gateway}/console/rpc/{STATS}"))
        .header(header::CONTENT_TYPE, "text/plain")
        .body(frame.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let port = open.gateway_addr.port();
    let rebound = call_with(
        &format!("{gateway}/console/rpc"),
        STATS,
        &[("x-grpc-web", "1"), ("host", &format!("evil.example:{port}"))],
        &pb::GetArchiveStatisticsRequest {},
    )
    .await;
    assert_eq!(rebound.http_status, 421, "misdirected");
    let page = reqwest::Client::new()
        .get(format!("{gateway}/console/"))
        .header(header::HOST, format!("localhost:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "localhost names this gateway");
    // The guards are the console's: the gateway's other paths answer as ever.
    for (path, status) in [("/healthz", StatusCode::OK), ("/metrics", StatusCode::NOT_FOUND)] {
        let response = reqwest::Client::new()
            .get(format!("{gateway}{path}"))
            .header(header::HOST, format!("evil.example:{port}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path}");
    }
}

/// `data` with a `free` box of `padding` bytes after its last box: the same
/// playable MP4, as large as a test needs.
fn padded_mp4(mut data: Vec<u8>, padding: usize) -> Vec<u8> {
    data.extend_from_slice(&((padding + 8) as u32).to_be_bytes());
    data.extend_from_slice(b"free");
    data.resize(data.len() + padding, 0);
    data
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_searches_plays_and_uploads_in_the_console() {
    crate::skip_without!(CHROMIUM);
    let tokens = tokens();
    let ops = new_token();
    let mut entries = std::fs::read_to_string(&tokens.path).unwrap();
    entries += &file_entry("ops", &Scope::ALL, &ops);
    std::fs::write(&tokens.path, entries).unwrap();
    let server = TestServer::start_with(Stack::Embedded, |settings| {
        settings.auth.tokens_file = Some(tokens.path.display().to_string());
    })
    .await;
    let gateway = format!("http://{}", server.gateway_addr);
    let options = archive::client::ClientOptions { token: Some(ops), ..Default::default() };
    let channel = archive::client::connect_with(&format!("http://{}", server.grpc_addr), &options).await.unwrap();
    let mut articles = pb::article_service_client::ArticleServiceClient::new(channel.clone());
    let mut media = pb::media_service_client::MediaServiceClient::new(channel.clone());
    let mut metadata = pb::metadata_service_client::MetadataServiceClient::new(channel);

    // The seed article with its clip and Vietnamese captions; an article
    // whose stored body is HTML; an article for the upload to join.
    let import = pb::ImportArticleRequest {
        export_text: fixture("article-2019-09-30-giao-ban-truc-tuyen.txt").into(),
        article_id: "seed".into(),
        ..Default::default()
    };
    let seed = articles.import_article(import).await.unwrap().into_inner().article.unwrap();
    let header = pb::UploadHeader { filename: "93019_OHAI1.mp4".into(), ..Default::default() };
    let messages =
        archive::client::upload_messages(header, std::io::Cursor::new(fixture("clip-faststart.mp4")), |_| {});
    let clip = media.upload_media(messages).await.unwrap().into_inner().media.unwrap();
    let captions = pb::PutCaptionTrackRequest {
        media: clip.name.clone(),
        language: "vi".into(),
        kind: pb::CaptionKind::Subtitles.into(),
        content: fixture("captions/vi-settings.vtt").into(),
        ..Default::default()
    };
    media.put_caption_track(captions).await.unwrap();
    let attach = pb::AttachMediaRequest {
        article: seed.name.clone(),
        media: clip.name.clone(),
        reference: "93019_OHAI1.mp4".into(),
    };
    media.attach_media(attach).await.unwrap();
    let create = |id: &str, title: &str, body: &str| pb::CreateArticleRequest {
        article_id: id.into(),
        article: Some(pb::Article {
            title: title.into(),
            body: body.into(),
            author: "Kiểm thử".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let hostile_body = "<script>window.__pwned = 1</script><b>đậm</b> <img src=x onerror=\"window.__pwned = 1\">";
    let hostile = articles.create_article(create("html", "<i>Tiêu đề</i>", hostile_body)).await.unwrap().into_inner();
    let target = articles
        .create_article(create("target", "Bài nhận video", "Video tải lên từ trình duyệt."))
        .await
        .unwrap()
        .into_inner();
    let (hostile, target) = (hostile.article.unwrap(), target.article.unwrap());

    // A fixity audit to its end: the statistics page shows it.
    let mut audit = metadata.audit_fixity(pb::AuditFixityRequest::default()).await.unwrap().into_inner();
    while audit.message().await.unwrap().is_some() {}

    let upload = padded_mp4(fixture("clip-faststart.mp4"), 11 * 1024 * 1024);
    let upload_sha256 = crate::common::sha256_hex(&upload);
    let file = tempfile::NamedTempFile::with_suffix(".mp4").unwrap();
    std::fs::write(file.path(), &upload).unwrap();

    let report = crate::browser::browser_report(
        "console.mjs",
        &[&gateway, &tokens.reader, &tokens.writer, &hostile.name, &file.path().display().to_string(), &target.name],
    )
    .await;
    eprintln!("console report: {report}");
    assert!(report.get("failure").is_none(), "{report}");
    for (page, found) in report["axe"].as_object().unwrap() {
        assert_eq!(found.as_array().map(Vec::len), Some(0), "axe on {page}: {found}");
    }
    assert_eq!(report["cspViolations"].as_array().map(Vec::len), Some(0), "{report}");
    assert_eq!(report["pageErrors"].as_array().map(Vec::len), Some(0), "{report}");
    assert_eq!((report["tokenInStorage"].as_bool(), report["cookieReadable"].as_bool()), (Some(false), Some(false)));

    // `thai binh` finds the seed, its words marked as stored.
    let titles: Vec<&str> =
        report["search"]["titles"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert_eq!(titles.first(), Some(&seed.title.as_str()), "{report}");
    let marks = report["search"]["marks"].as_array().unwrap();
    for word in ["Thái", "Bình"] {
        assert!(marks.iter().any(|m| m.as_str() == Some(word)), "{word}: {marks:?}");
    }
    assert_eq!(report["search"]["facets"].as_array().map(Vec::len), Some(4), "{report}");

    // The article and its clip, playing with its poster and captions; no write for a reader.
    assert_eq!(report["article"]["title"], seed.title.as_str());
    assert_eq!(report["article"]["body"].as_u64(), Some(seed.body.chars().count() as u64));
    assert_eq!(report["clip"]["poster"], true, "{report}");
    assert_eq!(report["clip"]["playing"], true, "{report}");
    assert_eq!(report["clip"]["tracks"][0], "vi", "{report}");
    assert_eq!(report["article"]["deleteDisabled"], true, "{report}");
    let reasons = report["article"]["reasons"].to_string();
    assert!(reasons.contains("admin") && reasons.contains("write"), "{reasons}");

    // Stored HTML shows as text and runs nothing.
    assert_eq!(report["hostile"]["text"], hostile_body);
    assert_eq!(report["hostile"]["title"], "<i>Tiêu đề</i>");
    assert_eq!((report["hostile"]["elements"].as_u64(), report["hostile"]["ran"].as_bool()), (Some(0), Some(false)));

    assert!(report["audit"].is_string(), "the last audit is shown: {report}");
    // The producer deleted it and restored it.
    assert!(report["deletedShows"].as_str().unwrap().contains("khôi phục"), "{report}");
    assert_eq!(report["restored"], "<i>Tiêu đề</i>");
    let language = &report["language"];
    assert_ne!(language["before"], language["after"]);
    assert_eq!(language["lang"], "en", "{language}");

    // Cut after the first 8 MiB, resumed without a new upload: the clip is
    // whole, attached, and its SHA-256 is the file's.
    assert!(report["progressBeforeCut"].as_f64().unwrap() > 0.0, "{report}");
    let resumed: Vec<&str> =
        report["upload"]["methodsOnResume"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    assert_eq!(resumed.first(), Some(&"HEAD"), "resumed where the server stopped: {resumed:?}");
    assert!(!resumed.contains(&"POST"), "no second upload: {resumed:?}");
    let status = report["upload"]["status"].as_str().unwrap();
    assert!(status.contains(&upload_sha256), "{status}");
    let request = pb::GetArticleRequest { name: target.name.clone(), view: pb::ArticleView::Full.into(), revision: 0 };
    let attached = articles.get_article(request).await.unwrap().into_inner().article.unwrap();
    let clip = attached.media.first().unwrap_or_else(|| panic!("the upload is attached: {report}")).media.clone();
    let stored = metadata.get_media(pb::GetMediaRequest { name: clip }).await.unwrap().into_inner().media.unwrap();
    assert_eq!((stored.sha256, stored.size_bytes), (upload_sha256, upload.len() as i64));
}
