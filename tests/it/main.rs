//! The integration suite, one test binary with a module per area (the crate
//! is linked once, not once per file). Every test runs a real server or
//! store on loopback against the file system, SeaweedFS or PostgreSQL that
//! `scripts/test.sh` starts.

#[macro_use]
mod common;

mod article_cache;
mod articles;
mod auth;
mod blob_store;
mod browser;
mod changes;
mod cli;
mod concurrency;
mod console;
mod deploy;
mod fixity;
mod grpc_web;
mod hardening;
mod interop;
mod kill_matrix;
mod media;
mod metadata;
mod moments;
mod operations;
mod reindex;
mod replicas;
mod search;
mod slow_clients;
mod sweep;
mod tls;
mod traces;
