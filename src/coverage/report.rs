//! The figures of the coverage report people look at (`guichet report`): answer /
//! clarify / hand-off counts per day and per channel, the same by service (traffic and
//! self-test), the top gaps and the entries to review. [`build`] gathers them;
//! [`crate::html::report::page`] writes the page. Both are pure, so a test can plant data
//! and read the figures back.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::SelfTest;
use super::gaps::{self, Gap};
use super::lint::{self, LintReport};
use crate::corpus::{Corpus, CorpusError};
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

    /// The three counts: answered, clarified, handed off (the order of the charts).
    pub fn parts(&self) -> [u64; 3] {
        [self.answered, self.clarified, self.handed_off]
    }

    /// Share of `n` in the total; `None` without traffic.
    pub fn share(&self, n: u64) -> Option<f64> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
