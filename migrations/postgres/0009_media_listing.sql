-- ListMedia pages through clips newest first.
CREATE INDEX media_by_create_time ON media (create_time_us DESC, id DESC);
