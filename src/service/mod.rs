//! gRPC handlers: each converts its request, calls [`crate::archive::Archive`]
//! and converts the answer. No storage logic lives here.

mod articles;
mod media;
mod metadata;

pub use articles::ArticleGrpc;
pub use media::MediaGrpc;
pub use metadata::MetadataGrpc;
