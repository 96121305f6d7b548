-- Resumable uploads (src/metadata/uploads.rs).
CREATE TABLE upload_sessions (
    id               TEXT PRIMARY KEY,
    media_id         TEXT NOT NULL,
    filename         TEXT NOT NULL,
    content_type     TEXT NOT NULL,
    blob_key         TEXT NOT NULL,
    multipart_id     TEXT NOT NULL,
    part_size        BIGINT NOT NULL,
    committed_offset BIGINT NOT NULL,
    parts_done       BIGINT NOT NULL,
    -- Hex of the serialized SHA-256 state after committed_offset bytes.
    sha256_state     TEXT NOT NULL,
    crc32c           BIGINT NOT NULL,
    create_time_us   BIGINT NOT NULL,
    expire_time_us   BIGINT NOT NULL,
    finished         BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX upload_sessions_by_expiry ON upload_sessions (expire_time_us);

CREATE TABLE upload_parts (
    upload_id   TEXT NOT NULL REFERENCES upload_sessions (id),
    part_number BIGINT NOT NULL,
    etag        TEXT NOT NULL,
    size_bytes  BIGINT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
