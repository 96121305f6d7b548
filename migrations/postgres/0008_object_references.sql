-- The sweep of unreferenced objects (Archive::sweep_unreferenced) asks, for a
-- batch of listed object keys, which ones a record still names.
CREATE INDEX article_revisions_by_body ON article_revisions (body_key);
CREATE INDEX media_by_object ON media (blob_key);
CREATE INDEX media_by_rendition ON media (rendition_key) WHERE rendition_key IS NOT NULL;
CREATE INDEX upload_sessions_by_object ON upload_sessions (blob_key);
