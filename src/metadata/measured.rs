//! Any metadata store, timed: each operation's latency and backend failures
//! go to [`crate::metrics::DatabaseOperation`], under the operation's name.
//! [`super::open`] wraps the store in one. Verdicts (NOT_FOUND, an etag
//! that did not match) are answers, not failures.

use super::*;
use crate::{
    blob::{BlobKey, CompletedPart},
    error::ErrorKind,
    ids::UploadId,
    metadata::uploads::{UploadProgress, UploadSession, UploadSessionStore},
};

#[derive(Debug)]
pub struct Measured {
    inner: Arc<dyn MetadataStore>,
}

impl Measured {
    pub fn new(inner: Arc<dyn MetadataStore>) -> Self {
        Self { inner }
    }
}

fn failed<T>(result: &Result<T>) -> bool {
    result.as_ref().is_err_and(|error| matches!(error.kind, ErrorKind::Unavailable | ErrorKind::Internal))
}

/// Awaits `call` and records it; the operation's metric handles are made on
/// its first call (one static per call site).
macro_rules! timed {
    ($operation:expr, $call:expr) => {{
        static HANDLES: std::sync::OnceLock<crate::metrics::DatabaseOperation> = std::sync::OnceLock::new();
        let handles = HANDLES.get_or_init(|| crate::metrics::DatabaseOperation::new($operation));
        let start = std::time::Instant::now();
        let result = $call.await;
        handles.record(start.elapsed(), failed(&result));
        result
    }};
}

/// Implements `$trait` for [`Measured`]: every method delegates, timed
/// under its own name.
macro_rules! measured {
    ($trait:ident { $(fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)* }) => {
        #[async_trait]
        impl $trait for Measured {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    timed!(stringify!($name), self.inner.$name($($arg),*))
                }
            )*
        }
    };
}

measured!(MetadataStore {
    fn insert_article(&self, article: &ArticleRecord, text: &SearchText) -> Result<()>;
    fn get_article(&self, id: &ArticleId, revision: Option<i64>) -> Result<ArticleRecord>;
    fn update_article(&self, expected_etag: &str, next: &ArticleRecord, text: &SearchText) -> Result<Vec<MediaLink>>;
    fn delete_article(&self, id: &ArticleId, expected_etag: Option<&str>) -> Result<()>;
    fn undelete_article(&self, id: &ArticleId) -> Result<ArticleRecord>;
    fn set_legal_hold(&self, id: &ArticleId, hold: bool) -> Result<ArticleRecord>;
    fn purgeable_articles(&self, deleted_before: DateTime<Utc>, limit: u32) -> Result<Vec<ArticleId>>;
    fn purge_article(&self, id: &ArticleId) -> Result<Vec<BlobKey>>;
    fn change_feed(&self) -> Result<changes::FeedPosition>;
    fn changes_after(&self, after: i64, limit: u32) -> Result<Vec<changes::ChangeEvent>>;
    fn set_manifests_through(&self, seq: i64) -> Result<()>;
    fn prune_changes(&self, before: DateTime<Utc>, limit: u32) -> Result<u64>;
    fn change_signal(&self) -> Result<tokio::sync::watch::Receiver<i64>>;
    fn recorded_objects(&self, kind: ObjectKind, after: Option<&BlobKey>, limit: u32) -> Result<Vec<ObjectRef>>;
    fn referenced_objects(&self, keys: &[BlobKey]) -> Result<HashSet<BlobKey>>;
    fn record_views(&self, id: &ArticleId, count: i64) -> Result<i64>;
    fn articles_with_unwritten_views(&self, after: Option<&ArticleId>, limit: u32) -> Result<Vec<ArticleId>>;
    fn manifest_views_written(&self, id: &ArticleId, view_count: i64) -> Result<()>;
    fn list_revisions(&self, id: &ArticleId, before_revision: Option<i64>, limit: u32) -> Result<Vec<ArticleRecord>>;
    fn list_articles(&self, query: &ArticleQuery) -> Result<ArticlePage>;
    fn search_articles(&self, query: &SearchQuery) -> Result<Vec<SearchHit>>;
    fn export_article(&self, id: &ArticleId) -> Result<Option<ArticleExport>>;
    fn restore_article(&self, export: &ArticleExport, text: &SearchText) -> Result<()>;
    fn is_empty(&self) -> Result<bool>;
    fn insert_media(&self, media: &MediaRecord) -> Result<()>;
    fn insert_media_copy(&self, media: &MediaRecord) -> Result<()>;
    fn delete_media(&self, id: &MediaId, force: bool) -> Result<DeletedMedia>;
    fn get_media(&self, id: &MediaId) -> Result<MediaRecord>;
    fn list_media(&self, after: Option<&MediaCursor>, limit: u32) -> Result<Vec<MediaRecord>>;
    fn statistics(&self) -> Result<ArchiveStatistics>;
    fn ping(&self) -> Result<()>;
    fn find_media_by_content(&self, sha256: &str, size_bytes: u64) -> Result<Option<MediaRecord>>;
    fn attach_media(&self, article: &ArticleId, reference: &str, media: &MediaId) -> Result<ArticleRecord>;
    fn detach_media(&self, article: &ArticleId, reference: &str) -> Result<ArticleRecord>;
});

measured!(UploadSessionStore {
    fn insert_upload(&self, session: &UploadSession) -> Result<()>;
    fn get_upload(&self, id: &UploadId) -> Result<UploadSession>;
    fn upload_parts(&self, id: &UploadId) -> Result<Vec<CompletedPart>>;
    fn advance_upload(
        &self,
        id: &UploadId,
        from_offset: u64,
        progress: &UploadProgress,
        parts: &[CompletedPart],
        expire_time: DateTime<Utc>
    ) -> Result<()>;
    fn finish_upload(&self, id: &UploadId, media: &MediaRecord, expire_time: DateTime<Utc>) -> Result<()>;
    fn expired_uploads(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<UploadSession>>;
    fn delete_upload(&self, id: &UploadId) -> Result<()>;
    fn count_open_uploads(&self) -> Result<i64>;
    fn multipart_ids_in_use(&self, multipart_ids: &[String]) -> Result<HashSet<String>>;
});
