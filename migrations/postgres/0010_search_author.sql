-- Search filtered by author reads that author's words only: the author sits
-- beside the words, and the newest texts of one author are an index range.
ALTER TABLE article_search ADD COLUMN author TEXT NOT NULL DEFAULT '';
UPDATE article_search s SET author = a.author FROM articles a WHERE a.id = s.article_id;
ALTER TABLE article_search ALTER COLUMN author DROP DEFAULT;
CREATE INDEX article_search_by_author ON article_search (author, seq) WHERE live = 1;
