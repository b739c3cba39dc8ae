//! Hostile layers, one generator per attack. Each must end in the named error or in a safe skip
//! (a warning, and the image index unaffected outside the image root).

use zoll_scan::walk::{NodeKind, Walked, Walker, WarningKind};
use zoll_scan::{Limits, ScanError};

use crate::tarbuild::{Member as M, gzip, tar};

enum Expect<'a> {
    /// The walk fails with this error (matched by variant).
    Error(fn(&ScanError) -> bool),
    /// The walk succeeds with exactly these warnings, and the check on the index holds.
    Skipped(&'a [(WarningKind, &'a str)], fn(&Walked) -> bool),
}

fn limits() -> Limits {
    Limits {
        ratio_floor: 1 << 20,
        max_layer_bytes: 256 << 20,
        max_depth: 64,
        ..Limits::default()
    }
}

fn check(name: &str, layers: Vec<Vec<u8>>, limits: Limits, expect: Expect<'_>) {
    let mut walker = Walker::new(&limits);
    let mut result = Ok(());
    for layer in &layers {
        result = walker.apply_layer(layer.as_slice());
        if result.is_err() {
            break;
        }
    }
    match (result, expect) {
        (Err(e), Expect::Error(is)) => assert!(is(&e), "{name}: unexpected error {e:?}"),
        (Ok(()), Expect::Error(_)) => panic!("{name}: walk succeeded, expected an error"),
        (Err(e), Expect::Skipped(..)) => panic!("{name}: expected a safe skip, got {e:?}"),
        (Ok(()), Expect::Skipped(warnings, holds)) => {
            let walked = walker.finish();
            let got: Vec<(WarningKind, &str)> = walked
                .warnings
                .iter()
                .map(|w| (w.kind, w.path.as_str()))
                .collect();
            assert_eq!(got, warnings.to_vec(), "{name}: warnings");
            assert!(
                holds(&walked),
                "{name}: index check failed: {:?}",
                walked.index.iter().map(|(p, _)| p).collect::<Vec<_>>()
            );
        }
    }
}

fn file_content(w: &Walked, path: &str) -> Option<NodeKind> {
    w.index.get(path).map(|n| n.kind.clone())
}

#[test]
fn absolute_paths_land_inside_the_image() {
    check(
        "absolute-paths",
        vec![tar(&[
            M::File("/etc/hostile", b"x"),
            M::File("//usr///bin/./tool", b"y"),
        ])],
        limits(),
        Expect::Skipped(&[], |w| {
            file_content(w, "etc/hostile") == Some(NodeKind::File)
                && w.index.get("usr/bin/tool").is_some()
        }),
    );
}

#[test]
fn dot_dot_traversal_is_skipped() {
    check(
        "dotdot-traversal",
        vec![tar(&[
            M::File("../../../../tmp/zoll-pwned", b"x"),
            M::File("a/../../escape", b"y"),
            M::File("a/../inside", b"z"),
        ])],
        limits(),
        Expect::Skipped(
            &[
                (WarningKind::PathEscapes, "../../../../tmp/zoll-pwned"),
                (WarningKind::PathEscapes, "a/../../escape"),
            ],
            |w| w.index.get("inside").is_some() && w.index.len() == 1,
        ),
    );
    assert!(!std::path::Path::new("/tmp/zoll-pwned").exists());
}

#[test]
fn symlink_escape_resolves_inside_the_root() {
    // `evil -> ../../../../etc`, then `evil/passwd`: as in a chroot, the link cannot climb above
    // the image root, so the file lands at the image's own etc/passwd.
    check(
        "symlink-escape",
        vec![
            tar(&[
                M::Symlink("evil", "../../../../etc"),
                M::File("evil/passwd", b"root::0:0::/:/bin/sh\n"),
            ]),
            tar(&[M::Symlink("abs", "/etc"), M::File("abs/shadow", b"s")]),
        ],
        limits(),
        Expect::Skipped(&[], |w| {
            w.index.get("etc/passwd").is_some_and(|n| n.layer == 0)
                && w.index.get("etc/shadow").is_some_and(|n| n.layer == 1)
                && w.index.get("evil/passwd").is_none()
        }),
    );
}

#[test]
fn symlink_loop_is_skipped() {
    check(
        "symlink-loop",
        vec![tar(&[
            M::Symlink("a", "b"),
            M::Symlink("b", "a"),
            M::File("a/x", b"x"),
            M::Symlink("self", "self/self"),
            M::File("self/y", b"y"),
        ])],
        limits(),
        Expect::Skipped(
            &[
                (WarningKind::SymlinkLoop, "a/x"),
                (WarningKind::SymlinkLoop, "self/y"),
            ],
            |w| w.index.len() == 3 && w.index.lookup("a").is_none(),
        ),
    );
}

#[test]
fn symlink_chain_exhaustion_is_skipped() {
    // 60 links each pointing at the next: more hops than allowed, whatever the order.
    let names: Vec<String> = (0..60).map(|i| format!("l{i}")).collect();
    let mut members: Vec<M> = (0..59)
        .map(|i| M::Symlink(&names[i], &names[i + 1]))
        .collect();
    members.push(M::Dir("l59"));
    members.push(M::File("l0/deep", b"x"));
    check(
        "symlink-chain",
        vec![tar(&members)],
        limits(),
        Expect::Skipped(&[(WarningKind::SymlinkLoop, "l0/deep")], |w| {
            w.index.get("l59/deep").is_none()
        }),
    );
}

#[test]
fn hard_links_to_outside_are_skipped() {
    check(
        "hardlink-outside",
        vec![tar(&[
            M::HardLink("shadow", "../../../etc/shadow"),
            M::HardLink("missing", "etc/not-in-image"),
            M::File("etc/real", b"data"),
            M::HardLink("alias", "etc/real"),
        ])],
        limits(),
        Expect::Skipped(
            &[
                (WarningKind::PathEscapes, "shadow"),
                (WarningKind::HardLinkTargetMissing, "missing"),
            ],
            |w| {
                w.index.get("alias").is_some_and(|n| n.size == 4) && w.index.get("shadow").is_none()
            },
        ),
    );
}

#[test]
fn absurd_entry_size_is_an_error() {
    check(
        "absurd-size",
        vec![tar(&[M::Claims("huge", 1 << 40, 512)])],
        limits(),
        Expect::Error(|e| matches!(e, ScanError::EntryTooLarge { size, .. } if *size == 1 << 40)),
    );
}

#[test]
fn truncated_entry_is_an_error() {
    check(
        "truncated",
        vec![tar(&[M::Claims("short", 1 << 20, 1000)])],
        limits(),
        Expect::Error(|e| matches!(e, ScanError::BadTar { layer: 0, .. })),
    );
}

#[test]
fn decompression_bomb_is_an_error() {
    // 16 MiB of zeros gzip to ~16 KiB: a ratio near 1000:1.
    check(
        "decompression-bomb",
        vec![gzip(&[M::Zeros("bomb", 16 << 20)])],
        limits(),
        Expect::Error(|e| {
            matches!(
                e,
                ScanError::DecompressionBomb {
                    layer: 0,
                    ratio: 100
                }
            )
        }),
    );
}

#[test]
fn layer_over_the_size_limit_is_an_error() {
    let limits = Limits {
        max_layer_bytes: 4 << 20,
        ..limits()
    };
    check(
        "layer-too-large",
        vec![tar(&[M::Zeros("a", 3 << 20), M::Zeros("b", 3 << 20)])],
        limits,
        Expect::Error(|e| matches!(e, ScanError::LayerTooLarge { limit, .. } if *limit == 4 << 20)),
    );
}

#[test]
fn deep_directories_are_skipped() {
    let deep = "d/".repeat(200) + "file";
    check(
        "deep-directories",
        vec![tar(&[M::File(&deep, b"x"), M::File("shallow", b"y")])],
        limits(),
        Expect::Skipped(&[(WarningKind::TooDeep, &deep[..256])], |w| {
            w.index.len() == 1
        }),
    );
}

#[test]
fn too_many_entries_is_an_error() {
    let names: Vec<String> = (0..50).map(|i| format!("f{i}")).collect();
    let members: Vec<M> = names.iter().map(|n| M::File(n, b"")).collect();
    check(
        "too-many-entries",
        vec![tar(&members)],
        Limits {
            max_entries: 20,
            ..limits()
        },
        Expect::Error(|e| matches!(e, ScanError::TooManyEntries { limit: 20 })),
    );
}

#[test]
fn not_a_tar_is_an_error() {
    check(
        "garbage",
        vec![b"this is not a tar archive, but it is long enough to fill more than one block of 512 bytes. ".repeat(8)],
        limits(),
        Expect::Error(|e| matches!(e, ScanError::BadTar { layer: 0, .. })),
    );
}

#[test]
fn file_as_parent_directory_is_skipped() {
    check(
        "file-as-directory",
        vec![tar(&[
            M::File("etc", b"not a dir"),
            M::File("etc/passwd", b"x"),
        ])],
        limits(),
        Expect::Skipped(&[(WarningKind::NotADirectory, "etc/passwd")], |w| {
            w.index.len() == 1
        }),
    );
}

#[test]
fn oversized_long_name_is_an_error() {
    // A GNU long-name header claiming 512 MiB: refused before any of it is buffered.
    let mut layer = crate::tarbuild::header("x", "", b'L', 512 << 20, 0o644);
    layer.extend(vec![0u8; 4096]);
    check(
        "oversized-longname",
        vec![layer],
        limits(),
        Expect::Error(
            |e| matches!(e, ScanError::BadTar { reason, .. } if reason.contains("extension header")),
        ),
    );
}

#[test]
fn whiteout_cannot_reach_outside() {
    check(
        "whiteout-escape",
        vec![
            tar(&[M::File("keep", b"k")]),
            tar(&[
                M::File("../.wh.keep", b""),
                M::File("sub/../../.wh..wh..opq", b""),
            ]),
        ],
        limits(),
        Expect::Skipped(
            &[
                (WarningKind::PathEscapes, "../.wh.keep"),
                (WarningKind::PathEscapes, "sub/../../.wh..wh..opq"),
            ],
            |w| w.index.get("keep").is_some(),
        ),
    );
}
