-- View counts reach the article manifests in batches (Archive::flush_views),
-- not on every RecordView: the count the manifest holds is kept beside the
-- live one, and the articles where they differ are indexed.
ALTER TABLE articles ADD COLUMN manifest_view_count INTEGER NOT NULL DEFAULT 0;
UPDATE articles SET manifest_view_count = view_count WHERE view_count <> 0;
CREATE INDEX articles_with_unwritten_views ON articles (id) WHERE view_count <> manifest_view_count;
