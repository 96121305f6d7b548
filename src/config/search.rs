//! The search index's settings.

use serde::{Deserialize, Serialize};

/// Each replica's search index (docs/design.md, "Search"): derived from
/// the database, rebuilt from it when missing, so it may live on a
/// replica's ephemeral disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchSettings {
    /// Directory of the index; one per replica (two archived must not share one).
    pub index_dir: String,
    /// Memory the index writer buffers before it writes a segment (at least 15 MiB).
    pub writer_memory_bytes: usize,
}

/// The least memory tantivy's writer takes per thread.
pub const MIN_WRITER_MEMORY_BYTES: usize = 15 * 1024 * 1024;

impl Default for SearchSettings {
    fn default() -> Self {
        Self { index_dir: "./data/search".into(), writer_memory_bytes: 32 * 1024 * 1024 }
    }
}
