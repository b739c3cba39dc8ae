-- Version 4 (both dialects): quorum approvals of signing requests.
-- A request asks a server-held key to sign one digest; approvers sign its canonical bytes
-- (stored verbatim, so they never change under the approvers); `version` advances with every
-- state change (compare-and-set), so replicas never both sign.
CREATE TABLE approval_requests (
  id TEXT PRIMARY KEY,
  key_name TEXT NOT NULL,
  repository TEXT NOT NULL,
  reference TEXT NOT NULL,
  digest TEXT NOT NULL,
  canonical TEXT NOT NULL,
  requester TEXT NOT NULL,
  state TEXT NOT NULL,
  outcome TEXT NOT NULL,
  version BIGINT NOT NULL,
  created_ms BIGINT NOT NULL,
  not_before_ms BIGINT NOT NULL,
  expires_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL
);
CREATE INDEX approval_requests_by_state ON approval_requests(state, created_ms);
-- One vote per approver and request: an approval or a rejection, with the approver's
-- signature (base64) over the request's canonical bytes.
CREATE TABLE approval_votes (
  request_id TEXT NOT NULL REFERENCES approval_requests(id),
  approver TEXT NOT NULL,
  decision TEXT NOT NULL,
  signature TEXT NOT NULL,
  at_ms BIGINT NOT NULL,
  PRIMARY KEY (request_id, approver)
);
