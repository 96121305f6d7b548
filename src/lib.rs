//! archive: a gRPC archive for news articles and their video clips.
//!
//! Bytes live in a [`blob::BlobStore`] (local file system or any S3), facts in a
//! [`metadata::MetadataStore`] (SQLite by default, PostgreSQL in production), playback goes through signed URLs.
//! [`app::Application`] wires them together and serves gRPC plus the HTTP media
//! gateway.

pub mod app;
pub mod archive;
pub mod blob;
pub mod client;
pub mod config;
pub mod convert;
pub mod error;
pub mod export;
pub mod gateway;
pub mod ids;
pub mod manifest;
pub mod metadata;
pub mod mp4;
pub mod proto;
pub mod reindex;
pub mod search;
pub mod service;
pub mod signing;
pub mod telemetry;

pub use error::{ArchiveError, ErrorKind, Result};
