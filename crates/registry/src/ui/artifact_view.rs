//! The templates of the artifact page and its explanation (`artifact.rs` gathers what they
//! show). maud escapes every value; severities, outcomes and levels are written as words.

use maud::{Markup, html};
use zoll_policy::{CheckKind, Outcome};
use zoll_store::ReferrerRow;
use zoll_trust::verify::{Format, Identity};

use super::artifact::{Artifact, Explanation, Listed, MAX_FINDINGS, Scan, Signatures, href};
use super::pages::{self, Frame};

/// Annotations shown per object at most, and characters of each value.
const MAX_ANNOTATIONS: usize = 16;
const MAX_VALUE: usize = 200;

fn crumbs(repo: &str) -> Vec<(&str, String)> {
    let project = crate::access::project_of(repo);
    vec![
        ("Projects", "/ui/projects".to_owned()),
        (project, format!("/ui/projects/{project}")),
        (repo, format!("/ui/repositories/{repo}")),
    ]
}

fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

fn cut(value: &str) -> String {
    match value.char_indices().nth(MAX_VALUE) {
        Some((at, _)) => format!("{}…", &value[..at]),
        None => value.to_owned(),
    }
}

/// What a referrer is, by its artifact type.
fn kind(artifact_type: Option<&str>, media_type: &str) -> String {
    let t = artifact_type.unwrap_or(media_type);
    match t {
        zoll_trust::notation::ARTIFACT_TYPE => "Notation signature".into(),
        zoll_trust::cosign::bundle::MEDIA_TYPE => {
            "sigstore bundle (signature or attestation)".into()
        }
        zoll_scan::report::ARTIFACT_CYCLONEDX => "SBOM (CycloneDX)".into(),
        zoll_scan::report::ARTIFACT_SPDX => "SBOM (SPDX)".into(),
        zoll_scan::report::ARTIFACT_VULNERABILITIES => "vulnerability report".into(),
        zoll_scan::report::ARTIFACT_LINT => "lint report".into(),
        t if t.contains("in-toto") || t.contains("dsse") => "attestation".into(),
        t => t.to_owned(),
    }
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::NotationJws => "Notation (JWS)",
        Format::NotationCose => "Notation (COSE)",
        Format::CosignSimpleSigning => "cosign simple signing (.sig tag)",
        Format::SigstoreBundle => "sigstore bundle v0.3",
    }
}

fn identity(i: &Identity) -> Markup {
    match i {
        Identity::Key { name, fingerprint } => html! {
            "key " strong { (name) } " (SHA-256 " code { (short(fingerprint)) } "…)"
        },
        Identity::X509 {
            subject,
            trust_store,
            ..
        } => html! { "certificate " strong { (subject) } " (trust store " (trust_store) ")" },
    }
}

fn annotations(json: Option<&str>) -> Markup {
    let map: Option<std::collections::BTreeMap<String, serde_json::Value>> =
        json.and_then(|j| serde_json::from_str(j).ok());
    html! {
        @if let Some(map) = map.filter(|m| !m.is_empty()) {
            ul.annotations {
                @for (k, v) in map.iter().take(MAX_ANNOTATIONS) {
                    li { code { (cut(k)) } " = " (cut(v.as_str().unwrap_or_default())) }
                }
                @if map.len() > MAX_ANNOTATIONS { li { "… and " (map.len() - MAX_ANNOTATIONS) " more" } }
            }
        }
    }
}

fn referrer_rows(repo: &str, rows: &Listed<ReferrerRow>) -> Markup {
    html! {
        @match rows {
            Err(e) => p.error role="alert" { (e) },
            Ok((rows, more)) => {
                @if rows.is_empty() { p.empty { "No referrers." } }
                ul.tree {
                    @for r in rows { li { (referrer_line(repo, r)) } }
                }
                @if *more { p { "Only the first " (super::artifact::MAX_REFERRERS) " are shown." } }
            }
        }
    }
}

fn referrer_line(repo: &str, r: &ReferrerRow) -> Markup {
    html! {
        strong { (kind(r.artifact_type.as_deref(), &r.media_type)) } " "
        a href=(href(repo, &r.digest)) { code { (short(&r.digest)) "…" } }
        " " span.muted { (pages::size(r.size)) }
        (annotations(r.annotations.as_deref()))
    }
}

pub(super) fn artifact(f: &Frame, a: &Artifact) -> Markup {
    let title = format!("Artifact {}", short(&a.digest));
    let explain = format!("{}/explain", href(&a.repo, &a.digest));
    pages::layout(
        &title,
        f.user(),
        &crumbs(&a.repo),
        html! {
            dl.facts {
                dt { "Repository" } dd { (a.repo) }
                dt { "Digest" } dd { code { (a.digest) } }
                dt { "Media type" } dd { code { (a.media_type) } }
                @if let Some(t) = a.manifest.as_ref().and_then(|m| m.artifact_type.as_deref()) {
                    dt { "Artifact type" } dd { code { (t) } }
                }
                dt { "Manifest size" } dd { (pages::size(a.manifest_size)) }
                dt { "Tags" }
                dd {
                    @if a.tags.0.is_empty() { "none" }
                    @for t in &a.tags.0 { code.tag { (t) } " " }
                    @if a.tags.1 { "(more not shown)" }
                }
                dt { "Pull gate" }
                dd {
                    @if a.gated { a href=(explain) { "Why is this blocked or allowed?" } }
                    @else { "not gated (an artifact that cannot run)" }
                }
            }
            @if let Some(m) = &a.manifest {
                @if let Some(ann) = &m.annotations {
                    section aria-labelledby="annotations" {
                        h2 id="annotations" { "Annotations" }
                        (annotations(serde_json::to_string(ann).ok().as_deref()))
                    }
                }
                @if !m.layers.is_empty() {
                    section aria-labelledby="layers" {
                        h2 id="layers" { "Layers" }
                        table {
                            caption { "Layers of " (short(&a.digest)) "…" }
                            thead { tr { th scope="col" { "#" } th scope="col" { "Digest" } th scope="col" { "Media type" } th scope="col" { "Size" } th scope="col" { "Encrypted" } } }
                            tbody {
                                @for (i, l) in m.layers.iter().enumerate().take(super::artifact::MAX_CHILDREN) {
                                    tr {
                                        th scope="row" { (i) }
                                        td { code { (short(l.digest.as_str())) "…" } }
                                        td { code { (l.media_type) } }
                                        td.num { (pages::size(l.size)) }
                                        td { @if zoll_oci::is_encrypted_layer(&l.media_type) { "yes" } @else { "no" } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if !a.children.is_empty() {
                section aria-labelledby="platforms" {
                    h2 id="platforms" { "Platforms" }
                    table {
                        caption { "Manifests of this index" }
                        thead { tr { th scope="col" { "Platform" } th scope="col" { "Manifest" } th scope="col" { "Referrers" } } }
                        tbody {
                            @for c in &a.children {
                                tr {
                                    th scope="row" { @if c.platform.is_empty() { "(not stated)" } @else { (c.platform) } }
                                    td { a href=(href(&a.repo, &c.digest)) { code { (short(&c.digest)) "…" } } br; code { (c.media_type) } }
                                    td { (referrer_rows(&a.repo, &c.referrers)) }
                                }
                            }
                        }
                    }
                    @if a.children_more { p { "Only the first " (super::artifact::MAX_CHILDREN) " manifests are shown." } }
                }
            }
            section aria-labelledby="referrers" {
                h2 id="referrers" { "Referrers" }
                @match &a.referrers {
                    Err(e) => p.error role="alert" { (e) },
                    Ok((tree, more)) => {
                        @if tree.is_empty() { p.empty { "No signatures, SBOMs, attestations or reports refer to this artifact." } }
                        ul.tree {
                            @for r in tree {
                                li {
                                    (referrer_line(&a.repo, &r.row))
                                    @match &r.below {
                                        Err(e) => p.error role="alert" { (e) },
                                        Ok((rows, more)) => {
                                            @if !rows.is_empty() {
                                                ul.tree { @for x in rows { li { (referrer_line(&a.repo, x)) } } }
                                            }
                                            @if *more { p { "Only the first " (super::artifact::MAX_REFERRERS) " are shown." } }
                                        }
                                    }
                                }
                            }
                        }
                        @if *more { p { "Only the first " (super::artifact::MAX_REFERRERS) " are shown." } }
                    }
                }
            }
            (signatures(&a.signatures))
            (scan(&a.scan, &href(&a.repo, &a.digest), &a.filter))
        },
    )
}

fn signatures(s: &Signatures) -> Markup {
    html! {
        section aria-labelledby="signatures" {
            h2 id="signatures" { "Signatures" }
            @match s {
                Signatures::NoPolicy => p {
                    "No trust policy is configured ([policy] in the server's configuration), \
                     so signatures are not verified here. The referrers above list them."
                },
                Signatures::Unreadable(e) => p.error role="alert" {
                    "The signatures cannot be read, so none is counted: " (e)
                },
                Signatures::Verified(v) if v.report.accepted.is_empty() && v.report.rejected.is_empty() => {
                    p.empty { "No signatures." }
                },
                Signatures::Verified(v) => {
                    @let r = &v.report;
                    table {
                        caption { "Signatures verified against the trust policy's keys and trust stores" }
                        thead { tr {
                            th scope="col" { "Signature manifest" } th scope="col" { "Format" }
                            th scope="col" { "Result" } th scope="col" { "Signer or reason" } th scope="col" { "Signed claims" }
                            th scope="col" { "Counts for" }
                        } }
                        tbody {
                            @for (x, stage) in r.accepted.iter().zip(&v.stages) {
                                tr {
                                    th scope="row" { code { (short(x.artifact.as_str())) "…" } }
                                    td { (format_name(x.format)) }
                                    td { "accepted" @if !x.is_signature() { " (attestation)" } }
                                    td { (identity(&x.identity)) }
                                    td {
                                        @for (k, v) in &x.claims { code { (k) "=" (cut(v)) } " " }
                                        @if let Some(p) = &x.predicate_type { "predicate " code { (p) } }
                                    }
                                    td {
                                        @match stage {
                                            Some((name, true)) => { "stage " strong { (name) } }
                                            Some((name, false)) => {
                                                "nothing: stage " (name) " does not accept this signer (or the policy does not define it)"
                                            }
                                            None => "no stage claimed",
                                        }
                                    }
                                }
                            }
                            @for x in &r.rejected {
                                tr {
                                    th scope="row" { code { (short(x.artifact.as_str())) "…" } }
                                    td { (format_name(x.format)) }
                                    td { "not counted" }
                                    td { (x.failure.to_string()) }
                                    td {}
                                    td { "nothing" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn scan(s: &Scan, here: &str, filter: &str) -> Markup {
    html! {
        section aria-labelledby="scan" {
            h2 id="scan" { "Scan" }
            @match s {
                Scan::None => p { "Not scanned by this registry." },
                Scan::Unreadable(e) => p.error role="alert" { "The scan results cannot be read: " (e) },
                Scan::Pending(row) => {
                    p { "State: " strong { (row.state) } }
                    @if let Some(e) = &row.error { p { (e) } }
                },
                Scan::Done { row, inputs, packages } => {
                    p {
                        "State: " strong { "done" }
                        @if let Some(ms) = row.finished_ms { ", finished " (pages::time(ms)) }
                        ". Vulnerability database: "
                        @match &row.db_version { Some(v) => code { (v) }, None => "none (the absence of findings says nothing)" }
                    }
                    table {
                        caption { "Vulnerabilities (" (inputs.findings.len()) ", worst first)" }
                        thead { tr {
                            th scope="col" { "Id" } th scope="col" { "Severity" } th scope="col" { "Package" }
                            th scope="col" { "Version" } th scope="col" { "Fixed in" } th scope="col" { "Suppressed" }
                        } }
                        tbody {
                            @for v in inputs.findings.iter().take(MAX_FINDINGS) {
                                tr {
                                    th scope="row" { (v.id) }
                                    td { (v.severity.as_str()) }
                                    td { (v.package) }
                                    td { (v.version) }
                                    td { @match &v.fixed { Some(x) => (x), None => "no fix" } }
                                    td {
                                        @match &v.suppressed {
                                            None => "no",
                                            Some(s) => {
                                                "by " (s.by) ": " (s.reason)
                                                @if let Some(a) = &s.author { " (" (a) ")" }
                                                @if let Some(e) = &s.expires { ", until " (e) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if inputs.findings.is_empty() {
                        p.empty {
                            @if row.db_version.is_some() { "No vulnerabilities found." }
                            @else { "Not matched: the scan ran without a vulnerability database." }
                        }
                    }
                    @if inputs.findings.len() > MAX_FINDINGS {
                        p { "Only the worst " (MAX_FINDINGS) " are shown; the scans API has them all." }
                    }
                    table {
                        caption { "Lint findings (worst level " (format!("{:?}", inputs.lint.level()).to_uppercase()) ")" }
                        thead { tr { th scope="col" { "Check" } th scope="col" { "Level" } th scope="col" { "Title" } th scope="col" { "Alerts" } } }
                        tbody {
                            @for l in inputs.lint.failed() {
                                tr {
                                    th scope="row" { (l.code) }
                                    td { (format!("{:?}", l.level).to_uppercase()) }
                                    td { (l.title) }
                                    td { @for x in l.alerts.iter().take(MAX_ANNOTATIONS) { (cut(x)) br; } }
                                }
                            }
                        }
                    }
                    @if inputs.lint.failed().next().is_none() { p.empty { "Every lint check passed." } }
                    (sbom(here, filter, packages))
                }
            }
        }
    }
}

/// The SBOM's packages, filtered by name (`q`) with the same form as the listings.
fn sbom(
    here: &str,
    filter: &str,
    packages: &Result<(Vec<zoll_scan::catalog::Package>, usize), String>,
) -> Markup {
    html! {
        h3 { "Packages (SBOM)" }
        @match packages {
            Err(e) => p.error role="alert" { (e) },
            Ok((shown, total)) => {
                (pages::filter_form(here, "Package name contains", filter, super::artifact::MAX_PACKAGES as u64, html! {}))
                (pages::results(
                    html! { "Packages in the SBOM (" (total) " matching)" },
                    &["Package", "Version", "Type", "Package URL"],
                    html! {
                        @for p in shown {
                            tr {
                                th scope="row" { (p.name) }
                                td { (p.version) }
                                td { (serde_json::to_value(p.kind).ok().and_then(|k| k.as_str().map(str::to_owned)).unwrap_or_default()) }
                                td { code { (p.purl) } }
                            }
                        }
                    },
                    shown.is_empty(),
                    None,
                ))
                @if *total > shown.len() {
                    p { "Only the first " (shown.len()) " are shown; narrow the filter." }
                }
            }
        }
    }
}

/// What would make a failed check pass.
fn remedy(kind: &CheckKind) -> Option<String> {
    Some(match kind {
        CheckKind::Stage { stage } => format!(
            "a signature claiming stage={stage} by an identity the stage '{stage}' accepts \
             (zoll sign --stage {stage})"
        ),
        CheckKind::Threshold {
            identities,
            required,
            found,
        } => format!(
            "{} more signature(s) by distinct identities of {identities}",
            required.saturating_sub(*found)
        ),
        CheckKind::Attestation { predicate_type } => {
            format!("an attestation of predicate type {predicate_type} by a trusted identity")
        }
        CheckKind::Notation => "a Notation signature the policy's trust policy accepts".into(),
        CheckKind::Scan { condition } => {
            format!("a finished scan of this digest with {condition}")
        }
        CheckKind::Evidence => {
            "fewer signature artifacts: there is more evidence than the gate judges".into()
        }
        CheckKind::Scope => "a policy that covers this repository (the default refuses)".into(),
        CheckKind::Signature { .. } | CheckKind::Index { .. } => return None,
    })
}

fn outcome(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "PASS",
        Outcome::Fail => "FAIL",
        Outcome::Info => "NOTE",
    }
}

pub(super) fn explain(f: &Frame, repo: &str, digest: &str, e: &Explanation) -> Markup {
    let mut crumbs = crumbs(repo);
    crumbs.push(("Artifact", href(repo, digest)));
    pages::layout(
        "Why is this blocked?",
        f.user(),
        &crumbs,
        html! {
            p { "The pull gate's decision for " code { (repo) "@" (digest) } "." }
            @match e {
                Explanation::NoPolicy => p.verdict {
                    "No trust policy is configured ([policy] in the server's configuration): \
                     the pull gate lets every artifact through."
                },
                Explanation::NotGated => p.verdict {
                    "Not gated: this artifact cannot run (a signature, SBOM, attestation or \
                     report), so verifiers can always read it."
                },
                Explanation::Failed(why) => p.error role="alert" {
                    "The trust policy could not be evaluated, so the gate refuses every pull of it: " (why)
                },
                Explanation::Decided { decision, ungated } => {
                    p.verdict {
                        strong { @if decision.allowed { "ALLOWED" } @else { "DENIED" } }
                        " at the pull gate under policy version " code { (decision.policy_version.get(..19).unwrap_or(&decision.policy_version)) }
                        @if !decision.allowed { ": " (decision.reason()) }
                    }
                    @if *ungated {
                        p { "You hold pull-ungated on this repository: your own pulls are not gated." }
                    }
                    table {
                        caption { "Every check behind the decision" }
                        thead { tr { th scope="col" { "Result" } th scope="col" { "Policy" } th scope="col" { "Check" } th scope="col" { "Finding" } } }
                        tbody {
                            @for c in &decision.checks {
                                tr {
                                    th scope="row" { (outcome(c.outcome)) }
                                    td { (c.policy.as_deref().unwrap_or("")) }
                                    td { (c.kind.class()) }
                                    td { (c.message) }
                                }
                            }
                        }
                    }
                    @if !decision.allowed {
                        section aria-labelledby="to-pass" {
                            h2 id="to-pass" { "What would make it pass" }
                            ul {
                                @for c in decision.failures() {
                                    @if let Some(r) = remedy(&c.kind) {
                                        li { @if let Some(p) = &c.policy { "[" (p) "] " } (r) }
                                    }
                                }
                            }
                        }
                    }
                    section aria-labelledby="as-cli" {
                        h2 id="as-cli" { "As zoll policy explain prints it" }
                        pre { (decision.explain()) }
                    }
                }
            }
        },
    )
}

/// The columns of the tags list: the foundation's, then what `artifact::row_facts` reads.
pub(super) const COLUMNS: [&str; 9] = [
    "Tag",
    "Digest",
    "Size",
    "Pushed",
    "Signatures",
    "Stages reached",
    "Vulnerabilities",
    "Lint",
    "Encrypted layers",
];

/// The cells of one tag row after the foundation's four.
pub(super) fn row_cells(
    repo: &str,
    r: &zoll_store::TagRow,
    x: &super::artifact::RowFacts,
) -> Markup {
    use super::artifact::RowScan;
    html! {
        td.num {
            @match &x.signatures {
                Ok((n, more)) => { (n) @if *more { "+" } },
                Err(e) => span.error { (e) },
            }
        }
        td { a href={ (href(repo, &r.digest)) "/explain" } { "Explain" } }
        td {
            @match &x.scan {
                RowScan::None => "not scanned",
                RowScan::Pending(state) => (state),
                RowScan::Unreadable => span.error { "unreadable" },
                RowScan::Done { matched: false, .. } => "not matched (no database)",
                RowScan::Done { counts, suppressed, .. } => {
                    @let shown: Vec<_> = counts.iter().filter(|(_, n)| *n > 0).collect();
                    @if shown.is_empty() { "none" }
                    @for (i, (word, n)) in shown.iter().enumerate() {
                        @if i > 0 { ", " }
                        (word) " " (n)
                    }
                    @if *suppressed > 0 { " (" (suppressed) " suppressed)" }
                }
            }
        }
        td {
            @match &x.scan {
                RowScan::Done { lint, .. } => (lint),
                _ => "",
            }
        }
        td.num {
            @match &x.encrypted {
                Ok(Some(n)) => (n),
                Ok(None) => "index",
                Err(e) => span.error { (e) },
            }
        }
    }
}
