-- A clip's pictures go with its row (issue 30): a replica of the version
-- before pictures had records deletes a clip without knowing this table,
-- and the foreign key would refuse it. Their objects, no longer named,
-- are the sweep's after its grace period. (SQLite changes a foreign key by
-- rebuilding the table.)
CREATE TABLE media_pictures_new (
    media_id       TEXT NOT NULL REFERENCES media (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    object_key     TEXT NOT NULL,
    size_bytes     INTEGER NOT NULL,
    sha256         TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    create_time_us INTEGER NOT NULL,
    PRIMARY KEY (media_id, name)
) STRICT;

INSERT INTO media_pictures_new SELECT media_id, name, object_key, size_bytes, sha256, content_type, create_time_us
FROM media_pictures;
DROP TABLE media_pictures;
ALTER TABLE media_pictures_new RENAME TO media_pictures;
CREATE INDEX media_pictures_object_key ON media_pictures (object_key);
