-- Version 2 (both dialects): the life cycle of a blob row.
--   live        bytes published and servable
--   deleting    claimed by garbage collection; its bytes are being removed
--   quarantined scrub found its bytes damaged and moved them aside
-- created_ms now means "last uploaded or linked": the garbage-collection grace window runs
-- from it.
ALTER TABLE blobs ADD COLUMN state TEXT NOT NULL DEFAULT 'live';
CREATE INDEX blobs_by_state ON blobs(state, created_ms);
