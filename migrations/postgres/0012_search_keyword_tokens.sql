-- Each keyword of an article is also a token of its search vector
-- (`keyword` and the hex of the exact value), so one GIN index finds the
-- texts holding both the words and the keyword, and the planner's estimate
-- of such a query counts the keyword's selectivity. The `keywords` array
-- stays the exact test.
UPDATE article_search s
SET vector = to_tsvector('simple', t.folded || COALESCE(
    (SELECT string_agg(' keyword' || encode(convert_to(k.keyword, 'UTF8'), 'hex'), '')
     FROM article_keywords k WHERE k.article_id = s.article_id), ''))
FROM article_texts t
WHERE t.article_id = s.article_id;
