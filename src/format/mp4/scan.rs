//! Follows the top-level boxes of an MP4 as its bytes stream past, keeping
//! only `ftyp` and `moov` (bounded) and the layout of the rest, so a
//! multi-gigabyte clip can be probed and re-ordered without holding it.

/// A top-level box as it appeared in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopLevelBox {
    pub kind: [u8; 4],
    pub offset: u64,
    pub header: Vec<u8>,
    /// The body, for `ftyp` and `moov`; `None` for boxes that were skipped.
    pub body: Option<Vec<u8>>,
    pub body_len: u64,
}

/// What the scan saw, once the stream ended.
#[derive(Debug, Clone)]
pub struct Layout {
    pub boxes: Vec<TopLevelBox>,
    pub total_len: u64,
}

impl Layout {
    pub(super) fn find(&self, kind: &[u8; 4]) -> Option<&TopLevelBox> {
        self.boxes.iter().find(|b| &b.kind == kind)
    }

    /// `ftyp` followed by `moov`, whole: all a metadata parser needs.
    pub fn head(&self) -> Vec<u8> {
        let mut head = Vec::new();
        for kind in [b"ftyp", b"moov"] {
            if let Some(found) = self.find(kind) {
                head.extend_from_slice(&found.header);
                head.extend_from_slice(found.body.as_deref().unwrap_or_default());
            }
        }
        head
    }

    /// True when `moov` comes before the first `mdat` (playable while downloading).
    pub fn moov_before_mdat(&self) -> bool {
        let position = |kind: &[u8; 4]| self.boxes.iter().position(|b| &b.kind == kind);
        match (position(b"moov"), position(b"mdat")) {
            (Some(moov), Some(mdat)) => moov < mdat,
            (Some(_), None) => true,
            _ => false,
        }
    }
}

enum State {
    /// Collecting a box header (8 bytes, or 16 with a 64-bit size).
    Header {
        bytes: Vec<u8>,
    },
    /// Inside a box body.
    Body {
        index: usize,
        remaining: u64,
    },
    /// A box of size 0 runs to the end of the stream.
    ToEnd {
        index: usize,
    },
    Invalid(String),
}

/// What a [`Scanner`] needs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Up to this many bytes (more are fine).
    Bytes(u64),
    /// This many bytes it will not look at.
    Skip(u64),
    /// Nothing: the scan has failed.
    Nothing,
}

pub struct Scanner {
    state: State,
    position: u64,
    boxes: Vec<TopLevelBox>,
    max_kept_bytes: u64,
}

const KEPT: [&[u8; 4]; 2] = [b"ftyp", b"moov"];

impl Scanner {
    /// `max_kept_bytes` bounds the `moov` (and `ftyp`) held in memory.
    pub fn new(max_kept_bytes: u64) -> Self {
        Self { state: State::Header { bytes: Vec::with_capacity(16) }, position: 0, boxes: Vec::new(), max_kept_bytes }
    }

    fn fail(&mut self, reason: String) {
        self.state = State::Invalid(reason);
    }

    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match &mut self.state {
                State::Invalid(_) => return,
                State::ToEnd { index } => {
                    self.boxes[*index].body_len += data.len() as u64;
                    self.position += data.len() as u64;
                    return;
                }
                State::Body { index, remaining } => {
                    let take = (*remaining).min(data.len() as u64) as usize;
                    let index = *index;
                    *remaining -= take as u64;
                    let done = *remaining == 0;
                    if let Some(body) = &mut self.boxes[index].body {
                        body.extend_from_slice(&data[..take]);
                    }
                    data = &data[take..];
                    self.position += take as u64;
                    if done {
                        self.state = State::Header { bytes: Vec::with_capacity(16) };
                    }
                }
                State::Header { bytes } => {
                    let needed = if bytes.len() >= 8 && bytes[..4] == [0, 0, 0, 1] { 16 } else { 8 };
                    let take = (needed - bytes.len()).min(data.len());
                    bytes.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if bytes.len() == 8 && bytes[..4] == [0, 0, 0, 1] {
                        continue; // a 64-bit size follows
                    }
                    if bytes.len() == needed {
                        let header = std::mem::take(bytes);
                        self.start_box(header);
                    }
                }
            }
        }
    }

    fn start_box(&mut self, header: Vec<u8>) {
        let offset = self.position;
        self.position += header.len() as u64;
        let mut kind = [0u8; 4];
        kind.copy_from_slice(&header[4..8]);
        if self.boxes.is_empty() && &kind != b"ftyp" {
            return self.fail("it does not start with an ftyp box".into());
        }
        if !kind.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            return self.fail(format!("the bytes at {offset} are not a box header"));
        }
        let size32 = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let size = if size32 == 1 {
            u64::from_be_bytes(header[8..16].try_into().expect("16-byte header"))
        } else {
            u64::from(size32)
        };
        let keep = KEPT.contains(&&kind);
        let index = self.boxes.len();
        self.boxes.push(TopLevelBox { kind, offset, header: header.clone(), body: keep.then(Vec::new), body_len: 0 });
        if size == 0 {
            if keep {
                return self.fail("a metadata box runs to the end of the file".into());
            }
            self.state = State::ToEnd { index };
            return;
        }
        let Some(body_len) = size.checked_sub(header.len() as u64) else {
            return self.fail(format!("box at byte {offset} is smaller than its header"));
        };
        if keep && body_len > self.max_kept_bytes {
            return self.fail(format!("{} box of {body_len} bytes exceeds the limit", String::from_utf8_lossy(&kind)));
        }
        self.boxes[index].body_len = body_len;
        if let Some(body) = &mut self.boxes[index].body {
            body.reserve(body_len as usize);
        }
        self.state = if body_len == 0 {
            State::Header { bytes: Vec::with_capacity(16) }
        } else {
            State::Body { index, remaining: body_len }
        };
    }

    /// What the scan needs next: the bytes of a header or of a kept box,
    /// or none of the bytes of a skipped body (`Skip`), which a reader of
    /// a stored file can jump over with [`Scanner::skip`].
    pub fn next_need(&self) -> Need {
        match &self.state {
            State::Invalid(_) => Need::Nothing,
            State::ToEnd { .. } => Need::Skip(u64::MAX),
            State::Body { index, remaining } if self.boxes[*index].body.is_none() => Need::Skip(*remaining),
            State::Body { remaining, .. } => Need::Bytes(*remaining),
            State::Header { bytes } => Need::Bytes(16 - bytes.len() as u64),
        }
    }

    /// Passes over `count` bytes of a skipped body without seeing them.
    pub fn skip(&mut self, count: u64) {
        match &mut self.state {
            State::ToEnd { index } => {
                self.boxes[*index].body_len += count;
                self.position += count;
            }
            State::Body { index, remaining } if self.boxes[*index].body.is_none() => {
                let count = count.min(*remaining);
                *remaining -= count;
                self.position += count;
                if *remaining == 0 {
                    self.state = State::Header { bytes: Vec::with_capacity(16) };
                }
            }
            _ => self.fail("the scan skipped bytes it needed".into()),
        }
    }

    /// The layout, or why the stream is not a complete MP4.
    pub fn finish(self) -> Result<Layout, String> {
        match self.state {
            State::Invalid(reason) => Err(reason),
            State::Body { remaining, .. } => Err(format!("the file ends {remaining} bytes inside a box")),
            State::Header { bytes } if !bytes.is_empty() => Err("the file ends inside a box header".into()),
            _ => {
                let layout = Layout { boxes: self.boxes, total_len: self.position };
                if layout.find(b"moov").is_none() {
                    return Err("there is no moov box".into());
                }
                Ok(layout)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn follows_boxes_across_any_chunking() {
        let file = [boxed(b"ftyp", b"isom\0\0\0\x01"), boxed(b"mdat", &[7; 100]), boxed(b"moov", b"movie")].concat();
        for chunk in [1, 3, 8, 64, 1000] {
            let mut scanner = Scanner::new(1 << 20);
            for piece in file.chunks(chunk) {
                scanner.feed(piece);
            }
            let layout = scanner.finish().expect("valid");
            assert_eq!(layout.total_len, file.len() as u64);
            assert_eq!(layout.boxes.iter().map(|b| &b.kind).collect::<Vec<_>>(), [b"ftyp", b"mdat", b"moov"]);
            assert!(!layout.moov_before_mdat());
            assert_eq!(layout.head(), [boxed(b"ftyp", b"isom\0\0\0\x01"), boxed(b"moov", b"movie")].concat());
            assert!(layout.boxes[1].body.is_none(), "mdat is not kept");
        }
    }

    #[test]
    fn skipping_bodies_gives_the_same_layout() {
        let file = [boxed(b"ftyp", b"isom\0\0\0\x01"), boxed(b"mdat", &[7; 100]), boxed(b"moov", b"movie")].concat();
        let mut scanner = Scanner::new(1 << 20);
        let mut position = 0usize;
        let mut skipped = 0;
        while position < file.len() {
            match scanner.next_need() {
                Need::Bytes(count) => {
                    let end = file.len().min(position + count as usize);
                    scanner.feed(&file[position..end]);
                    position = end;
                }
                Need::Skip(count) => {
                    let count = count.min((file.len() - position) as u64);
                    scanner.skip(count);
                    position += count as usize;
                    skipped += count;
                }
                Need::Nothing => break,
            }
        }
        assert!(skipped >= 90, "the mdat body was skipped, not read ({skipped})");
        let mut streamed = Scanner::new(1 << 20);
        streamed.feed(&file);
        let (layout, expected) = (scanner.finish().expect("valid"), streamed.finish().expect("valid"));
        assert_eq!(layout.boxes, expected.boxes);
        assert_eq!(layout.total_len, expected.total_len);
    }

    #[test]
    fn refuses_what_is_not_an_mp4() {
        let refuse = |bytes: &[u8]| {
            let mut scanner = Scanner::new(1 << 20);
            scanner.feed(bytes);
            scanner.finish().unwrap_err()
        };
        refuse(b"GIF89a not an mp4 at all");
        refuse(&boxed(b"ftyp", b"isom"));
        refuse(&boxed(b"ftyp", b"isom")[..10]);
        refuse(&[boxed(b"ftyp", b"isom"), vec![0, 0, 0, 4, b'm', b'o', b'o', b'v']].concat());
        let big = [boxed(b"ftyp", b"isom"), 1_000_000u32.to_be_bytes().to_vec(), b"moov".to_vec()].concat();
        let mut scanner = Scanner::new(1000);
        scanner.feed(&big);
        assert!(scanner.finish().unwrap_err().contains("exceeds"));
    }
}
