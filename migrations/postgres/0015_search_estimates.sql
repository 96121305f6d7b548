-- The planner's estimates a search's plan is chosen by (see
-- `metadata::sql::search::postgres::choose_plan`), in one call: the live
-- texts, those holding every word of `words`, and those holding every word
-- of `walk_words` (the words a walk over one author's texts meets by
-- chance). The estimates come from EXPLAIN (FORMAT JSON), read as JSON, not
-- parsed from text; `format(%L)` quotes the words as a literal. VOLATILE:
-- PostgreSQL allows EXPLAIN only there.
CREATE FUNCTION search_estimates(words text, walk_words text)
RETURNS TABLE (live_texts float8, matches float8, walk_matches float8)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    plan json;
BEGIN
    SELECT c.reltuples::float8 INTO live_texts FROM pg_class c WHERE c.oid = 'article_search'::regclass;
    EXECUTE format('EXPLAIN (FORMAT JSON) SELECT 1 FROM article_search s '
                   'WHERE s.live = 1 AND s.vector @@ plainto_tsquery(''simple'', %L)', words) INTO plan;
    matches := (plan -> 0 -> 'Plan' ->> 'Plan Rows')::float8;
    IF walk_words = '' THEN
        walk_matches := live_texts;
    ELSIF walk_words = words THEN
        walk_matches := matches;
    ELSE
        EXECUTE format('EXPLAIN (FORMAT JSON) SELECT 1 FROM article_search s '
                       'WHERE s.live = 1 AND s.vector @@ plainto_tsquery(''simple'', %L)', walk_words) INTO plan;
        walk_matches := (plan -> 0 -> 'Plan' ->> 'Plan Rows')::float8;
    END IF;
    RETURN NEXT;
END $$;
