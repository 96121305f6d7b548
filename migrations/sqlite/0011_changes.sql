-- The change feed (WatchChanges): every committed change's event, written
-- in the change's own transaction. `seq` comes from change_feed.last_seq,
-- raised by the writing transaction as its last statement: the row lock
-- (PostgreSQL; SQLite has one writer) makes seqs follow commit order with
-- no gaps. `feed_id` tells this database's cursors from another's (a
-- rebuilt or another database); changes at or below `pruned_through` are gone.
-- The manifests of the resources changed up to `manifests_through` are known
-- current (the manifest repair pass); no change above it is pruned.
CREATE TABLE change_feed (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    feed_id        TEXT NOT NULL,
    last_seq       INTEGER NOT NULL,
    pruned_through INTEGER NOT NULL,
    manifests_through INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO change_feed (id, feed_id, last_seq, pruned_through) VALUES (1, lower(hex(randomblob(8))), 0, 0);

CREATE TABLE changes (
    seq            INTEGER PRIMARY KEY,
    commit_time_us INTEGER NOT NULL,
    kind           TEXT NOT NULL,
    name           TEXT NOT NULL,
    detail         TEXT NOT NULL  -- JSON: what a consumer acts on (etag, title, ...)
) STRICT;
CREATE INDEX changes_by_time ON changes (commit_time_us);
