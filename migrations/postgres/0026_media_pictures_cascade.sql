-- A clip's pictures go with its row (issue 30): a replica of the version
-- before pictures had records deletes a clip without knowing this table,
-- and the foreign key would refuse it. Their objects, no longer named,
-- are the sweep's after its grace period.
ALTER TABLE media_pictures
    DROP CONSTRAINT media_pictures_media_id_fkey,
    ADD CONSTRAINT media_pictures_media_id_fkey FOREIGN KEY (media_id) REFERENCES media (id) ON DELETE CASCADE;
