//! Cursors over the sources of score of one segment: a word's postings
//! in one field, read block by block with each block's best score, and an
//! exact form's documents.

use super::EXACT_TIER;
use tantivy::{
    DocId, DocSet, Score, TERMINATED,
    fieldnorm::FieldNormReader,
    postings::BlockSegmentPostings,
    query::{Bm25Weight, Scorer},
};

/// A folded word's postings in one field of one segment, block by block
/// (each block of 128 documents knows the best score in it).
pub struct WordCursor {
    block: BlockSegmentPostings,
    /// Position in the block; the block's length when exhausted.
    at: usize,
    len: usize,
    norms: FieldNormReader,
    bm25: Bm25Weight,
    /// What a block's stored best score is multiplied by to bound every
    /// score in the block (see [`skew`]).
    skew: Score,
    /// The most any document gets.
    max: Score,
}

/// tantivy stores, per block, the (length, frequency) pair scoring best
/// under the segment's average field length; scored under the index's
/// average, another document of the block may score more, by at most the
/// ratio of the two averages (BM25's length term moves between 1 and
/// that ratio), whichever way it goes.
pub fn skew(segment_average: Score, index_average: Score) -> Score {
    if segment_average > 0.0 && index_average > 0.0 {
        (segment_average / index_average).max(index_average / segment_average)
    } else {
        1.0
    }
}

impl WordCursor {
    pub fn new(block: BlockSegmentPostings, norms: FieldNormReader, bm25: Bm25Weight, skew: Score) -> Self {
        let len = block.block_len();
        let max = bm25.max_score();
        Self { block, at: 0, len, norms, bm25, skew, max }
    }

    pub fn doc(&self) -> DocId {
        if self.at < self.len { self.block.doc(self.at) } else { TERMINATED }
    }

    pub fn advance(&mut self) {
        if self.at >= self.len {
            return;
        }
        self.at += 1;
        if self.at == self.len {
            self.block.advance();
            self.len = self.block.block_len();
            self.at = 0;
        }
    }

    pub fn seek(&mut self, target: DocId) {
        if self.doc() < target {
            self.at = self.block.seek(target);
            self.len = self.block.block_len();
        }
    }

    /// The last document of the current block.
    pub fn block_end(&self) -> DocId {
        if self.len > 0 { self.block.doc(self.len - 1) } else { TERMINATED }
    }

    pub fn block_max(&mut self) -> Score {
        self.block.block_max_score(&self.norms, &self.bm25) * self.skew
    }

    pub fn score(&self) -> Score {
        self.bm25.score(self.norms.fieldnorm_id(self.doc()), self.block.freq(self.at))
    }
}

/// A source's cursor in one segment.
pub enum Cursor {
    Word(Box<WordCursor>),
    Exact(Box<dyn Scorer>),
    Empty,
}

impl Cursor {
    pub fn doc(&self) -> DocId {
        match self {
            Cursor::Word(word) => word.doc(),
            Cursor::Exact(docs) => docs.doc(),
            Cursor::Empty => TERMINATED,
        }
    }

    pub fn advance(&mut self) {
        match self {
            Cursor::Word(word) => word.advance(),
            Cursor::Exact(docs) => {
                docs.advance();
            }
            Cursor::Empty => {}
        }
    }

    /// Moves to the first document at or after `target`; true when it is
    /// `target`.
    pub fn reach(&mut self, target: DocId) -> bool {
        if self.doc() < target {
            match self {
                Cursor::Word(word) => word.seek(target),
                Cursor::Exact(docs) => {
                    docs.seek(target);
                }
                Cursor::Empty => {}
            }
        }
        self.doc() == target
    }

    /// The most the source can add to a document from here to `end`
    /// (the cursor at its first document at or after the window's start):
    /// its block's best when the block reaches `end`, else its best.
    pub fn max_until(&mut self, end: DocId) -> Score {
        if self.doc() > end {
            return 0.0;
        }
        match self {
            Cursor::Word(word) if word.block_end() >= end => word.block_max(),
            Cursor::Word(word) => word.max,
            Cursor::Exact(_) => EXACT_TIER,
            Cursor::Empty => 0.0,
        }
    }

    /// What the current document gets.
    pub fn score(&mut self) -> Score {
        match self {
            Cursor::Word(word) => word.score(),
            Cursor::Exact(_) => EXACT_TIER,
            Cursor::Empty => 0.0,
        }
    }
}

pub fn reaches(docs: &mut dyn DocSet, target: DocId) -> bool {
    let doc = docs.doc();
    if doc < target { docs.seek(target) == target } else { doc == target }
}
