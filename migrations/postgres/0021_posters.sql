-- A clip's poster (issue 30): a frame made at ingest, or an image a client
-- set, kept as an object like the clip's other files.
CREATE TABLE posters (
    media_id       TEXT PRIMARY KEY REFERENCES media (id),
    object_key     TEXT NOT NULL,
    size_bytes     BIGINT NOT NULL,
    sha256         TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    -- The frame's time; NULL for an image a client set.
    time_ms        BIGINT,
    update_time_us BIGINT NOT NULL
);

CREATE INDEX posters_object_key ON posters (object_key);
