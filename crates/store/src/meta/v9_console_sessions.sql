-- Version 9 (both dialects): sessions of the web console (`/ui/`). A session is an opaque
-- 256-bit token the browser holds in a cookie; only a SHA-256 of it is stored here, so a
-- reader of the database cannot log in as anyone. The registry decides expiry from
-- `created_ms` (absolute) and `seen_ms` (idle) with its clock, and keeps at most a few
-- sessions per account (the oldest go first).
CREATE TABLE console_sessions (
  token_hash TEXT PRIMARY KEY,
  account TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  seen_ms BIGINT NOT NULL
);
CREATE INDEX console_sessions_by_account ON console_sessions(account, created_ms);
