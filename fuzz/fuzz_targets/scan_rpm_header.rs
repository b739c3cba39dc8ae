//! RPM header blobs as rpmdb.sqlite stores them (and as .rpm files carry them, with magic).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        zoll_scan::catalog::fuzzing::rpm_header(data);
    });
}
