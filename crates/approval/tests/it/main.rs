//! Integration tests of zoll-approval.
