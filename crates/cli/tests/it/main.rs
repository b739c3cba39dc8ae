//! Tests of the `zoll` binary as a process: crash safety under SIGKILL, bounded memory while
//! streaming 2 GiB, graceful shutdown, TLS, configuration; `zoll scan` and `zoll db`.

mod admission;
mod approvals;
mod connect;
mod console;
mod crash;
mod crypt;
mod gov;
mod hardening;
mod help;
mod process;
mod progress;
mod pull_gate;
mod scan;
mod server;
mod streaming;
mod trust;
