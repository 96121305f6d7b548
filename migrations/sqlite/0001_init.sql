-- Times are microseconds since the Unix epoch, UTC.

CREATE TABLE articles (
    id                         TEXT PRIMARY KEY NOT NULL,
    revision                   INTEGER NOT NULL,
    etag                       TEXT NOT NULL,
    title                      TEXT NOT NULL,
    author                     TEXT NOT NULL,
    keywords                   TEXT NOT NULL,  -- JSON array, in order
    publish_time_us            INTEGER NOT NULL,
    publish_utc_offset_seconds INTEGER NOT NULL,
    view_count                 INTEGER NOT NULL DEFAULT 0,
    body_key                   TEXT NOT NULL,
    body_size                  INTEGER NOT NULL,
    body_sha256                TEXT NOT NULL,
    create_time_us             INTEGER NOT NULL,
    update_time_us             INTEGER NOT NULL,
    delete_time_us             INTEGER
) STRICT;

CREATE INDEX articles_by_publish_time ON articles (publish_time_us DESC, id DESC) WHERE delete_time_us IS NULL;
CREATE INDEX articles_by_author ON articles (author, publish_time_us DESC) WHERE delete_time_us IS NULL;

CREATE TABLE article_revisions (
    article_id                 TEXT NOT NULL REFERENCES articles (id),
    revision                   INTEGER NOT NULL,
    etag                       TEXT NOT NULL,
    title                      TEXT NOT NULL,
    author                     TEXT NOT NULL,
    keywords                   TEXT NOT NULL,
    publish_time_us            INTEGER NOT NULL,
    publish_utc_offset_seconds INTEGER NOT NULL,
    body_key                   TEXT NOT NULL,
    body_size                  INTEGER NOT NULL,
    body_sha256                TEXT NOT NULL,
    create_time_us             INTEGER NOT NULL,
    PRIMARY KEY (article_id, revision)
) STRICT;

CREATE TABLE article_keywords (
    article_id TEXT NOT NULL REFERENCES articles (id),
    keyword    TEXT NOT NULL,
    PRIMARY KEY (article_id, keyword)
) STRICT;

CREATE INDEX article_keywords_by_keyword ON article_keywords (keyword);

CREATE TABLE media (
    id             TEXT PRIMARY KEY NOT NULL,
    filename       TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    size_bytes     INTEGER NOT NULL,
    sha256         TEXT NOT NULL,
    blob_key       TEXT NOT NULL,
    create_time_us INTEGER NOT NULL
) STRICT;

CREATE TABLE article_media (
    article_id TEXT NOT NULL REFERENCES articles (id),
    position   INTEGER NOT NULL,
    reference  TEXT NOT NULL,
    media_id   TEXT REFERENCES media (id),
    in_body    INTEGER NOT NULL,
    PRIMARY KEY (article_id, position)
) STRICT;
