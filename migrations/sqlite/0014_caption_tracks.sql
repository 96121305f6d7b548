-- Caption tracks of clips (issue 30). A track's file is kept twice: as
-- uploaded (source_*) and as served, normalised WebVTT (served_*). Each
-- change of a clip's tracks bumps the clip's revision (its etag).
ALTER TABLE media ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;

CREATE TABLE caption_tracks (
    media_id       TEXT NOT NULL REFERENCES media (id),
    track_id       TEXT NOT NULL,
    language       TEXT NOT NULL,
    kind           TEXT NOT NULL,
    label          TEXT NOT NULL,
    source_format  TEXT NOT NULL,
    source_key     TEXT NOT NULL,
    source_size    INTEGER NOT NULL,
    source_sha256  TEXT NOT NULL,
    served_key     TEXT NOT NULL,
    served_size    INTEGER NOT NULL,
    served_sha256  TEXT NOT NULL,
    cue_count      INTEGER NOT NULL,
    end_ms         INTEGER NOT NULL,
    update_time_us INTEGER NOT NULL,
    PRIMARY KEY (media_id, track_id)
) STRICT;

-- The sweep and fixity audits look objects up by key.
CREATE INDEX caption_tracks_source_key ON caption_tracks (source_key);
CREATE INDEX caption_tracks_served_key ON caption_tracks (served_key);
