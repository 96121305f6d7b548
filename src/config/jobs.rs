//! The background work's settings: retention and the sweep, fixity
//! audits, the change feed.

use serde::{Deserialize, Serialize};

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
