//! Bearer tokens and scopes against a real archived: every service refuses
//! a call without a token, with an unknown one and with one lacking the
//! scope, before touching storage; health and reflection stay open; the
//! tokens file is re-read on SIGHUP; archivectl presents its token.

use crate::common::{Stack, TestServer, fixture, reason, spawn_archived};
use archive::{
    client::Bearer,
    proto::v1::{
        self as pb, article_service_client::ArticleServiceClient, media_service_client::MediaServiceClient,
        metadata_service_client::MetadataServiceClient,
    },
    service::auth::{Scope, file_entry, new_token},
};
use tonic::{Code, service::interceptor::InterceptedService, transport::Channel};

struct Tokens {
    reader: String,
    writer: String,
    admin: String,
}

fn write_tokens(path: &std::path::Path) -> Tokens {
    let tokens = Tokens { reader: new_token(), writer: new_token(), admin: new_token() };
    let file = file_entry("web", &[Scope::Read], &tokens.reader)
        + &file_entry("cms", &[Scope::Read, Scope::Write], &tokens.writer)
        + &file_entry("ops", &[Scope::Read, Scope::Write, Scope::Admin], &tokens.admin);
    std::fs::write(path, file).unwrap();
    tokens
}

type Authed = InterceptedService<Channel, Bearer>;

fn as_holder(channel: &Channel, token: Option<&str>) -> Authed {
    InterceptedService::new(channel.clone(), Bearer::new(token).unwrap())
}

/// The code and ErrorInfo reason of a refused call, or "OK".
fn outcome<T>(result: Result<T, tonic::Status>) -> (Code, String) {
    match result {
        Ok(_) => (Code::Ok, String::new()),
        Err(status) => (status.code(), reason(&status)),
    }
}

async fn start_with_auth() -> (TestServer, Tokens, tempfile::TempDir) {
    let keys = tempfile::tempdir().unwrap();
    let path = keys.path().join("tokens.toml");
    let tokens = write_tokens(&path);
    let server = TestServer::start_with(Stack::Embedded, |settings| {
        settings.auth.tokens_file = Some(path.display().to_string());
    })
    .await;
    (server, tokens, keys)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_checks_token_and_scope() {
    let (server, tokens, _keys) = start_with_auth().await;
    let channel = &server.channel;
    let unknown = new_token();
    let article =
        pb::Article { title: "Giao ban trực tuyến".into(), body: "Nội dung".into(), ..Default::default() };

    // One call per service and scope: (caller, expected code, reason).
    let cases = [
        (None, Code::Unauthenticated, "MISSING_TOKEN"),
        (Some(unknown.as_str()), Code::Unauthenticated, "UNKNOWN_TOKEN"),
    ];
    for (token, code, reason) in cases {
        let articles = ArticleServiceClient::new(as_holder(channel, token))
            .get_article(pb::GetArticleRequest { name: "articles/x".into(), ..Default::default() })
            .await;
        let metadata = MetadataServiceClient::new(as_holder(channel, token))
            .list_articles(pb::ListArticlesRequest::default())
            .await;
        let media = MediaServiceClient::new(as_holder(channel, token))
            .get_playback_url(pb::GetPlaybackUrlRequest { name: "media/x".into(), ..Default::default() })
            .await;
        for (service, result) in
            [("articles", outcome(articles)), ("metadata", outcome(metadata)), ("media", outcome(media))]
        {
            assert_eq!(result, (code, reason.to_string()), "{service} with {token:?}");
        }
    }

    // A reader reads, and cannot write on any service.
    let reader = Some(tokens.reader.as_str());
    let listed =
        MetadataServiceClient::new(as_holder(channel, reader)).list_articles(pb::ListArticlesRequest::default()).await;
    assert_eq!(outcome(listed), (Code::Ok, String::new()));
    let created = ArticleServiceClient::new(as_holder(channel, reader))
        .create_article(pb::CreateArticleRequest { article: Some(article.clone()), ..Default::default() })
        .await;
    assert_eq!(outcome(created), (Code::PermissionDenied, "MISSING_SCOPE".into()));
    let upload = MediaServiceClient::new(as_holder(channel, reader))
        .start_upload(pb::StartUploadRequest {
            header: Some(pb::UploadHeader { filename: "a.mp4".into(), ..Default::default() }),
        })
        .await;
    assert_eq!(outcome(upload), (Code::PermissionDenied, "MISSING_SCOPE".into()));

    // A writer writes; a legal hold needs admin.
    let writer = Some(tokens.writer.as_str());
    let created = ArticleServiceClient::new(as_holder(channel, writer))
        .create_article(pb::CreateArticleRequest { article: Some(article), ..Default::default() })
        .await
        .expect("a writer creates")
        .into_inner()
        .article
        .unwrap();
    let hold = pb::SetLegalHoldRequest { name: created.name.clone(), legal_hold: true };
    let held = ArticleServiceClient::new(as_holder(channel, writer)).set_legal_hold(hold.clone()).await;
    assert_eq!(outcome(held), (Code::PermissionDenied, "MISSING_SCOPE".into()));
    let held = ArticleServiceClient::new(as_holder(channel, Some(&tokens.admin))).set_legal_hold(hold).await;
    assert_eq!(outcome(held), (Code::Ok, String::new()));

    // Refused before storage: a reader deleting an article that exists and
    // one that does not gets the same answer.
    for name in [created.name.clone(), "articles/khong-ton-tai".into()] {
        let deleted = ArticleServiceClient::new(as_holder(channel, reader))
            .delete_article(pb::DeleteArticleRequest { name, ..Default::default() })
            .await;
        assert_eq!(outcome(deleted), (Code::PermissionDenied, "MISSING_SCOPE".into()));
    }

    let release = pb::SetLegalHoldRequest { name: created.name.clone(), legal_hold: false };
    ArticleServiceClient::new(as_holder(channel, Some(&tokens.admin))).set_legal_hold(release).await.unwrap();

    // DeleteMedia with force needs admin on top of write.
    let header = pb::UploadHeader { filename: "ban-tin.mp4".into(), ..Default::default() };
    let messages =
        archive::client::upload_messages(header, std::io::Cursor::new(fixture("clip-faststart.mp4")), |_| {});
    let uploaded = archive::client::media_client(as_holder(channel, writer)).upload_media(messages).await;
    let media = uploaded.expect("a writer uploads").into_inner().media.unwrap();
    let attach = pb::AttachMediaRequest {
        article: created.name.clone(),
        media: media.name.clone(),
        reference: "ban-tin.mp4".into(),
    };
    MediaServiceClient::new(as_holder(channel, writer)).attach_media(attach).await.expect("a writer links");
    let force = pb::DeleteMediaRequest { name: media.name.clone(), force: true };
    let deleted = MediaServiceClient::new(as_holder(channel, writer)).delete_media(force.clone()).await;
    assert_eq!(outcome(deleted), (Code::PermissionDenied, "MISSING_SCOPE".into()));
    let deleted = MediaServiceClient::new(as_holder(channel, Some(&tokens.admin))).delete_media(force).await;
    assert_eq!(outcome(deleted), (Code::Ok, String::new()));

    // Health and reflection need no token.
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
    let health = HealthClient::new(channel.clone())
        .check(HealthCheckRequest { service: "archive.v1.ArticleService".into() })
        .await
        .expect("health is open")
        .into_inner();
    assert_eq!(health.status(), ServingStatus::Serving);
}

#[test]
fn tokens_file_is_reread_on_sighup_and_archivectl_presents_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.toml");
    let tokens = write_tokens(&path);
    let env = [
        ("ARCHIVE__SERVER__GRPC_ADDR", "127.0.0.1:0".to_string()),
        ("ARCHIVE__SERVER__GATEWAY_ADDR", "127.0.0.1:0".to_string()),
        ("ARCHIVE__AUTH__TOKENS_FILE", path.display().to_string()),
    ];
    let server = spawn_archived(dir.path(), &env);
    let archivectl = |token: Option<&str>, args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_archivectl"));
        command.current_dir(dir.path()).env("ARCHIVE_SERVER", &server.grpc).env_remove("ARCHIVE_TOKEN");
        if let Some(token) = token {
            command.env("ARCHIVE_TOKEN", token);
        }
        let output = command.args(args).output().expect("archivectl runs");
        (
            output.status.success(),
            format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)),
        )
    };

    let (ok, out) = archivectl(None, &["stats"]);
    assert!(!ok && out.contains("Bearer"), "no token: {out}");
    let (ok, out) = archivectl(Some(&tokens.reader), &["stats"]);
    assert!(ok, "ARCHIVE_TOKEN: {out}");
    let (ok, out) = archivectl(None, &["--token", &tokens.reader, "stats"]);
    assert!(ok, "--token: {out}");

    // `token new` prints a token and the entry that admits it.
    let (ok, out) = archivectl(None, &["token", "new", "--name", "mobile", "--scopes", "read,write"]);
    assert!(ok, "{out}");
    let fresh = out.lines().find(|line| line.starts_with("arc_")).expect("a token line").to_owned();
    let entry = &out[out.find("[[tokens]]").expect("a file entry")..];
    assert!(!entry.contains(&fresh), "the entry holds only the digest");

    // The reader's entry goes, the new one comes: effective after SIGHUP.
    let reloaded = file_entry("ops", &[Scope::Read, Scope::Write, Scope::Admin], &tokens.admin) + entry;
    std::fs::write(&path, reloaded).unwrap();
    let hup = std::process::Command::new("kill").args(["-HUP", &server.pid().to_string()]).status().unwrap();
    assert!(hup.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (old_refused, _) = archivectl(Some(&tokens.reader), &["stats"]);
        let (new_admitted, _) = archivectl(Some(&fresh), &["stats"]);
        if !old_refused && new_admitted {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the tokens file was not re-read");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (ok, out) = archivectl(Some(&tokens.reader), &["stats"]);
    assert!(!ok && out.contains("not known"), "{out}");
    assert!(!archivectl(Some(&tokens.writer), &["stats"]).0, "cms was removed too");

    // Exit codes scripts rely on, and messages that say what to do.
    let code = |token: &str, args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_archivectl"))
            .current_dir(dir.path())
            .env("ARCHIVE_SERVER", &server.grpc)
            .env("ARCHIVE_TOKEN", token)
            .args(args)
            .output()
            .unwrap();
        (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let (status, stderr) = code(&tokens.reader, &["stats"]);
    assert_eq!(status, Some(4), "unknown token: {stderr}");
    assert!(stderr.contains("hint: pass a token"), "{stderr}");
    let (status, stderr) = code(&fresh, &["get", "articles/khong-ton-tai"]);
    assert_eq!(status, Some(3), "not found: {stderr}");
    assert!(!stderr.contains("Status {"), "no debug dump: {stderr}");
    assert_eq!(code(&fresh, &["get"]).0, Some(2), "usage");
}

/// JSON logs: every line of a call carries its request id (the caller's,
/// or one archived made and returned), refusals name no token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_id_and_never_a_token() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.toml");
    let tokens = write_tokens(&path);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_archived"))
        .current_dir(dir.path())
        .env("ARCHIVE__SERVER__GRPC_ADDR", "127.0.0.1:0")
        .env("ARCHIVE__SERVER__GATEWAY_ADDR", "127.0.0.1:0")
        .env("ARCHIVE__SERVER__ADMIN_ADDR", "127.0.0.1:0")
        .env("ARCHIVE__AUTH__TOKENS_FILE", &path)
        .env("ARCHIVE__LOG__FORMAT", "json")
        .env("RUST_LOG", "debug,h2=info,hyper=info,tower=info,sqlx=info,aws=info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let grpc = loop {
        let line = lines.recv_timeout(std::time::Duration::from_secs(20)).expect("archived logs");
        let json: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        seen.push(line);
        if json["fields"]["message"] == "serving" {
            break json["fields"]["grpc"].as_str().unwrap().to_owned();
        }
    };
    let channel = archive::client::connect(&format!("http://{grpc}")).await.unwrap();

    let mut request = tonic::Request::new(pb::ListArticlesRequest::default());
    request.metadata_mut().insert("x-request-id", "yeu-cau-42".parse().unwrap());
    request.metadata_mut().insert("authorization", format!("Bearer {}x", tokens.reader).parse().unwrap());
    let refused = MetadataServiceClient::new(channel.clone()).list_articles(request).await.unwrap_err();
    assert_eq!(refused.metadata().get("x-request-id").unwrap(), "yeu-cau-42");
    let request = tonic::Request::new(pb::ListArticlesRequest::default());
    let answered =
        MetadataServiceClient::new(as_holder(&channel, Some(&tokens.reader))).list_articles(request).await.unwrap();
    let made = answered.metadata().get("x-request-id").expect("an id is made").to_str().unwrap().to_owned();
    assert_eq!(uuid::Uuid::parse_str(&made).map(|_| ()), Ok(()), "{made}");

    let request_id_of = |line: &str| -> Option<String> {
        let json: serde_json::Value = serde_json::from_str(line).ok()?;
        json["spans"].as_array()?.iter().find_map(|span| span["request_id"].as_str().map(str::to_owned))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let (mut refusal, mut allowed) = (None, None);
    while (refusal.is_none() || allowed.is_none()) && std::time::Instant::now() < deadline {
        let Ok(line) = lines.recv_timeout(std::time::Duration::from_millis(200)) else { continue };
        if line.contains("refused: unknown token") {
            refusal = request_id_of(&line);
        }
        if line.contains("\"allowed\"") {
            allowed = request_id_of(&line);
        }
        seen.push(line);
    }
    assert_eq!(refusal.as_deref(), Some("yeu-cau-42"), "the refusal's line has the caller's id");
    assert_eq!(allowed.as_deref(), Some(made.as_str()), "the allowed call's line has the made id");
    for secret in [&tokens.reader, &tokens.writer, &tokens.admin] {
        assert!(seen.iter().all(|line| !line.contains(secret.as_str())), "a token reached the log");
    }
    let _ = child.kill();
    let _ = child.wait();
}
