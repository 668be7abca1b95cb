//! Coverage files in and out: probe lists as CSV (`question,expect`), JSON lines or plain
//! text; results as CSV and the self-test as text. The results' HTML page is a template
//! of the one rendering layer, [`crate::html::probe`].

use std::fmt::Write as _;
use std::path::Path;

use super::{Expect, Probe, ProbeResult, SelfTest, Verdict};
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
    parse_probes(&text, &ext, &shown)
}

/// The probes of a file's `text`, read as its extension `ext` (lowercase) says; `shown`
/// names the file in errors.
pub fn parse_probes(text: &str, ext: &str, shown: &str) -> Result<Vec<Probe>, ProbeFileError> {
    if ext == "csv" {
        return csv_probes(text, shown);
    }
    let shown = shown.to_string();
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

    use crate::coverage::probe_result as probe;

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
}

/// Fuzz harnesses: probe files come from the people who maintain the probes (and through
/// the agents' upload), so any text must give probes or an error naming a line, never a
/// panic; and probes written in each format read back as they were.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;

    const CASES: u32 = 512;

    fn probes() -> impl Strategy<Value = Vec<Probe>> {
        let expect = prop_oneof![
            Just(None),
            Just(Some(Expect::Handoff)),
            "[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,2}".prop_map(|id| Some(Expect::Entry(id))),
        ];
        // Questions as people type them: accents, quotes, commas, but no line breaks
        // (one probe a line in text files) and no surrounding spaces (trimmed there).
        let question =
            "[A-Za-zÀ-ÿ0-9?!'’\",;]([A-Za-zÀ-ÿ0-9 ?!'’\",;]{0,40}[A-Za-zÀ-ÿ0-9?!'’\",;])?";
        proptest::collection::vec(
            (question, expect).prop_map(|(question, expect)| Probe { question, expect }),
            0..12,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        #[test]
        fn any_text_gives_probes_or_an_error_naming_a_line(
            text in "(?s).{0,400}",
            ext in prop_oneof![Just("csv"), Just("jsonl"), Just("txt")],
        ) {
            let lines = text.lines().count().max(1);
            match parse_probes(&text, ext, "probes") {
                Ok(_) => {}
                Err(ProbeFileError::Line { line, .. }) => {
                    prop_assert!((1..=lines).contains(&line), "line {} of {}", line, lines);
                }
                Err(e) => prop_assert!(false, "not a line error: {}", e),
            }
        }

        #[test]
        fn json_lines_shaped_text_never_panics(
            lines in proptest::collection::vec(
                prop_oneof![
                    Just("{\"question\": \"Horaires ?\"}".to_string()),
                    Just("{\"question\": \"Horaires ?\", \"expect\": \"handoff\"}".to_string()),
                    Just("{\"question\": 1}".to_string()),
                    Just("{\"question\": \"a\", \"other\": 1}".to_string()),
                    Just("[\"question\"]".to_string()),
                    "\\{[^\\n]{0,20}",
                    "[^\\n]{0,20}",
                ],
                0..10,
            ),
        ) {
            let text = lines.join("\n");
            if let Err(ProbeFileError::Line { line, .. }) = parse_probes(&text, "jsonl", "p.jsonl") {
                prop_assert!((1..=lines.len()).contains(&line));
            }
        }

        #[test]
        fn probes_written_as_json_lines_read_back_as_they_were(probes in probes()) {
            let text: String = probes
                .iter()
                .map(|p| serde_json::to_string(p).expect("a probe serialises") + "\n")
                .collect();
            prop_assert_eq!(parse_probes(&text, "jsonl", "p.jsonl").unwrap(), probes);
        }

        #[test]
        fn probes_written_as_csv_read_back_as_they_were(probes in probes(), header in any::<bool>()) {
            let mut w = csv::Writer::from_writer(Vec::new());
            if header {
                w.write_record(["question", "expect"]).unwrap();
            }
            for p in &probes {
                let expect = p.expect.clone().map(String::from).unwrap_or_default();
                w.write_record([p.question.as_str(), expect.as_str()]).unwrap();
            }
            let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
            // A question that is the word `question` on the first row reads as a header.
            prop_assume!(probes.first().is_none_or(|p| p.question != "question"));
            prop_assert_eq!(parse_probes(&text, "csv", "p.csv").unwrap(), probes);
        }

        #[test]
        fn questions_written_one_a_line_read_back_as_they_were(probes in probes()) {
            let probes: Vec<Probe> = probes
                .into_iter()
                .filter(|p| !p.question.starts_with('#'))
                .map(|p| Probe { question: p.question, expect: None })
                .collect();
            let text: String = probes.iter().map(|p| format!("{}\n", p.question)).collect();
            prop_assert_eq!(parse_probes(&text, "txt", "p.txt").unwrap(), probes);
        }
    }
}
