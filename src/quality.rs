//! The quality report of `make quality`: which sets of `../shared/data` are measured, the
//! targets issue 3 sets for each, and the rendering of measured figures as a markdown page
//! and an SVG plot of wrong-answer rate against coverage. Rendering is pure: it only
//! formats what a run measured, so no figure in the page is typed by hand.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::embedder::Embedder;
use crate::engine::EngineOptions;
use crate::eval::{self, ClarifyPoint, CurvePoint, EvalError, EvalSet, Report};
use crate::html::html;
use crate::policy::Policy;

/// A metric that a target bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    WrongAnswerRate,
    ResolvedRate,
    HandoffRecall,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Self::WrongAnswerRate => "wrong_answer_rate",
            Self::ResolvedRate => "resolved_rate",
            Self::HandoffRecall => "handoff_recall",
        }
    }

    pub fn of(self, r: &Report) -> f64 {
        match self {
            Self::WrongAnswerRate => r.wrong_answer_rate,
            Self::ResolvedRate => r.resolved_rate,
            Self::HandoffRecall => r.handoff_recall,
        }
    }
}

/// One bound on one metric, as the issue states it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    AtMost(Metric, f64),
    AtLeast(Metric, f64),
}

impl Target {
    pub fn metric(self) -> Metric {
        match self {
            Self::AtMost(m, _) | Self::AtLeast(m, _) => m,
        }
    }

    pub fn bound(self) -> f64 {
        match self {
            Self::AtMost(_, b) | Self::AtLeast(_, b) => b,
        }
    }

    pub fn met(self, r: &Report) -> bool {
        match self {
            Self::AtMost(m, b) => m.of(r) <= b,
            Self::AtLeast(m, b) => m.of(r) >= b,
        }
    }

    /// "≤ 0.05" or "≥ 0.90".
    pub fn describe(self) -> String {
        match self {
            Self::AtMost(_, b) => format!("≤ {b:.2}"),
            Self::AtLeast(_, b) => format!("≥ {b:.2}"),
        }
    }
}

/// The targets of issue 3 for a folder of `../shared/data`, and for one bot of it when
/// `kb` is given. hint3's targets hold for each bot, so the three bots pooled have none.
pub fn targets_for(folder: &str, kb: Option<&str>) -> Vec<Target> {
    use Metric::*;
    match (folder, kb) {
        ("cnil_faq", _) => vec![
            Target::AtMost(WrongAnswerRate, 0.05),
            Target::AtLeast(ResolvedRate, 0.75),
            Target::AtLeast(HandoffRecall, 0.90),
        ],
        ("hint3", Some(_)) => vec![
            Target::AtLeast(HandoffRecall, 0.85),
            Target::AtMost(WrongAnswerRate, 0.10),
        ],
        ("deepset_covid_faq", _) => vec![Target::AtLeast(ResolvedRate, 0.80)],
        _ => Vec::new(),
    }
}

/// One measured set: a folder, restricted to a language and/or one knowledge base.
#[derive(Debug, Clone, PartialEq)]
pub struct SetSpec {
    pub name: String,
    pub dir: PathBuf,
    pub lang: Option<String>,
    pub kb: Option<String>,
    pub targets: Vec<Target>,
}

impl SetSpec {
    pub fn read(&self) -> Result<EvalSet, EvalError> {
        let mut set = EvalSet::read(
            &self.dir.join("entries.jsonl"),
            &self.dir.join("queries.dev.jsonl"),
            self.lang.as_deref(),
        )?;
        if let Some(kb) = &self.kb {
            set.retain_kb(kb);
        }
        Ok(set)
    }
}

/// Every set under `data`: each folder holding `entries.jsonl` and `queries.dev.jsonl`,
/// split by language when its entries have several (each language is evaluated on its
/// own); a folder with knowledge bases (`kb`) is measured pooled and then bot by bot.
pub fn discover(data: &Path) -> Result<Vec<SetSpec>, EvalError> {
    let listing = std::fs::read_dir(data).map_err(|source| EvalError::Io {
        path: data.display().to_string(),
        source,
    })?;
    let mut dirs: Vec<PathBuf> = listing
        .filter_map(|d| d.ok().map(|d| d.path()))
        .filter(|d| d.join("entries.jsonl").is_file() && d.join("queries.dev.jsonl").is_file())
        .collect();
    dirs.sort();
    let mut specs = Vec::new();
    for dir in dirs {
        let folder = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let all = EvalSet::read(
            &dir.join("entries.jsonl"),
            &dir.join("queries.dev.jsonl"),
            None,
        )?;
        let langs: BTreeSet<&str> = all.entries.iter().map(|e| e.lang.as_str()).collect();
        let kbs: BTreeSet<&str> = all.entries.iter().filter_map(|e| e.kb.as_deref()).collect();
        let split_lang = langs.len() > 1;
        for lang in &langs {
            let lang_name = if split_lang {
                format!("{folder} · {lang}")
            } else {
                folder.clone()
            };
            let spec = |name: String, kb: Option<&str>| SetSpec {
                name,
                dir: dir.clone(),
                lang: split_lang.then(|| lang.to_string()),
                kb: kb.map(str::to_string),
                targets: targets_for(&folder, kb),
            };
            if kbs.is_empty() {
                specs.push(spec(lang_name, None));
            } else {
                specs.push(spec(format!("{lang_name} (all bots)"), None));
                specs.extend(
                    kbs.iter()
                        .map(|kb| spec(format!("{lang_name} · {kb}"), Some(kb))),
                );
            }
        }
    }
    Ok(specs)
}

/// What one run measured on one set.
#[derive(Debug, Clone)]
pub struct Measured {
    pub name: String,
    pub entries: usize,
    pub report: Report,
    pub targets: Vec<Target>,
    /// Coverage and wrong-answer rate as the answer threshold goes from 0 to 1.
    pub curve: Vec<CurvePoint>,
    /// Resolved rate and hand-off recall at each threshold of [`clarify_thresholds`].
    pub clarify: Vec<ClarifyPoint>,
}

/// The did-you-mean thresholds the page shows, with the policy's own.
pub fn clarify_thresholds(policy: &Policy) -> Vec<f32> {
    let mut t: Vec<f32> = (2..=8).map(|i| i as f32 / 10.0).collect();
    t.push(policy.clarify_threshold());
    t.sort_by(f32::total_cmp);
    t.dedup_by(|a, b| (*a - *b).abs() < 1e-6);
    t
}

/// Probes a set with the model once, then scores it under `policy` and sweeps the answer
/// threshold in `steps` steps.
pub fn measure(
    spec: &SetSpec,
    embedder: Arc<dyn Embedder>,
    options: &EngineOptions,
    policy: &Policy,
    steps: usize,
) -> Result<Measured, EvalError> {
    let set = spec.read()?;
    let engines = set.engines(embedder, options)?;
    let probes = eval::probe(&set, &engines)?;
    Ok(Measured {
        name: spec.name.clone(),
        entries: set.entries.len(),
        report: eval::score(&eval::decide_all(&probes, policy)),
        targets: spec.targets.clone(),
        curve: eval::curve(&probes, policy, steps),
        clarify: eval::clarify_sweep(&probes, policy, &clarify_thresholds(policy)),
    })
}

/// What the page says about the run besides the figures.
#[derive(Debug, Clone)]
pub struct Page {
    /// The command that produced the page.
    pub command: String,
    /// When, as the date of the run.
    pub generated: String,
    pub policy_path: String,
    pub policy: Policy,
    /// The plot, as the page links it (relative to the page).
    pub svg_link: String,
}

fn ratio_cell(r: &Report, value: f64, metric: Option<Metric>) -> String {
    // A rate over nothing is reported by `score` as 0; saying so is clearer than a zero.
    let undefined = match metric {
        Some(Metric::HandoffRecall) => r.null == 0,
        Some(Metric::WrongAnswerRate) => {
            r.answered_correct + r.answered_wrong + r.answered_null == 0
        }
        _ => false,
    };
    if undefined {
        "n/a".into()
    } else {
        format!("{value:.3}")
    }
}

/// The rows of the metrics table: name, and the cell for a report.
type Row = (&'static str, fn(&Report) -> String);

const ROWS: [Row; 19] = [
    ("queries", |r| r.queries.to_string()),
    ("answerable", |r| r.answerable.to_string()),
    ("null", |r| r.null.to_string()),
    ("answered_correct", |r| r.answered_correct.to_string()),
    ("answered_wrong", |r| r.answered_wrong.to_string()),
    ("clarified_with_correct", |r| {
        r.clarified_with_correct.to_string()
    }),
    ("clarified_without_correct", |r| {
        r.clarified_without_correct.to_string()
    }),
    ("handed_off_answerable", |r| {
        r.handed_off_answerable.to_string()
    }),
    ("answered_null", |r| r.answered_null.to_string()),
    ("clarified_null", |r| r.clarified_null.to_string()),
    ("handed_off_null", |r| r.handed_off_null.to_string()),
    ("accuracy_at_1", |r| ratio_cell(r, r.accuracy_at_1, None)),
    ("recall_at_3", |r| ratio_cell(r, r.recall_at_3, None)),
    ("wrong_answer_rate", |r| {
        ratio_cell(r, r.wrong_answer_rate, Some(Metric::WrongAnswerRate))
    }),
    ("coverage", |r| ratio_cell(r, r.coverage, None)),
    ("resolved_rate", |r| ratio_cell(r, r.resolved_rate, None)),
    ("handoff_recall", |r| {
        ratio_cell(r, r.handoff_recall, Some(Metric::HandoffRecall))
    }),
    ("p50_ms", |r| format!("{:.1}", r.p50_ms)),
    ("p99_ms", |r| format!("{:.1}", r.p99_ms)),
];

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**not met**" }
}

/// The markdown page: provenance, targets with verdicts, every metric of every set (with
/// the set's targets next to the figures they bound), and the plot.
pub fn markdown(page: &Page, sets: &[Measured]) -> String {
    let mut md = String::new();
    let p = &page.policy;
    let _ = writeln!(md, "# Answer quality\n");
    let _ = writeln!(
        md,
        "Generated on {} by `{}`: do not edit, every figure below comes from that run.\n",
        page.generated, page.command
    );
    let _ = writeln!(
        md,
        "Policy `{}`: answer threshold {:.3}, clarify threshold {:.3} (on {}).  ",
        page.policy_path,
        p.answer_threshold(),
        p.clarify_threshold(),
        if p.shortlist().is_some() {
            "the probability that the right entry is among the options"
        } else {
            "the probability that the leader is right"
        }
    );
    let _ = writeln!(md, "Provenance: {}\n", p.provenance);
    let _ = writeln!(
        md,
        "Queries are the dev halves in `../shared/data`; each set is matched only against its \
         own entries (one language, one bot). Latencies are per query (embedding, retrieval, \
         decision), one query at a time, on the machine of the run.\n"
    );

    let _ = writeln!(md, "## Targets (issue 3)\n");
    let _ = writeln!(md, "| set | metric | target | measured | verdict |");
    let _ = writeln!(md, "|---|---|---|---|---|");
    for s in sets {
        for t in &s.targets {
            let met = t.met(&s.report);
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.3} | {} |",
                s.name,
                t.metric().name(),
                t.describe(),
                t.metric().of(&s.report),
                verdict(met)
            );
        }
    }
    let met_count = sets
        .iter()
        .flat_map(|s| s.targets.iter().map(|t| t.met(&s.report)))
        .filter(|m| *m)
        .count();
    let total: usize = sets.iter().map(|s| s.targets.len()).sum();
    let _ = writeln!(
        md,
        "\n{met_count} of {total} targets met on the dev data.\n"
    );

    let _ = writeln!(md, "## All metrics\n");
    let _ = writeln!(
        md,
        "A rate over nothing (no unanswerable query, no answer given) is shown as n/a. \
         Where the issue sets a target, it follows the figure with its verdict.\n"
    );
    let mut header = String::from("| metric |");
    let mut rule = String::from("|---|");
    for s in sets {
        let _ = write!(header, " {} |", s.name);
        rule.push_str("---:|");
    }
    let _ = writeln!(md, "{header}\n{rule}");
    let _ = write!(md, "| entries |");
    for s in sets {
        let _ = write!(md, " {} |", s.entries);
    }
    md.push('\n');
    for (name, cell) in ROWS {
        let _ = write!(md, "| {name} |");
        for s in sets {
            let mut value = cell(&s.report);
            for t in s.targets.iter().filter(|t| t.metric().name() == name) {
                let _ = write!(value, " ({} {})", t.describe(), verdict(t.met(&s.report)));
            }
            let _ = write!(md, " {value} |");
        }
        md.push('\n');
    }

    let _ = writeln!(md, "\n## Wrong answers against coverage\n");
    let _ = writeln!(
        md,
        "Each line sweeps the answer threshold from 0 (answer everything) to 1 (answer \
         nothing) in steps of {}, the rest of the policy unchanged; the dot is the policy \
         as calibrated.\n",
        sets.first()
            .map(|s| s.curve.len().saturating_sub(1).max(1))
            .map(|n| format!("{:.2}", 1.0 / n as f64))
            .unwrap_or_else(|| "-".into())
    );
    let _ = writeln!(
        md,
        "![wrong-answer rate against coverage]({})",
        page.svg_link
    );

    let _ = writeln!(md, "\n## Resolving more against handing off less\n");
    let _ = writeln!(
        md,
        "Each row moves the did-you-mean threshold, the answer threshold unchanged: a looser \
         one offers validated questions to more people (resolved rate up) but also to more \
         of those nobody can answer, who should have been handed off (hand-off recall down). \
         Each cell is resolved rate / hand-off recall (- where every query has an answer, \
         n/a where the policy cannot take that threshold); the row in bold is the policy \
         as calibrated.\n"
    );
    let _ = write!(md, "| threshold |");
    for s in sets {
        let _ = write!(md, " {} |", s.name);
    }
    let _ = write!(md, "\n|---|");
    for _ in sets {
        md.push_str("---:|");
    }
    md.push('\n');
    for t in clarify_thresholds(&page.policy) {
        let own = (t - page.policy.clarify_threshold()).abs() < 1e-6;
        let bold = |cell: String| if own { format!("**{cell}**") } else { cell };
        let _ = write!(md, "| {} |", bold(format!("{t:.2}")));
        for s in sets {
            let cell = s
                .clarify
                .iter()
                .find(|p| (p.clarify_threshold - t).abs() < 1e-6)
                .map_or_else(
                    || "n/a".to_string(),
                    |p| {
                        let recall = p.handoff_recall.map_or("-".into(), |r| format!("{r:.3}"));
                        bold(format!("{:.3} / {recall}", p.resolved_rate))
                    },
                );
            let _ = write!(md, " {cell} |");
        }
        md.push('\n');
    }
    md
}

// Plot geometry, in SVG user units.
const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 560.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 600.0;
const TOP: f64 = 60.0;
const BOTTOM: f64 = 480.0;
/// Okabe-Ito colours: told apart with the common colour-vision deficiencies.
const COLOURS: [&str; 7] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
];

/// The top of the y axis and its tick step: the worst wrong-answer rate, rounded up.
fn y_scale(sets: &[Measured]) -> (f64, f64) {
    let worst = sets
        .iter()
        .flat_map(|s| {
            s.curve
                .iter()
                .map(|p| p.wrong_answer_rate)
                .chain([s.report.wrong_answer_rate])
        })
        .fold(0.0f64, f64::max);
    let step = if worst <= 0.3 { 0.05 } else { 0.1 };
    let top = ((worst / step - 1e-9).ceil() * step).clamp(step * 2.0, 1.0);
    (top, step)
}

fn px(coverage: f64, wrong: f64, y_top: f64) -> (f64, f64) {
    (
        LEFT + coverage.clamp(0.0, 1.0) * (RIGHT - LEFT),
        BOTTOM - (wrong / y_top).clamp(0.0, 1.0) * (BOTTOM - TOP),
    )
}

/// The plot: one polyline per set (answer threshold from loose to strict), a dot at the
/// calibrated policy, dashed lines at the wrong-answer targets, axes, ticks, legend.
pub fn svg(sets: &[Measured]) -> String {
    let (y_top, y_step) = y_scale(sets);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="13">"#
    );
    let _ = writeln!(
        s,
        r#"<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="30" text-anchor="middle" font-size="16" font-weight="bold">Wrong-answer rate against coverage, answer threshold from 0 to 1</text>"#,
        WIDTH / 2.0
    );
    // Grid and ticks.
    for i in 0..=10 {
        let v = i as f64 / 10.0;
        let (x, _) = px(v, 0.0, y_top);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{BOTTOM}" stroke="#e4e4e4"/><text x="{x:.1}" y="{}" text-anchor="middle">{v:.1}</text>"##,
            BOTTOM + 20.0
        );
    }
    let ticks = (y_top / y_step).round() as usize;
    for i in 0..=ticks {
        let v = i as f64 * y_step;
        let (_, y) = px(0.0, v, y_top);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{RIGHT}" y2="{y:.1}" stroke="#e4e4e4"/><text x="{}" y="{:.1}" text-anchor="end">{v:.2}</text>"##,
            LEFT - 8.0,
            y + 4.0
        );
    }
    let _ = writeln!(
        s,
        r#"<rect x="{LEFT}" y="{TOP}" width="{}" height="{}" fill="none" stroke="black"/>"#,
        RIGHT - LEFT,
        BOTTOM - TOP
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">coverage (answerable queries answered with the right entry)</text>"#,
        (LEFT + RIGHT) / 2.0,
        BOTTOM + 45.0
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(25 {}) rotate(-90)" text-anchor="middle">wrong-answer rate (wrong answers / answers given)</text>"#,
        (TOP + BOTTOM) / 2.0
    );
    // The wrong-answer targets, each once, naming the sets they bind.
    let mut bounds: Vec<(f64, Vec<&str>)> = Vec::new();
    for m in sets {
        for t in &m.targets {
            if let Target::AtMost(Metric::WrongAnswerRate, b) = *t {
                match bounds.iter_mut().find(|(x, _)| (*x - b).abs() < 1e-9) {
                    Some((_, names)) => names.push(&m.name),
                    None => bounds.push((b, vec![&m.name])),
                }
            }
        }
    }
    for (b, names) in &bounds {
        let (_, y) = px(0.0, *b, y_top);
        let label = if names.len() > 1 {
            format!("target ≤ {b:.2} ({} sets)", names.len())
        } else {
            format!("target ≤ {b:.2} ({})", names[0])
        };
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{RIGHT}" y2="{y:.1}" stroke="#555" stroke-dasharray="2 4"/><text x="{}" y="{:.1}" text-anchor="end" font-size="11" fill="#555">{}</text>"##,
            RIGHT - 4.0,
            y - 4.0,
            // Escaped by maud, as every page is: no escaping of our own.
            html! { (label) }.into_string()
        );
    }
    // One polyline per set, then its operating point.
    for (i, m) in sets.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let dash = if i >= COLOURS.len() || m.targets.is_empty() {
            r#" stroke-dasharray="7 4""#
        } else {
            ""
        };
        let points: Vec<String> = m
            .curve
            .iter()
            .map(|p| {
                let (x, y) = px(p.coverage, p.wrong_answer_rate, y_top);
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline data-set="{}" fill="none" stroke="{colour}" stroke-width="2"{dash} points="{}"/>"#,
            html! { (m.name) }.into_string(),
            points.join(" ")
        );
        let (x, y) = px(m.report.coverage, m.report.wrong_answer_rate, y_top);
        let _ = writeln!(
            s,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="5" fill="{colour}" stroke="white" stroke-width="1.5"/>"#
        );
    }
    // Legend, right of the plot.
    let lx = RIGHT + 20.0;
    let _ = writeln!(
        s,
        r#"<text x="{lx}" y="{}" font-weight="bold">set</text>"#,
        TOP + 10.0
    );
    for (i, m) in sets.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let dash = if i >= COLOURS.len() || m.targets.is_empty() {
            r#" stroke-dasharray="7 4""#
        } else {
            ""
        };
        let y = TOP + 32.0 + i as f64 * 24.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{colour}" stroke-width="2"{dash}/><text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 28.0,
            lx + 36.0,
            y + 4.0,
            html! { (m.name) }.into_string()
        );
    }
    let y = TOP + 32.0 + sets.len() as f64 * 24.0 + 10.0;
    let _ = writeln!(
        s,
        r##"<circle cx="{:.1}" cy="{y:.1}" r="5" fill="#777"/><text x="{:.1}" y="{:.1}">policy as calibrated</text>"##,
        lx + 14.0,
        lx + 36.0,
        y + 4.0
    );
    let _ = writeln!(
        s,
        r##"<text x="{lx}" y="{:.1}" font-size="11" fill="#555">dashed: no target of its own</text>"##,
        y + 28.0
    );
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(answered_correct: usize, answered_wrong: usize, null: usize) -> Report {
        // 10 answerable queries, `null` unanswerable ones all handed off but one answered.
        let answered_null = usize::from(null > 0);
        let answers = answered_correct + answered_wrong + answered_null;
        Report {
            queries: 10 + null,
            answerable: 10,
            null,
            answered_correct,
            answered_wrong,
            clarified_with_correct: 1,
            clarified_without_correct: 0,
            handed_off_answerable: 10 - answered_correct - answered_wrong - 1,
            answered_null,
            clarified_null: 0,
            handed_off_null: null - answered_null,
            accuracy_at_1: 0.9,
            recall_at_3: 0.95,
            wrong_answer_rate: (answered_wrong + answered_null) as f64 / answers as f64,
            coverage: answered_correct as f64 / 10.0,
            resolved_rate: (answered_correct + 1) as f64 / 10.0,
            handoff_recall: if null == 0 {
                0.0
            } else {
                (null - answered_null) as f64 / null as f64
            },
            p50_ms: 12.34,
            p99_ms: 48.0,
        }
    }

    fn measured(name: &str, report: Report, targets: Vec<Target>) -> Measured {
        Measured {
            name: name.into(),
            entries: 42,
            report,
            targets,
            curve: vec![
                CurvePoint {
                    answer_threshold: 0.0,
                    coverage: 0.9,
                    wrong_answer_rate: 0.4,
                },
                CurvePoint {
                    answer_threshold: 0.5,
                    coverage: 0.5,
                    wrong_answer_rate: 0.1,
                },
                CurvePoint {
                    answer_threshold: 1.0,
                    coverage: 0.0,
                    wrong_answer_rate: 0.0,
                },
            ],
            clarify: vec![
                ClarifyPoint {
                    clarify_threshold: 0.2,
                    resolved_rate: 0.9,
                    handoff_recall: Some(0.5),
                },
                ClarifyPoint {
                    clarify_threshold: 0.5,
                    resolved_rate: 0.6,
                    handoff_recall: None,
                },
            ],
        }
    }

    #[test]
    fn the_did_you_mean_sweep_has_a_row_per_threshold_and_bolds_the_policy_s_own() {
        let md = markdown(&page(), &[measured("cnil_faq", report(8, 1, 20), vec![])]);
        let table = md
            .split("## Resolving more against handing off less")
            .nth(1)
            .expect("the sweep section");
        // The default policy's own threshold (0.15) comes first, in bold; it was not swept.
        assert!(table.contains("| **0.15** | n/a |"));
        assert!(table.contains("| 0.20 | 0.900 / 0.500 |"));
        assert!(table.contains("| 0.50 | 0.600 / - |"));
        assert_eq!(table.matches("\n| 0.").count(), 7, "0.20 to 0.80");
    }

    fn page() -> Page {
        Page {
            command: "guichet quality --data D".into(),
            generated: "2026-01-01".into(),
            policy_path: "calibration/policy.toml".into(),
            policy: Policy::default(),
            svg_link: "quality-curve.svg".into(),
        }
    }

    #[test]
    fn issue_targets_bind_each_hint3_bot_but_not_the_bots_pooled() {
        assert_eq!(targets_for("cnil_faq", None).len(), 3);
        assert!(targets_for("hint3", None).is_empty());
        assert_eq!(
            targets_for("hint3", Some("curekart")),
            vec![
                Target::AtLeast(Metric::HandoffRecall, 0.85),
                Target::AtMost(Metric::WrongAnswerRate, 0.10)
            ]
        );
        assert_eq!(
            targets_for("deepset_covid_faq", None),
            vec![Target::AtLeast(Metric::ResolvedRate, 0.80)]
        );
    }

    #[test]
    fn a_target_is_met_on_its_bound_and_not_past_it() {
        let r = report(6, 0, 4); // wrong 1/7, resolved 0.7, recall 0.75
        assert!(Target::AtLeast(Metric::ResolvedRate, 0.7).met(&r));
        assert!(!Target::AtLeast(Metric::ResolvedRate, 0.71).met(&r));
        assert!(Target::AtMost(Metric::WrongAnswerRate, 0.15).met(&r));
        assert!(!Target::AtMost(Metric::WrongAnswerRate, 0.14).met(&r));
        assert!(!Target::AtLeast(Metric::HandoffRecall, 0.85).met(&r));
    }

    #[test]
    fn the_page_shows_every_metric_and_the_right_verdict_next_to_each_target() {
        let good = measured("cnil_faq", report(8, 0, 20), targets_for("cnil_faq", None));
        let bad = measured(
            "hint3 · curekart",
            report(5, 2, 4),
            targets_for("hint3", Some("curekart")),
        );
        let md = markdown(&page(), &[good, bad]);

        // cnil: wrong 1/9 = 0.111 > 0.05, resolved 0.9 >= 0.75, recall 19/20 = 0.95 >= 0.90.
        assert!(md.contains("| cnil_faq | wrong_answer_rate | ≤ 0.05 | 0.111 | **not met** |"));
        assert!(md.contains("| cnil_faq | resolved_rate | ≥ 0.75 | 0.900 | met |"));
        assert!(md.contains("| cnil_faq | handoff_recall | ≥ 0.90 | 0.950 | met |"));
        // curekart: recall 3/4 = 0.75 < 0.85, wrong 3/8 = 0.375 > 0.10.
        assert!(
            md.contains("| hint3 · curekart | handoff_recall | ≥ 0.85 | 0.750 | **not met** |")
        );
        assert!(
            md.contains("| hint3 · curekart | wrong_answer_rate | ≤ 0.10 | 0.375 | **not met** |")
        );
        assert!(md.contains("2 of 5 targets met on the dev data."));

        // The metrics table: one row per metric, one column per set, targets beside figures.
        for (name, _) in ROWS {
            assert!(md.contains(&format!("\n| {name} |")), "row {name} missing");
        }
        assert!(md.contains("| metric | cnil_faq | hint3 · curekart |"));
        assert!(md.contains("| queries | 30 | 14 |"));
        assert!(md.contains("| answered_correct | 8 | 5 |"));
        assert!(md.contains("| entries | 42 | 42 |"));
        assert!(md.contains(
            "| wrong_answer_rate | 0.111 (≤ 0.05 **not met**) | 0.375 (≤ 0.10 **not met**) |"
        ));
        assert!(md.contains("| resolved_rate | 0.900 (≥ 0.75 met) | 0.600 |"));
        assert!(md.contains("| p50_ms | 12.3 | 12.3 |"));
        assert!(md.contains("| p99_ms | 48.0 | 48.0 |"));
        assert!(
            md.contains("hand-set default, not fitted"),
            "policy provenance"
        );
        assert!(md.contains("![wrong-answer rate against coverage](quality-curve.svg)"));
    }

    #[test]
    fn a_rate_over_no_queries_is_shown_as_not_applicable() {
        let covid = measured(
            "covid",
            report(7, 1, 0),
            targets_for("deepset_covid_faq", None),
        );
        let md = markdown(&page(), &[covid]);
        assert!(md.contains("| handoff_recall | n/a |"));
        assert!(md.contains("| resolved_rate | 0.800 (≥ 0.80 met) |"));
        assert!(md.contains("1 of 1 targets met on the dev data."));
    }

    #[test]
    fn the_plot_draws_one_polyline_per_set_through_its_curve_points() {
        let a = measured("cnil_faq", report(8, 0, 20), targets_for("cnil_faq", None));
        let b = measured("hint3 <all> & co", report(5, 2, 4), Vec::new());
        let plot = svg(&[a, b]);
        assert_eq!(plot.matches("<polyline").count(), 2);
        // The worst wrong-answer rate is 0.4, so the y axis tops at 0.4, ticked by 0.1:
        // (coverage 0.5, wrong 0.1) lies half way across and three quarters down.
        let (x, y) = (LEFT + 0.5 * (RIGHT - LEFT), BOTTOM - 0.25 * (BOTTOM - TOP));
        let expected = format!(
            r#"points="{:.1},{:.1} {x:.1},{y:.1} {LEFT:.1},{BOTTOM:.1}""#,
            LEFT + 0.9 * (RIGHT - LEFT),
            TOP
        );
        assert_eq!(plot.matches(&expected).count(), 2, "{plot}");
        assert!(plot.contains(">0.40</text>") && !plot.contains(">0.50</text>"));
        // The legend names each set, escaped; the target line names the set it binds.
        assert!(plot.contains(">cnil_faq</text>"));
        assert!(plot.contains("hint3 &lt;all&gt; &amp; co"));
        assert!(plot.contains("target ≤ 0.05 (cnil_faq)"));
        assert!(plot.trim_end().ends_with("</svg>"));
    }

    #[test]
    fn discovery_splits_languages_and_bots_and_attaches_their_targets() {
        let dir = tempfile::tempdir().unwrap();
        let write = |folder: &str, entries: &str, queries: &str| {
            let d = dir.path().join(folder);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("entries.jsonl"), entries).unwrap();
            std::fs::write(d.join("queries.dev.jsonl"), queries).unwrap();
        };
        write(
            "deepset_covid_faq",
            "{\"id\":\"1\",\"question\":\"q\",\"answer\":\"a\",\"lang\":\"en\"}\n\
             {\"id\":\"2\",\"question\":\"q\",\"answer\":\"a\",\"lang\":\"de\"}\n",
            "{\"query\":\"q\",\"entry_id\":\"1\",\"lang\":\"en\"}\n",
        );
        write(
            "hint3",
            "{\"id\":\"a/1\",\"question\":\"q\",\"answer\":null,\"lang\":\"en\",\"kb\":\"a\"}\n\
             {\"id\":\"b/1\",\"question\":\"q\",\"answer\":null,\"lang\":\"en\",\"kb\":\"b\"}\n",
            "{\"query\":\"q\",\"entry_id\":null,\"lang\":\"en\",\"kb\":\"a\"}\n",
        );
        std::fs::create_dir_all(dir.path().join("not_a_set")).unwrap();

        let specs = discover(dir.path()).unwrap();
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "deepset_covid_faq · de",
                "deepset_covid_faq · en",
                "hint3 (all bots)",
                "hint3 · a",
                "hint3 · b"
            ]
        );
        assert_eq!(specs[1].lang.as_deref(), Some("en"));
        assert_eq!(specs[3].kb.as_deref(), Some("a"));
        assert!(specs[2].targets.is_empty());
        assert_eq!(specs[4].targets, targets_for("hint3", Some("b")));

        let bot = specs[3].read().unwrap();
        assert_eq!((bot.entries.len(), bot.queries.len()), (1, 1));
        let other = specs[4].read().unwrap();
        assert_eq!((other.entries.len(), other.queries.len()), (1, 0));
    }
}
