//! Formats with no I/O: the article export format, MP4 parsing, Unicode
//! normal forms of field values (`forms`). The
//! stores and the domain use them; they use nothing above [`crate::error`].

pub mod export;
pub mod forms;
pub mod mp4;
