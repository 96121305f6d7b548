-- Times are microseconds since the Unix epoch, UTC. Integers are BIGINT and
-- flags 0/1 so that rows read the same as from SQLite.

CREATE TABLE articles (
    id                         TEXT PRIMARY KEY,
    revision                   BIGINT NOT NULL,
    etag                       TEXT NOT NULL,
    title                      TEXT NOT NULL,
    author                     TEXT NOT NULL,
    keywords                   TEXT NOT NULL,
    publish_time_us            BIGINT NOT NULL,
    publish_utc_offset_seconds BIGINT NOT NULL,
    view_count                 BIGINT NOT NULL DEFAULT 0,
    body_key                   TEXT NOT NULL,
    body_size                  BIGINT NOT NULL,
    body_sha256                TEXT NOT NULL,
    create_time_us             BIGINT NOT NULL,
    update_time_us             BIGINT NOT NULL,
    delete_time_us             BIGINT,
    legal_hold                 BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX articles_by_publish_time ON articles (publish_time_us DESC, id DESC) WHERE delete_time_us IS NULL;
CREATE INDEX articles_by_author ON articles (author, publish_time_us DESC) WHERE delete_time_us IS NULL;
CREATE INDEX articles_deleted ON articles (delete_time_us) WHERE delete_time_us IS NOT NULL;

CREATE TABLE article_revisions (
    article_id                 TEXT NOT NULL REFERENCES articles (id),
    revision                   BIGINT NOT NULL,
    etag                       TEXT NOT NULL,
    title                      TEXT NOT NULL,
    author                     TEXT NOT NULL,
    keywords                   TEXT NOT NULL,
    publish_time_us            BIGINT NOT NULL,
    publish_utc_offset_seconds BIGINT NOT NULL,
    body_key                   TEXT NOT NULL,
    body_size                  BIGINT NOT NULL,
    body_sha256                TEXT NOT NULL,
    create_time_us             BIGINT NOT NULL,
    PRIMARY KEY (article_id, revision)
);

CREATE TABLE article_keywords (
    article_id TEXT NOT NULL REFERENCES articles (id),
    keyword    TEXT NOT NULL,
    PRIMARY KEY (article_id, keyword)
);

CREATE INDEX article_keywords_by_keyword ON article_keywords (keyword);

CREATE TABLE media (
    id             TEXT PRIMARY KEY,
    filename       TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    size_bytes     BIGINT NOT NULL,
    sha256         TEXT NOT NULL,
    blob_key       TEXT NOT NULL,
    create_time_us BIGINT NOT NULL
);

CREATE TABLE article_media (
    article_id TEXT NOT NULL REFERENCES articles (id),
    position   BIGINT NOT NULL,
    reference  TEXT NOT NULL,
    media_id   TEXT REFERENCES media (id),
    in_body    BIGINT NOT NULL,
    PRIMARY KEY (article_id, position)
);

-- The current text of each article and its folded tokens (src/search.rs);
-- the 'simple' configuration only splits on spaces and lowercases, so it
-- sees exactly the tokens SQLite's FTS5 sees.
CREATE TABLE article_texts (
    article_id TEXT PRIMARY KEY REFERENCES articles (id),
    body       TEXT NOT NULL,
    folded     TEXT NOT NULL,
    vector     TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', folded)) STORED
);

CREATE INDEX article_texts_vector ON article_texts USING GIN (vector);
