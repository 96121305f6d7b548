//! Where bytes and facts live and how they move: object storage (file
//! system or S3), the metadata database, and clips' limits.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

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
    /// Current revisions of recently read articles (fields and links, no
    /// bodies) kept in memory, in bytes, true to the change feed; 0 turns
    /// the cache off.
    pub article_cache_bytes: u64,
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
    /// Where a clip's poster is taken from (the first frame near it that
    /// is not blank).
    pub poster_time_ms: u64,
    /// Make the poster in the background after an upload (else on its
    /// first request).
    pub poster_at_upload: bool,
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
        Self {
            url: "sqlite://./data/archive.db".into(),
            max_connections: 8,
            view_flush_interval_seconds: 60,
            article_cache_bytes: 16 * 1024 * 1024,
        }
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
            poster_time_ms: 1000,
            poster_at_upload: true,
            max_concurrent_uploads: 16,
            upload_session_ttl_seconds: 24 * 3600,
            upload_janitor_interval_seconds: 300,
            max_one_shot_upload_seconds: 12 * 3600,
            upload_idle_timeout_seconds: 300,
        }
    }
}
