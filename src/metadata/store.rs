//! The store's traits, one per concern, each implemented by the SQL file
//! that owns it (`sql/`, named on each trait). Code that needs one concern
//! takes that trait; [`MetadataStore`] is every one of them, for what
//! needs the whole store ([`crate::domain::Archive`]).

use super::{
    ArchiveStatistics, ArticleExport, ArticlePage, ArticleQuery, ArticleRecord, CaptionTrackRecord, DeletedMedia,
    FixityReport, IndexedArticle, ListedPage, MediaCursor, MediaLink, MediaRecord, ObjectKind, ObjectRef, PictureAdded,
    PictureLookup, PictureRecord, PosterRecord, SearchText, UploadSessionStore, changes,
};
use crate::{
    blob::BlobKey,
    error::Result,
    format::captions::TimedText,
    ids::{ArticleId, MediaId},
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashSet;

/// Article writes: each a transaction that records its change in the feed.
///
/// Implemented in `sql/articles.rs`.
#[async_trait]
pub trait ArticleStore: Send + Sync {
    /// Records a new article at revision 1; ALREADY_EXISTS when the id is taken.
    async fn insert_article(&self, article: &ArticleRecord, text: &SearchText) -> Result<()>;

    /// Makes `next` (revision = current + 1) the current revision, if the
    /// current etag is `expected_etag`; ABORTED otherwise. Of concurrent
    /// updates with the same etag exactly one wins. The links written are
    /// `next`'s refitted to those committed at that moment ([`super::refit_links`]),
    /// so an attach or detach that lands between the caller's read and this
    /// write is kept; returns them.
    async fn update_article(
        &self,
        expected_etag: &str,
        next: &ArticleRecord,
        text: &SearchText,
    ) -> Result<Vec<MediaLink>>;

    /// Soft-deletes; with `expected_etag`, only if it is current (else
    /// ABORTED); FAILED_PRECONDITION under legal hold.
    async fn delete_article(&self, id: &ArticleId, expected_etag: Option<&str>) -> Result<()>;

    /// Brings back a soft-deleted article.
    async fn undelete_article(&self, id: &ArticleId) -> Result<ArticleRecord>;

    /// Sets or clears the legal hold of a live article.
    async fn set_legal_hold(&self, id: &ArticleId, hold: bool) -> Result<ArticleRecord>;

    /// Articles soft-deleted before `deleted_before` and not on hold, at most `limit`.
    async fn purgeable_articles(&self, deleted_before: DateTime<Utc>, limit: u32) -> Result<Vec<ArticleId>>;

    /// Removes a soft-deleted article (not on hold) with every revision and
    /// returns the body objects that no record references any more.
    async fn purge_article(&self, id: &ArticleId) -> Result<Vec<BlobKey>>;

    /// Records an exported article (reindex): every revision, links, views,
    /// deletion and hold. Its clips must be recorded first.
    async fn restore_article(&self, export: &ArticleExport, text: &SearchText) -> Result<()>;
}

/// Article reads: one article, its revisions, listings, exports.
///
/// Implemented in `sql/reads.rs`.
#[async_trait]
pub trait ArticleReads: Send + Sync {
    /// The current revision, or `revision` when given; NOT_FOUND when deleted.
    async fn get_article(&self, id: &ArticleId, revision: Option<i64>) -> Result<ArticleRecord>;

    /// Revisions, newest first, older than `before_revision` when given.
    async fn list_revisions(
        &self,
        id: &ArticleId,
        before_revision: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ArticleRecord>>;

    /// A page of a listing: which articles, at which revision, in order
    /// (newest publish time first), without their fields.
    async fn list_article_keys(&self, query: &ArticleQuery) -> Result<ListedPage>;

    /// The current revisions of those of `ids` that are live, with their
    /// links, in no particular order.
    async fn current_articles(&self, ids: &[ArticleId]) -> Result<Vec<ArticleRecord>>;

    /// A page of a listing with every article's fields (the keys, then
    /// their records; an article deleted in between is left out).
    async fn list_articles(&self, query: &ArticleQuery) -> Result<ArticlePage> {
        let page = self.list_article_keys(query).await?;
        let ids: Vec<ArticleId> = page.listed.iter().map(|listed| listed.id.clone()).collect();
        let mut records: std::collections::HashMap<ArticleId, ArticleRecord> =
            self.current_articles(&ids).await?.into_iter().map(|record| (record.id.clone(), record)).collect();
        let articles = ids.iter().filter_map(|id| records.remove(id)).collect();
        Ok(ArticlePage { articles, next: page.next })
    }

    /// Everything about an article, deleted or not; `None` once purged.
    async fn export_article(&self, id: &ArticleId) -> Result<Option<ArticleExport>>;
}

/// What the search index is built from: live articles' current revisions
/// with their links and bodies.
///
/// Implemented in `sql/search.rs`.
#[async_trait]
pub trait SearchSource: Send + Sync {
    /// Live articles in id order after `after`, at most `limit` (a rebuild).
    async fn indexable_articles(&self, after: Option<&ArticleId>, limit: u32) -> Result<Vec<IndexedArticle>>;

    /// Those of `ids` that are live (a deleted or purged one is left out).
    async fn indexable_articles_by_id(&self, ids: &[ArticleId]) -> Result<Vec<IndexedArticle>>;

    /// The articles linking any of `media` (whose caption words they hold).
    async fn articles_linking(&self, media: &[MediaId]) -> Result<Vec<ArticleId>>;
}

/// View counts: added up in the database, written to manifests later.
///
/// Implemented in `sql/views.rs`.
#[async_trait]
pub trait ViewStore: Send + Sync {
    /// Adds `count` views atomically and returns the new total.
    async fn record_views(&self, id: &ArticleId, count: i64) -> Result<i64>;

    /// Articles whose view count moved since their manifest was written,
    /// in id order after `after`, at most `limit`.
    async fn articles_with_unwritten_views(&self, after: Option<&ArticleId>, limit: u32) -> Result<Vec<ArticleId>>;

    /// Notes that the article's manifest now holds `view_count` views.
    async fn manifest_views_written(&self, id: &ArticleId, view_count: i64) -> Result<()>;
}

/// Clip records: recorded, found, listed and deleted.
///
/// Implemented in `sql/media.rs`.
#[async_trait]
pub trait MediaStore: Send + Sync {
    /// Records a clip whose bytes are already stored.
    async fn insert_media(&self, media: &MediaRecord) -> Result<()>;

    /// Records a clip sharing the original and rendition of a recorded clip,
    /// atomically with the check that a record still names them; ABORTED
    /// (`Reason::CopySourceGone`) when none does any more (the bytes are then
    /// being deleted and must be stored anew).
    async fn insert_media_copy(&self, media: &MediaRecord) -> Result<()>;

    /// Removes a clip's record. FAILED_PRECONDITION while an article links
    /// it (`MEDIA_IN_USE`), unless `force`, which first detaches it from
    /// each; even then while such an article is under legal hold
    /// (`LEGAL_HOLD`). Returns the detached articles and those of the clip's
    /// objects no record names any more.
    async fn delete_media(&self, id: &MediaId, force: bool) -> Result<DeletedMedia>;

    async fn get_media(&self, id: &MediaId) -> Result<MediaRecord>;

    /// Clips, newest first, after `after`, at most `limit`.
    async fn list_media(&self, after: Option<&MediaCursor>, limit: u32) -> Result<Vec<MediaRecord>>;

    /// A clip whose original has exactly this SHA-256 and size, if any.
    async fn find_media_by_content(&self, sha256: &str, size_bytes: u64) -> Result<Option<MediaRecord>>;
}

/// Links between articles and clips.
///
/// Implemented in `sql/links.rs`.
/// A clip's caption tracks (`sql/captions.rs`). Each change bumps the
/// clip's revision and is in the change feed, in one transaction.
#[async_trait]
pub trait CaptionStore: Send + Sync {
    /// Records `track`, replacing the clip's track of that id; when
    /// `expected_etag` is set it must be the clip's etag (ETAG_MISMATCH).
    /// `cues` are the track's words, for search.
    async fn put_caption_track(
        &self,
        track: &CaptionTrackRecord,
        cues: &[TimedText],
        expected_etag: Option<&str>,
    ) -> Result<TrackChange>;

    /// Deletes the clip's track `track_id` (CAPTION_TRACK_NOT_FOUND when it
    /// has none), checking `expected_etag` as above.
    async fn delete_caption_track(
        &self,
        media: &MediaId,
        track_id: &str,
        expected_etag: Option<&str>,
    ) -> Result<TrackChange>;

    /// The clip's tracks by id (none for a clip that does not exist).
    async fn caption_tracks(&self, media: &MediaId) -> Result<Vec<CaptionTrackRecord>>;

    /// Records tracks as a manifest describes them, without a change or a
    /// new revision (a rebuild from the bucket).
    async fn restore_caption_tracks(&self, tracks: &[(CaptionTrackRecord, Vec<TimedText>)]) -> Result<()>;
}

/// What a change of a clip's tracks did.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackChange {
    /// The clip after the change (its new revision).
    pub media: MediaRecord,
    /// The track replaced or deleted, whose files no record names now.
    pub previous: Option<CaptionTrackRecord>,
}

/// A clip's poster (`sql/posters.rs`): each change bumps the clip's revision
/// and is in the change feed, in one transaction.
#[async_trait]
pub trait PosterStore: Send + Sync {
    /// Records `poster` as the clip's, replacing the one it had (a new
    /// revision, a change). With `only_if_none` (a poster made from the
    /// clip, derived data): only while it has none (`None` otherwise), and
    /// the clip's revision stays. `expected_etag`, when set, must be the
    /// clip's etag (ETAG_MISMATCH).
    async fn set_poster(
        &self,
        poster: &PosterRecord,
        only_if_none: bool,
        expected_etag: Option<&str>,
    ) -> Result<Option<PosterChange>>;

    /// The clip's poster, if it has one yet.
    async fn poster(&self, media: &MediaId) -> Result<Option<PosterRecord>>;

    /// Records a poster as a manifest describes it (a rebuild), without a
    /// change or a new revision.
    async fn restore_poster(&self, poster: &PosterRecord) -> Result<()>;
}

/// Pictures derived from a clip (`sql/pictures.rs`): recorded without a
/// change or a new revision, like the poster made after upload.
#[async_trait]
pub trait PictureStore: Send + Sync {
    /// The clip's picture `name`, if recorded, and how many it has.
    async fn picture(&self, media: &MediaId, name: &str) -> Result<PictureLookup>;

    /// Records `picture` unless the clip has one of that name, or `bound`
    /// pictures (when given), or is gone.
    async fn add_picture(&self, picture: &PictureRecord, bound: Option<u32>) -> Result<PictureAdded>;

    /// The clip's pictures by name.
    async fn pictures(&self, media: &MediaId) -> Result<Vec<PictureRecord>>;

    /// Forgets the clip's picture `name` while its object is `object_key`
    /// (an object found missing: the picture is made again).
    async fn remove_picture(&self, media: &MediaId, name: &str, object_key: &BlobKey) -> Result<()>;

    /// Records pictures as a manifest describes them (a rebuild).
    async fn restore_pictures(&self, pictures: &[PictureRecord]) -> Result<()>;
}

/// What a poster change did.
#[derive(Debug, Clone, PartialEq)]
pub struct PosterChange {
    /// The clip after the change (its new revision).
    pub media: MediaRecord,
    /// The poster replaced, whose object no record names now.
    pub previous: Option<PosterRecord>,
}

#[async_trait]
pub trait LinkStore: Send + Sync {
    /// Links `media` to the article's `reference` (added when the article
    /// names no such reference) and returns the article.
    async fn attach_media(&self, article: &ArticleId, reference: &str, media: &MediaId) -> Result<ArticleRecord>;

    /// Unlinks the clip of the article's `reference`: a reference the body
    /// names stays without a clip, an added one goes. NOT_FOUND when no
    /// clip is linked there.
    async fn detach_media(&self, article: &ArticleId, reference: &str) -> Result<ArticleRecord>;
}

/// The change feed: what committed, in commit order, and where manifests stand.
///
/// Implemented in `sql/changes.rs`.
#[async_trait]
pub trait ChangeFeed: Send + Sync {
    /// Where the change feed stands.
    async fn change_feed(&self) -> Result<changes::FeedPosition>;

    /// Up to `limit` changes after seq `after`, in commit order.
    async fn changes_after(&self, after: i64, limit: u32) -> Result<Vec<changes::ChangeEvent>>;

    /// Records that the manifests of what changed up to `seq` are current
    /// (never moves back).
    async fn set_manifests_through(&self, seq: i64) -> Result<()>;

    /// Deletes up to `limit` of the oldest changes committed before
    /// `before` (and at most up to `manifests_through`); returns how many went.
    async fn prune_changes(&self, before: DateTime<Utc>, limit: u32) -> Result<u64>;

    /// The last seq known committed, here or on another replica; it moves
    /// as changes commit. Watchers poll as well: a notification from
    /// another replica can be lost.
    async fn change_signal(&self) -> Result<tokio::sync::watch::Receiver<i64>>;
}

/// Which stored objects the records name: what the sweep and fixity audits ask.
///
/// Implemented in `sql/objects.rs`.
#[async_trait]
pub trait ObjectIndex: Send + Sync {
    /// The objects of `kind` the records name, each key once with the size
    /// and SHA-256 recorded for it, in key order after `after`: what a
    /// fixity audit re-reads.
    async fn recorded_objects(&self, kind: ObjectKind, after: Option<&BlobKey>, limit: u32) -> Result<Vec<ObjectRef>>;

    /// Of `keys`, those a record names: a body of any revision, a clip's
    /// original or rendition, or the object of an unfinished upload session.
    async fn referenced_objects(&self, keys: &[BlobKey]) -> Result<HashSet<BlobKey>>;

    /// True when no article and no clip is recorded.
    async fn is_empty(&self) -> Result<bool>;

    /// Of `multipart_ids`, those an unfinished session writes: the open
    /// multipart uploads that are not abandoned.
    async fn multipart_ids_in_use(&self, multipart_ids: &[String]) -> Result<HashSet<String>>;

    /// Of `ids`, the clips that have a record.
    async fn recorded_media(&self, ids: &[MediaId]) -> Result<HashSet<MediaId>>;
}

/// How the store is: reachable, and what it holds.
///
/// Implemented in `sql/status.rs`.
#[async_trait]
pub trait StoreStatus: Send + Sync {
    /// What the archive holds, counted in one consistent read, and the
    /// last fixity audit recorded.
    async fn statistics(&self) -> Result<ArchiveStatistics>;

    /// Keeps what a fixity audit that ran to its end found.
    async fn record_fixity_audit(&self, report: &FixityReport) -> Result<()>;

    /// Answers when the database does (a cheap round trip, for readiness).
    async fn ping(&self) -> Result<()>;
}

/// The whole store: every concern's trait. Anything that has them all is one.
pub trait MetadataStore:
    ArticleStore
    + ArticleReads
    + SearchSource
    + ViewStore
    + MediaStore
    + CaptionStore
    + PosterStore
    + PictureStore
    + LinkStore
    + ChangeFeed
    + ObjectIndex
    + StoreStatus
    + UploadSessionStore
    + std::fmt::Debug
    + 'static
{
}

impl<T> MetadataStore for T where
    T: ArticleStore
        + ArticleReads
        + SearchSource
        + ViewStore
        + MediaStore
        + CaptionStore
        + PosterStore
        + PictureStore
        + LinkStore
        + ChangeFeed
        + ObjectIndex
        + StoreStatus
        + UploadSessionStore
        + std::fmt::Debug
        + 'static
{
}
