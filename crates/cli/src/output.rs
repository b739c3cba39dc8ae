//! How commands print what they got: one flag, `-o/--output table|json|yaml`, on every
//! command that prints a result. Tables are for people (aligned columns, times in ISO 8601,
//! "no projects" rather than `[]`); JSON and YAML are for machines and print the registry's
//! answer as it came (stable field names, times as epoch milliseconds in `*_ms` fields).

use serde_json::Value;

/// The output formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns or `key: value` lines, times in ISO 8601.
    #[default]
    #[value(alias = "text")]
    Table,
    /// Indented JSON, as the registry answered.
    Json,
    /// The same document as YAML.
    Yaml,
}

/// The `-o/--output` flag.
#[derive(clap::Args, Clone, Copy, Debug, Default)]
pub struct OutputArg {
    /// Output format: table (for people), json or yaml (for scripts).
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

/// A table's columns: header, and the field beneath it (`a.b` reaches into objects).
pub type Columns = &'static [(&'static str, &'static str)];

/// How a result prints as a table: a list with `columns` (`empty` when it has no rows), or,
/// for a single object, `key: value` lines.
pub struct View {
    pub columns: Columns,
    pub empty: &'static str,
}

impl Format {
    /// Whether the output is for a program (no progress bars, no chatter).
    pub fn is_machine(self) -> bool {
        self != Format::Table
    }

    /// `v` printed on standard output in this format. Lists print as `view` says; objects
    /// as `key: value` lines; null (a `204 No Content`) prints nothing in a table.
    pub fn print(self, v: &Value, view: Option<&View>) {
        let text = self.render(v, view);
        if !text.is_empty() {
            print!("{text}");
        }
    }

    pub fn render(self, v: &Value, view: Option<&View>) -> String {
        match self {
            Format::Json => format!("{}\n", serde_json::to_string_pretty(v).expect("serializes")),
            Format::Yaml => yaml(v),
            Format::Table => match (v, view) {
                (Value::Array(rows), Some(view)) if rows.is_empty() => format!("{}\n", view.empty),
                (Value::Array(rows), Some(view)) => table(rows, view.columns),
                (Value::Null, _) => String::new(),
                (Value::Object(_), _) => fields(v),
                (Value::Array(rows), None) => rows
                    .iter()
                    .map(|r| format!("{}\n", cell(None, r)))
                    .collect(),
                (other, _) => format!("{}\n", cell(None, other)),
            },
        }
    }
}

/// `n thing` or `n things`.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn field<'v>(v: &'v Value, path: &str) -> &'v Value {
    path.split('.').fold(v, |v, key| &v[key])
}

/// One value as a person reads it: times (`*_ms` fields) in ISO 8601, lists joined by
/// commas, absent values as `-`.
fn cell(key: Option<&str>, v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        // What a server sent prints as what it is: no control character reaches the terminal.
        Value::String(s) => zoll_stdx::text::shown(&s.replace(['\n', '\r', '\t'], " ")),
        Value::Number(n) if key.is_some_and(|k| k.ends_with("_ms")) => match n.as_i64() {
            Some(ms) => zoll_stdx::time::rfc3339_ms(ms),
            None => n.to_string(),
        },
        // Scores are f32 in the scanner: 9.8, not 9.800000190734863.
        Value::Number(n) if n.is_f64() => n
            .as_f64()
            .map_or_else(|| n.to_string(), |f| (f as f32).to_string()),
        Value::Array(items) if items.is_empty() => "-".into(),
        Value::Array(items) => items
            .iter()
            .map(|i| cell(None, i))
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

fn table(rows: &[Value], columns: Columns) -> String {
    let mut grid: Vec<Vec<String>> = vec![columns.iter().map(|(h, _)| (*h).to_owned()).collect()];
    for r in rows {
        grid.push(
            columns
                .iter()
                .map(|(_, path)| cell(path.rsplit('.').next(), field(r, path)))
                .collect(),
        );
    }
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| {
            grid.iter()
                .map(|row| row[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in grid {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(c);
            } else {
                line.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// An object as `key: value` lines; keys ending in `_ms` lose the suffix and show a time.
fn fields(v: &Value) -> String {
    let Value::Object(map) = v else {
        return String::new();
    };
    let label = |k: &str| k.strip_suffix("_ms").unwrap_or(k).replace('_', " ");
    let width = map.keys().map(|k| label(k).len()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, val) in map {
        let text = match val {
            Value::Object(_) => {
                zoll_stdx::text::shown(&serde_json::to_string(val).expect("serializes"))
            }
            Value::Array(items) if items.iter().any(|i| i.is_object()) => {
                zoll_stdx::text::shown(&serde_json::to_string(val).expect("serializes"))
            }
            _ => cell(Some(k), val),
        };
        let key = zoll_stdx::text::shown(&label(k));
        out.push_str(&format!("{key:<width$}  {text}\n"));
    }
    out
}

/// `v` as a YAML document (block style; strings plain where YAML reads them back as the
/// same string, double-quoted JSON-style otherwise, which YAML also reads).
pub fn yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => yaml_block(v, 0, &mut out),
        Value::Array(a) if !a.is_empty() => yaml_block(v, 0, &mut out),
        _ => {
            out.push_str(&yaml_scalar(v));
            out.push('\n');
        }
    }
    out
}

fn is_block(v: &Value) -> bool {
    match v {
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    }
}

fn yaml_block(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) => {
            for (k, val) in m {
                let key = yaml_string(k);
                if key.len() > MAX_IMPLICIT_KEY {
                    out.push_str(&format!("{pad}? {key}\n{pad}:"));
                } else {
                    out.push_str(&format!("{pad}{key}:"));
                }
                if is_block(val) {
                    out.push('\n');
                    yaml_block(val, indent + 2, out);
                } else {
                    out.push_str(&format!(" {}\n", yaml_scalar(val)));
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                if is_block(item) {
                    // The item's block at indent + 2, its first line's indentation turned
                    // into the `- ` marker.
                    let mut inner = String::new();
                    yaml_block(item, indent + 2, &mut inner);
                    out.push_str(&pad);
                    out.push_str("- ");
                    out.push_str(&inner[indent + 2..]);
                } else {
                    out.push_str(&format!("{pad}- {}\n", yaml_scalar(item)));
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", yaml_scalar(other))),
    }
}

fn yaml_scalar(v: &Value) -> String {
    match v {
        Value::String(s) => yaml_string(s),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        Value::Number(n) if n.is_f64() => yaml_float(&n.to_string()),
        other => other.to_string(),
    }
}

/// A float as YAML 1.1 reads it back as a float: a `.` in the mantissa and a signed
/// exponent (`1e300` would come back as a string).
fn yaml_float(json: &str) -> String {
    let (mantissa, exponent) = match json.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (json, None),
    };
    let mut out = mantissa.to_owned();
    if !out.contains('.') {
        out.push_str(".0");
    }
    if let Some(e) = exponent {
        out.push('e');
        if !e.starts_with(['+', '-']) {
            out.push('+');
        }
        out.push_str(e);
    }
    out
}

/// Longest key YAML reads in the implicit `key: value` form; longer ones are written with
/// the explicit `? key` indicator.
const MAX_IMPLICIT_KEY: usize = 1000;

/// Plain when YAML (1.1 or 1.2) reads it back as this very string: a letter, `_` or `/`
/// first, no characters with a meaning, not a word YAML reads as a boolean or null.
fn yaml_string(s: &str) -> String {
    const WORDS: &[&str] = &["true", "false", "yes", "no", "on", "off", "null", "y", "n"];
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '/')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./@+:".contains(c))
        && !s.ends_with(':')
        && !WORDS.contains(&s.to_ascii_lowercase().as_str());
    if plain {
        return s.to_owned();
    }
    // JSON's escapes are YAML's, but JSON leaves DEL, the C1 controls (NEL among them) and
    // the line and paragraph separators as they are, which YAML refuses or reads as line
    // breaks: those are escaped too.
    serde_json::to_string(s)
        .expect("serializes")
        .chars()
        .map(|c| match c {
            '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' => format!("\\u{:04x}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tables_align_and_show_times() {
        let rows = json!([
            {"name": "team", "public": false, "created_ms": 0, "quota": {"max_bytes": 10}},
            {"name": "a", "public": true, "created_ms": 1_700_000_000_000i64, "quota": {}},
        ]);
        let view = View {
            columns: &[
                ("NAME", "name"),
                ("PUBLIC", "public"),
                ("QUOTA", "quota.max_bytes"),
                ("CREATED", "created_ms"),
            ],
            empty: "no projects",
        };
        assert_eq!(
            Format::Table.render(&rows, Some(&view)),
            "NAME  PUBLIC  QUOTA  CREATED\n\
             team  false   10     1970-01-01T00:00:00.000Z\n\
             a     true    -      2023-11-14T22:13:20.000Z\n"
        );
        assert_eq!(
            Format::Table.render(&json!([]), Some(&view)),
            "no projects\n"
        );
        assert_eq!(Format::Table.render(&Value::Null, Some(&view)), "");
        assert_eq!(
            Format::Table.render(
                &json!({"name": "bob", "expires_ms": 0, "tags": ["a", "b"]}),
                None
            ),
            "expires  1970-01-01T00:00:00.000Z\nname     bob\ntags     a,b\n"
        );
    }

    /// Keys print in serde_json's order (sorted); a key YAML 1.1 reads as a boolean (`n`)
    /// is quoted like any such string.
    #[test]
    fn yaml_shapes() {
        let v = json!({
            "name": "team/app",
            "digest": "sha256:abc",
            "n": 3,
            "ok": true,
            "none": null,
            "tricky": ["yes", "1.0", "", "a: b", "-x", "line\nbreak"],
            "items": [{"a": 1, "b": [1, 2]}, {}],
            "empty": {},
        });
        assert_eq!(
            yaml(&v),
            "digest: sha256:abc\nempty: {}\nitems:\n  - a: 1\n    b:\n      - 1\n      - 2\n  - {}\n\
             \"n\": 3\nname: team/app\nnone: null\nok: true\n\
             tricky:\n  - \"yes\"\n  - \"1.0\"\n  - \"\"\n  - \"a: b\"\n  - \"-x\"\n  - \"line\\nbreak\"\n"
        );
        assert_eq!(yaml(&json!([])), "[]\n");
        assert_eq!(yaml(&json!(1e300)), "1.0e+300\n");
        assert_eq!(yaml(&json!(1.5e-7)), "1.5e-7\n");
        assert_eq!(yaml(&json!(2.0)), "2.0\n");
        assert_eq!(
            yaml(&json!("a\u{85}b\u{2028}c\u{7f}")),
            "\"a\\u0085b\\u2028c\\u007f\"\n"
        );
        let long = "k".repeat(1100);
        assert!(yaml(&json!({long.clone(): 1})).starts_with(&format!("? {long}\n: 1")));
        assert_eq!(yaml(&json!("x")), "x\n");
    }

    #[test]
    fn plurals() {
        assert_eq!(plural(1, "user", "users"), "1 user");
        assert_eq!(plural(0, "user", "users"), "0 users");
        assert_eq!(plural(2, "entry", "entries"), "2 entries");
    }
}
