-- Insertion order of searchable texts: search ranks within the newest matches.
ALTER TABLE article_texts ADD COLUMN seq BIGSERIAL;
CREATE INDEX article_texts_seq ON article_texts (seq);
