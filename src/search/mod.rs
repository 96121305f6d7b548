//! Search: a tantivy index of the current revision of every live article,
//! a projection of the metadata database that each replica keeps on local
//! disk and follows through the change feed.
//!
//! | file | job |
//! | --- | --- |
//! | [`text`] | words in two forms (folded, exact); the index's tokenizers |
//! | [`query`] | the query language, parsed |
//! | [`schema`] | the index's fields and an article's document |
//! | `plan` | what a parsed query and filters match, as tantivy queries |
//! | [`rank`] | the best matches by relevance (BM25, pruned by MaxScore) |
//! | `collect` | top hits by time, bounded counts, facet counts |
//! | `index` | the index on disk: open, search, related, write |
//! | `related` | the related-articles query (more like this) |
//! | [`projection`] | follows the change feed into the index; rebuilds it |
//! | [`snippet`] | snippets and highlights for results |
//!
//! The database stays the source of truth: a result is read back from it
//! before it is answered, so a deleted article never shows, however far
//! behind an index is.

mod collect;
mod index;
mod plan;
pub mod projection;
pub mod query;
pub mod rank;
mod related;
pub mod schema;
pub mod snippet;
pub mod text;

pub use index::{IndexState, SearchIndex};

use crate::ids::ArticleId;
use serde::{Deserialize, Serialize};

/// Matches a search counts exactly; past it the total is a lower bound
/// (unless facets are asked, which count every match anyway).
pub const TOTAL_SIZE_BOUND: u64 = 10_000;

/// Order of results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Order {
    /// BM25, ties newest first.
    #[default]
    Relevance,
    Newest,
    Oldest,
}

/// What results are counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Facet {
    Author,
    Keyword,
    PublishYear,
    PublishMonth,
    HasMedia,
}

/// Filters every match must pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Filters {
    /// Publish time at or after, in microseconds since the epoch.
    pub publish_start_us: Option<i64>,
    /// Publish time before.
    pub publish_end_us: Option<i64>,
    /// Any of these authors (exact values); none: any author.
    pub authors: Vec<String>,
    /// Any of these keywords; none: any.
    pub keywords: Vec<String>,
    pub has_media: Option<bool>,
}

/// Where a result stands in its order: what a page token carries to
/// resume after it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SortKey {
    /// BM25 (0 when ordered by time).
    pub score: f32,
    pub publish_us: i64,
    pub tiebreak: u64,
}

/// One result: an article and where it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: ArticleId,
    pub key: SortKey,
}

/// The counts of one facet, most frequent (or newest) first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacetCounts {
    pub facet: Facet,
    pub values: Vec<(String, u64)>,
    /// Counted under values left out.
    pub other_count: u64,
}

/// A search as the index runs it.
#[derive(Debug, Clone)]
pub struct IndexSearch {
    pub query: query::Query,
    pub filters: Filters,
    pub order: Order,
    /// Results wanted (after `after`).
    pub limit: usize,
    /// Resume after this result.
    pub after: Option<SortKey>,
    pub facets: Vec<Facet>,
    pub facet_size: usize,
}

/// What a search found.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub hits: Vec<Hit>,
    /// Matches in all; a lower bound when `total_is_lower_bound`.
    pub total: u64,
    pub total_is_lower_bound: bool,
    pub facets: Vec<FacetCounts>,
}
