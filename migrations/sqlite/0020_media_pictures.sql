-- Pictures derived from a clip (issue 30): thumbnails made so far and its
-- storyboard, each an object with a record, so manifests name them, a
-- rebuild restores them, fixity audits cover them and the sweep knows
-- them. `name` is the picture within its clip (`thumbnails/1040-160x90.jpg`,
-- `storyboard.vtt`); its object's key is generated per write. Replaces the
-- counter `media.thumbnails_stored`, no longer read.
CREATE TABLE media_pictures (
    media_id       TEXT NOT NULL REFERENCES media (id),
    name           TEXT NOT NULL,
    object_key     TEXT NOT NULL,
    size_bytes     INTEGER NOT NULL,
    sha256         TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    create_time_us INTEGER NOT NULL,
    PRIMARY KEY (media_id, name)
) STRICT;

CREATE INDEX media_pictures_object_key ON media_pictures (object_key);
