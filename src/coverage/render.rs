//! Coverage files in and out: probe lists as CSV (`question,expect`), JSON lines or plain
//! text; results as CSV and as one self-contained HTML page (no external assets).

use std::fmt::Write as _;
use std::path::Path;

use super::{Expect, Probe, ProbeResult, SelfTest, Summary, Verdict};
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

/// Reads probes by extension: `.csv` (header `question,expect` optional; RFC 4180 quoting,
/// read by the `csv` crate), `.jsonl` (`{"question", "expect"?}`), anything else one
/// question per line. Blank lines and lines starting with `#` are skipped in text files.
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
    if ext == "csv" {
        return csv_probes(&text, &shown);
    }
    let mut probes = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if ext == "jsonl" {
            probes.push(
                serde_json::from_str(line).map_err(|e| ProbeFileError::Line {
                    path: shown.clone(),
                    line: n + 1,
                    message: e.to_string(),
                })?,
            );
        } else if !line.trim_start().starts_with('#') {
            probes.push(Probe {
                question: line.trim().to_string(),
                expect: None,
            });
        }
    }
    Ok(probes)
}

/// `question[,expect]` records; a first record whose first field is `question` is the
/// header.
fn csv_probes(text: &str, shown: &str) -> Result<Vec<Probe>, ProbeFileError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut probes = Vec::new();
    for (n, record) in reader.records().enumerate() {
        let record = record.map_err(|e| ProbeFileError::Line {
            path: shown.to_string(),
            line: e.position().map_or(0, |p| p.line() as usize),
            message: e.to_string(),
        })?;
        let question = record.get(0).unwrap_or_default();
        if n == 0 && question.trim() == "question" {
            continue;
        }
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let expect = record
            .get(1)
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|e| Expect::from(e.to_string()));
        probes.push(Probe {
            question: question.to_string(),
            expect,
        });
    }
    Ok(probes)
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
/// top candidate and its score, passed, verdict ([`Verdict::as_str`]) and, for a failure,
/// what to do (in French).
pub fn results_csv(results: &[ProbeResult]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut write = |row: &[&str]| {
        w.write_record(row)
            .expect("writing CSV to memory cannot fail");
    };
    write(&[
        "question",
        "expect",
        "outcome",
        "entry",
        "options",
        "confidence",
        "margin",
        "top_candidate",
        "top_score",
        "passed",
        "verdict",
        "action",
    ]);
    for r in results {
        let expect = r.expect.clone().map(String::from).unwrap_or_default();
        let top = r.candidates.first();
        write(&[
            &r.question,
            &expect,
            outcome_str(r.outcome),
            r.entry.as_deref().unwrap_or_default(),
            &r.options.join(" "),
            &format!("{:.3}", r.confidence),
            &format!("{:.3}", r.margin),
            top.map(|c| c.id.as_str()).unwrap_or_default(),
            &top.map(|c| format!("{:.3}", c.score)).unwrap_or_default(),
            passed_str(r.passed),
            r.verdict.map(Verdict::as_str).unwrap_or_default(),
            &r.verdict.map(|v| v.action(r)).unwrap_or_default(),
        ]);
    }
    let bytes = w.into_inner().expect("flushing CSV to memory cannot fail");
    String::from_utf8(bytes).expect("CSV of strings is UTF-8")
}

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}\
table{border-collapse:collapse;font-size:.9rem}td,th{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}\
th{background:#f3f3f3}.pass{background:#e4f6e4}.fail{background:#fbe3e3}.update{background:#fff4d6}.num{text-align:right}\
.cards{display:flex;flex-wrap:wrap;gap:1rem;margin:1rem 0}.card{border:1px solid #ccc;border-radius:6px;padding:.6rem 1rem}\
.card b{display:block;font-size:1.6rem}.todo{font-weight:600}details{color:#555;font-size:.85rem}";

fn outcome_fr(o: Outcome) -> &'static str {
    match o {
        Outcome::Answer => "réponse",
        Outcome::Clarify => "« Vouliez-vous dire »",
        Outcome::Handoff => "transfert à un agent",
    }
}

/// What the person got, in words: the outcome and the entry served or offered.
fn got_fr(r: &ProbeResult) -> String {
    let what = match r.outcome {
        Outcome::Answer => r.entry.clone().unwrap_or_default(),
        Outcome::Clarify => r.options.join(", "),
        Outcome::Handoff => String::new(),
    };
    if what.is_empty() {
        outcome_fr(r.outcome).to_string()
    } else {
        format!("{} : {what}", outcome_fr(r.outcome))
    }
}

fn expect_fr(e: Option<&Expect>) -> String {
    match e {
        Some(Expect::Entry(id)) => id.clone(),
        Some(Expect::Handoff) => "transfert (handoff)".into(),
        None => "–".into(),
    }
}

/// The scores, folded: they explain a result, they are not what to read first.
fn details(r: &ProbeResult) -> String {
    let candidates: Vec<String> = r
        .candidates
        .iter()
        .map(|c| format!("{} ({})", escape(&c.id), decimal(c.score)))
        .collect();
    format!(
        "<details><summary>détails</summary>confiance {} %, écart {} ; entrées les plus proches : {}</details>",
        (r.confidence * 100.0).round(),
        decimal(r.margin),
        if candidates.is_empty() {
            "aucune".to_string()
        } else {
            candidates.join(", ")
        }
    )
}

fn decimal(x: f32) -> String {
    format!("{x:.2}").replace('.', ",")
}

/// One page in French: summary cards, the failures first (wrong answers, then
/// expectations to update, then the rest), each with what to do, then the confusable
/// pairs, then the probes that passed or carried no expectation.
pub fn results_html(results: &[ProbeResult], summary: &Summary, title: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>{t}</title><style>{STYLE}</style></head><body><h1>{t}</h1>",
        t = escape(title)
    );
    out.push_str("<div class=\"cards\">");
    let pass_rate = summary.pass_rate.map_or("–".to_string(), |r| {
        format!("{:.1} %", r * 100.0).replace('.', ",")
    });
    for (label, value) in [
        ("questions", summary.total.to_string()),
        ("répondues", summary.answered.to_string()),
        ("« Vouliez-vous dire »", summary.clarified.to_string()),
        ("transmises à un agent", summary.handed_off.to_string()),
        ("attendus remplis", pass_rate),
        ("mauvaises réponses", summary.wrong_answers.to_string()),
        (
            "attendus à mettre à jour",
            summary.expectations_to_update.to_string(),
        ),
    ] {
        let _ = write!(
            out,
            "<div class=\"card\"><b>{}</b>{}</div>",
            escape(&value),
            escape(label)
        );
    }
    out.push_str("</div>");
    let mut failures: Vec<(Verdict, &ProbeResult)> = results
        .iter()
        .filter_map(|r| r.verdict.filter(|v| !v.passed()).map(|v| (v, r)))
        .collect();
    failures.sort_by_key(|(v, _)| *v);
    if failures.is_empty() {
        out.push_str("<h2 id=\"a-traiter\">À traiter</h2><p>Rien : chaque attendu est rempli.</p>");
    } else {
        let _ = write!(
            out,
            "<h2 id=\"a-traiter\">À traiter ({})</h2><table id=\"t-echecs\"><tr><th>question</th><th>attendu</th><th>obtenu</th><th>verdict</th><th>à faire</th></tr>",
            failures.len()
        );
        for (v, r) in &failures {
            let class = if *v == Verdict::ExpectationToUpdate {
                "update"
            } else {
                "fail"
            };
            let _ = write!(
                out,
                "<tr class=\"{class}\" data-verdict=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><span class=\"todo\">{}</span>{}</td></tr>",
                v.as_str(),
                escape(&r.question),
                escape(&expect_fr(r.expect.as_ref())),
                escape(&got_fr(r)),
                v.label(),
                escape(&v.action(r)),
                details(r),
            );
        }
        out.push_str("</table>");
    }
    if !summary.confusable.is_empty() {
        out.push_str(
            "<h2>Entrées confondues</h2><table><tr><th>attendue</th><th>servie ou proposée</th><th>fois</th></tr>",
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
    let rest: Vec<&ProbeResult> = results
        .iter()
        .filter(|r| r.verdict.is_none_or(Verdict::passed))
        .collect();
    if !rest.is_empty() {
        let _ = write!(
            out,
            "<h2 id=\"reussies\">Réussies ou sans attendu ({})</h2><table id=\"t-reussies\"><tr><th>question</th><th>attendu</th><th>obtenu</th><th>verdict</th></tr>",
            rest.len()
        );
        for r in rest {
            let (class, label) = match r.verdict {
                Some(v) => (" class=\"pass\"", v.label()),
                None => ("", "sans attendu"),
            };
            let _ = write!(
                out,
                "<tr{class}><td>{}</td><td>{}</td><td>{}</td><td>{label}{}</td></tr>",
                escape(&r.question),
                escape(&expect_fr(r.expect.as_ref())),
                escape(&got_fr(r)),
                details(r),
            );
        }
        out.push_str("</table>");
    }
    out.push_str("</body></html>\n");
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

    fn probes_of(name: &str, text: &str) -> Vec<Probe> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        read_probes(&path).unwrap()
    }

    #[test]
    fn csv_probes_honour_quotes_doubled_quotes_and_a_header() {
        let probes = probes_of(
            "p.csv",
            "question,expect\n\"où est, la mairie ?\",handoff\n\n\"il a dit \"\"bonjour\"\"\",x\nseule\n\"sur\ndeux lignes\",\n",
        );
        let got: Vec<(&str, Option<Expect>)> = probes
            .iter()
            .map(|p| (p.question.as_str(), p.expect.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("où est, la mairie ?", Some(Expect::Handoff)),
                ("il a dit \"bonjour\"", Some(Expect::Entry("x".into()))),
                ("seule", None),
                ("sur\ndeux lignes", None),
            ]
        );
    }

    #[test]
    fn text_and_jsonl_probes_skip_blank_lines_and_comments() {
        let probes = probes_of("p.txt", "# a comment\n\n  bonjour  \n");
        assert_eq!(probes.len(), 1);
        assert_eq!(probes[0].question, "bonjour");
        let probes = probes_of("p.jsonl", "{\"question\":\"a\",\"expect\":\"handoff\"}\n\n");
        assert_eq!(probes[0].expect, Some(Expect::Handoff));
    }

    #[test]
    fn results_csv_reads_back_with_the_same_fields() {
        let r = ProbeResult {
            question: "un \"mot\", deux".into(),
            expect: Some(Expect::Handoff),
            outcome: Outcome::Handoff,
            entry: None,
            options: Vec::new(),
            confidence: 0.25,
            margin: 0.5,
            candidates: Vec::new(),
            passed: Some(true),
            verdict: Some(Verdict::Pass),
        };
        let text = results_csv(&[r]);
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 1);
        assert_eq!(&rows[0][0], "un \"mot\", deux");
        assert_eq!(&rows[0][1], "handoff");
        assert_eq!(&rows[0][5], "0.250");
        assert_eq!(&rows[0][9], "pass");
        assert_eq!(&rows[0][10], "pass");
    }

    fn probe(question: &str, expect: &str, outcome: Outcome, entry: Option<&str>) -> ProbeResult {
        let expect = Some(Expect::from(expect.to_string()));
        let verdict = super::super::verdict(expect.as_ref(), outcome, entry, true);
        ProbeResult {
            question: question.into(),
            expect,
            outcome,
            entry: entry.map(String::from),
            options: Vec::new(),
            confidence: 0.634,
            margin: 0.1,
            candidates: Vec::new(),
            passed: verdict.map(Verdict::passed),
            verdict,
        }
    }

    #[test]
    fn probe_the_csv_tells_an_expectation_to_update_from_a_wrong_answer() {
        let results = [
            probe("q1", "handoff", Outcome::Answer, Some("nouvelle")),
            probe("q2", "a", Outcome::Answer, Some("b")),
        ];
        let text = results_csv(&results);
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(&reader.headers().unwrap()[10], "verdict");
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(&rows[0][10], "expectation_to_update");
        assert!(
            rows[0][11].contains("Mettre à jour l'attendu"),
            "{:?}",
            &rows[0]
        );
        assert_eq!(&rows[1][10], "wrong_answer");
    }

    #[test]
    fn probe_the_html_is_in_french_with_failures_first_each_saying_what_to_do() {
        let results = [
            probe("ça passe", "a", Outcome::Answer, Some("a")),
            probe(
                "nouvelle <entrée>",
                "handoff",
                Outcome::Answer,
                Some("nouvelle"),
            ),
            probe("mauvaise", "a", Outcome::Answer, Some("b")),
        ];
        let summary = super::super::summarise(&results);
        let html = results_html(&results, &summary, "Couverture");
        let at = |needle: &str| {
            html.find(needle)
                .unwrap_or_else(|| panic!("{needle}: {html}"))
        };
        // Failures come before the passes, the wrong answer before the stale expectation.
        assert!(at("À traiter (2)") < at("Réussies ou sans attendu (1)"));
        assert!(at("data-verdict=\"wrong_answer\"") < at("data-verdict=\"expectation_to_update\""));
        assert!(at("data-verdict=\"expectation_to_update\"") < at("ça passe"));
        assert!(html.contains("<b>1</b>mauvaises réponses"), "{html}");
        assert!(html.contains("<b>1</b>attendus à mettre à jour"), "{html}");
        assert!(
            html.contains("Mettre à jour l&#39;attendu")
                || html.contains("Mettre à jour l'attendu")
        );
        assert!(html.contains("Ajouter cette formulation aux alternates de « a »"));
        // What people typed is escaped; scores are folded, a percentage.
        assert!(html.contains("nouvelle &lt;entrée&gt;") && !html.contains("<entrée>"));
        assert!(html.contains("<details><summary>détails</summary>confiance 63 %"));
        assert!(!html.contains("pass rate") && !html.contains("wrong answers"));
    }

    #[test]
    fn html_escapes_what_people_typed() {
        assert_eq!(escape("<b>&\""), "&lt;b&gt;&amp;&quot;");
    }
}
