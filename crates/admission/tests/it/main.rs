//! Integration tests of zoll-admission: AdmissionReview fixtures for every workload kind
//! against a real zoll registry with real signatures, pod checks, exemptions, malformed
//! reviews, the decision cache and coalescing, and the routes inside the registry's Router.

mod cache;
mod kinds;
mod malformed;
mod manifests;
mod pod_checks;
mod serve;
mod support;
