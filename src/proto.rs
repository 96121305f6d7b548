//! Code generated from `proto/archive/v1` by `build.rs`.
#![allow(clippy::all, clippy::pedantic, missing_docs)]

/// Package `archive.v1`.
pub mod v1 {
    tonic::include_proto!("archive.v1");
    include!(concat!(env!("OUT_DIR"), "/archive.v1.serde.rs"));
}

/// Encoded `FileDescriptorSet` of every archive proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("archive_descriptor");
