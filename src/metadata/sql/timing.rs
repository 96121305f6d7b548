//! Every store operation timed where it runs: its latency and backend
//! failures go to [`DatabaseOperation`] under the operation's name (its
//! trait method's). Verdicts (NOT_FOUND, an etag that did not match) are
//! answers, not failures.

use crate::{
    error::{ErrorKind, Result},
    metrics::DatabaseOperation,
};
use std::time::Instant;

/// Runs the body of the trait method `$operation` (a future of a
/// [`Result`]) and records it; the operation's metric handles are made on
/// its first call (one static per call site).
macro_rules! timed {
    ($operation:literal, $body:expr) => {{
        static HANDLES: std::sync::OnceLock<crate::metrics::DatabaseOperation> = std::sync::OnceLock::new();
        let handles = HANDLES.get_or_init(|| crate::metrics::DatabaseOperation::new($operation));
        crate::metadata::sql::timing::record(handles, $body).await
    }};
}
pub(super) use timed;

pub(super) async fn record<T>(handles: &DatabaseOperation, body: impl Future<Output = Result<T>>) -> Result<T> {
    let start = Instant::now();
    let result = body.await;
    handles.record(start.elapsed(), failed(&result));
    result
}

fn failed<T>(result: &Result<T>) -> bool {
    result.as_ref().is_err_and(|error| matches!(error.kind, ErrorKind::Unavailable | ErrorKind::Internal))
}

#[cfg(test)]
mod tests {
    /// The files implementing a store trait.
    const SOURCES: [(&str, &str); 13] = [
        ("articles.rs", include_str!("articles.rs")),
        ("reads.rs", include_str!("reads.rs")),
        ("search.rs", include_str!("search.rs")),
        ("views.rs", include_str!("views.rs")),
        ("media.rs", include_str!("media.rs")),
        ("captions.rs", include_str!("captions.rs")),
        ("posters.rs", include_str!("posters.rs")),
        ("pictures.rs", include_str!("pictures.rs")),
        ("links.rs", include_str!("links.rs")),
        ("uploads.rs", include_str!("uploads.rs")),
        ("changes.rs", include_str!("changes.rs")),
        ("objects.rs", include_str!("objects.rs")),
        ("status.rs", include_str!("status.rs")),
    ];

    /// Every method of a trait impl times itself under its own name: the
    /// metric's `operation` label is the method's name.
    #[test]
    fn every_trait_method_is_timed_under_its_name() {
        let mut methods = 0;
        for (file, source) in SOURCES {
            for block in source.split("#[async_trait]\nimpl ").skip(1) {
                let block = block.split("\n}\n").next().unwrap_or_default();
                for method in block.split("\n    async fn ").skip(1) {
                    let name = method.split('(').next().unwrap_or_default();
                    let body = method.split("\n    }\n").next().unwrap_or_default();
                    assert!(body.contains(&format!("timed!(\"{name}\"")), "{file}: {name} is not timed as {name:?}");
                    methods += 1;
                }
            }
        }
        let declared = [include_str!("../store.rs"), include_str!("../uploads.rs")]
            .iter()
            .flat_map(|traits| traits.split("\n    async fn ").skip(1))
            // Required methods; a provided one (`{` before `;`) is built on them.
            .filter(|method| method.find(';').unwrap_or(usize::MAX) < method.find('{').unwrap_or(usize::MAX))
            .count();
        assert_eq!(methods, declared, "every trait method declared is implemented in one of these files");
    }
}
