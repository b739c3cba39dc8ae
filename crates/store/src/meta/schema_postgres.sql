-- zoll metadata, version 1 (PostgreSQL dialect; mirrors the SQLite file). Text keys use the
-- "C" collation so that ORDER BY and > compare bytewise, as SQLite does.
CREATE TABLE repositories (
  id BIGSERIAL PRIMARY KEY,
  name TEXT COLLATE "C" NOT NULL UNIQUE,
  created_ms BIGINT NOT NULL
);
-- Blobs whose bytes were verified and published. Global: repositories link to them.
CREATE TABLE blobs (
  digest TEXT COLLATE "C" PRIMARY KEY,
  size BIGINT NOT NULL,
  created_ms BIGINT NOT NULL
);
CREATE TABLE repo_blobs (
  repo_id BIGINT NOT NULL REFERENCES repositories(id),
  digest TEXT COLLATE "C" NOT NULL REFERENCES blobs(digest),
  created_ms BIGINT NOT NULL,
  PRIMARY KEY (repo_id, digest)
);
CREATE INDEX repo_blobs_by_digest ON repo_blobs(digest);
CREATE TABLE manifests (
  repo_id BIGINT NOT NULL REFERENCES repositories(id),
  digest TEXT COLLATE "C" NOT NULL,
  media_type TEXT NOT NULL,
  size BIGINT NOT NULL,
  content BYTEA NOT NULL,
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
  name TEXT COLLATE "C" NOT NULL,
  digest TEXT COLLATE "C" NOT NULL,
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
