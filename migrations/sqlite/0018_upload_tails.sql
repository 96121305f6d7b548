-- Uploads over HTTP (tus): the size the client declared when it created the
-- upload (NULL for gRPC sessions, whose finish states it), and how many bytes
-- past the committed offset are kept in the upload's tail object
-- (`uploads/{id}/tail-{committed_offset}-{tail_bytes}`), so that a request
-- ending inside a part loses nothing.
ALTER TABLE upload_sessions ADD COLUMN declared_size BIGINT;
ALTER TABLE upload_sessions ADD COLUMN tail_bytes BIGINT NOT NULL DEFAULT 0;
