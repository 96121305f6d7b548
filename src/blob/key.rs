//! Object keys, built only from ids this service generated or checked.

use crate::ids::{ArticleId, MediaId};
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

    /// The self-describing record of an article (see `crate::manifest`).
    pub fn article_manifest(article: &ArticleId) -> Self {
        Self(format!("articles/{article}/{MANIFEST_NAME}"))
    }

    /// The self-describing record of a clip.
    pub fn media_manifest(media: &MediaId) -> Self {
        Self(format!("media/{media}/{MANIFEST_NAME}"))
    }

    pub fn is_manifest(&self) -> bool {
        self.0.ends_with(&format!("/{MANIFEST_NAME}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
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
}
