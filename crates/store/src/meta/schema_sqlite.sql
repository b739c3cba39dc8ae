-- zoll metadata, version 1 (SQLite dialect; the PostgreSQL file mirrors it).
CREATE TABLE repositories (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_ms BIGINT NOT NULL
);
-- Blobs whose bytes were verified and published. Global: repositories link to them.
CREATE TABLE blobs (
  digest TEXT PRIMARY KEY,
  size BIGINT NOT NULL,
  created_ms BIGINT NOT NULL
);
CREATE TABLE repo_blobs (
  repo_id BIGINT NOT NULL REFERENCES repositories(id),
  digest TEXT NOT NULL REFERENCES blobs(digest),
  created_ms BIGINT NOT NULL,
  PRIMARY KEY (repo_id, digest)
);
CREATE INDEX repo_blobs_by_digest ON repo_blobs(digest);
CREATE TABLE manifests (
  repo_id BIGINT NOT NULL REFERENCES repositories(id),
  digest TEXT NOT NULL,
  media_type TEXT NOT NULL,
  size BIGINT NOT NULL,
  content BLOB NOT NULL,
  subject TEXT,
  artifact_type TEXT,
  annotations TEXT,
  created_ms BIGINT NOT NULL,
  PRIMARY KEY (repo_id, digest)
);
CREATE INDEX manifests_by_subject ON manifests(repo_id, subject);
-- What each manifest references (config, layers, child manifests): the GC mark set.
CREATE TABLE manifest_refs (
  repo_id BIGINT NOT NULL,
  manifest_digest TEXT NOT NULL,
  child_digest TEXT NOT NULL,
  PRIMARY KEY (repo_id, manifest_digest, child_digest)
);
CREATE INDEX manifest_refs_by_child ON manifest_refs(child_digest);
CREATE TABLE tags (
  repo_id BIGINT NOT NULL REFERENCES repositories(id),
  name TEXT NOT NULL,
  digest TEXT NOT NULL,
  updated_ms BIGINT NOT NULL,
  PRIMARY KEY (repo_id, name)
);
CREATE INDEX tags_by_digest ON tags(repo_id, digest);
-- Upload sessions: the offset lives here so that any replica can take the next chunk.
CREATE TABLE uploads (
  id TEXT PRIMARY KEY,
  repo_id BIGINT NOT NULL REFERENCES repositories(id),
  received BIGINT NOT NULL,
  backend_state TEXT,
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL
);
