//! Layer semantics: order, whiteouts, opaque directories, directories replaced by files, and the
//! layer each entry and package came from.

use zoll_scan::Limits;
use zoll_scan::walk::{NodeKind, Walker};

use crate::tarbuild::{Member as M, gzip, tar};

fn walk(layers: &[Vec<u8>]) -> zoll_scan::walk::Walked {
    let limits = Limits::default();
    let mut w = Walker::new(&limits);
    for l in layers {
        w.apply_layer(l.as_slice()).expect("layer applies");
    }
    w.finish()
}

fn paths(w: &zoll_scan::walk::Walked) -> Vec<(String, usize)> {
    w.index
        .iter()
        .map(|(p, n)| (p.to_owned(), n.layer))
        .collect()
}

#[test]
fn whiteouts_and_opaque_directories() {
    let w = walk(&[
        gzip(&[
            M::Dir("a"),
            M::File("a/one", b"1"),
            M::File("a/two", b"2"),
            M::Dir("b"),
            M::File("b/x", b"x"),
            M::File("c", b"c"),
        ]),
        tar(&[
            M::File("a/.wh.one", b""),
            M::File("b/.wh..wh..opq", b""),
            M::File("b/y", b"y"),
            M::File(".wh.c", b""),
        ]),
        tar(&[M::File("a/one", b"back")]),
    ]);
    assert_eq!(
        paths(&w),
        vec![
            ("a".into(), 0),
            ("a/one".into(), 2),
            ("a/two".into(), 0),
            ("b".into(), 0),
            ("b/y".into(), 1)
        ]
    );
}

#[test]
fn file_replaces_directory_and_back() {
    let w = walk(&[
        tar(&[M::Dir("d"), M::File("d/inner", b"i")]),
        tar(&[M::File("d", b"now a file")]),
        tar(&[M::Dir("d"), M::File("d/new", b"n")]),
    ]);
    assert_eq!(paths(&w), vec![("d".into(), 2), ("d/new".into(), 2)]);
}

#[test]
fn opaque_directory_keeps_entries_of_its_own_layer() {
    // The order of members inside a layer does not matter: opaque applies to lower layers only.
    let w = walk(&[
        tar(&[M::File("d/old", b"o")]),
        tar(&[M::File("d/new", b"n"), M::File("d/.wh..wh..opq", b"")]),
    ]);
    assert_eq!(paths(&w), vec![("d/new".into(), 1)]);
}

#[test]
fn writes_through_symlinked_directories() {
    // Debian's merged /usr: lib -> usr/lib; a later layer writing lib/x lands in usr/lib/x.
    let w = walk(&[
        tar(&[M::Dir("usr/lib"), M::Symlink("lib", "usr/lib")]),
        tar(&[M::File("lib/x", b"x")]),
    ]);
    assert_eq!(w.index.get("usr/lib/x").map(|n| n.layer), Some(1));
    assert!(matches!(
        w.index.get("lib").map(|n| &n.kind),
        Some(NodeKind::Symlink(_))
    ));
}

#[test]
fn zstd_layers_are_read() {
    // A zstd frame of stored (raw) blocks, written by hand: no zstd encoder is linked.
    let plain = tar(&[M::File("z", b"zstd")]);
    let w = walk(&[zstd_raw(&plain)]);
    assert!(w.index.get("z").is_some());
}

/// A zstd frame with raw blocks only (RFC 8878 §3.1).
fn zstd_raw(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x28, 0xb5, 0x2f, 0xfd];
    // Frame header: single segment, 8-byte content size.
    out.push(0b1110_0000);
    out.extend((data.len() as u64).to_le_bytes());
    let chunks: Vec<&[u8]> = data.chunks(100_000).collect();
    for (i, c) in chunks.iter().enumerate() {
        let last = u32::from(i == chunks.len() - 1);
        let header = last | ((c.len() as u32) << 3); // block type 0 = raw
        out.extend(&header.to_le_bytes()[..3]);
        out.extend(*c);
    }
    out
}

#[test]
fn modes_are_kept() {
    let w = walk(&[tar(&[M::FileMode("usr/bin/su", b"\x7fELF", 0o4755)])]);
    assert_eq!(w.index.get("usr/bin/su").map(|n| n.mode), Some(0o4755));
}
