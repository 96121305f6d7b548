//! The domain: the service's real work, independent of gRPC and HTTP. The
//! handlers in [`crate::service`] and [`crate::gateway`] only convert
//! messages and call these methods; they reach storage only through here.
//!
//! `impl Archive` is grouped by the gRPC service a method answers:
//!
//! | RPCs | file |
//! | --- | --- |
//! | ArticleService (Create/Get/Update/Delete/Import/Undelete Article, ListArticleRevisions, SetLegalHold) | [`articles`](articles.rs) |
//! | MetadataService (ListArticles, RecordView, GetMedia, ListMedia, GetArchiveStatistics) | [`catalog`](catalog.rs) |
//! | MetadataService (SearchArticles, ListRelatedArticles) | [`search`](search.rs) |
//! | MediaService (ReadMedia, GetPlaybackUrl, Attach/Detach/DeleteMedia) | [`media`](media.rs) |
//! | MediaService uploads (UploadMedia, StartUpload, QueryUpload, CancelUpload) | [`upload`](upload/mod.rs) |
//!
//! MetadataService's AuditFixity, also a scheduled job, is [`fixity`](fixity.rs);
//! its WatchChanges and GetChangeCursor, [`changes`](changes.rs).
//!
//! Background jobs: [`sweep`](sweep.rs) (unreferenced objects),
//! [`retention`](retention.rs) (purge), `flush_views` in
//! [`manifest`](manifest/write.rs), `expire_uploads` in
//! [`upload`](upload/session.rs); `reindex` rebuilds metadata from the bucket.

mod article_cache;
mod articles;
mod body_cache;
pub mod bounds;
pub mod captions;
mod catalog;
mod changes;
pub mod clip_files;
mod fixity;
pub mod manifest;
mod media;
pub mod page_token;
mod pictures;
mod posters;
pub mod reindex;
mod rendition;
mod retention;
mod search;
pub mod signing;
mod stored_clip;
mod storyboards;
mod sweep;
mod thumbnails;
mod upload;

pub use crate::metadata::FixityReport;
pub use article_cache::ArticleCache;
pub use articles::{ArticleFields, ArticleUpdate};
pub use body_cache::BodyCache;
pub use captions::{CaptionUpload, PlaybackTrack, PutTrack};
pub use catalog::ListArticles;
pub use changes::{ChangeBatch, FeedChange, WatchChanges};
pub use fixity::{Damage, FixityAudit, FixityEvent, FixityProblem};
pub use media::{MediaDeletion, PlaybackUrl, UploadHeader, attachment_disposition, gateway_path};
pub use search::{RelatedArticles, SearchArticles, SearchPage, SearchResult};
pub use stored_clip::scan_stored;
pub use storyboards::StoryboardFile;
pub use sweep::SweepReport;
pub use thumbnails::{Thumbnail, ThumbnailRequest};
pub use upload::{
    Broken, DEFAULT_URL_TTL, Declared, MediaUpload, StartedUpload, UploadCaller, UploadGrant, UploadMessage,
    UploadStatus, UploadUrl, UploadUrlRequest,
};

use crate::{
    blob::{BlobStore, PartPlan, Storage},
    config::{ChangeSettings, FixitySettings, MediaSettings, RetentionSettings},
    metadata::MetadataStore,
};
use sha2::{Digest, Sha256};
use signing::UrlSigner;
use std::sync::Arc;

/// Everything a request needs: storage, metadata, signing, limits.
#[derive(Debug, Clone)]
pub struct Archive {
    pub(crate) blobs: Arc<dyn BlobStore>,
    /// How clips are cut into parts on `blobs`.
    pub(crate) parts: PartPlan,
    pub(crate) metadata: Arc<dyn MetadataStore>,
    pub(crate) signer: Arc<UrlSigner>,
    /// Page tokens, keyed from the signer's keys.
    pub(crate) page_tokens: Arc<page_token::PageTokens>,
    pub(crate) media_settings: MediaSettings,
    pub(crate) retention: RetentionSettings,
    pub(crate) fixity: FixitySettings,
    pub(crate) changes: ChangeSettings,
    /// Base of gateway playback URLs, e.g. `http://127.0.0.1:50052`.
    pub(crate) gateway_base_url: String,
    /// One permit per upload in progress.
    pub(crate) upload_slots: Arc<tokio::sync::Semaphore>,
    /// Resumable uploads a stream of this process is writing.
    pub(crate) active_uploads: Arc<upload::ActiveUploads>,
    /// Recent article bodies (full-view GetArticle).
    pub(crate) bodies: Arc<BodyCache>,
    /// Cancelled at the shutdown deadline: upload streams end, resumable.
    pub(crate) streams_ending: tokio_util::sync::CancellationToken,
    /// Cancelled when shutdown starts: change feed watches end, so their
    /// consumers resume on another replica at once.
    pub(crate) watches_ending: tokio_util::sync::CancellationToken,
    /// The read rate every fixity audit shares.
    pub(crate) fixity_pace: Arc<fixity::Pace>,
    /// `server.max_message_bytes`: a write whose answer would be larger is
    /// refused before its commit.
    pub(crate) max_message_bytes: usize,
    /// Current revisions of recently read articles (off unless set).
    pub(crate) article_cache: Arc<ArticleCache>,
    /// This replica's search index; searches are UNAVAILABLE without one.
    pub(crate) search: Option<Arc<crate::search::SearchIndex>>,
    /// Where frames are decoded: one slot per core.
    pub(crate) pictures: Arc<thumbnails::PicturePool>,
}

impl Archive {
    pub fn new(
        storage: Storage,
        metadata: Arc<dyn MetadataStore>,
        signer: Arc<UrlSigner>,
        media_settings: MediaSettings,
        retention: RetentionSettings,
        gateway_base_url: String,
        bodies: BodyCache,
    ) -> Self {
        let upload_slots = Arc::new(tokio::sync::Semaphore::new(media_settings.max_concurrent_uploads.max(1)));
        let page_tokens = Arc::new(page_token::PageTokens::new(signer.derived_keys(page_token::KEY_PURPOSE)));
        Self {
            blobs: storage.store,
            parts: storage.parts,
            metadata,
            signer,
            page_tokens,
            media_settings,
            retention,
            fixity: FixitySettings::default(),
            changes: ChangeSettings::default(),
            gateway_base_url,
            upload_slots,
            active_uploads: Default::default(),
            bodies: Arc::new(bodies),
            streams_ending: Default::default(),
            watches_ending: Default::default(),
            fixity_pace: Arc::new(fixity::Pace::new(FixitySettings::default().bytes_per_second)),
            max_message_bytes: crate::config::ServerSettings::default().max_message_bytes,
            search: None,
            article_cache: Arc::new(ArticleCache::new(0)),
            pictures: Default::default(),
        }
    }

    /// With this article cache (off otherwise); its consumer runs among the jobs.
    pub fn with_article_cache(mut self, cache: ArticleCache) -> Self {
        self.article_cache = Arc::new(cache);
        self
    }

    pub fn article_cache(&self) -> &Arc<ArticleCache> {
        &self.article_cache
    }

    /// With this search index (searches are UNAVAILABLE without one).
    pub fn with_search(mut self, index: Arc<crate::search::SearchIndex>) -> Self {
        self.search = Some(index);
        self
    }

    pub fn search_index(&self) -> Option<&Arc<crate::search::SearchIndex>> {
        self.search.as_ref()
    }

    /// With this message limit (`server.max_message_bytes`; the default one otherwise).
    pub fn with_message_limit(mut self, max_message_bytes: usize) -> Self {
        self.max_message_bytes = max_message_bytes;
        self
    }

    /// With these fixity settings (the default ones otherwise).
    pub fn with_fixity(mut self, fixity: FixitySettings) -> Self {
        self.fixity_pace = Arc::new(fixity::Pace::new(fixity.bytes_per_second));
        self.fixity = fixity;
        self
    }

    /// With these change feed settings (the default ones otherwise).
    pub fn with_changes(mut self, changes: ChangeSettings) -> Self {
        self.changes = changes;
        self
    }

    /// Ends every upload stream still open (shutdown): each answers
    /// UNAVAILABLE, a resumable one saying where to resume, a one-shot one
    /// that nothing was stored.
    pub fn end_streams(&self) {
        self.streams_ending.cancel();
    }

    /// Ends every change feed watch (shutdown starts): each answers
    /// UNAVAILABLE with the cursor to resume from.
    pub fn end_watches(&self) {
        self.watches_ending.cancel();
    }

    pub fn blobs(&self) -> &Arc<dyn BlobStore> {
        &self.blobs
    }

    pub fn metadata(&self) -> &Arc<dyn MetadataStore> {
        &self.metadata
    }

    pub fn signer(&self) -> &Arc<UrlSigner> {
        &self.signer
    }

    pub fn media_settings(&self) -> &MediaSettings {
        &self.media_settings
    }
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Runs a write to its end even when the request that started it is
/// cancelled (a dropped request future would otherwise stop between the blob
/// and the metadata commit and leave an unreferenced object behind).
pub(crate) async fn run_to_completion<T: Send + 'static>(
    write: impl std::future::Future<Output = crate::Result<T>> + Send + 'static,
) -> crate::Result<T> {
    tokio::spawn(write).await.map_err(|e| crate::ArchiveError::internal("finishing a write", e))?
}

/// Now, at the microsecond precision the metadata stores keep, so a record
/// reads back exactly as it was returned.
pub(crate) fn now() -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    chrono::DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// A fresh opaque etag.
pub(crate) fn new_etag() -> String {
    format!("{:016x}", rand::random::<u64>())
}
