//! Integration tests of zoll-approval.

mod quorum;
