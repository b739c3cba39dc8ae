-- Version 6 (both dialects): the bytes an upload in flight may still bring under its
-- project's byte quota, reserved before the bytes arrive so that concurrent uploads cannot
-- each see the same free room.
ALTER TABLE uploads ADD COLUMN reserved BIGINT NOT NULL DEFAULT 0;
