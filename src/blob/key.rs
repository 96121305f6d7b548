//! Object keys, built only from ids this service generated or checked.

use crate::ids::{ArticleId, MediaId, UploadId};
use chrono::{DateTime, Utc};
use std::fmt;

/// File name of manifests; no generated key ends like this.
const MANIFEST_NAME: &str = "manifest.json";

/// A checked object key: `/`-separated segments of `[a-z0-9._-]`, no `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

impl BlobKey {
    /// Parses a stored key (from the metadata store), refusing anything that
    /// could escape the storage root.
    pub fn parse(key: &str) -> Option<Self> {
        let segment_ok = |s: &str| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        };
        key.split('/').all(segment_ok).then(|| Self(key.to_owned()))
    }

    /// A new object for the body text of an article revision. Every write
    /// gets its own key, so a writer that loses a race never overwrites the
    /// winner's bytes and can delete its own.
    pub fn new_article_body(article: &ArticleId) -> Self {
        Self(format!("articles/{article}/bodies/{}.txt", uuid::Uuid::now_v7()))
    }

    /// A new object for the original bytes of a clip (unique per upload, as above).
    pub fn new_media_original(media: &MediaId) -> Self {
        Self(format!("media/{media}/original-{}", uuid::Uuid::now_v7()))
    }

    /// A new object for a clip's playback rendition (moov first).
    pub fn new_media_rendition(media: &MediaId) -> Self {
        Self(format!("media/{media}/faststart-{}.mp4", uuid::Uuid::now_v7()))
    }

    /// A new object for a caption file as uploaded (unique per upload, as above).
    pub fn new_caption_source(media: &MediaId) -> Self {
        Self(format!("media/{media}/captions/source-{}", uuid::Uuid::now_v7()))
    }

    /// A new object for a caption track as served (WebVTT).
    pub fn new_caption_served(media: &MediaId) -> Self {
        Self(format!("media/{media}/captions/{}.vtt", uuid::Uuid::now_v7()))
    }

    /// A new object for a clip's poster (`extension`: `jpg` or `png`).
    pub fn new_poster(media: &MediaId, extension: &str) -> Self {
        Self(format!("media/{media}/poster-{}.{extension}", uuid::Uuid::now_v7()))
    }

    /// A new object for a picture derived from a clip (a thumbnail, a
    /// storyboard's file; `extension`: `jpg`, `webp`, `vtt`).
    pub fn new_picture(media: &MediaId, extension: &str) -> Self {
        Self(format!("media/{media}/pictures/{}.{extension}", uuid::Uuid::now_v7()))
    }

    /// The bytes a tus upload received past its stored parts, when it
    /// stood at `committed_offset` with `length` of them. Named by both, so
    /// that a newer tail never overwrites the one the record still names.
    pub fn upload_tail(upload: &UploadId, committed_offset: u64, length: u64) -> Self {
        Self(format!("{}tail-{committed_offset}-{length}", Self::upload_prefix(upload)))
    }

    /// Where everything an unfinished upload keeps outside its parts lives.
    pub fn upload_prefix(upload: &UploadId) -> String {
        format!("uploads/{upload}/")
    }

    /// The self-describing record of an article (see `crate::domain::manifest`).
    pub fn article_manifest(article: &ArticleId) -> Self {
        Self(format!("articles/{article}/{MANIFEST_NAME}"))
    }

    /// The self-describing record of a clip.
    pub fn media_manifest(media: &MediaId) -> Self {
        Self(format!("media/{media}/{MANIFEST_NAME}"))
    }

    /// True for a picture stored by versions before pictures had records
    /// (`media/{id}/thumbnails/…`, `media/{id}/storyboard/…`): nothing
    /// reads them now; the sweep deletes them.
    pub fn is_unrecorded_picture(&self) -> bool {
        matches!(self.0.split('/').collect::<Vec<_>>().as_slice(), ["media", _, "thumbnails" | "storyboard", _])
    }

    pub fn is_manifest(&self) -> bool {
        self.0.ends_with(&format!("/{MANIFEST_NAME}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whose object this is and when its key was made, for the objects whose
    /// keys are generated per write (bodies, originals, renditions, caption
    /// files, posters, pictures); `None` for manifests and for anything this service did not
    /// name. The time is the UUIDv7's, taken before the first byte was
    /// written.
    pub fn origin(&self) -> Option<ObjectOrigin> {
        let segments: Vec<&str> = self.0.split('/').collect();
        let (owner, name) = match segments.as_slice() {
            ["articles", id, "bodies", name] => {
                (KeyOwner::Article(ArticleId::parse(id).ok()?), name.strip_suffix(".txt")?)
            }
            ["media", id, name] => {
                let uuid = name
                    .strip_prefix("original-")
                    .or_else(|| name.strip_prefix("faststart-").and_then(|n| n.strip_suffix(".mp4")))
                    .or_else(|| {
                        let poster = name.strip_prefix("poster-")?;
                        poster.strip_suffix(".jpg").or_else(|| poster.strip_suffix(".png"))
                    })?;
                (KeyOwner::Media(MediaId::parse(id).ok()?), uuid)
            }
            ["media", id, "captions", name] => {
                let uuid = name.strip_prefix("source-").or_else(|| name.strip_suffix(".vtt"))?;
                (KeyOwner::Media(MediaId::parse(id).ok()?), uuid)
            }
            ["media", id, "pictures", name] => {
                let uuid = [".jpg", ".webp", ".vtt"].iter().find_map(|extension| name.strip_suffix(extension))?;
                (KeyOwner::Media(MediaId::parse(id).ok()?), uuid)
            }
            _ => return None,
        };
        // Only the hyphenated form this service writes (parse_str takes others too).
        let uuid = uuid::Uuid::parse_str(name).ok().filter(|u| u.get_version_num() == 7 && name.len() == 36)?;
        let (seconds, nanos) = uuid.get_timestamp()?.to_unix();
        let created = DateTime::from_timestamp(i64::try_from(seconds).ok()?, nanos)?;
        Some(ObjectOrigin { owner, created })
    }
}

/// The article or clip a generated object belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyOwner {
    Article(ArticleId),
    Media(MediaId),
}

/// What a generated key tells of its object; see [`BlobKey::origin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectOrigin {
    pub owner: KeyOwner,
    pub created: DateTime<Utc>,
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_the_root() {
        assert!(BlobKey::parse("media/abc/original").is_some());
        for bad in ["", "/abs", "a//b", "../x", "a/../b", "a/./b", "A/b", "a b", "a/b/"] {
            assert!(BlobKey::parse(bad).is_none(), "{bad:?} accepted");
        }
    }

    #[test]
    fn generated_keys_tell_their_owner_and_age() {
        let (article, media) = (ArticleId::parse("giao-ban").unwrap(), MediaId::parse("clip-1").unwrap());
        let before = Utc::now() - chrono::Duration::milliseconds(1);
        for (key, owner) in [
            (BlobKey::new_article_body(&article), KeyOwner::Article(article.clone())),
            (BlobKey::new_media_original(&media), KeyOwner::Media(media.clone())),
            (BlobKey::new_media_rendition(&media), KeyOwner::Media(media.clone())),
            (BlobKey::new_caption_source(&media), KeyOwner::Media(media.clone())),
            (BlobKey::new_caption_served(&media), KeyOwner::Media(media.clone())),
            (BlobKey::new_poster(&media, "jpg"), KeyOwner::Media(media.clone())),
            (BlobKey::new_poster(&media, "png"), KeyOwner::Media(media.clone())),
            (BlobKey::new_picture(&media, "jpg"), KeyOwner::Media(media.clone())),
            (BlobKey::new_picture(&media, "webp"), KeyOwner::Media(media.clone())),
            (BlobKey::new_picture(&media, "vtt"), KeyOwner::Media(media.clone())),
        ] {
            let origin = key.origin().unwrap_or_else(|| panic!("{key} has no origin"));
            assert_eq!(origin.owner, owner, "{key}");
            assert!(origin.created >= before && origin.created <= Utc::now(), "{key}: {origin:?}");
        }
        let v4 = "6f1c2c8e-54a4-4d6c-9f57-3f2b8f0e8a11";
        for other in [
            BlobKey::article_manifest(&article),
            BlobKey::media_manifest(&media),
            BlobKey::parse(&format!("media/clip-1/original-{v4}")).unwrap(),
            BlobKey::parse(&format!("media/clip-1/original-{}", uuid::Uuid::now_v7().simple())).unwrap(),
            BlobKey::parse("media/clip-1/original-not-a-uuid").unwrap(),
            BlobKey::parse("articles/giao-ban/bodies/x/y.txt").unwrap(),
            BlobKey::parse("elsewhere/thing").unwrap(),
            BlobKey::parse("media/clip-1/thumbnails/1040-160x90.jpg").unwrap(),
            BlobKey::parse(&format!("media/clip-1/pictures/{}.png", uuid::Uuid::now_v7())).unwrap(),
        ] {
            assert_eq!(other.origin(), None, "{other}");
        }
        assert!(BlobKey::parse("media/clip-1/storyboard/sprite.jpg").unwrap().is_unrecorded_picture());
        assert!(!BlobKey::new_picture(&media, "jpg").is_unrecorded_picture());
    }
}
