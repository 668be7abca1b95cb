//! Coverage files in and out: probe lists as CSV (`question,expect`), JSON lines or plain
//! text; results as CSV and as one self-contained HTML page (no external assets).

use std::fmt::Write as _;
use std::path::Path;

use super::{Expect, Probe, ProbeResult, SelfTest, Summary};
use crate::reply::Outcome;

#[derive(Debug, thiserror::Error)]
pub enum ProbeFileError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Line {
        path: String,
        line: usize,
        message: String,
    },
}

/// Reads probes by extension: `.csv` (header `question,expect` optional), `.jsonl`
/// (`{"question", "expect"?}`), anything else one question per line. Blank lines and
/// lines starting with `#` are skipped in text files.
pub fn read_probes(path: &Path) -> Result<Vec<Probe>, ProbeFileError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ProbeFileError::Io {
        path: shown.clone(),
        source,
    })?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mut probes = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        let bad = |message: String| ProbeFileError::Line {
            path: shown.clone(),
            line: line_no,
            message,
        };
        if line.trim().is_empty() {
            continue;
        }
        match ext.as_str() {
            "jsonl" => {
                probes.push(serde_json::from_str(line).map_err(|e| bad(e.to_string()))?);
            }
            "csv" => {
                let fields = csv_fields(line).map_err(bad)?;
                if line_no == 1 && fields.first().map(|f| f.trim()) == Some("question") {
                    continue;
                }
                let question = fields.first().cloned().unwrap_or_default();
                let expect = fields
                    .get(1)
                    .map(|e| e.trim())
                    .filter(|e| !e.is_empty())
                    .map(|e| Expect::from(e.to_string()));
                probes.push(Probe { question, expect });
            }
            _ => {
                if line.trim_start().starts_with('#') {
                    continue;
                }
                probes.push(Probe {
                    question: line.trim().to_string(),
                    expect: None,
                });
            }
        }
    }
    Ok(probes)
}

/// Fields of one CSV record on one line (RFC 4180 quoting; no newlines inside fields).
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, '"') if at_start => {
                quoted = true;
                at_start = false;
            }
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (false, ',') => {
                fields.push(std::mem::take(&mut field));
                at_start = true;
            }
            (_, c) => {
                field.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    fields.push(field);
    Ok(fields)
}

fn csv_quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn outcome_str(o: Outcome) -> &'static str {
    match o {
        Outcome::Answer => "answer",
        Outcome::Clarify => "clarify",
        Outcome::Handoff => "handoff",
    }
}

fn passed_str(p: Option<bool>) -> &'static str {
    match p {
        Some(true) => "pass",
        Some(false) => "fail",
        None => "",
    }
}

/// One row per probe: question, expect, outcome, entry, options, confidence, margin,
/// top candidate and its score, passed.
pub fn results_csv(results: &[ProbeResult]) -> String {
    let mut out = String::from(
        "question,expect,outcome,entry,options,confidence,margin,top_candidate,top_score,passed\n",
    );
    for r in results {
        let expect = r.expect.clone().map(String::from).unwrap_or_default();
        let top = r.candidates.first();
        let _ = writeln!(
            out,
            "{},{},{},{},{},{:.3},{:.3},{},{},{}",
            csv_quote(&r.question),
            csv_quote(&expect),
            outcome_str(r.outcome),
            r.entry.as_deref().unwrap_or_default(),
            r.options.join(" "),
            r.confidence,
            r.margin,
            top.map(|c| c.id.as_str()).unwrap_or_default(),
            top.map(|c| format!("{:.3}", c.score)).unwrap_or_default(),
            passed_str(r.passed),
        );
    }
    out
}

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}\
table{border-collapse:collapse;font-size:.9rem}td,th{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}\
th{background:#f3f3f3}.pass{background:#e4f6e4}.fail{background:#fbe3e3}.num{text-align:right}\
.cards{display:flex;gap:1rem;margin:1rem 0}.card{border:1px solid #ccc;border-radius:6px;padding:.6rem 1rem}\
.card b{display:block;font-size:1.6rem}";

/// One page: summary cards, confusable pairs, then every probe.
pub fn results_html(results: &[ProbeResult], summary: &Summary, title: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>{t}</title><style>{STYLE}</style></head><body><h1>{t}</h1>",
        t = escape(title)
    );
    out.push_str("<div class=\"cards\">");
    let pass_rate = summary
        .pass_rate
        .map_or("-".to_string(), |r| format!("{:.1} %", r * 100.0));
    for (label, value) in [
        ("questions", summary.total.to_string()),
        ("answered", summary.answered.to_string()),
        ("clarified", summary.clarified.to_string()),
        ("handed off", summary.handed_off.to_string()),
        ("pass rate", pass_rate),
        ("wrong answers", summary.wrong_answers.to_string()),
    ] {
        let _ = write!(
            out,
            "<div class=\"card\"><b>{}</b>{label}</div>",
            escape(&value)
        );
    }
    out.push_str("</div>");
    if !summary.confusable.is_empty() {
        out.push_str(
            "<h2>Confusable pairs</h2><table><tr><th>expected</th><th>got</th><th>count</th></tr>",
        );
        for c in &summary.confusable {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
                escape(&c.expected),
                escape(&c.got),
                c.count
            );
        }
        out.push_str("</table>");
    }
    out.push_str("<h2>Probes</h2><table><tr><th>question</th><th>expect</th><th>outcome</th><th>entry / options</th><th>confidence</th><th>margin</th><th>top candidates</th><th>result</th></tr>");
    for r in results {
        let class = match r.passed {
            Some(true) => " class=\"pass\"",
            Some(false) => " class=\"fail\"",
            None => "",
        };
        let served = r.entry.clone().unwrap_or_else(|| r.options.join(", "));
        let candidates: Vec<String> = r
            .candidates
            .iter()
            .map(|c| format!("{} {:.2}", escape(&c.id), c.score))
            .collect();
        let _ = write!(
            out,
            "<tr{class}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{:.2}</td><td class=\"num\">{:.2}</td><td>{}</td><td>{}</td></tr>",
            escape(&r.question),
            escape(&r.expect.clone().map(String::from).unwrap_or_default()),
            outcome_str(r.outcome),
            escape(&served),
            r.confidence,
            r.margin,
            candidates.join("<br>"),
            passed_str(r.passed),
        );
    }
    out.push_str("</table></body></html>\n");
    out
}

/// The self-test as text: totals, the near-duplicates, then each miss.
pub fn self_test_text(t: &SelfTest) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} phrasings checked, {} found another entry first",
        t.phrasings,
        t.misses.len()
    );
    if !t.steals.is_empty() {
        out.push_str("\nentries that take each other's phrasings (merge or sharpen):\n");
        for s in &t.steals {
            let _ = writeln!(
                out,
                "  {} <-> {}  ({} phrasing(s))",
                s.entries.0, s.entries.1, s.phrasings
            );
        }
    }
    if !t.misses.is_empty() {
        out.push_str("\nmisses:\n");
        for m in &t.misses {
            let _ = writeln!(
                out,
                "  {}: {:?} -> {}",
                m.entry,
                m.phrasing,
                m.got.as_deref().unwrap_or("(nothing)")
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_honour_quotes_and_doubled_quotes() {
        assert_eq!(
            csv_fields(r#""où est, la mairie ?",handoff"#).unwrap(),
            vec!["où est, la mairie ?", "handoff"]
        );
        assert_eq!(
            csv_fields(r#""il a dit ""bonjour""",x"#).unwrap(),
            vec![r#"il a dit "bonjour""#, "x"]
        );
        assert_eq!(csv_fields("a").unwrap(), vec!["a"]);
        assert!(csv_fields(r#""open"#).is_err());
    }

    #[test]
    fn csv_quote_round_trips_through_csv_fields() {
        let s = r#"un "mot", deux"#;
        assert_eq!(csv_fields(&csv_quote(s)).unwrap(), vec![s]);
    }

    #[test]
    fn html_escapes_what_people_typed() {
        assert_eq!(escape("<b>&\""), "&lt;b&gt;&amp;&quot;");
    }
}
