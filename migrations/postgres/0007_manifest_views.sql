-- View counts reach the article manifests in batches (Archive::flush_views),
-- not on every RecordView: the count the manifest holds is kept beside the
-- live one. No index finds the articles where they differ: one would name
-- view_count and so turn every view's UPDATE from a HOT update into one that
-- writes every index of the table; the flush scans instead, once a minute.
ALTER TABLE articles ADD COLUMN manifest_view_count BIGINT NOT NULL DEFAULT 0;
UPDATE articles SET manifest_view_count = view_count WHERE view_count <> 0;
