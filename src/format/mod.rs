//! Formats with no I/O: the article export format, MP4 parsing, Unicode
//! normal forms of field values (`forms`), the media types stored and
//! served (`media_type`). The
//! stores and the domain use them; they use nothing above [`crate::error`].

pub mod captions;
pub mod export;
pub mod forms;
pub mod media_type;
pub mod mp4;
pub mod picture;
