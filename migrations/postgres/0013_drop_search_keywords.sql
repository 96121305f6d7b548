-- Since 0012 a keyword filter is one token of the search vector: hex is
-- one-to-one, so matching the token is the exact test, and the keywords
-- array of 0011 with its GIN index only cost every text write.
DROP INDEX article_search_by_keyword;
ALTER TABLE article_search DROP COLUMN keywords;
