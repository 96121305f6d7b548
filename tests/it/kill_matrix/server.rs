//! The archived under test: the real binary on SeaweedFS and PostgreSQL of
//! the test's own, on fixed ports so clients reconnect to it after every
//! SIGKILL, its log appended to one file across restarts.

use crate::common::{self, services};
use archive::{config::Settings, proto::v1 as pb};
use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub struct Server {
    dir: tempfile::TempDir,
    grpc_port: u16,
    secret: String,
    child: Option<Child>,
    pub starts: usize,
}

impl Server {
    pub fn new(weed: &services::Seaweed, database: &str, session_ttl_seconds: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (grpc_port, gateway_port) = (services::free_port(), services::free_port());
        let server = format!(
            r#"grpc_addr = "127.0.0.1:{grpc_port}"
gateway_addr = "127.0.0.1:{gateway_port}"
admin_addr = "127.0.0.1:0"
shutdown_delay_seconds = 0"#
        );
        let extra = format!(
            r#"[media]
upload_session_ttl_seconds = {session_ttl_seconds}
upload_janitor_interval_seconds = 1
[retention]
sweep_interval_seconds = 0"#
        );
        let config = common::archived_toml(&server, &weed.s3_settings(), &weed.bucket, database, &extra);
        std::fs::write(dir.path().join("archived.toml"), config).unwrap();
        Self { dir, grpc_port, secret: weed.secret_key.clone(), child: None, starts: 0 }
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("archived.toml")
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// The same settings for an archive in this process (no listeners of
    /// the server's, no background jobs).
    pub fn in_process_settings(&self) -> Settings {
        let mut settings = Settings::load(Some(&self.config_path())).expect("config loads");
        settings.storage.s3.secret_access_key = Some(self.secret.clone().into());
        settings.server.grpc_addr = "127.0.0.1:0".parse().unwrap();
        settings.server.gateway_addr = "127.0.0.1:0".parse().unwrap();
        settings.server.admin_addr = "127.0.0.1:0".parse().unwrap();
        // Its own index: the spawned archived holds the one in its directory.
        settings.search.index_dir = self.dir.path().join("in-process-search").display().to_string();
        settings
    }

    fn spawn(&mut self) {
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("archived.log")).unwrap();
        self.starts += 1;
        let child = Command::new(env!("CARGO_BIN_EXE_archived"))
            .current_dir(self.dir.path())
            .env("ARCHIVE_CONFIG", self.config_path())
            .env("ARCHIVE__STORAGE__S3__SECRET_ACCESS_KEY", &self.secret)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("archived starts");
        self.child = Some(child);
    }

    /// Starts archived and waits until it answers a call that reads the
    /// database; starts it again if it exits first.
    pub async fn start(&mut self) {
        assert!(self.child.is_none(), "archived already runs");
        self.spawn();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                assert!(Instant::now() < deadline, "archived keeps exiting ({status}): {}", self.log_tail(40));
                tokio::time::sleep(Duration::from_millis(200)).await;
                self.spawn();
                continue;
            }
            if self.answers().await {
                return;
            }
            assert!(Instant::now() < deadline, "archived not serving after 60 s: {}", self.log_tail(40));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn answers(&self) -> bool {
        let Ok(channel) = archive::client::connect(&self.url()).await else { return false };
        let mut client = pb::metadata_service_client::MetadataServiceClient::new(channel);
        let call = client.list_media(pb::ListMediaRequest { page_size: 1, page_token: String::new() });
        matches!(tokio::time::timeout(Duration::from_secs(2), call).await, Ok(Ok(_)))
    }

    /// SIGKILL: no shutdown, no flush, as a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("archived.log")).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let kept = std::env::temp_dir().join(format!("kill-matrix-archived-{}.log", std::process::id()));
            if std::fs::copy(self.dir.path().join("archived.log"), &kept).is_ok() {
                eprintln!("archived's log (every start): {}", kept.display());
            }
        }
    }
}
