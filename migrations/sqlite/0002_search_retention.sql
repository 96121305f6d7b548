-- Retention: a legal hold blocks deletion and purge.
ALTER TABLE articles ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0;

CREATE INDEX articles_deleted ON articles (delete_time_us) WHERE delete_time_us IS NOT NULL;

-- The current text of each article, for snippets, and its folded tokens
-- (lowercase ASCII words, see src/search.rs) for full-text search.
CREATE TABLE article_texts (
    article_id TEXT PRIMARY KEY NOT NULL REFERENCES articles (id),
    body       TEXT NOT NULL,
    folded     TEXT NOT NULL
) STRICT;

-- Rows share the rowid of their article_texts row.
CREATE VIRTUAL TABLE article_fts USING fts5 (folded, tokenize = 'unicode61 remove_diacritics 0');
