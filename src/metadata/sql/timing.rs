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
