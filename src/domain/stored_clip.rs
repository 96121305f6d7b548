//! Scanning a stored clip with ranged reads: box headers and the kept boxes
//! are read, media data is jumped over, so a clip of any size costs a few
//! small requests.

use crate::blob::{BlobKey, BlobStore};
use crate::format::mp4::{Layout, Scanner, scan::Need};
use futures::TryStreamExt;

/// Reads ahead at least this much at a box header, which usually takes in
/// the whole `ftyp` (and anything small after it) in one request.
const READ_AHEAD: u64 = 64 * 1024;

/// The layout of the `size`-byte object at `key`; `Err` says why it is not
/// a complete MP4 or could not be read.
pub async fn scan_stored(
    store: &dyn BlobStore,
    key: &BlobKey,
    size: u64,
    max_kept_bytes: u64,
) -> Result<Layout, String> {
    let mut scanner = Scanner::new(max_kept_bytes);
    let mut position = 0u64;
    while position < size {
        match scanner.next_need() {
            Need::Nothing => break,
            Need::Skip(count) => {
                let count = count.min(size - position);
                scanner.skip(count);
                position += count;
            }
            Need::Bytes(count) => {
                let end = size.min(position + count.max(READ_AHEAD));
                let mut stream = store.get(key, position..end).await.map_err(|e| format!("reading it failed: {e}"))?;
                let start = position;
                while let Some(chunk) = stream.try_next().await.map_err(|e| format!("reading it failed: {e}"))? {
                    scanner.feed(&chunk);
                    position += chunk.len() as u64;
                }
                if position == start {
                    return Err(format!("the stored object ends at byte {position}, before its recorded size"));
                }
            }
        }
    }
    scanner.finish()
}
