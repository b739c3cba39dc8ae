//! Image layers (plain tar, gzip or zstd) through the layer walker (whiteouts, links, paths,
//! bounds) and every cataloger over what it kept.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let limits = zoll_scan::Limits::default();
        let mut walker = zoll_scan::walk::Walker::new(&limits);
        if walker.apply_layer(data).is_ok() {
            let walked = walker.finish();
            let _ = zoll_scan::catalog::catalog(&walked, &limits);
        }
    });
}
