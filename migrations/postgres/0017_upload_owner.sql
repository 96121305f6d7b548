-- Who started each resumable upload (the token's name; `anonymous` with
-- auth off): only that caller, or one with the admin scope, may resume,
-- query or cancel it. Sessions from before are anyone's ('').
ALTER TABLE upload_sessions ADD COLUMN owner TEXT NOT NULL DEFAULT '';
