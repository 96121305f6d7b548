-- Search filters beside the words. Each article's author and keywords become
-- tokens of a second FTS5 column (`author` or `keyword` and the hex of the
-- exact value), so a filtered search intersects posting lists instead of
-- testing every match of its words against the article's rows. The
-- filters' own tests stay in the query, exact; these tokens only narrow the
-- walk. Searched words are not held to a column (a column filter doubles
-- the cost of a common word): a word spelled like a token finds its tags.
DROP TABLE article_fts;

CREATE VIRTUAL TABLE article_fts USING fts5 (folded, tags, tokenize = 'unicode61 remove_diacritics 0');

-- Ranking weighs the words only: every match of a filter holds its token.
INSERT INTO article_fts (article_fts, rank) VALUES ('rank', 'bm25(1.0, 0.0)');

-- The same tokens as the text writes put (`replace_text`).
INSERT INTO article_fts (rowid, folded, tags)
SELECT t.rowid, t.folded,
       CASE WHEN a.author = '' THEN '' ELSE 'author' || hex(a.author) END
       || COALESCE((SELECT group_concat(' keyword' || hex(k.keyword), '') FROM article_keywords k
                    WHERE k.article_id = t.article_id), '')
FROM article_texts t
JOIN articles a ON a.id = t.article_id;
