//! archive: a gRPC archive for news articles and their video clips.
//!
//! Bytes live in a [`blob::BlobStore`] (local file system or any S3), facts in a
//! [`metadata::MetadataStore`] (SQLite by default, PostgreSQL in production),
//! playback goes through signed URLs. [`app::Application`] wires them together
//! and serves gRPC plus the HTTP media gateway.
//!
//! The modules are layers; each uses only those below it:
//!
//! | layer | modules |
//! | --- | --- |
//! | wiring | [`app`] (startup, background jobs, telemetry) |
//! | handlers | [`service`] (gRPC), [`gateway`] (HTTP playback) |
//! | domain | [`domain`] (what each RPC does, uploads, search policy, manifests, signing) |
//! | stores | [`blob`] (bytes), [`metadata`] (facts) |
//! | formats | [`format`] (the export format, MP4 parsing: pure, no I/O) |
//! | foundation | [`error`], [`ids`], [`config`], [`metrics`], [`proto`] |
//!
//! [`client`] is the other side: the gRPC client `archivectl` is built on.

pub mod app;
pub mod blob;
pub mod client;
pub mod config;
pub mod domain;
pub mod error;
pub mod format;
pub mod gateway;
pub mod ids;
pub mod metadata;
pub mod metrics;
pub mod proto;
pub mod search;
pub mod service;

pub use error::{ArchiveError, ErrorKind, Result};
