-- Matching reads a narrow table (the words of each article and whether it
-- is live), never the bodies; seq orders texts by insertion for the newest-
-- matches window of search.
CREATE TABLE article_search (
    seq        BIGSERIAL PRIMARY KEY,
    article_id TEXT NOT NULL UNIQUE REFERENCES articles (id),
    live       BIGINT NOT NULL DEFAULT 1,
    vector     TSVECTOR NOT NULL
);

INSERT INTO article_search (article_id, live, vector)
SELECT t.article_id, CASE WHEN a.delete_time_us IS NULL THEN 1 ELSE 0 END, t.vector
FROM article_texts t JOIN articles a ON a.id = t.article_id
ORDER BY t.seq;

CREATE INDEX article_search_vector ON article_search USING GIN (vector);

DROP INDEX article_texts_vector;
DROP INDEX article_texts_seq;
ALTER TABLE article_texts DROP COLUMN vector;
ALTER TABLE article_texts DROP COLUMN seq;
