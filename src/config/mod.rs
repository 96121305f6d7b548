//! Layered, typed configuration: built-in defaults, then an optional TOML
//! file, then `ARCHIVE__SECTION__KEY` environment variables. Unknown keys are
//! refused; secrets are redacted in `Debug`.

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

mod jobs;
mod search;
mod server;
mod storage;

pub use jobs::*;
pub use search::*;
pub use server::*;
use std::path::Path;
pub use storage::*;

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
    pub search: SearchSettings,
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
        let writer = self.search.writer_memory_bytes;
        anyhow::ensure!(
            writer >= MIN_WRITER_MEMORY_BYTES,
            "search.writer_memory_bytes must be at least {MIN_WRITER_MEMORY_BYTES} (15 MiB), got {writer}"
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
