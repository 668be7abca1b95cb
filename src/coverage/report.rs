//! The coverage report people look at (`guichet report`): one self-contained HTML page in
//! French, with no external asset and no script. Answer / clarify / hand-off rates per day
//! and per channel, the same by service (traffic and self-test), the top gaps and the
//! entries to review. Charts are SVG drawn here, each followed by the table of its figures
//! (the text alternative). [`build`] gathers the figures, [`html`] writes the page: both
//! are pure, so a test can plant data and read the figures back.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;

use super::SelfTest;
use super::gaps::{self, Gap};
use super::lint::{self, LintReport};
use super::render::escape;
use crate::corpus::{Corpus, CorpusError, Problem};
use crate::engine::{Engine, EngineError};
use crate::reply::Outcome;
use crate::retrieval::match_texts;
use crate::store::{Channel, TrafficCount, Turn};

/// Longest period a report or a gap list looks back over, in days.
pub const MAX_DAYS: u32 = 366;

/// Gaps shown (the largest).
pub const TOP_GAPS: usize = 10;

/// The channels always shown, in this order; others only when they carried traffic.
const MAIN_CHANNELS: [Channel; 4] = [
    Channel::Web,
    Channel::Messenger,
    Channel::Whatsapp,
    Channel::Telegram,
];

/// How many questions ended each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub answered: u64,
    pub clarified: u64,
    pub handed_off: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.answered + self.clarified + self.handed_off
    }

    fn add(&mut self, outcome: Outcome, n: u64) {
        match outcome {
            Outcome::Answer => self.answered += n,
            Outcome::Clarify => self.clarified += n,
            Outcome::Handoff => self.handed_off += n,
        }
    }

    /// The three counts in the order of [`SERIES`].
    fn parts(&self) -> [u64; 3] {
        [self.answered, self.clarified, self.handed_off]
    }

    /// Share of `n` in the total; `None` without traffic.
    fn share(&self, n: u64) -> Option<f64> {
        let t = self.total();
        (t > 0).then(|| n as f64 / t as f64)
    }
}

/// One service: its entries, how its stored phrasings fare in the self-test, and the
/// questions of the period attributed to it (the entry served, or the nearest one).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceRow {
    pub key: String,
    pub name: String,
    pub entries: usize,
    /// Stored phrasings (questions, alternates, translated questions).
    pub phrasings: usize,
    /// Of those, how many find their own entry first; `None` without a self-test.
    pub found_own: Option<usize>,
    pub traffic: Counts,
}

/// Everything the page shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub generated: DateTime<Utc>,
    /// First and last day of the period (UTC days, both included).
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub corpus_version: String,
    pub total: Counts,
    /// Every day of the period, oldest first, days without traffic included.
    pub by_day: Vec<(NaiveDate, Counts)>,
    pub by_channel: Vec<(Channel, Counts)>,
    /// The corpus's services in its order, then the questions no entry came near
    /// (key `""`) and those of entries no longer in the corpus (key `"?"`), if any.
    pub by_service: Vec<ServiceRow>,
    pub self_test: Option<(usize, usize)>,
    /// Service key -> name, for the gaps' closest entries.
    pub service_names: BTreeMap<String, String>,
    /// Unanswered questions mined for gaps.
    pub unanswered: usize,
    /// The largest gaps, at most [`TOP_GAPS`].
    pub gaps: Vec<Gap>,
    /// How many gaps were found in all.
    pub gaps_found: usize,
    /// Servable entries no one was answered with in the period, by id.
    pub never_served: Vec<String>,
    pub lint: LintReport,
}

/// What [`build`] needs besides the corpus.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub generated: DateTime<Utc>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub traffic: &'a [TrafficCount],
    pub self_test: Option<&'a SelfTest>,
    pub unanswered: usize,
    pub gaps: Vec<Gap>,
    pub lint: LintReport,
}

/// The days a report covers: `days` UTC days up to the day of `now`, included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    pub fn last_days(days: u32, now: DateTime<Utc>) -> Self {
        let to = now.date_naive();
        let from = to - chrono::Days::new(u64::from(days.max(1)) - 1);
        Self { from, to }
    }

    /// The first instant of the period: where the store's queries start.
    pub fn since(&self) -> DateTime<Utc> {
        self.from.and_time(chrono::NaiveTime::MIN).and_utc()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Corpus(#[from] CorpusError),
}

/// Runs what the report needs from the engine (the self-test, gap mining over the
/// `unanswered` turns, the lint with confusable entries) and [`build`]s it.
pub fn assemble(
    engine: &Engine,
    corpus_dir: &Path,
    period: Period,
    traffic: &[TrafficCount],
    unanswered: &[Turn],
    threshold: f32,
    now: DateTime<Utc>,
) -> Result<Report, ReportError> {
    let self_test = super::self_test(engine)?;
    let asked: Vec<gaps::Asked> = unanswered.iter().cloned().map(gaps::Asked::from).collect();
    let found = gaps::mine(engine, &asked, threshold)?;
    let mut lint = lint::lint(corpus_dir, now.date_naive())?;
    if lint.servable.is_some() {
        lint.confusable = lint::confusable_entries(engine, lint::DEFAULT_CONFUSABLE)?;
    }
    Ok(build(
        engine.corpus(),
        Inputs {
            generated: now,
            from: period.from,
            to: period.to,
            traffic,
            self_test: Some(&self_test),
            unanswered: asked.len(),
            gaps: found,
            lint,
        },
    ))
}

const NO_ENTRY: &str = "";
const UNKNOWN_ENTRY: &str = "?";

/// Adds up the traffic by day, channel and service (an entry's service, from the corpus).
pub fn build(corpus: &Corpus, inputs: Inputs<'_>) -> Report {
    let mut total = Counts::default();
    let mut days: BTreeMap<NaiveDate, Counts> = inputs
        .from
        .iter_days()
        .take_while(|d| *d <= inputs.to)
        .map(|d| (d, Counts::default()))
        .collect();
    let mut channels: BTreeMap<&'static str, (Channel, Counts)> = BTreeMap::new();
    let mut services: BTreeMap<String, Counts> = BTreeMap::new();
    for t in inputs.traffic {
        if t.day < inputs.from || t.day > inputs.to {
            continue;
        }
        total.add(t.outcome, t.n);
        days.entry(t.day).or_default().add(t.outcome, t.n);
        channels
            .entry(t.channel.as_str())
            .or_insert((t.channel, Counts::default()))
            .1
            .add(t.outcome, t.n);
        let service = match &t.entry {
            None => NO_ENTRY.to_string(),
            Some(id) => corpus.index_of(id).map_or(UNKNOWN_ENTRY.to_string(), |i| {
                corpus.entry(i).service.clone()
            }),
        };
        services.entry(service).or_default().add(t.outcome, t.n);
    }
    let mut by_channel: Vec<(Channel, Counts)> = MAIN_CHANNELS
        .iter()
        .map(|c| {
            (
                *c,
                channels.remove(c.as_str()).map(|x| x.1).unwrap_or_default(),
            )
        })
        .collect();
    by_channel.extend(channels.into_values());

    let mut phrasings: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for e in corpus.entries() {
        let slot = phrasings.entry(e.service.as_str()).or_default();
        slot.0 += 1;
        slot.1 += match_texts(e).count();
    }
    let mut missed: BTreeMap<&str, usize> = BTreeMap::new();
    if let Some(t) = inputs.self_test {
        for m in &t.misses {
            if let Some(i) = corpus.index_of(&m.entry) {
                *missed.entry(corpus.entry(i).service.as_str()).or_default() += 1;
            }
        }
    }
    let mut by_service: Vec<ServiceRow> = corpus
        .services()
        .iter()
        .map(|s| {
            let (entries, phr) = phrasings.get(s.key.as_str()).copied().unwrap_or_default();
            ServiceRow {
                key: s.key.clone(),
                name: s.name.clone(),
                entries,
                phrasings: phr,
                found_own: inputs
                    .self_test
                    .map(|_| phr - missed.get(s.key.as_str()).copied().unwrap_or(0)),
                traffic: services.remove(&s.key).unwrap_or_default(),
            }
        })
        .collect();
    for (key, name) in [
        (NO_ENTRY, "Aucune fiche proche"),
        (UNKNOWN_ENTRY, "Fiches retirées du corpus"),
    ] {
        if let Some(traffic) = services.remove(key) {
            by_service.push(ServiceRow {
                key: key.to_string(),
                name: name.to_string(),
                entries: 0,
                phrasings: 0,
                found_own: None,
                traffic,
            });
        }
    }
    // An entry whose service is not in services.toml does not load; count it anyway.
    for (key, traffic) in services {
        by_service.push(ServiceRow {
            name: key.clone(),
            key,
            entries: 0,
            phrasings: 0,
            found_own: None,
            traffic,
        });
    }
    let never_served = lint::never_served(
        corpus,
        inputs
            .traffic
            .iter()
            .filter(|t| t.outcome == Outcome::Answer && t.day >= inputs.from && t.day <= inputs.to)
            .filter_map(|t| t.entry.as_deref()),
    );
    let gaps_found = inputs.gaps.len();
    let mut gaps = inputs.gaps;
    gaps.truncate(TOP_GAPS);
    Report {
        generated: inputs.generated,
        from: inputs.from,
        to: inputs.to,
        corpus_version: corpus.version().to_string(),
        total,
        by_day: days.into_iter().collect(),
        by_channel,
        by_service,
        self_test: inputs
            .self_test
            .map(|t| (t.phrasings - t.misses.len(), t.phrasings)),
        service_names: corpus
            .services()
            .iter()
            .map(|s| (s.key.clone(), s.name.clone()))
            .collect(),
        unanswered: inputs.unanswered,
        gaps,
        gaps_found,
        never_served,
        lint: inputs.lint,
    }
}

/// The three series: French label, fill, text colour on the fill. Okabe-Ito hues,
/// darkened where white text sits on them (contrast at least 4.5:1 both ways).
const SERIES: [(&str, &str, &str); 3] = [
    ("Répondu", "#0072b2", "#ffffff"),
    ("Précision demandée", "#e69f00", "#000000"),
    ("Transmis à une personne", "#b34700", "#ffffff"),
];

/// A share as French text: `62,5 %` (with a no-break space).
pub fn percent(share: f64) -> String {
    format!("{:.1}\u{a0}%", share * 100.0).replace('.', ",")
}

fn rate(counts: &Counts, n: u64) -> String {
    counts.share(n).map_or("–".to_string(), percent)
}

fn channel_name(c: Channel) -> &'static str {
    match c {
        Channel::Web => "Site web",
        Channel::Messenger => "Messenger",
        Channel::Whatsapp => "WhatsApp",
        Channel::Telegram => "Telegram",
        Channel::Generic => "Intégrations (webhook)",
    }
}

fn day_long(d: NaiveDate) -> String {
    d.format("%d/%m/%Y").to_string()
}

const STYLE: &str = "\
*{box-sizing:border-box}\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1a1a1a;background:#f6f7f9;line-height:1.45}\
header{background:#16324f;color:#fff;padding:1.2rem 2rem}header h1{margin:0 0 .2rem;font-size:1.6rem}header p{margin:0;color:#e3ebf3}\
main{max-width:1100px;margin:0 auto;padding:1rem 2rem 3rem}\
section{background:#fff;border:1px solid #d5d9de;border-radius:8px;padding:1rem 1.4rem;margin:1.2rem 0}\
h2{font-size:1.25rem;margin:.2rem 0 .8rem;color:#16324f}h3{font-size:1.05rem;margin:1rem 0 .4rem}\
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(125px,1fr));gap:.7rem;margin:1rem 0}\
.card{background:#fff;border:1px solid #d5d9de;border-radius:8px;padding:.7rem 1rem}\
.card b{display:block;font-size:1.5rem;color:#16324f;white-space:nowrap}.card span{display:block;color:#444;font-size:.9rem}\
.legend{display:flex;flex-wrap:wrap;gap:1.2rem;margin:.2rem 0 .6rem;padding:0;list-style:none;font-size:.9rem}\
.legend i{display:inline-block;width:.9rem;height:.9rem;border-radius:2px;margin-right:.35rem;vertical-align:-.1rem}\
figure{margin:0}svg{max-width:100%;height:auto;display:block}\
figcaption{font-size:.9rem;color:#444;margin:.3rem 0 .6rem}\
table{border-collapse:collapse;font-size:.88rem;margin:.4rem 0;width:100%}\
th,td{border:1px solid #d5d9de;padding:.3rem .5rem;text-align:left;vertical-align:top}\
th{background:#eef1f4}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}\
caption{text-align:left;font-weight:600;padding:.3rem 0}\
details summary{cursor:pointer;color:#16324f;font-weight:600;margin:.4rem 0}\
ul.plain{margin:.2rem 0;padding-left:1.2rem}.muted{color:#555}code{font-size:.85rem}";

/// The page.
pub fn html(r: &Report) -> String {
    let mut out = String::with_capacity(32 * 1024);
    let period = format!("du {} au {}", day_long(r.from), day_long(r.to));
    let _ = write!(
        out,
        "<!doctype html><html lang=\"fr\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>Rapport de couverture {p}</title><style>{STYLE}</style></head><body>\
<header><h1>Rapport de couverture de l'assistant</h1><p>Période {p} · généré le {g} UTC · corpus {v}</p></header><main>",
        p = escape(&period),
        g = r.generated.format("%d/%m/%Y à %H:%M"),
        v = escape(&r.corpus_version),
    );
    cards(&mut out, r);
    by_day(&mut out, r);
    by_channel(&mut out, r);
    by_service(&mut out, r);
    gaps(&mut out, r);
    review(&mut out, r);
    out.push_str("</main></body></html>\n");
    out
}

fn cards(out: &mut String, r: &Report) {
    let t = &r.total;
    let review = r.lint.review_passed.len()
        + r.lint.review_near.len()
        + r.lint.drafts.len()
        + r.lint.hash_mismatches.len();
    let (self_test, self_label) = match r.self_test {
        Some((ok, all)) if all > 0 => (
            percent(ok as f64 / all as f64),
            format!("formulations qui trouvent leur fiche ({ok} / {all})"),
        ),
        _ => (
            "–".to_string(),
            "formulations qui trouvent leur fiche".to_string(),
        ),
    };
    out.push_str("<section aria-labelledby=\"s-resume\"><h2 id=\"s-resume\">En bref</h2><div class=\"cards\">");
    for (value, label) in [
        (t.total().to_string(), "questions reçues".to_string()),
        (rate(t, t.answered), format!("répondues ({})", t.answered)),
        (
            rate(t, t.clarified),
            format!("précision demandée ({})", t.clarified),
        ),
        (
            rate(t, t.handed_off),
            format!("transmises à une personne ({})", t.handed_off),
        ),
        (r.gaps_found.to_string(), "lacunes repérées".to_string()),
        (review.to_string(), "fiches à revoir".to_string()),
        (self_test, self_label),
    ] {
        let _ = write!(
            out,
            "<div class=\"card\"><b>{}</b><span>{}</span></div>",
            escape(&value),
            escape(&label)
        );
    }
    out.push_str("</div></section>");
}

fn legend(out: &mut String) {
    out.push_str("<ul class=\"legend\" aria-label=\"Légende\">");
    for (label, fill, _) in SERIES {
        let _ = write!(
            out,
            "<li><i style=\"background:{fill}\" aria-hidden=\"true\"></i>{label}</li>"
        );
    }
    out.push_str("</ul>");
}

/// Column chart: per day, the three outcomes stacked to 100 %, the number of questions
/// above each column.
fn day_chart(r: &Report) -> String {
    const W: f64 = 1000.0;
    const H: f64 = 300.0;
    const LEFT: f64 = 56.0;
    const RIGHT: f64 = 12.0;
    const TOP: f64 = 26.0;
    const BOTTOM: f64 = 46.0;
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let n = r.by_day.len().max(1);
    let slot = plot_w / n as f64;
    let bar = (slot * 0.7).min(48.0);
    // At most about 16 labels under the axis.
    let every = n.div_ceil(16);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\" aria-labelledby=\"c-jour-t c-jour-d\" font-size=\"13\">\
<title id=\"c-jour-t\">Part des questions répondues, précisées et transmises, par jour</title>\
<desc id=\"c-jour-d\">{} questions du {} au {}; les chiffres exacts sont dans le tableau qui suit.</desc>",
        r.total.total(),
        day_long(r.from),
        day_long(r.to)
    );
    for k in 0..=4 {
        let y = TOP + plot_h * (1.0 - k as f64 / 4.0);
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#c9ced4\" stroke-width=\"1\"/>\
<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#333\">{} %</text>",
            W - RIGHT,
            LEFT - 8.0,
            y + 4.0,
            k * 25
        );
    }
    for (i, (day, c)) in r.by_day.iter().enumerate() {
        let cx = LEFT + slot * (i as f64 + 0.5);
        let x = cx - bar / 2.0;
        let total = c.total();
        if total == 0 {
            let _ = write!(
                svg,
                "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555\">0</text>",
                TOP + plot_h - 6.0
            );
        } else {
            let mut y = TOP + plot_h;
            for (k, part) in c.parts().iter().enumerate() {
                if *part == 0 {
                    continue;
                }
                let h = plot_h * *part as f64 / total as f64;
                y -= h;
                let _ = write!(
                    svg,
                    "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>{} : {} ({})</title></rect>",
                    SERIES[k].1,
                    day_long(*day),
                    part,
                    SERIES[k].0
                );
            }
            let _ = write!(
                svg,
                "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#1a1a1a\">{total}</text>",
                TOP - 8.0
            );
        }
        if i % every == 0 || i + 1 == n {
            let _ = write!(
                svg,
                "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#333\">{:02}/{:02}</text>",
                H - BOTTOM + 18.0,
                day.day(),
                day.month()
            );
        }
    }
    let _ = write!(
        svg,
        "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#333\"/>\
<line x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"{TOP}\" y2=\"{y}\" stroke=\"#333\"/>\
<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#333\">jour (le nombre de questions au-dessus de chaque colonne)</text></svg>",
        W - RIGHT,
        LEFT + plot_w / 2.0,
        H - 6.0,
        y = TOP + plot_h,
    );
    svg
}

fn counts_cells(out: &mut String, c: &Counts) {
    let _ = write!(
        out,
        "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
        c.total(),
        c.answered,
        rate(c, c.answered),
        c.clarified,
        rate(c, c.clarified),
        c.handed_off,
        rate(c, c.handed_off),
    );
}

const COUNTS_HEAD: &str = "<th class=\"num\" scope=\"col\">questions</th><th class=\"num\" scope=\"col\">répondues</th><th class=\"num\" scope=\"col\">taux</th>\
<th class=\"num\" scope=\"col\">précisions</th><th class=\"num\" scope=\"col\">taux</th><th class=\"num\" scope=\"col\">transmises</th><th class=\"num\" scope=\"col\">taux</th>";

fn by_day(out: &mut String, r: &Report) {
    out.push_str("<section aria-labelledby=\"s-jour\"><h2 id=\"s-jour\">Réponses, précisions et transmissions par jour</h2>");
    if r.total.total() == 0 {
        out.push_str("<p>Aucune question enregistrée sur la période.</p></section>");
        return;
    }
    legend(out);
    let _ = write!(
        out,
        "<figure>{}<figcaption>Chaque colonne fait 100 % des questions du jour.</figcaption></figure>",
        day_chart(r)
    );
    out.push_str("<details><summary>Tableau des chiffres par jour</summary><table id=\"t-jour\"><caption>Questions par jour</caption><thead><tr><th scope=\"col\">jour</th>");
    out.push_str(COUNTS_HEAD);
    out.push_str("</tr></thead><tbody>");
    for (day, c) in &r.by_day {
        let _ = write!(out, "<tr><th scope=\"row\">{}</th>", day_long(*day));
        counts_cells(out, c);
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></details></section>");
}

/// Horizontal bars, one per row: stacked counts, each bar `scale` long at `max`, or to
/// 100 % when `max` is `None`. Shares of at least 9 % are written inside their segment.
fn bar_chart(id: &str, title: &str, rows: &[(String, Counts)], max: Option<u64>) -> String {
    const W: f64 = 1000.0;
    const LABEL: f64 = 330.0;
    /// Longest label drawn; longer ones are cut (the table has them whole).
    const LABEL_CHARS: usize = 44;
    const RIGHT: f64 = 120.0;
    const ROW: f64 = 34.0;
    const BAR: f64 = 22.0;
    const TOP: f64 = 8.0;
    let axis = if max.is_none() { 20.0 } else { 0.0 };
    let h = TOP * 2.0 + ROW * rows.len() as f64 + axis;
    let scale = W - LABEL - RIGHT;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg viewBox=\"0 0 {W} {h}\" width=\"{W}\" height=\"{h}\" role=\"img\" aria-labelledby=\"{id}-t {id}-d\" font-size=\"13\">\
<title id=\"{id}-t\">{}</title><desc id=\"{id}-d\">Les chiffres exacts sont dans le tableau qui suit.</desc>",
        escape(title)
    );
    for (i, (label, c)) in rows.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#1a1a1a\">{}</text>",
            LABEL - 10.0,
            y + BAR / 2.0 + 4.5,
            escape(&shorten(label, LABEL_CHARS))
        );
        let total = c.total();
        let length = match max {
            _ if total == 0 => 0.0,
            None => scale,
            Some(m) => scale * total as f64 / m.max(1) as f64,
        };
        let mut x = LABEL;
        for (k, part) in c.parts().iter().enumerate() {
            if *part == 0 {
                continue;
            }
            let w = length * *part as f64 / total as f64;
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{BAR}\" fill=\"{}\"><title>{} : {} ({})</title></rect>",
                SERIES[k].1,
                escape(label),
                part,
                SERIES[k].0
            );
            let share = *part as f64 / total as f64;
            if max.is_none() && share >= 0.09 && w >= 48.0 {
                let _ = write!(
                    svg,
                    "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{}\">{}</text>",
                    x + w / 2.0,
                    y + BAR / 2.0 + 4.5,
                    SERIES[k].2,
                    percent(share)
                );
            }
            x += w;
        }
        let note = if total == 0 {
            "aucune question".to_string()
        } else {
            format!("{total} question{}", if total > 1 { "s" } else { "" })
        };
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#333\">{note}</text>",
            x + 8.0,
            y + BAR / 2.0 + 4.5
        );
    }
    let bottom = TOP + ROW * rows.len() as f64;
    let _ = write!(
        svg,
        "<line x1=\"{LABEL}\" x2=\"{LABEL}\" y1=\"{TOP}\" y2=\"{bottom:.1}\" stroke=\"#333\"/>"
    );
    if max.is_none() {
        for k in 0..=4 {
            let x = LABEL + scale * k as f64 / 4.0;
            let _ = write!(
                svg,
                "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#333\">{} %</text>",
                bottom + 16.0,
                k * 25
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// `text` cut to `max` characters, with an ellipsis when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{}…", cut.trim_end())
    }
}

fn by_channel(out: &mut String, r: &Report) {
    out.push_str("<section aria-labelledby=\"s-canal\"><h2 id=\"s-canal\">Par canal</h2>");
    legend(out);
    let rows: Vec<(String, Counts)> = r
        .by_channel
        .iter()
        .map(|(c, n)| (channel_name(*c).to_string(), *n))
        .collect();
    let _ = write!(
        out,
        "<figure>{}<figcaption>Chaque barre fait 100 % des questions reçues sur le canal.</figcaption></figure>",
        bar_chart(
            "c-canal",
            "Part des questions répondues, précisées et transmises, par canal",
            &rows,
            None
        )
    );
    out.push_str("<table id=\"t-canal\"><caption>Questions par canal</caption><thead><tr><th scope=\"col\">canal</th>");
    out.push_str(COUNTS_HEAD);
    out.push_str("</tr></thead><tbody>");
    for (label, c) in &rows {
        let _ = write!(out, "<tr><th scope=\"row\">{}</th>", escape(label));
        counts_cells(out, c);
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></section>");
}

fn by_service(out: &mut String, r: &Report) {
    out.push_str("<section aria-labelledby=\"s-service\"><h2 id=\"s-service\">Couverture par service</h2>\
<p class=\"muted\">Une question est comptée pour le service de la fiche servie, ou à défaut de la fiche la plus proche. \
L'auto-test vérifie que chaque formulation enregistrée (question, variantes, traductions) trouve sa propre fiche.</p>");
    legend(out);
    let rows: Vec<(String, Counts)> = r
        .by_service
        .iter()
        .map(|s| (s.name.clone(), s.traffic))
        .collect();
    let max = rows.iter().map(|(_, c)| c.total()).max().unwrap_or(0);
    let _ = write!(
        out,
        "<figure>{}<figcaption>Longueur : nombre de questions du service sur la période.</figcaption></figure>",
        bar_chart(
            "c-service",
            "Questions par service, réparties en répondues, précisées et transmises",
            &rows,
            Some(max)
        )
    );
    out.push_str("<table id=\"t-service\"><caption>Questions et auto-test par service</caption><thead><tr>\
<th scope=\"col\">service</th><th class=\"num\" scope=\"col\">fiches</th><th class=\"num\" scope=\"col\">auto-test</th>");
    out.push_str(COUNTS_HEAD);
    out.push_str("</tr></thead><tbody>");
    for s in &r.by_service {
        let self_test = match s.found_own {
            Some(ok) if s.phrasings > 0 => format!("{ok} / {}", s.phrasings),
            _ => "–".to_string(),
        };
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td>",
            escape(&s.name),
            s.entries,
            escape(&self_test)
        );
        counts_cells(out, &s.traffic);
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></section>");
}

fn gaps(out: &mut String, r: &Report) {
    let _ = write!(
        out,
        "<section aria-labelledby=\"s-lacunes\"><h2 id=\"s-lacunes\">Principales lacunes</h2>\
<p class=\"muted\">{} question{} transmise{s} ou restée{s} sans choix après une précision, regroupée{s} par sens en {} lacune{}.</p>",
        r.unanswered,
        if r.unanswered > 1 { "s" } else { "" },
        r.gaps_found,
        if r.gaps_found > 1 { "s" } else { "" },
        s = if r.unanswered > 1 { "s" } else { "" },
    );
    if r.gaps.is_empty() {
        out.push_str("<p>Aucune lacune sur la période.</p></section>");
        return;
    }
    out.push_str("<table id=\"t-lacunes\"><thead><tr><th class=\"num\" scope=\"col\">n°</th><th class=\"num\" scope=\"col\">questions</th>\
<th class=\"num\" scope=\"col\">transmises</th><th class=\"num\" scope=\"col\">précisions</th><th scope=\"col\">questions représentatives</th>\
<th scope=\"col\">service qui devrait répondre</th><th scope=\"col\">fiche la plus proche</th></tr></thead><tbody>");
    for (i, g) in r.gaps.iter().enumerate() {
        let reps: String = g
            .representatives
            .iter()
            .map(|q| format!("<li>{}</li>", escape(q)))
            .collect();
        let closest = g.closest.as_ref().map_or("–".to_string(), |c| {
            format!("<code>{}</code>", escape(&c.id))
        });
        // Named only on strong evidence: a wrong service sends the gap to people who
        // cannot write its answer.
        let service = match &g.service {
            Some(key) => format!(
                "{} <span class=\"muted\">({} question{} centrale{s} sur {})</span>",
                escape(r.service_names.get(key).unwrap_or(key)),
                g.evidence.agree,
                if g.evidence.agree > 1 { "s" } else { "" },
                g.evidence.of,
                s = if g.evidence.agree > 1 { "s" } else { "" },
            ),
            None => "<em>à attribuer</em>".to_string(),
        };
        let _ = write!(
            out,
            "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td><ul class=\"plain\">{reps}</ul></td><td>{service}</td><td>{closest}</td></tr>",
            i + 1,
            g.size,
            g.handed_off,
            g.clarified
        );
    }
    out.push_str("</tbody></table>");
    if r.gaps_found > r.gaps.len() {
        let _ = write!(
            out,
            "<p class=\"muted\">Et {} autre(s) : <code>guichet gaps</code> les liste toutes.</p>",
            r.gaps_found - r.gaps.len()
        );
    }
    out.push_str("</section>");
}

/// `entries/x/y.md:7`, and the date the message names, if any.
fn problem_item(p: &Problem) -> String {
    let file = p.file.display().to_string();
    let short = file
        .find("entries/")
        .map_or(file.as_str(), |i| &file[i..])
        .to_string();
    let place = match p.line {
        Some(l) => format!("{short}:{l}"),
        None => short,
    };
    let date = p
        .message
        .split_whitespace()
        .find(|w| NaiveDate::parse_from_str(w, "%Y-%m-%d").is_ok())
        .and_then(|w| NaiveDate::parse_from_str(w, "%Y-%m-%d").ok());
    match date {
        Some(d) => format!(
            "<li><code>{}</code> (échéance {})</li>",
            escape(&place),
            day_long(d)
        ),
        None => format!("<li><code>{}</code></li>", escape(&place)),
    }
}

fn review(out: &mut String, r: &Report) {
    let l = &r.lint;
    out.push_str("<section aria-labelledby=\"s-revoir\"><h2 id=\"s-revoir\">Fiches à revoir</h2>");
    for (title, items) in [
        (
            "Date de révision passée (fiche plus servie)",
            &l.review_passed,
        ),
        ("Révision dans les 30 jours", &l.review_near),
        ("Brouillons (pas servis)", &l.drafts),
        (
            "Texte modifié depuis sa validation (pas servi)",
            &l.hash_mismatches,
        ),
        ("Autres problèmes", &l.other),
    ] {
        let _ = write!(out, "<h3>{title} ({})</h3>", items.len());
        if items.is_empty() {
            out.push_str("<p class=\"muted\">Aucune.</p>");
        } else {
            out.push_str("<ul class=\"plain\">");
            for p in items.iter() {
                out.push_str(&problem_item(p));
            }
            out.push_str("</ul>");
        }
    }
    let _ = write!(
        out,
        "<h3>Fiches qui se font concurrence ({})</h3>",
        l.confusable.len()
    );
    if l.confusable.is_empty() {
        out.push_str("<p class=\"muted\">Aucune.</p>");
    } else {
        out.push_str("<ul class=\"plain\">");
        for c in &l.confusable {
            let _ = write!(
                out,
                "<li><code>{}</code> ↔ <code>{}</code> (similarité {})</li>",
                escape(&c.a),
                escape(&c.b),
                format!("{:.3}", c.cosine).replace('.', ",")
            );
        }
        out.push_str("</ul>");
    }
    let _ = write!(
        out,
        "<h3>Fiches jamais servies sur la période ({})</h3>",
        r.never_served.len()
    );
    if r.never_served.is_empty() {
        out.push_str("<p class=\"muted\">Aucune : chaque fiche a répondu au moins une fois.</p>");
    } else {
        let ids: Vec<String> = r
            .never_served
            .iter()
            .map(|id| format!("<code>{}</code>", escape(id)))
            .collect();
        let _ = write!(
            out,
            "<details id=\"l-jamais\"><summary>Voir les fiches</summary><p>{}</p></details>",
            ids.join(", ")
        );
    }
    let _ = write!(
        out,
        "<h3>Services sans téléphone ou sans courriel ({})</h3>",
        l.services_without_contacts.len()
    );
    if l.services_without_contacts.is_empty() {
        out.push_str("<p class=\"muted\">Aucun.</p>");
    } else {
        let names: Vec<String> = l
            .services_without_contacts
            .iter()
            .map(|s| format!("<code>{}</code>", escape(s)))
            .collect();
        let _ = write!(out, "<p>{}</p>", names.join(", "));
    }
    out.push_str("</section>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_are_written_the_french_way() {
        assert_eq!(percent(0.625), "62,5\u{a0}%");
        assert_eq!(percent(1.0), "100,0\u{a0}%");
        assert_eq!(rate(&Counts::default(), 0), "–");
    }

    #[test]
    fn long_labels_are_cut_with_an_ellipsis() {
        assert_eq!(shorten("Accueil", 10), "Accueil");
        assert_eq!(shorten("Espace Famille (Éducation)", 10), "Espace Fa…");
    }

    #[test]
    fn counts_add_up_by_outcome() {
        let mut c = Counts::default();
        c.add(Outcome::Answer, 3);
        c.add(Outcome::Handoff, 1);
        c.add(Outcome::Answer, 1);
        assert_eq!(c.parts(), [4, 0, 1]);
        assert_eq!(c.share(4), Some(0.8));
    }
}
