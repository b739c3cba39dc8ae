-- Version 3 (both dialects): governance. Portable types only (TEXT, BIGINT; booleans as
-- 0/1), no generated keys: identifiers are names or random ids chosen by the caller, and the
-- audit sequence is assigned under the lock of its one head row.

-- People and robot accounts. password_hash: an argon2id PHC string, a bcrypt hash imported
-- from htpasswd, or `sha256:<hex>` of a robot's random secret.
CREATE TABLE accounts (
  name TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  admin BIGINT NOT NULL DEFAULT 0,
  disabled BIGINT NOT NULL DEFAULT 0,
  project TEXT,
  permissions TEXT,
  expires_ms BIGINT,
  description TEXT NOT NULL DEFAULT '',
  created_ms BIGINT NOT NULL
);
-- A project is the first path component of repository names. Policies are JSON documents
-- the registry interprets.
CREATE TABLE projects (
  name TEXT PRIMARY KEY,
  public BIGINT NOT NULL DEFAULT 0,
  quota_bytes BIGINT,
  quota_artifacts BIGINT,
  immutable_rules TEXT NOT NULL DEFAULT '[]',
  retention TEXT,
  created_ms BIGINT NOT NULL
);
CREATE TABLE members (
  project TEXT NOT NULL REFERENCES projects(name) ON DELETE CASCADE,
  account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
  role TEXT NOT NULL,
  PRIMARY KEY (project, account)
);
CREATE INDEX members_by_account ON members(account);
-- Keys that sign registry tokens (PKCS#8, hex), shared by every replica.
CREATE TABLE token_keys (
  kid TEXT PRIMARY KEY,
  pkcs8 TEXT NOT NULL,
  created_ms BIGINT NOT NULL
);
-- The audit trail: each record's hash covers its fields and the previous record's hash.
CREATE TABLE audit_log (
  seq BIGINT PRIMARY KEY,
  at_ms BIGINT NOT NULL,
  actor TEXT NOT NULL,
  source TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  outcome TEXT NOT NULL,
  detail TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
-- The chain head: appends lock this row, so records are numbered without gaps; verify checks
-- the last record against it (a truncated or extended tail is detected).
CREATE TABLE audit_head (
  id BIGINT PRIMARY KEY,
  seq BIGINT NOT NULL,
  hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
  VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
CREATE TABLE webhooks (
  id TEXT PRIMARY KEY,
  project TEXT NOT NULL REFERENCES projects(name) ON DELETE CASCADE,
  url TEXT NOT NULL,
  secret TEXT NOT NULL,
  events TEXT NOT NULL,
  enabled BIGINT NOT NULL DEFAULT 1,
  created_ms BIGINT NOT NULL
);
-- The outbox: an event becomes one row per subscribed webhook in the transaction of the
-- event; any replica delivers it (claimed by compare-and-set on claimed_until).
CREATE TABLE webhook_deliveries (
  id TEXT PRIMARY KEY,
  webhook_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  payload TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts BIGINT NOT NULL DEFAULT 0,
  next_ms BIGINT NOT NULL,
  claimed_until BIGINT NOT NULL DEFAULT 0,
  created_ms BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_ms);
CREATE INDEX webhook_deliveries_by_hook ON webhook_deliveries(webhook_id, created_ms);
CREATE TABLE webhook_attempts (
  delivery_id TEXT NOT NULL,
  attempt BIGINT NOT NULL,
  at_ms BIGINT NOT NULL,
  status BIGINT,
  error TEXT,
  ms BIGINT NOT NULL,
  PRIMARY KEY (delivery_id, attempt)
);
