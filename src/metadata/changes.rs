//! The change feed's records: what a store writes beside each change, in
//! the change's own transaction, numbered in commit order (see the
//! migrations `*_changes.sql`). The domain streams them (WatchChanges).

use super::{ArticleRecord, MediaRecord};
use crate::ids::{ArticleId, MediaId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Declares [`ChangeKind`] from one list: each kind and the name the stores
/// keep, which is also its protobuf value's name (`CHANGE_KIND_` and the
/// name in capitals; `service::convert` maps by it and a test holds the two
/// lists equal).
macro_rules! change_kinds {
    ($($kind:ident = $name:literal,)+) => {
        /// What changed. The names are what the stores keep.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ChangeKind {
            $($kind,)+
        }

        impl ChangeKind {
            pub const ALL: &[ChangeKind] = &[$(ChangeKind::$kind,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ChangeKind::$kind => $name,)+
                }
            }
        }
    };
}

change_kinds! {
    ArticleCreated = "article_created",
    ArticleUpdated = "article_updated",
    ArticleDeleted = "article_deleted",
    ArticleUndeleted = "article_undeleted",
    ArticlePurged = "article_purged",
    LegalHoldSet = "legal_hold_set",
    LegalHoldCleared = "legal_hold_cleared",
    ArticleViews = "article_views",
    MediaUploaded = "media_uploaded",
    MediaAttached = "media_attached",
    MediaDetached = "media_detached",
    MediaDeleted = "media_deleted",
    MediaCaptionsChanged = "media_captions_changed",
    MediaPosterSet = "media_poster_set",
}

impl ChangeKind {
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|kind| kind.as_str() == text)
    }
}

/// What a change tells beside its kind and resource; empty fields are left
/// out of the stored JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChangeDetail {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub etag: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub revision: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish_time_us: Option<i64>,
    #[serde(skip_serializing_if = "is_zero")]
    pub view_count: i64,
    /// The clip of a link (`media/ID`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub media: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reference: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub filename: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub content_type: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub size_bytes: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sha256: String,
    /// A caption track (`media/ID/captions/TRACK`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub track: String,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// One change, as written beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    /// `articles/ID` or `media/ID`.
    pub name: String,
    pub detail: ChangeDetail,
}

impl Change {
    /// A change of an article, with its state after it.
    pub fn article(kind: ChangeKind, article: &ArticleRecord) -> Self {
        Self::article_state(
            kind,
            &article.id,
            &article.etag,
            article.revision,
            &article.title,
            article.publish_time.timestamp_micros(),
        )
    }

    /// The same from the columns of an article's row.
    pub fn article_state(
        kind: ChangeKind,
        id: &ArticleId,
        etag: &str,
        revision: i64,
        title: &str,
        publish_time_us: i64,
    ) -> Self {
        let detail = ChangeDetail {
            etag: etag.to_owned(),
            revision,
            title: title.to_owned(),
            publish_time_us: Some(publish_time_us),
            ..Default::default()
        };
        Self { kind, name: id.name(), detail }
    }

    pub fn article_purged(id: &ArticleId) -> Self {
        Self { kind: ChangeKind::ArticlePurged, name: id.name(), detail: ChangeDetail::default() }
    }

    pub fn article_views(id: &ArticleId, view_count: i64) -> Self {
        let detail = ChangeDetail { view_count, ..Default::default() };
        Self { kind: ChangeKind::ArticleViews, name: id.name(), detail }
    }

    pub fn media_uploaded(media: &MediaRecord) -> Self {
        let detail = ChangeDetail {
            filename: media.filename.clone(),
            content_type: media.content_type.clone(),
            size_bytes: media.object.size_bytes as i64,
            sha256: media.object.sha256.clone(),
            ..Default::default()
        };
        Self { kind: ChangeKind::MediaUploaded, name: media.id.name(), detail }
    }

    /// A clip linked to (or unlinked from) an article at `reference`.
    pub fn link(kind: ChangeKind, article: &ArticleId, reference: &str, media: &MediaId) -> Self {
        let detail = ChangeDetail { media: media.name(), reference: reference.to_owned(), ..Default::default() };
        Self { kind, name: article.name(), detail }
    }

    /// A caption track of `media` added, replaced or deleted; `media` as
    /// it is after the change.
    pub fn captions_changed(media: &MediaRecord, track_id: &str) -> Self {
        let detail =
            ChangeDetail { etag: media.etag(), track: super::track_name(&media.id, track_id), ..Default::default() };
        Self { kind: ChangeKind::MediaCaptionsChanged, name: media.id.name(), detail }
    }

    /// A clip's poster set; `media` as it is after the change.
    pub fn poster_set(media: &MediaRecord) -> Self {
        let detail = ChangeDetail { etag: media.etag(), ..Default::default() };
        Self { kind: ChangeKind::MediaPosterSet, name: media.id.name(), detail }
    }

    pub fn media_deleted(id: &MediaId) -> Self {
        Self { kind: ChangeKind::MediaDeleted, name: id.name(), detail: ChangeDetail::default() }
    }
}

/// A change as the feed holds it: numbered in commit order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeEvent {
    pub seq: i64,
    pub commit_time: DateTime<Utc>,
    pub change: Change,
}

/// Where a store's feed stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPosition {
    /// Tells this database's feed from another's.
    pub feed_id: String,
    /// The last change committed.
    pub last_seq: i64,
    /// Changes up to this one are pruned.
    pub pruned_through: i64,
    /// The manifests of what changed up to this one are known current.
    pub manifests_through: i64,
}

#[cfg(test)]
mod tests {
    use super::ChangeKind;

    /// Each kind's stored name reads back as that kind (so no two share one).
    #[test]
    fn each_stored_name_parses_back_to_its_kind() {
        for &kind in ChangeKind::ALL {
            assert_eq!(ChangeKind::parse(kind.as_str()), Some(kind));
        }
    }
}
