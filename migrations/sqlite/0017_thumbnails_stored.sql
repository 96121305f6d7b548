-- How many thumbnails of a clip are stored (issue 30): past a bound they
-- are made on each request instead, so a viewer holding a URL cannot fill
-- the bucket by asking every frame at every size.
ALTER TABLE media ADD COLUMN thumbnails_stored INTEGER NOT NULL DEFAULT 0;
