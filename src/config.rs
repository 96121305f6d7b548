//! Layered, typed configuration: built-in defaults, then an optional TOML
//! file, then `ARCHIVE__SECTION__KEY` environment variables. Unknown keys are
//! refused; secrets are redacted in `Debug`.

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::{net::SocketAddr, path::Path};

/// Environment variable prefix: `ARCHIVE__STORAGE__URL=s3://bucket`.
pub const ENV_PREFIX: &str = "ARCHIVE__";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSettings,
    pub storage: StorageSettings,
    pub metadata: MetadataSettings,
    pub media: MediaSettings,
    pub gateway: GatewaySettings,
    pub retention: RetentionSettings,
    pub fixity: FixitySettings,
    pub changes: ChangeSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `text` (default) or `json` (one object per line). The level is
    /// `RUST_LOG`'s (default `info`).
    pub format: LogFormat,
    /// OTLP/gRPC collector that receives traces (`http://collector:4317`);
    /// none when unset. Each call's span continues the caller's W3C
    /// `traceparent`.
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the exported spans.
    pub otlp_service_name: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self { format: LogFormat::default(), otlp_endpoint: None, otlp_service_name: "archived".into() }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// TOML file of the clients' token digests and scopes (`archivectl token
    /// new` prints entries); re-read on SIGHUP. Unset: auth is off.
    pub tokens_file: Option<String>,
    /// Calls per second each token (each name) may make; 0: no limit.
    /// With auth off all callers share one budget.
    pub requests_per_second: u32,
    /// Calls a token may make at once above its rate (0: the rate).
    pub burst: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// gRPC listen address; port 0 picks a free port.
    pub grpc_addr: SocketAddr,
    /// HTTP media gateway listen address; port 0 picks a free port.
    pub gateway_addr: SocketAddr,
    /// Base URL of the gateway as viewers reach it; the bound address when unset.
    pub gateway_public_url: Option<String>,
    /// Operators' HTTP listener: `/metrics`, `/readyz` and `/healthz`
    /// (the gateway serves media and `/healthz` only); port 0 picks a free
    /// port. Keep it off the viewers' network.
    pub admin_addr: SocketAddr,
    /// A new connection on any port must send its opening within this:
    /// the HTTP/2 preface, or its first HTTP/1.1 request head. On the
    /// gateway and the admin port every later request head too, and a
    /// keep-alive connection idle this long is closed.
    pub header_read_timeout_seconds: u64,
    /// HTTP/2 connections (both ports) are pinged this often…
    pub http2_keepalive_interval_seconds: u64,
    /// …and closed when a ping is not answered within this.
    pub http2_keepalive_timeout_seconds: u64,
    /// Largest gRPC message accepted (bytes); bounds a chunk's size.
    pub max_message_bytes: usize,
    /// Concurrent requests per connection.
    pub concurrency_limit_per_connection: usize,
    /// Concurrent HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// How often object storage and the database are checked for
    /// readiness (grpc.health, `/readyz`); 0: never.
    pub readiness_interval_seconds: u64,
    /// On SIGTERM: how long health says NOT_SERVING while new connections
    /// are still taken, so load balancers notice first.
    pub shutdown_delay_seconds: u64,
    /// Then: how long calls in flight may take to finish before upload
    /// streams are ended (UNAVAILABLE, resumable) and the rest cut.
    pub shutdown_deadline_seconds: u64,
    /// Calls of the three services in flight at once, all connections
    /// together (streams until their last byte); 0: no limit. Each may be
    /// a ReadMedia stream whose reader stopped, holding about two chunks
    /// (`app::connections::stalled_read_stream_bytes`): 192 keeps the
    /// worst case within deploy/kubernetes' 1536 MiB (docs/operations.md).
    pub max_in_flight_requests: usize,
    /// Longest a unary call may take (a client's shorter grpc-timeout is
    /// honoured too); 0: no ceiling.
    pub unary_timeout_seconds: u64,
    /// gRPC-Web (HTTP/1.1 and HTTP/2) on the gRPC port too, for browser
    /// tools: same services, same tokens; pages of the gateway's
    /// `cors_allowed_origins` may call it. Off by default: with auth off
    /// and any origin allowed, any page a user opens could call it.
    pub grpc_web: bool,
    pub tls: TlsSettings,
}

/// TLS on the gRPC port (rustls). The gateway stays plain HTTP: put it
/// behind the ingress that terminates TLS for viewers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    /// PEM certificate chain of the server; with `key_file`, TLS is on.
    pub cert_file: Option<String>,
    /// PEM private key of that certificate.
    pub key_file: Option<String>,
    /// PEM CA certificates; when set, clients must present a certificate
    /// they signed (mutual TLS).
    pub client_ca_file: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSettings {
    /// `file://DIR` (relative paths allowed) or `s3://BUCKET`.
    pub url: String,
    /// Recent article bodies kept in memory for full-view reads (0: none).
    pub body_cache_bytes: u64,
    pub s3: S3Settings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Settings {
    /// Endpoint of an S3-compatible store; AWS when unset.
    pub endpoint: Option<String>,
    pub region: String,
    /// Static credentials; the AWS default chain when unset.
    pub access_key_id: Option<String>,
    #[serde(skip_serializing)]
    pub secret_access_key: Option<SecretString>,
    /// Endpoint viewers use for presigned URLs; `endpoint` when unset.
    pub public_endpoint: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), needed by most non-AWS stores.
    pub force_path_style: bool,
    /// Size of each multipart part; S3 requires at least 5 MiB except the last.
    pub part_size_bytes: usize,
    /// Parts uploaded concurrently per upload; memory ≈ part size × (this + 1).
    pub parts_in_flight: usize,
    /// Reads longer than this go out as ranged GETs of this size, several at once.
    pub read_range_bytes: usize,
    /// Ranged GETs in flight per read (1: one GET per read).
    pub read_ranges_in_flight: usize,
    /// Bytes all reads together may hold ahead of their readers (0, or at
    /// least one range); a read that finds them spent asks for the rest in
    /// one GET.
    pub read_ahead_bytes: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataSettings {
    /// `sqlite://PATH` (created when missing).
    pub url: String,
    /// Connections of the read pool; PostgreSQL has a write pool of the
    /// same size beside it, SQLite one writer.
    pub max_connections: u32,
    /// How often view counts that moved are written to the article
    /// manifests (and at shutdown); 0 only at shutdown.
    pub view_flush_interval_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaSettings {
    /// Largest ReadMedia chunk (and gateway body frame), and the size of
    /// file reads; S3 bodies pass in the pieces their HTTP client read.
    pub chunk_size_bytes: usize,
    pub default_playback_ttl_seconds: u64,
    /// Upper bound of a playback URL's lifetime (S3 allows 7 days at most).
    pub max_playback_ttl_seconds: u64,
    /// Largest clip accepted.
    pub max_upload_bytes: u64,
    /// Largest `moov` box (MP4 metadata) held in memory to probe a clip.
    pub max_moov_bytes: u64,
    /// Uploads in progress at once per server; more get RESOURCE_EXHAUSTED.
    /// With the S3 part buffers this bounds upload memory.
    pub max_concurrent_uploads: usize,
    /// A resumable upload left idle this long is discarded.
    pub upload_session_ttl_seconds: u64,
    /// How often expired resumable uploads are looked for; 0 disables it.
    pub upload_janitor_interval_seconds: u64,
    /// Longest a one-shot `UploadMedia` stream may take; longer uploads go
    /// resumable (`StartUpload`). At most half of
    /// `retention.unreferenced_grace_seconds`, so that the sweep never takes
    /// an upload still on its way for one a crash left behind.
    pub max_one_shot_upload_seconds: u64,
    /// An upload stream that sends nothing for this long is ended
    /// (DEADLINE_EXCEEDED; a resumable one can be resumed); 0: never.
    pub upload_idle_timeout_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySettings {
    /// HMAC keys for playback URLs: the first signs, every one verifies.
    /// When empty, a key is generated once into `key_file`.
    pub keys: Vec<SigningKeySettings>,
    pub key_file: String,
    /// Origins whose pages may read clips cross-origin (`*`: any).
    pub cors_allowed_origins: Vec<String>,
    /// Longest a media request may take to its response headers (504
    /// after); the body then streams at the viewer's pace.
    pub request_timeout_seconds: u64,
    /// Media requests handled at once; more wait their turn.
    pub max_concurrent_requests: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    /// How long a deleted article stays restorable before it is purged.
    pub deleted_retention_seconds: u64,
    /// How often the purge runs; 0 disables it.
    pub purge_interval_seconds: u64,
    /// Age after which an object that no record and no manifest names (left
    /// by a crash between its bytes and its commit) is deleted; at least a
    /// day, so that no write still in progress can lose its bytes.
    pub unreferenced_grace_seconds: u64,
    /// How often the sweep of such objects runs (and once at start); 0 disables it.
    pub sweep_interval_seconds: u64,
}

/// The shortest grace period a sweep may be configured with.
pub const MIN_UNREFERENCED_GRACE_SECONDS: u64 = 24 * 3600;

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            deleted_retention_seconds: 30 * 24 * 3600,
            purge_interval_seconds: 3600,
            unreferenced_grace_seconds: 7 * 24 * 3600,
            sweep_interval_seconds: 24 * 3600,
        }
    }
}

/// Fixity audits: stored objects re-read and compared with their records
/// (docs/operations.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FixitySettings {
    /// How often the scheduled audit runs, first one interval after start;
    /// 0 (the default) disables it. Enable it on one replica.
    pub interval_seconds: u64,
    /// Fraction of the objects each scheduled audit checks, picked at
    /// random, in (0, 1].
    pub sample_fraction: f64,
    /// Read rate ceiling of any audit, scheduled or asked for over gRPC.
    pub bytes_per_second: u64,
}

impl Default for FixitySettings {
    fn default() -> Self {
        Self { interval_seconds: 0, sample_fraction: 1.0, bytes_per_second: 32 * 1024 * 1024 }
    }
}

/// The change feed (WatchChanges; docs/operations.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChangeSettings {
    /// How long changes are kept for consumers to catch up; the
    /// `change_feed` job prunes older ones, and a cursor behind them must resync.
    pub retention_seconds: u64,
    /// How often a caught-up stream looks for changes when no commit woke
    /// it (a notification from another replica can be lost).
    pub poll_interval_ms: u64,
}

impl Default for ChangeSettings {
    fn default() -> Self {
        Self { retention_seconds: 7 * 24 * 3600, poll_interval_ms: 1000 }
    }
}

impl ChangeSettings {
    pub fn retention(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.retention_seconds)
    }
}

/// The slowest and fastest read rates an audit may be given.
pub const FIXITY_BYTES_PER_SECOND: std::ops::RangeInclusive<u64> = 64 * 1024..=u32::MAX as u64;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKeySettings {
    pub id: String,
    #[serde(skip_serializing)]
    pub secret: SecretString,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
            gateway_addr: SocketAddr::from(([127, 0, 0, 1], 50052)),
            gateway_public_url: None,
            admin_addr: SocketAddr::from(([127, 0, 0, 1], 50053)),
            header_read_timeout_seconds: 10,
            http2_keepalive_interval_seconds: 30,
            http2_keepalive_timeout_seconds: 20,
            max_message_bytes: 8 * 1024 * 1024,
            concurrency_limit_per_connection: 256,
            max_concurrent_streams: 256,
            readiness_interval_seconds: 5,
            shutdown_delay_seconds: 5,
            shutdown_deadline_seconds: 30,
            max_in_flight_requests: 192,
            unary_timeout_seconds: 30,
            grpc_web: false,
            tls: TlsSettings::default(),
        }
    }
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self { url: "file://./data/blobs".into(), body_cache_bytes: 64 * 1024 * 1024, s3: S3Settings::default() }
    }
}

impl Default for S3Settings {
    fn default() -> Self {
        Self {
            endpoint: None,
            region: "us-east-1".into(),
            access_key_id: None,
            secret_access_key: None,
            public_endpoint: None,
            force_path_style: true,
            part_size_bytes: 16 * 1024 * 1024,
            parts_in_flight: 2,
            read_range_bytes: 8 * 1024 * 1024,
            read_ranges_in_flight: 2,
            read_ahead_bytes: 64 * 1024 * 1024,
        }
    }
}

impl Default for MetadataSettings {
    fn default() -> Self {
        Self { url: "sqlite://./data/archive.db".into(), max_connections: 8, view_flush_interval_seconds: 60 }
    }
}

impl Default for MediaSettings {
    fn default() -> Self {
        Self {
            chunk_size_bytes: 1024 * 1024,
            default_playback_ttl_seconds: 3600,
            max_playback_ttl_seconds: 7 * 24 * 3600,
            max_upload_bytes: 64 * 1024 * 1024 * 1024,
            max_moov_bytes: 64 * 1024 * 1024,
            max_concurrent_uploads: 16,
            upload_session_ttl_seconds: 24 * 3600,
            upload_janitor_interval_seconds: 300,
            max_one_shot_upload_seconds: 12 * 3600,
            upload_idle_timeout_seconds: 300,
        }
    }
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            key_file: "./data/gateway.key".into(),
            cors_allowed_origins: vec!["*".into()],
            request_timeout_seconds: 30,
            max_concurrent_requests: 512,
        }
    }
}

impl Settings {
    /// Defaults, then `file` (when given), then `ARCHIVE__…` variables.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            anyhow::ensure!(file.exists(), "config file {} does not exist", file.display());
            figment = figment.merge(Toml::file(file));
        }
        let settings: Settings = figment.merge(Env::prefixed(ENV_PREFIX).split("__")).extract()?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        let server = &self.server;
        for (name, seconds) in [
            ("header_read_timeout_seconds", server.header_read_timeout_seconds),
            ("http2_keepalive_interval_seconds", server.http2_keepalive_interval_seconds),
            ("http2_keepalive_timeout_seconds", server.http2_keepalive_timeout_seconds),
        ] {
            anyhow::ensure!((1..=3600).contains(&seconds), "server.{name} must be within 1..3600, got {seconds}");
        }
        let tls = &self.server.tls;
        anyhow::ensure!(
            tls.cert_file.is_some() == tls.key_file.is_some(),
            "server.tls.cert_file and server.tls.key_file go together"
        );
        anyhow::ensure!(
            tls.client_ca_file.is_none() || tls.cert_file.is_some(),
            "server.tls.client_ca_file needs server.tls.cert_file and key_file"
        );
        // S3: every part but the last must be at least 5 MiB, at most 5 GiB.
        const S3_MIN_PART: usize = 5 * 1024 * 1024;
        const S3_MAX_PART: usize = 5 * 1024 * 1024 * 1024;
        let part = self.storage.s3.part_size_bytes;
        anyhow::ensure!(
            (S3_MIN_PART..=S3_MAX_PART).contains(&part),
            "storage.s3.part_size_bytes must be within 5 MiB..5 GiB, got {part}"
        );
        anyhow::ensure!(self.storage.s3.parts_in_flight >= 1, "storage.s3.parts_in_flight must be at least 1");
        let range = self.storage.s3.read_range_bytes;
        anyhow::ensure!(
            (64 * 1024..=1024 * 1024 * 1024).contains(&range),
            "storage.s3.read_range_bytes must be within 64 KiB..1 GiB, got {range}"
        );
        let in_flight = self.storage.s3.read_ranges_in_flight;
        anyhow::ensure!(
            (1..=64).contains(&in_flight),
            "storage.s3.read_ranges_in_flight must be within 1..64, got {in_flight}"
        );
        let ahead = self.storage.s3.read_ahead_bytes;
        anyhow::ensure!(
            ahead == 0 || ahead >= range,
            "storage.s3.read_ahead_bytes must be 0 (no read-ahead) or at least read_range_bytes ({range}), got {ahead}"
        );
        let chunk = self.media.chunk_size_bytes;
        anyhow::ensure!(
            chunk >= 4096 && chunk + 1024 <= self.server.max_message_bytes,
            "media.chunk_size_bytes must be at least 4096 and below server.max_message_bytes"
        );
        anyhow::ensure!(
            self.retention.unreferenced_grace_seconds >= MIN_UNREFERENCED_GRACE_SECONDS,
            "retention.unreferenced_grace_seconds must be at least {MIN_UNREFERENCED_GRACE_SECONDS} (a day)"
        );
        let one_shot = self.media.max_one_shot_upload_seconds;
        anyhow::ensure!(
            one_shot >= 1 && one_shot.saturating_mul(2) <= self.retention.unreferenced_grace_seconds,
            "media.max_one_shot_upload_seconds must be at least 1 and at most half of \
             retention.unreferenced_grace_seconds"
        );
        let fraction = self.fixity.sample_fraction;
        anyhow::ensure!(
            fraction > 0.0 && fraction <= 1.0,
            "fixity.sample_fraction must be within (0, 1], got {fraction}"
        );
        let rate = self.fixity.bytes_per_second;
        anyhow::ensure!(
            FIXITY_BYTES_PER_SECOND.contains(&rate),
            "fixity.bytes_per_second must be within {}..{}, got {rate}",
            FIXITY_BYTES_PER_SECOND.start(),
            FIXITY_BYTES_PER_SECOND.end()
        );
        let poll = self.changes.poll_interval_ms;
        anyhow::ensure!((10..=60_000).contains(&poll), "changes.poll_interval_ms must be within 10..60000, got {poll}");
        anyhow::ensure!(self.changes.retention_seconds >= 60, "changes.retention_seconds must be at least 60");
        anyhow::ensure!(
            self.media.max_playback_ttl_seconds <= 7 * 24 * 3600,
            "media.max_playback_ttl_seconds is at most 7 days (the S3 presign limit)"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API
    fn file_and_env_override_defaults_and_unknown_keys_fail() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "archive.toml",
                "[storage]\nurl = \"s3://clips\"\n[storage.s3]\nsecret_access_key = \"hunter2\"\n",
            )?;
            jail.set_env("ARCHIVE__METADATA__URL", "sqlite:///tmp/x.db");
            let settings = Settings::load(Some(Path::new("archive.toml"))).expect("loads");
            assert_eq!(settings.storage.url, "s3://clips");
            assert_eq!(settings.metadata.url, "sqlite:///tmp/x.db");
            assert_eq!(settings.server.grpc_addr.port(), 50051);
            let secret = settings.storage.s3.secret_access_key.as_ref().expect("secret");
            assert_eq!(secret.expose_secret(), "hunter2");
            assert!(!format!("{settings:?}").contains("hunter2"), "secret leaked into Debug");

            let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/archived.example.toml");
            Settings::load(Some(&example)).expect("the example config is valid");

            jail.set_env("ARCHIVE__STORAGE__BUCKIT", "typo");
            assert!(Settings::load(None).is_err(), "unknown key accepted");
            Ok(())
        });
    }

    /// The example's values are the defaults (its examples are commented
    /// out), so what it documents is what archived does without it.
    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail closure returns its own error
    fn the_example_config_documents_the_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/archived.example.toml");
            let loaded = Settings::load(Some(&example)).expect("the example config is valid");
            let json = |s: &Settings| serde_json::to_value(s).unwrap();
            assert_eq!(json(&loaded), json(&Settings::default()), "deploy/archived.example.toml drifted");
            Ok(())
        });
    }

    #[test]
    fn ranged_read_settings_are_checked() {
        Settings::default().validate().expect("the defaults are valid");
        let refused = |adjust: &dyn Fn(&mut S3Settings)| {
            let mut settings = Settings::default();
            adjust(&mut settings.storage.s3);
            settings.validate().map_err(|e| e.to_string())
        };
        let error = refused(&|s3| s3.read_range_bytes = 1000).expect_err("a tiny range");
        assert!(error.contains("read_range_bytes"), "{error}");
        for in_flight in [0, 65] {
            let error = refused(&|s3| s3.read_ranges_in_flight = in_flight).expect_err("in flight out of bounds");
            assert!(error.contains("read_ranges_in_flight"), "{in_flight}: {error}");
        }
        let error = refused(&|s3| s3.read_ahead_bytes = 1024 * 1024).expect_err("read-ahead below one range");
        assert!(error.contains("read_ahead_bytes"), "{error}");
        refused(&|s3| s3.read_ahead_bytes = 0).expect("0 turns read-ahead off");
    }
}
