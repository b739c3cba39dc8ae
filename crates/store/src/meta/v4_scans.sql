-- Version 4 (both dialects): image scanning. A pushed image manifest gets a `scans` row in
-- its push transaction (so a crash cannot lose the job); workers of any replica claim rows by
-- compare-and-set on `state`, and a `running` row whose lease ran out goes back to `queued`.
--   state: queued | running | done | failed | encrypted
-- findings, lint and summary are JSON documents written by the scanner; scan_ids indexes
-- every advisory id and alias per image for "which images contain CVE-X?".
CREATE TABLE scans (
  repo_id BIGINT NOT NULL,
  digest TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts BIGINT NOT NULL DEFAULT 0,
  queued_ms BIGINT NOT NULL,
  started_ms BIGINT,
  finished_ms BIGINT,
  owner TEXT,
  error TEXT,
  db_version TEXT,
  sbom_digest TEXT,
  report_digest TEXT,
  findings TEXT,
  lint TEXT,
  summary TEXT,
  PRIMARY KEY (repo_id, digest)
);
CREATE INDEX scans_by_state ON scans(state, queued_ms);
CREATE TABLE scan_ids (
  repo_id BIGINT NOT NULL,
  digest TEXT NOT NULL,
  ident TEXT NOT NULL,
  severity TEXT NOT NULL,
  suppressed BIGINT NOT NULL,
  PRIMARY KEY (repo_id, digest, ident)
);
CREATE INDEX scan_ids_by_ident ON scan_ids(ident);
-- The vulnerability database version the stored findings were matched against; the replica
-- that moves it forward (compare-and-set) re-matches the stored SBOMs.
CREATE TABLE scan_db (
  id BIGINT PRIMARY KEY,
  version TEXT NOT NULL,
  updated_ms BIGINT NOT NULL
);
