//! Audit exports for compliance reports: JSON lines and CSV (RFC 4180 quoting).

use zoll_store::AuditRecord;

pub const CSV_HEADER: &str = "seq,time,actor,source,action,target,outcome,detail,prev_hash,hash";

pub fn jsonl(records: &[AuditRecord]) -> String {
    let mut out = String::new();
    for r in records {
        let mut v = serde_json::to_value(r).expect("serializes");
        v["time"] = serde_json::json!(zoll_stdx::time::rfc3339_ms(r.at_ms));
        out.push_str(&v.to_string());
        out.push('\n');
    }
    out
}

/// One CSV field. Text a spreadsheet would run as a formula (starting with `=`, `+`, `-`,
/// `@`, a tab or a carriage return; OWASP's list) gets a leading `'`, so that a user name
/// or repository an attacker chose cannot execute in the auditor's spreadsheet.
fn field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// With the header line when `header` is set.
pub fn csv_rows(records: &[AuditRecord], header: bool) -> String {
    let mut out = String::new();
    if header {
        out.push_str(CSV_HEADER);
        out.push_str("\r\n");
    }
    for r in records {
        let e = &r.entry;
        let cols = [
            r.seq.to_string(),
            zoll_stdx::time::rfc3339_ms(r.at_ms),
            field(&e.actor),
            field(&e.source),
            field(&e.action),
            field(&e.target),
            field(&e.outcome),
            field(&e.detail),
            r.prev_hash.clone(),
            r.hash.clone(),
        ];
        out.push_str(&cols.join(","));
        out.push_str("\r\n");
    }
    out
}

pub fn csv(records: &[AuditRecord]) -> String {
    csv_rows(records, true)
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(super::field("plain"), "plain");
        assert_eq!(super::field("a,b"), "\"a,b\"");
        assert_eq!(super::field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(
            super::field("=HYPERLINK(\"x\")"),
            "\"'=HYPERLINK(\"\"x\"\")\""
        );
        assert_eq!(super::field("+1"), "'+1");
        assert_eq!(super::field("-"), "'-");
        assert_eq!(super::field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(super::field("\tx"), "'\tx");
        assert_eq!(super::field("a-b"), "a-b");
    }
}
