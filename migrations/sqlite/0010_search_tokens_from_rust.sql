-- From here on each article's filter tokens (the `tags` column of
-- article_fts: its author's and keywords' tokens) are what the application
-- derives (`archive::search::filter_tokens`) and hands to the store with the
-- words, never derived in SQL. `format` names the derivation the index
-- holds; when it is older than the application's, opening the store derives
-- every article's tokens again (`SqlMetadataStore::upgrade_search_tokens`).
-- 0 is what migration 0009 derived in SQL.
CREATE TABLE search_tokens (format INTEGER NOT NULL);
INSERT INTO search_tokens (format) VALUES (0);
