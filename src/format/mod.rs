//! Formats with no I/O: the article export format and MP4 parsing. The
//! stores and the domain use them; they use nothing above [`crate::error`].

pub mod export;
pub mod mp4;
