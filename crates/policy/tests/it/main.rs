//! Integration tests of zoll-policy: the policy file, the evaluator over real signatures in
//! a real zoll registry, the engine's cache and coalescing.

mod document;
mod engine;
mod evaluate;
mod evidence;
mod pull_gate;
mod source;
mod support;
