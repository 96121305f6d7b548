-- Search moved to a tantivy index on each replica (src/search), a
-- projection of this database fed by the change feed. The full-text table,
-- its plan estimates and token format go; article_texts keeps each
-- article's current body, which the index is built from and snippets are
-- cut from.
DROP FUNCTION search_estimates(text, text);
DROP TABLE article_search;
DROP TABLE search_tokens;
ALTER TABLE article_texts DROP COLUMN folded;
