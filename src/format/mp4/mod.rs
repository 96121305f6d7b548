//! MP4 clips: follow the boxes of a stream or a stored object ([`scan`]), read the
//! metadata with Mozilla's mp4parse ([`probe`]), and plan a faststart
//! rendition with Signal's mp4san ([`faststart`]), and decode the frame
//! shown at a time ([`frames`]). Parsers run on untrusted
//! bytes, so they run off the async threads and a panic is an error.

pub mod faststart;
#[cfg(test)]
mod frame_tests;
pub mod frames;
pub mod probe;
#[cfg(test)]
mod robustness;
pub mod scan;

pub use faststart::FaststartPlan;
pub use probe::Mp4Info;
pub use scan::{Layout, Scanner};

/// Runs a parser on a blocking thread, turning a panic into an error.
pub(crate) async fn run_parser<T: Send + 'static>(
    parse: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(move || std::panic::catch_unwind(std::panic::AssertUnwindSafe(parse))).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err("the MP4 parser failed on this file".into()),
        Err(error) => Err(format!("the MP4 parser did not finish: {error}")),
    }
}
