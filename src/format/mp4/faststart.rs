//! A playback rendition with `moov` first, derived without transcoding: the
//! original's boxes are re-ordered by mp4san, which rewrites the chunk
//! offsets. mp4san reads only box headers and metadata and skips media data,
//! so it runs on the scanned layout — the clip's bytes are never held.

use super::Layout;
use std::io::{self, Read};

/// How to write the rendition: `metadata`, then the original's bytes
/// `data_offset .. data_offset + data_len`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaststartPlan {
    pub metadata: Vec<u8>,
    pub data_offset: u64,
    pub data_len: u64,
}

impl FaststartPlan {
    pub fn len(&self) -> u64 {
        self.metadata.len() as u64 + self.data_len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The original, as a reader that knows the kept boxes and reads zeros for
/// the skipped ones (which mp4san skips without reading).
struct SparseReader<'a> {
    layout: &'a Layout,
    position: u64,
}

impl Read for SparseReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.position >= self.layout.total_len || out.is_empty() {
            return Ok(0);
        }
        let found = self.layout.boxes.iter().rev().find(|b| b.offset <= self.position);
        let Some(found) = found else { return Ok(0) };
        let within = self.position - found.offset;
        let header_len = found.header.len() as u64;
        let (source, end): (Option<&[u8]>, u64) = if within < header_len {
            (Some(&found.header[within as usize..]), found.offset + header_len)
        } else {
            let body_start = found.offset + header_len;
            let body_end = body_start + found.body_len;
            (found.body.as_deref().map(|b| &b[(self.position - body_start) as usize..]), body_end)
        };
        let available = (end - self.position).min(out.len() as u64) as usize;
        match source {
            Some(bytes) => out[..available].copy_from_slice(&bytes[..available]),
            None => out[..available].fill(0),
        }
        self.position += available as u64;
        Ok(available)
    }
}

impl mp4san::Skip for SparseReader<'_> {
    fn skip(&mut self, amount: u64) -> io::Result<()> {
        self.position = self.position.saturating_add(amount);
        Ok(())
    }

    fn stream_position(&mut self) -> io::Result<u64> {
        Ok(self.position)
    }

    fn stream_len(&mut self) -> io::Result<u64> {
        Ok(self.layout.total_len)
    }
}

/// The rendition to derive, or `None` when the clip already has `moov` first.
pub fn plan(layout: &Layout, max_metadata_bytes: u64) -> Result<Option<FaststartPlan>, String> {
    let config = mp4san::Config::builder().max_metadata_size(max_metadata_bytes).build();
    let reader = SparseReader { layout, position: 0 };
    let sanitized =
        mp4san::sanitize_with_config(reader, config).map_err(|e| format!("cannot re-order this MP4: {e}"))?;
    let Some(metadata) = sanitized.metadata else {
        return Ok(None);
    };
    let (offset, len) = (sanitized.data.offset, sanitized.data.len);
    if offset.checked_add(len).is_none_or(|end| end > layout.total_len) {
        return Err("the media data runs past the end of the file".into());
    }
    Ok(Some(FaststartPlan { metadata, data_offset: offset, data_len: len }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::mp4::{Scanner, probe::probe};

    fn layout_of(bytes: &[u8]) -> Layout {
        let mut scanner = Scanner::new(64 << 20);
        scanner.feed(bytes);
        scanner.finish().expect("scans")
    }

    #[test]
    fn moov_at_end_becomes_moov_first_with_the_same_media() {
        let fixture =
            |name: &str| std::fs::read(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let original = fixture("clip-moov-at-end.mp4");
        let plan = plan(&layout_of(&original), 64 << 20).expect("plans").expect("needs re-ordering");
        let mut rendition = plan.metadata.clone();
        rendition.extend_from_slice(&original[plan.data_offset as usize..(plan.data_offset + plan.data_len) as usize]);
        let reordered = layout_of(&rendition);
        assert!(reordered.moov_before_mdat());
        let (before, after) = (probe(&layout_of(&original)).unwrap(), probe(&reordered).unwrap());
        assert_eq!(
            (after.duration_ms, &after.video_codec, after.width),
            (before.duration_ms, &before.video_codec, before.width)
        );
        assert!(after.faststart);
        // The media data is carried over unchanged.
        let mdat = |bytes: &[u8], layout: &Layout| {
            let b = layout.boxes.iter().find(|b| &b.kind == b"mdat").unwrap();
            bytes[b.offset as usize..(b.offset + b.header.len() as u64 + b.body_len) as usize].to_vec()
        };
        assert_eq!(mdat(&rendition, &reordered), mdat(&original, &layout_of(&original)));

        let already = fixture("clip-faststart.mp4");
        assert_eq!(plan_of(&already), None);
    }

    fn plan_of(bytes: &[u8]) -> Option<FaststartPlan> {
        plan(&layout_of(bytes), 64 << 20).expect("plans")
    }
}
