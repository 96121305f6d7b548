-- The words of each caption track, for search (issue 30): its cues as
-- plain text, a JSON array of {"s": start_ms, "e": end_ms, "t": text}.
-- Derived from the served file, which a rebuild from the bucket reads.
ALTER TABLE caption_tracks ADD COLUMN cues TEXT NOT NULL DEFAULT '[]';

-- Which articles link a clip: the search index re-reads them when the
-- clip's tracks change.
CREATE INDEX IF NOT EXISTS article_media_media_id ON article_media (media_id);
