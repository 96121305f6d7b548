//! Uploads, one module: a stream's writing (`stream`), its rules
//! (`receive`) and its commit once finished (`commit`: shared bytes, the
//! MP4 probe and rendition, the record), resumable sessions that outlive
//! a stream (`session`), one-time upload URLs that start one (`grant`),
//! and the claims
//! that keep two streams of this process off one upload (`claims`).
//! `stream` knows nothing of sessions but their record; `session` opens
//! streams; neither points back. `tail` holds what tus adds to a stream.

mod claims;
mod commit;
mod grant;
mod receive;
mod session;
mod stream;
mod tail;

pub(crate) use claims::ActiveUploads;
pub use grant::{DEFAULT_URL_TTL, UploadGrant, UploadUrl, UploadUrlRequest};
pub use receive::{Broken, UploadMessage};
pub use session::{StartedUpload, UploadCaller, UploadStatus};
pub use stream::{Declared, MediaUpload};
