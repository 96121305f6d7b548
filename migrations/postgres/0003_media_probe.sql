-- End-to-end integrity, MP4 facts and the playback rendition of a clip.
ALTER TABLE media ADD COLUMN crc32c BIGINT NOT NULL DEFAULT 0;
ALTER TABLE media ADD COLUMN mp4_info TEXT;            -- JSON (src/mp4/probe.rs), NULL when not an MP4
ALTER TABLE media ADD COLUMN rendition_key TEXT;       -- faststart copy, NULL when the original plays as is
ALTER TABLE media ADD COLUMN rendition_size BIGINT;
ALTER TABLE media ADD COLUMN rendition_sha256 TEXT;
