//! Search: a tantivy index of the current revision of every live article,
//! a projection of the metadata database that each replica keeps on local
//! disk and follows through the change feed.

pub mod query;
pub mod snippet;
pub mod text;
