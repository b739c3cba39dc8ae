//! Repository, registry and namespace patterns: zoll's one dialect (`zoll-glob`), where `*`
//! matches within one path segment, `**` across segments and `?` one character other than
//! `/`. `prod/*` matches `prod/app` but not `prod/team/app`; `prod/**` matches both.

pub use zoll_glob::Glob;
