//! The paths of a clip's files under its prefix token, the one place they
//! are written: what `GetPlaybackUrl` signs and what the gateway serves.

use crate::{format::picture::Format, ids::MediaId};

/// `/media/{id}/`: what a clip's prefix token signs.
pub fn clip_prefix(id: &MediaId) -> String {
    format!("/media/{id}/")
}

/// A caption track's file below [`clip_prefix`]: `captions/{track_id}.vtt`.
pub fn track_file(track_id: &str) -> String {
    format!("captions/{track_id}.vtt")
}

/// The track id of a caption file's path below the prefix.
pub fn track_of_file(file: &str) -> Option<&str> {
    file.strip_prefix("captions/").and_then(|name| name.strip_suffix(".vtt"))
}

/// Thumbnails below the prefix (`?time=SECONDS&width=W&height=H`), as
/// JPEG; [`thumbnail_format`] reads the other formats' names.
pub const THUMBNAIL_FILE: &str = "thumbnail.jpg";

/// The format of a thumbnail file's name below the prefix
/// (`thumbnail.jpg`, `thumbnail.webp`).
pub fn thumbnail_format(file: &str) -> Option<Format> {
    file.strip_prefix("thumbnail.").and_then(Format::from_extension)
}

/// The poster below the prefix (JPEG or PNG: its Content-Type says).
pub const POSTER_FILE: &str = "poster";

/// The storyboard's WebVTT below the prefix, and its sprite, which the
/// WebVTT names relatively (so both must sit side by side).
pub const STORYBOARD_FILE: &str = "storyboard.vtt";
pub const STORYBOARD_SPRITE_FILE: &str = "storyboard.jpg";
