-- Search filtered by keyword tests the keywords beside the words instead of
-- joining each match to its article and keyword rows.
ALTER TABLE article_search ADD COLUMN keywords TEXT[] NOT NULL DEFAULT '{}';
UPDATE article_search s SET keywords = k.keywords
FROM (SELECT article_id, array_agg(keyword ORDER BY keyword) AS keywords FROM article_keywords GROUP BY article_id) k
WHERE k.article_id = s.article_id;
CREATE INDEX article_search_by_keyword ON article_search USING GIN (keywords) WHERE live = 1;
