-- Fixity audits that ran to their end, on any replica: GetArchiveStatistics
-- reports the last one (the console shows it). A row per audit, keyed by its
-- start; the oldest are pruned past a hundred.
CREATE TABLE fixity_audits (
    start_time_us BIGINT PRIMARY KEY,
    duration_us BIGINT NOT NULL,
    checked BIGINT NOT NULL,
    mismatched BIGINT NOT NULL,
    missing BIGINT NOT NULL,
    skipped BIGINT NOT NULL,
    bytes_read BIGINT NOT NULL
);
