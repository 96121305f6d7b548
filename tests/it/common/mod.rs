//! Test harness: a real archived on random loopback ports, on the embedded
//! stack (local file system + SQLite) or the production one (the SeaweedFS
//! and PostgreSQL that `scripts/test.sh` starts).
#![allow(dead_code)]

mod api;
pub mod services;

#[allow(unused_imports)] // the benches that include this file use none of it
pub use api::{article, reason, update_request};

use archive::{
    app::Application,
    client::upload_messages,
    config::{S3Settings, Settings},
    proto::v1::{
        self as pb, article_service_client::ArticleServiceClient, media_service_client::MediaServiceClient,
        metadata_service_client::MetadataServiceClient,
    },
};
use sha2::{Digest, Sha256};
use std::{net::SocketAddr, path::PathBuf};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tonic::transport::Channel;

/// S3 part size in tests: the S3 minimum, so multipart is reached quickly.
pub const TEST_PART_SIZE: usize = 5 * 1024 * 1024;

/// What a test server stores on: archived's two deployments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stack {
    /// The local file system and SQLite (archived's defaults).
    Embedded,
    /// S3 (SeaweedFS) and PostgreSQL; `blob_store` uses only its S3.
    Production,
}

/// What scripts/test.sh provides beside cargo, by the variable that says
/// where it is. A test that needs one starts with [`skip_without!`].
pub const S3: &str = "ARCHIVE_TEST_S3_ENDPOINT";
pub const POSTGRES: &str = "ARCHIVE_TEST_POSTGRES_URL";
pub const PYTHON: &str = "ARCHIVE_TEST_PYTHON";
pub const CHROMIUM: &str = "ARCHIVE_TEST_CHROMIUM";
/// npm packages (playwright-core, tus-js-client) for scripts run with node.
pub const NODE: &str = "ARCHIVE_TEST_NODE_PATH";
/// The binaries tests start backends of their own from (the kill matrix).
pub const OWN_BACKENDS: &str = "ARCHIVE_TEST_WEED_BIN";

/// The Python scripts/test.sh set up (grpcio, PyYAML) run with `args`
/// from the repository root, to its end.
pub fn python<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> std::process::Output {
    let python = std::env::var(PYTHON).expect("ARCHIVE_TEST_PYTHON (scripts/test.sh sets it)");
    std::process::Command::new(python).current_dir(env!("CARGO_MANIFEST_DIR")).args(args).output().expect("python runs")
}

/// Whether a test that needs `needs` must be skipped: one of them is not
/// set (a plain `cargo test`, or `scripts/test.sh --quick`), which it then
/// says on stderr. scripts/test.sh sets `ARCHIVE_TEST_REQUIRE_ALL`: then a
/// missing one fails the test instead, so CI never skips silently.
pub fn skip_without(needs: &[&str]) -> bool {
    let Some(missing) = needs.iter().find(|name| std::env::var_os(name).is_none()) else { return false };
    assert!(
        std::env::var_os("ARCHIVE_TEST_REQUIRE_ALL").is_none(),
        "{missing} is not set, and scripts/test.sh should have set it"
    );
    let test = std::thread::current().name().unwrap_or("this test").to_owned();
    skipped(&format!("SKIPPED {test}: needs {missing}, which scripts/test.sh sets"));
    true
}

/// Where skipped tests are listed (`scripts/test.sh --quick` prints it).
pub const SKIPPED_LIST: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/skipped-tests");

/// Says that a test was skipped: on stderr past the test harness's capture
/// (plain `cargo test` shows it), and in [`SKIPPED_LIST`].
pub fn skipped(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
    if let Ok(mut list) = std::fs::OpenOptions::new().create(true).append(true).open(SKIPPED_LIST) {
        let _ = writeln!(list, "{line}");
    }
}

/// Returns from the test when [`skip_without`] says so.
#[macro_export]
macro_rules! skip_without {
    ($($need:ident),+ $(,)?) => {
        if $crate::common::skip_without(&[$($crate::common::$need),+]) {
            return;
        }
    };
}

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run the suite with scripts/test.sh, which starts SeaweedFS"))
}

/// Settings of the SeaweedFS that scripts/test.sh started.
pub fn s3_settings() -> (S3Settings, String) {
    let settings = S3Settings {
        endpoint: Some(env("ARCHIVE_TEST_S3_ENDPOINT")),
        region: std::env::var("ARCHIVE_TEST_S3_REGION").unwrap_or_else(|_| "us-east-1".into()),
        access_key_id: Some(env("ARCHIVE_TEST_S3_ACCESS_KEY")),
        secret_access_key: Some(env("ARCHIVE_TEST_S3_SECRET_KEY").into()),
        public_endpoint: None,
        force_path_style: true,
        part_size_bytes: TEST_PART_SIZE,
        parts_in_flight: 2,
        // Small ranges, so that reads cross many range boundaries.
        read_range_bytes: 1024 * 1024,
        read_ranges_in_flight: 3,
        ..S3Settings::default()
    };
    (settings, env("ARCHIVE_TEST_S3_BUCKET"))
}

/// A fresh, empty database on the PostgreSQL that scripts/test.sh started.
pub async fn fresh_postgres_url() -> String {
    use sqlx::{Connection, Executor};
    let server = env("ARCHIVE_TEST_POSTGRES_URL");
    let name = format!("t_{}", uuid::Uuid::now_v7().simple());
    let mut admin = sqlx::PgConnection::connect(&server).await.expect("PostgreSQL answers");
    admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.expect("creates a database");
    let (base, _) = server.rsplit_once('/').expect("URL has a database");
    format!("{base}/{name}")
}

/// The production pairing runs on S3 + PostgreSQL, the embedded one on the
/// file system + SQLite, so every server test covers both databases too.
pub async fn test_settings(stack: Stack, dir: &std::path::Path) -> Settings {
    let mut settings = Settings::default();
    settings.server.grpc_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    settings.server.gateway_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    settings.server.admin_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    settings.metadata.url = format!("sqlite://{}", dir.join("archive.db").display());
    settings.gateway.key_file = dir.join("gateway.key").display().to_string();
    settings.search.index_dir = dir.join("search").display().to_string();
    settings.search.writer_memory_bytes = archive::config::MIN_WRITER_MEMORY_BYTES;
    settings.server.shutdown_delay_seconds = 0;
    // A poster made in the background after each upload would race the
    // tests that look at a clip's objects: made on request instead (the
    // poster tests turn it on).
    settings.media.poster_at_upload = false;
    // scripts/test.sh runs the article tests again with the article cache
    // off, through the variable that sets it in a spawned archived too.
    if let Ok(bytes) = std::env::var("ARCHIVE__METADATA__ARTICLE_CACHE_BYTES") {
        settings.metadata.article_cache_bytes = bytes.parse().expect("ARCHIVE__METADATA__ARTICLE_CACHE_BYTES: bytes");
    }
    match stack {
        Stack::Embedded => settings.storage.url = format!("file://{}", dir.join("blobs").display()),
        Stack::Production => {
            let (s3, bucket) = s3_settings();
            settings.storage.s3 = s3;
            settings.storage.url = format!("s3://{bucket}");
            settings.metadata.url = fresh_postgres_url().await;
        }
    }
    settings
}

pub struct TestServer {
    pub stack: Stack,
    pub grpc_addr: SocketAddr,
    pub gateway_addr: SocketAddr,
    /// `/metrics`, `/readyz`, `/healthz`.
    pub admin_addr: SocketAddr,
    pub channel: Channel,
    pub dir: TempDir,
    pub archive: archive::domain::Archive,
    pub settings: Settings,
    stop: Option<oneshot::Sender<()>>,
}

impl TestServer {
    pub async fn start(stack: Stack) -> Self {
        Self::start_with(stack, |_| {}).await
    }

    pub async fn start_with(stack: Stack, adjust: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = test_settings(stack, dir.path()).await;
        adjust(&mut settings);
        Self::start_from(stack, settings, dir).await
    }

    /// A server whose storage holds its own objects only (on S3 a bucket of
    /// its own), for tests that read the whole bucket back.
    pub async fn start_isolated(stack: Stack, adjust: impl FnOnce(&mut Settings)) -> Self {
        let bucket = match stack {
            Stack::Production => Some(fresh_bucket().await),
            Stack::Embedded => None,
        };
        Self::start_with(stack, |settings| {
            if let Some(bucket) = bucket {
                settings.storage.url = format!("s3://{bucket}");
            }
            adjust(settings);
        })
        .await
    }

    /// Settings over this server's storage with a new, empty metadata
    /// database (reindex tests), and the directory that must outlive them.
    pub async fn with_fresh_database(&self) -> (Settings, TempDir) {
        let mut settings = self.settings.clone();
        let dir = tempfile::tempdir().expect("temp dir");
        settings.search.index_dir = dir.path().join("search").display().to_string();
        settings.metadata.url = match self.stack {
            Stack::Embedded => format!("sqlite://{}", dir.path().join("rebuilt.db").display()),
            Stack::Production => fresh_postgres_url().await,
        };
        (settings, dir)
    }

    /// A server on exactly these settings; `dir` lives as long as it does.
    pub async fn start_from(stack: Stack, settings: Settings, dir: TempDir) -> Self {
        archive::app::telemetry::init();
        let app = Application::build(settings.clone()).await.expect("server builds");
        let (grpc_addr, gateway_addr, admin_addr) = (app.grpc_addr(), app.gateway_addr(), app.admin_addr());
        let archive = app.archive().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        let channel = archive::client::connect(&format!("http://{grpc_addr}")).await.expect("server answers");
        Self { stack, grpc_addr, gateway_addr, admin_addr, channel, dir, archive, settings, stop: Some(stop) }
    }

    pub fn articles(&self) -> ArticleServiceClient<Channel> {
        ArticleServiceClient::new(self.channel.clone())
    }

    pub fn metadata(&self) -> MetadataServiceClient<Channel> {
        MetadataServiceClient::new(self.channel.clone())
    }

    pub fn media(&self) -> MediaServiceClient<Channel> {
        archive::client::media_client(self.channel.clone())
    }

    pub fn blob_root(&self) -> PathBuf {
        self.dir.path().join("blobs")
    }

    /// Uploads `data` as `filename` the way archivectl does.
    pub async fn upload(&self, filename: &str, data: Vec<u8>) -> Result<pb::Media, tonic::Status> {
        self.upload_with_id(filename, "", data).await
    }

    pub async fn upload_with_id(
        &self,
        filename: &str,
        media_id: &str,
        data: Vec<u8>,
    ) -> Result<pb::Media, tonic::Status> {
        let header = pb::UploadHeader {
            filename: filename.into(),
            content_type: String::new(),
            media_id: media_id.into(),
            ..Default::default()
        };
        let messages = upload_messages(header, std::io::Cursor::new(data), |_| {});
        Ok(self.media().upload_media(messages).await?.into_inner().media.expect("media in response"))
    }

    /// Every byte of a clip through ReadMedia.
    pub async fn read_all(&self, name: &str, offset: i64, limit: i64) -> Result<Vec<u8>, tonic::Status> {
        let request = pb::ReadMediaRequest { name: name.into(), offset, limit };
        let mut stream = self.media().read_media(request).await?.into_inner();
        let mut data = Vec::new();
        while let Some(chunk) = stream.message().await? {
            assert_eq!(chunk.offset as usize, offset as usize + data.len(), "chunk offsets are contiguous");
            data.extend_from_slice(&chunk.data);
        }
        Ok(data)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Deterministic pseudo-random bytes (xorshift), so large uploads are not
/// trivially compressible and failures are reproducible.
pub fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut data = Vec::with_capacity(len + 8);
    while data.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data.extend_from_slice(&state.to_le_bytes());
    }
    data.truncate(len);
    data
}

/// A client of the test SeaweedFS, to inspect the bucket directly.
pub async fn s3_client() -> (aws_sdk_s3::Client, String) {
    let (settings, bucket) = s3_settings();
    let store = archive::blob::S3BlobStore::connect(&settings, &bucket).await.expect("s3 client");
    (store.client().clone(), bucket)
}

/// A new empty bucket on the test SeaweedFS, for tests that read a whole bucket.
pub async fn fresh_bucket() -> String {
    let (client, _) = s3_client().await;
    let bucket = format!("t-{}", uuid::Uuid::now_v7().simple());
    client.create_bucket().bucket(&bucket).send().await.expect("creates a bucket");
    bucket
}

/// Objects whose key starts with `prefix`, and open multipart uploads there.
pub async fn s3_leftovers(prefix: &str) -> (Vec<String>, Vec<String>) {
    let (client, bucket) = s3_client().await;
    let objects = client.list_objects_v2().bucket(&bucket).prefix(prefix).send().await.expect("list objects");
    let uploads = client.list_multipart_uploads().bucket(&bucket).prefix(prefix).send().await.expect("list uploads");
    (
        objects.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect(),
        uploads.uploads().iter().filter_map(|u| u.key().map(str::to_owned)).collect(),
    )
}

/// Files under a directory tree (relative paths).
pub fn files_under(root: &std::path::Path) -> Vec<String> {
    fn walk(dir: &std::path::Path, root: &std::path::Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, root, out);
            } else {
                out.push(path.strip_prefix(root).unwrap_or(&path).display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out
}

/// What is left of a clip's bytes (stored or half-written) for `media_id`.
pub async fn leftovers_of(server: &TestServer, media_id: &str) -> Vec<String> {
    match server.stack {
        Stack::Embedded => {
            let root = server.blob_root();
            let mut left: Vec<String> = files_under(&root.join("media").join(media_id))
                .into_iter()
                .map(|f| format!("media/{media_id}/{f}"))
                .collect();
            left.extend(files_under(&root.join(".uploads")).into_iter().map(|f| format!(".uploads/{f}")));
            left
        }
        Stack::Production => {
            let (objects, uploads) = s3_leftovers(&format!("media/{media_id}/")).await;
            objects.into_iter().chain(uploads.into_iter().map(|u| format!("open multipart upload {u}"))).collect()
        }
    }
}

/// Asserts that nothing of `media_id`'s bytes is left. A staging file under
/// `.uploads` carries no clip id, so one written meanwhile for another clip
/// (a storyboard made in the background) is waited out; a real leftover stays
/// and fails after the deadline.
pub async fn assert_nothing_left(server: &TestServer, media_id: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let left = leftovers_of(server, media_id).await;
        if left.is_empty() {
            return;
        }
        let in_flight = left.iter().all(|key| key.starts_with(".uploads/"));
        if !in_flight || std::time::Instant::now() > deadline {
            panic!("bytes left for {media_id}: {left:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Runs each listed async test fn on both stacks ([`Stack`]).
#[macro_export]
macro_rules! on_both_stacks {
    ($($test:ident),* $(,)?) => {
        mod embedded_stack {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test($crate::common::Stack::Embedded).await;
                }
            )*
        }
        mod production_stack {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    $crate::skip_without!(S3, POSTGRES);
                    super::$test($crate::common::Stack::Production).await;
                }
            )*
        }
    };
}

/// A running `archived` process, killed on drop.
pub struct Archived {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT` of its gRPC server.
    pub grpc: String,
    /// `http://127.0.0.1:PORT` of its media gateway.
    pub gateway: String,
    /// `http://127.0.0.1:PORT` of its admin listener (`/metrics`, `/readyz`).
    pub admin: String,
}

impl Archived {
    /// Waits (up to a minute) until its search index holds every change
    /// committed so far, as its `/metrics` say.
    pub async fn search_caught_up(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let metrics = reqwest::get(format!("{}/metrics", self.admin)).await.unwrap().text().await.unwrap();
            let value =
                |name: &str| metrics.lines().find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok());
            if value("archive_search_index_lag_changes ") == Some(0.0)
                && value("archive_search_index_rebuilding ") == Some(0.0)
            {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "the search index did not catch up:\n{metrics}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Archived {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Archived {
    /// Waits for the process to exit by itself, at most `limit`.
    pub fn wait_exit(&mut self, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("child status") {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        None
    }

    pub async fn channel(&self) -> Channel {
        archive::client::connect(&self.grpc).await.expect("archived answers")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// The gateway signing key (id `shared`) of every [`production_config`].
pub const GATEWAY_KEY: &str = "a secret shared by every replica";

/// Writes `dir/archived.toml` for an archived on the test SeaweedFS and a
/// fresh PostgreSQL database (plus `extra` TOML) and returns the environment
/// that starts it (the S3 secret goes in a variable, not the file).
pub async fn production_config(dir: &std::path::Path, extra: &str) -> Vec<(String, String)> {
    let (s3, bucket) = s3_settings();
    let database = fresh_postgres_url().await;
    let listeners = "grpc_addr = \"127.0.0.1:0\"\ngateway_addr = \"127.0.0.1:0\"";
    let config_path = dir.join("archived.toml");
    std::fs::write(&config_path, archived_toml(listeners, &s3, &bucket, &database, extra)).unwrap();
    let secret = env("ARCHIVE_TEST_S3_SECRET_KEY");
    vec![
        ("ARCHIVE_CONFIG".into(), config_path.display().to_string()),
        ("ARCHIVE__STORAGE__S3__SECRET_ACCESS_KEY".into(), secret),
    ]
}

/// The `archived.toml` of every test that starts the binary on S3 and
/// PostgreSQL: `server` as the body of `[server]`, the objects in `bucket`
/// on the S3 that `s3` names (its endpoint, key id, region and part size;
/// the secret stays out of the file), the metadata in `database`, the
/// gateway key [`GATEWAY_KEY`], then the tables in `extra`.
pub fn archived_toml(server: &str, s3: &S3Settings, bucket: &str, database: &str, extra: &str) -> String {
    format!(
        r#"
[server]
{server}
[storage]
url = "s3://{bucket}"
[storage.s3]
endpoint = "{endpoint}"
access_key_id = "{key}"
region = "{region}"
part_size_bytes = {part_size}
[metadata]
url = "{database}"
[gateway]
keys = [{{ id = "shared", secret = "{GATEWAY_KEY}" }}]
{extra}
"#,
        endpoint = s3.endpoint.as_deref().expect("an S3 endpoint"),
        key = s3.access_key_id.as_deref().expect("an S3 access key id"),
        region = s3.region,
        part_size = s3.part_size_bytes,
    )
}

/// Starts the `archived` binary in `dir` with extra environment variables
/// and reads its addresses from its log. Its listeners take free ports
/// unless `env` says otherwise.
pub fn spawn_archived<K: AsRef<std::ffi::OsStr>, V: AsRef<std::ffi::OsStr>>(
    dir: &std::path::Path,
    env: &[(K, V)],
) -> Archived {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_archived"))
        .current_dir(dir)
        .env("ARCHIVE__SERVER__GRPC_ADDR", "127.0.0.1:0")
        .env("ARCHIVE__SERVER__GATEWAY_ADDR", "127.0.0.1:0")
        .env("ARCHIVE__SERVER__ADMIN_ADDR", "127.0.0.1:0")
        // Each its own search index (replicas may share `dir`), unless `env` names one.
        .env("ARCHIVE__SEARCH__INDEX_DIR", dir.join(format!("search-{}", uuid::Uuid::new_v4())))
        // As in `test_settings`: posters on request, so no background write
        // races what a test looks at (unless `env` says otherwise).
        .env("ARCHIVE__MEDIA__POSTER_AT_UPLOAD", "false")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("archived starts");
    let mut log = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    let mut seen = String::new();
    let field = |line: &str, name: &str| {
        line.split(name).nth(1).and_then(|rest| rest.split_whitespace().next()).map(str::to_owned)
    };
    let (grpc, gateway, admin) = loop {
        line.clear();
        assert!(log.read_line(&mut line).expect("log readable") > 0, "archived exited before serving:\n{seen}");
        seen.push_str(&line);
        if let (Some(grpc), Some(gateway), Some(admin)) =
            (field(&line, "grpc="), field(&line, "gateway="), field(&line, "admin="))
        {
            break (grpc, gateway, admin);
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut log, &mut std::io::sink()));
    Archived {
        child,
        grpc: format!("http://{grpc}"),
        gateway: format!("http://{gateway}"),
        admin: format!("http://{admin}"),
    }
}

/// A TCP proxy on loopback to `target` that a test can cut (every
/// connection dropped, new ones refused) and restore: a backend that goes
/// away and comes back, without stopping the one the other tests share.
pub struct Proxy {
    pub addr: SocketAddr,
    up: tokio::sync::watch::Sender<bool>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (up, _) = tokio::sync::watch::channel(true);
        let watch = up.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { return };
                let mut down = watch.subscribe();
                if !*down.borrow() {
                    continue; // dropped: refused
                }
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = down.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self { addr, up }
    }

    pub fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

/// The address of `url`'s host and port (`http://127.0.0.1:8333`, `postgres://u@127.0.0.1:5432/db`).
pub fn host_port(url: &str) -> SocketAddr {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    let host_port = rest.split(['/', '?']).next().unwrap();
    host_port.parse().unwrap_or_else(|_| panic!("{host_port} is not IP:PORT"))
}
