//! zoll-registry integration tests: the real Router over a real store, plus real peers
//! (skopeo, oras) against a real listener.

mod blobs;
mod gov;
mod harness;
mod integrity;
mod layout;
mod listing;
mod maintenance;
mod manifests;
mod peers;
mod replicas;
mod scanning;
mod stored;
mod ui;
mod ui_admin;
mod ui_artifact;
mod uploads;
