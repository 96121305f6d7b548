-- The change feed (WatchChanges): every committed change's event, written
-- in the change's own transaction. `seq` comes from change_feed.last_seq,
-- raised by the writing transaction as its last statement: its row lock,
-- held to commit, makes seqs follow commit order with no gaps (a sequence
-- would hand out numbers before commit, and a late commit would land
-- behind a reader). `feed_id` tells this database's cursors from
-- another's; changes at or below `pruned_through` are gone. The manifests of
-- the resources changed up to `manifests_through` are known current (the
-- manifest repair pass); no change above it is pruned.
CREATE TABLE change_feed (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    feed_id        TEXT NOT NULL,
    last_seq       BIGINT NOT NULL,
    pruned_through BIGINT NOT NULL,
    manifests_through BIGINT NOT NULL DEFAULT 0
);
INSERT INTO change_feed (id, feed_id, last_seq, pruned_through) VALUES (1, substr(md5(random()::text), 1, 16), 0, 0);

CREATE TABLE changes (
    seq            BIGINT PRIMARY KEY,
    commit_time_us BIGINT NOT NULL,
    kind           TEXT NOT NULL,
    name           TEXT NOT NULL,
    detail         TEXT NOT NULL  -- JSON: what a consumer acts on (etag, title, ...)
);
CREATE INDEX changes_by_time ON changes (commit_time_us);
