//! Integration tests of zoll-approval.

mod formats;
mod quorum;
