//! The bytes of one planned upload, made on the fly: blocks of xorshift
//! output, each seeded from the upload's seed and its index, so any offset
//! can be read again (a resume) without holding the clip in memory.

use bytes::Bytes;
use sha2::{Digest, Sha256};

const BLOCK: u64 = 64 * 1024;

#[derive(Debug, Clone)]
pub enum Source {
    Generated {
        seed: u64,
        size: u64,
    },
    /// A real clip (an MP4 needing a faststart rendition).
    Fixed(Bytes),
}

fn block(seed: u64, index: u64) -> [u8; BLOCK as usize] {
    // splitmix64 of (seed, index) seeds a xorshift64 for the block.
    let mut z = seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    let mut state = (z ^ (z >> 31)) | 1;
    let mut out = [0u8; BLOCK as usize];
    for word in out.chunks_exact_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        word.copy_from_slice(&state.to_le_bytes());
    }
    out
}

impl Source {
    pub fn size(&self) -> u64 {
        match self {
            Source::Generated { size, .. } => *size,
            Source::Fixed(data) => data.len() as u64,
        }
    }

    /// `len` bytes from `offset` (clamped to the end).
    pub fn read(&self, offset: u64, len: u64) -> Bytes {
        let end = (offset + len).min(self.size());
        match self {
            Source::Fixed(data) => data.slice(offset as usize..end as usize),
            Source::Generated { seed, .. } => {
                let mut out = Vec::with_capacity((end - offset) as usize);
                let mut at = offset;
                while at < end {
                    let index = at / BLOCK;
                    let data = block(*seed, index);
                    let from = (at % BLOCK) as usize;
                    let to = ((end - index * BLOCK).min(BLOCK)) as usize;
                    out.extend_from_slice(&data[from..to]);
                    at = index * BLOCK + to as u64;
                }
                out.into()
            }
        }
    }

    /// Chunks of `chunk` bytes from `offset` to the end, made as they are read.
    pub fn chunks(&self, offset: u64, chunk: u64) -> impl Iterator<Item = Bytes> + Send + 'static {
        let source = self.clone();
        let size = self.size();
        (0..).map(move |i| offset + i * chunk).take_while(move |at| *at < size).map(move |at| source.read(at, chunk))
    }

    /// SHA-256 (hex) and CRC32C of every byte.
    pub fn checksums(&self) -> (String, u32) {
        let mut hasher = Sha256::new();
        let mut crc = 0;
        for chunk in self.chunks(0, 1 << 20) {
            hasher.update(&chunk);
            crc = crc32c::crc32c_append(crc, &chunk);
        }
        (hex::encode(hasher.finalize()), crc)
    }
}

#[test]
fn reads_anywhere_agree_with_one_pass() {
    let source = Source::Generated { seed: 7, size: 3 * BLOCK + 123 };
    let whole: Vec<u8> = source.chunks(0, 1000).flat_map(|c| c.to_vec()).collect();
    assert_eq!(whole.len() as u64, source.size());
    for (offset, len) in [(0, 10), (BLOCK - 3, 9), (2 * BLOCK, BLOCK), (3 * BLOCK + 100, 1000)] {
        let end = ((offset + len) as usize).min(whole.len());
        assert_eq!(source.read(offset, len), whole[offset as usize..end]);
    }
    assert_ne!(block(7, 0), block(7, 1));
}
