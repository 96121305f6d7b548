//! gRPC handlers, one file per service: each converts its request
//! ([`convert`]), calls [`crate::domain::Archive`] and converts the answer.
//! No storage logic lives here.

mod article_service;
pub mod auth;
mod convert;
pub mod limits;
mod media_service;
mod metadata_service;
pub mod methods;
pub mod outcome;
pub mod request_id;

pub use article_service::ArticleGrpc;
pub use media_service::MediaGrpc;
pub use metadata_service::MetadataGrpc;
