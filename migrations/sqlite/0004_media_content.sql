-- Identical bytes are stored once: clips are found by content.
CREATE INDEX media_by_content ON media (sha256, size_bytes);
