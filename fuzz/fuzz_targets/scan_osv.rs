//! OSV records as `zoll db import` reads them, OpenVEX documents and allowlists as scans
//! read them, and CycloneDX SBOMs as `zoll scan sbom:` and the re-match read them.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = zoll_scan::vuln::fuzz_osv_record(data);
        let mut s = zoll_scan::vuln::Suppressions::default();
        let _ = s.add_allowlist_toml(&String::from_utf8_lossy(data), "fuzz");
        if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(data) {
            let _ = s.add_openvex(&doc);
            let _ = zoll_scan::sbom::from_cyclonedx(&doc);
        }
    });
}
