//! Every metric archived exports, named and described once here; the
//! layers record through these functions. Prometheus text is served on the
//! gateway's `/metrics` ([`render`]). Names follow the grpc-ecosystem
//! conventions for RPCs (`grpc_server_*`) and `archive_*` for the rest.

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::{sync::OnceLock, time::Duration};

const RPC_HANDLED: &str = "grpc_server_handled_total";
const RPC_SECONDS: &str = "grpc_server_handling_seconds";
const RPC_RECEIVED_BYTES: &str = "grpc_server_received_bytes_total";
const RPC_SENT_BYTES: &str = "grpc_server_sent_bytes_total";
const GATEWAY_REQUESTS: &str = "archive_gateway_requests_total";
const GATEWAY_SECONDS: &str = "archive_gateway_request_seconds";
const TUS_REQUESTS: &str = "archive_tus_requests_total";
const TUS_RECEIVED_BYTES: &str = "archive_tus_received_bytes_total";
const STORAGE_SECONDS: &str = "archive_storage_operation_seconds";
const STORAGE_ERRORS: &str = "archive_storage_errors_total";
const DATABASE_SECONDS: &str = "archive_database_operation_seconds";
const DATABASE_ERRORS: &str = "archive_database_errors_total";
const UPLOADS_OPEN: &str = "archive_upload_sessions_open";
const JOB_RUNS: &str = "archive_job_runs_total";
const JOB_ITEMS: &str = "archive_job_items_total";
const FIXITY_OBJECTS: &str = "archive_fixity_objects_total";
const FIXITY_BYTES: &str = "archive_fixity_bytes_read_total";
const FIXITY_LAST_DAMAGED: &str = "archive_fixity_last_damaged_objects";
const FIXITY_LAST_END: &str = "archive_fixity_last_completion_timestamp_seconds";
const ARTICLE_CACHE_LOOKUPS: &str = "archive_article_cache_lookups_total";
const ARTICLE_CACHE_INVALIDATIONS: &str = "archive_article_cache_invalidations_total";
const ARTICLE_CACHE_EVICTIONS: &str = "archive_article_cache_evictions_total";
const ARTICLE_CACHE_BYTES: &str = "archive_article_cache_bytes";
const SEARCH_LAG: &str = "archive_search_index_lag_changes";
const SEARCH_DOCUMENTS: &str = "archive_search_index_documents";
const SEARCH_REBUILDING: &str = "archive_search_index_rebuilding";
const SEARCH_REBUILDS: &str = "archive_search_index_rebuilds_total";
const SEARCH_COMMIT_SECONDS: &str = "archive_search_index_commit_seconds";

/// Latency buckets, seconds: 0.5 ms … 60 s.
const BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder (once; later calls return the same
/// handle, so servers started in one test process share it).
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                .expect("buckets are not empty")
                .install_recorder()
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder().handle());
            describe();
            handle
        })
        .clone()
}

/// The Prometheus text exposition of every metric.
pub fn render() -> String {
    HANDLE.get().map(PrometheusHandle::render).unwrap_or_default()
}

/// Drains histogram samples into their buckets; call every few seconds.
pub fn upkeep() {
    if let Some(handle) = HANDLE.get() {
        handle.run_upkeep();
    }
}

fn describe() {
    describe_counter!(RPC_HANDLED, "gRPC calls finished, by service, method and status code");
    describe_histogram!(RPC_SECONDS, metrics::Unit::Seconds, "gRPC call duration to the last byte, by method");
    describe_counter!(RPC_RECEIVED_BYTES, metrics::Unit::Bytes, "gRPC request body bytes, by method");
    describe_counter!(RPC_SENT_BYTES, metrics::Unit::Bytes, "gRPC response body bytes, by method");
    describe_counter!(GATEWAY_REQUESTS, "media gateway requests, by HTTP status");
    describe_histogram!(GATEWAY_SECONDS, metrics::Unit::Seconds, "media gateway time to response headers");
    describe_counter!(TUS_REQUESTS, "tus requests on upload URLs, by method and HTTP status");
    describe_counter!(TUS_RECEIVED_BYTES, metrics::Unit::Bytes, "clip bytes received in tus request bodies");
    describe_histogram!(STORAGE_SECONDS, metrics::Unit::Seconds, "object storage calls, by operation");
    describe_counter!(STORAGE_ERRORS, "object storage calls that failed, by operation");
    describe_histogram!(DATABASE_SECONDS, metrics::Unit::Seconds, "metadata database operations, by operation");
    describe_counter!(DATABASE_ERRORS, "metadata database operations that failed (backend errors), by operation");
    describe_gauge!(UPLOADS_OPEN, "upload sessions not finished, all replicas together (as of the last janitor run)");
    describe_counter!(JOB_RUNS, "background job runs, by job and outcome (ok, error)");
    describe_counter!(JOB_ITEMS, "what background jobs did (expired uploads, swept objects, ...), by job");
    describe_counter!(FIXITY_OBJECTS, "objects fixity audits checked, by kind and result (ok, mismatched, missing)");
    describe_counter!(FIXITY_BYTES, metrics::Unit::Bytes, "bytes fixity audits read from storage");
    describe_gauge!(FIXITY_LAST_DAMAGED, "mismatched and missing objects the last finished fixity audit found");
    describe_gauge!(FIXITY_LAST_END, metrics::Unit::Seconds, "when the last fixity audit finished (Unix time)");
    describe_counter!(
        ARTICLE_CACHE_LOOKUPS,
        "reads of current revisions (GetArticle, ListArticles' articles) through the article cache, by result (hit, miss)"
    );
    describe_counter!(ARTICLE_CACHE_EVICTIONS, "article cache entries dropped to keep the cache within its bytes");
    describe_counter!(
        ARTICLE_CACHE_INVALIDATIONS,
        "article cache entries dropped because the change feed named their article"
    );
    describe_gauge!(ARTICLE_CACHE_BYTES, metrics::Unit::Bytes, "bytes the article cache holds");
    describe_gauge!(SEARCH_LAG, "changes committed to the database that this replica's search index does not hold yet");
    describe_gauge!(SEARCH_DOCUMENTS, "articles in this replica's search index");
    describe_gauge!(SEARCH_REBUILDING, "1 while this replica rebuilds its search index from the database");
    describe_counter!(SEARCH_REBUILDS, "search index rebuilds started, by reason");
    describe_histogram!(
        SEARCH_COMMIT_SECONDS,
        metrics::Unit::Seconds,
        "search index commits: a batch of changes applied"
    );
}

/// The metric handles of one method, made once (on its first call, held by
/// `crate::service::methods`): a call then costs a few atomic adds, no
/// label strings, locks or registry lookups.
pub struct MethodMetrics {
    handled: [metrics::Counter; CODES.len()],
    seconds: metrics::Histogram,
    received: metrics::Counter,
    sent: metrics::Counter,
}

/// Every gRPC status code, by its number.
const CODES: [&str; 17] = [
    "Ok",
    "Cancelled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
];

impl MethodMetrics {
    pub fn new((service, method): RpcLabels) -> Self {
        let labels = [("grpc_service", service), ("grpc_method", method)];
        let with_code = |code: &'static str| counter!(RPC_HANDLED, "grpc_service" => service, "grpc_method" => method, "grpc_code" => code);
        Self {
            handled: CODES.map(with_code),
            seconds: histogram!(RPC_SECONDS, &labels),
            received: counter!(RPC_RECEIVED_BYTES, &labels),
            sent: counter!(RPC_SENT_BYTES, &labels),
        }
    }

    /// One finished gRPC call.
    pub fn record(&self, code: tonic::Code, elapsed: Duration, received: u64, sent: u64) {
        self.handled[(code as usize).min(CODES.len() - 1)].increment(1);
        self.seconds.record(elapsed.as_secs_f64());
        self.received.increment(received);
        self.sent.increment(sent);
    }
}

/// `(grpc_service, grpc_method)` of a call. Only the server's table of the
/// methods it serves makes them (`crate::service::methods`), and `'static`
/// keeps them from being built from a request: every unknown path shares
/// one pair, so the series are bounded by the methods served.
pub type RpcLabels = (&'static str, &'static str);

/// One gateway request, at its response headers. The status is the one the
/// gateway answered, never a value from the request: a handful of series.
pub fn gateway(status: u16, elapsed: Duration) {
    counter!(GATEWAY_REQUESTS, "status" => status.to_string()).increment(1);
    histogram!(GATEWAY_SECONDS).record(elapsed.as_secs_f64());
}

/// One tus request, at its answer. `method` is one of the protocol's five
/// (or `other`), never a value from the request: a handful of series.
pub fn tus(method: &'static str, status: u16) {
    counter!(TUS_REQUESTS, "method" => method, "status" => status.to_string()).increment(1);
}

/// Clip bytes a tus request body carried (counted as they arrive).
pub fn tus_received(bytes: u64) {
    counter!(TUS_RECEIVED_BYTES).increment(bytes);
}

/// One object storage call.
pub fn storage(operation: &'static str, elapsed: Duration, ok: bool) {
    histogram!(STORAGE_SECONDS, "operation" => operation).record(elapsed.as_secs_f64());
    if !ok {
        counter!(STORAGE_ERRORS, "operation" => operation).increment(1);
    }
}

/// The handles of one metadata operation, made once per operation.
pub struct DatabaseOperation {
    seconds: metrics::Histogram,
    errors: metrics::Counter,
}

impl DatabaseOperation {
    pub fn new(operation: &'static str) -> Self {
        Self {
            seconds: histogram!(DATABASE_SECONDS, "operation" => operation),
            errors: counter!(DATABASE_ERRORS, "operation" => operation),
        }
    }

    pub fn record(&self, elapsed: Duration, failed: bool) {
        self.seconds.record(elapsed.as_secs_f64());
        if failed {
            self.errors.increment(1);
        }
    }
}

/// Upload sessions open, as the database counts them.
pub fn open_uploads(count: i64) {
    gauge!(UPLOADS_OPEN).set(count as f64);
}

/// One run of a background job and how many things it did.
pub fn job(job: &'static str, outcome: Result<usize, ()>) {
    let label = if outcome.is_ok() { "ok" } else { "error" };
    counter!(JOB_RUNS, "job" => job, "outcome" => label).increment(1);
    if let Ok(items) = outcome {
        counter!(JOB_ITEMS, "job" => job).increment(items as u64);
    }
}

/// One object a fixity audit checked: `result` is ok, mismatched or missing.
pub fn fixity_object(kind: &'static str, result: &'static str, bytes_read: u64) {
    counter!(FIXITY_OBJECTS, "kind" => kind, "result" => result).increment(1);
    counter!(FIXITY_BYTES).increment(bytes_read);
}

/// A fixity audit that finished, and how many damaged objects it found.
pub fn fixity_finished(damaged: u64) {
    gauge!(FIXITY_LAST_DAMAGED).set(damaged as f64);
    gauge!(FIXITY_LAST_END).set(chrono::Utc::now().timestamp_micros() as f64 / 1e6);
}

/// A read through the article cache.
pub fn article_cache(hit: bool) {
    static HANDLES: OnceLock<[metrics::Counter; 2]> = OnceLock::new();
    let handles =
        HANDLES.get_or_init(|| ["miss", "hit"].map(|result| counter!(ARTICLE_CACHE_LOOKUPS, "result" => result)));
    handles[usize::from(hit)].increment(1);
}

/// An article cache entry dropped by a change.
pub fn article_cache_invalidated() {
    counter!(ARTICLE_CACHE_INVALIDATIONS).increment(1);
}

/// An article cache entry dropped for room.
pub fn article_cache_evicted() {
    static HANDLE: OnceLock<metrics::Counter> = OnceLock::new();
    HANDLE.get_or_init(|| counter!(ARTICLE_CACHE_EVICTIONS)).increment(1);
}

/// Bytes the article cache holds.
pub fn article_cache_bytes(bytes: u64) {
    gauge!(ARTICLE_CACHE_BYTES).set(bytes as f64);
}

/// Where this replica's search index stands against the change feed.
pub fn search_index(lag_changes: i64, documents: u64, rebuilding: bool) {
    gauge!(SEARCH_LAG).set(lag_changes.max(0) as f64);
    gauge!(SEARCH_DOCUMENTS).set(documents as f64);
    gauge!(SEARCH_REBUILDING).set(if rebuilding { 1.0 } else { 0.0 });
}

/// A search index rebuild starts, for `reason` (`missing`, `feed`, ...).
pub fn search_rebuild(reason: &'static str) {
    counter!(SEARCH_REBUILDS, "reason" => reason).increment(1);
}

/// A batch of changes committed to the search index.
pub fn search_commit(elapsed: Duration) {
    histogram!(SEARCH_COMMIT_SECONDS).record(elapsed.as_secs_f64());
}

#[cfg(test)]
mod tests {
    #[test]
    fn code_labels_are_tonic_code_names_by_number() {
        for (number, name) in super::CODES.iter().enumerate() {
            assert_eq!(format!("{:?}", tonic::Code::from(number as i32)), *name);
        }
    }
}
