//! The coverage subcommands: `coverage FILE` and `coverage --self`, `gaps`,
//! `check --report` and `report`. Thin: the work is in `crate::coverage`.

use std::path::Path;

use anyhow::{Context, Result, bail};
use chrono::{Duration, Local, Utc};

use super::build_engine;
use crate::config::Config;
use crate::coverage::{self, gaps, lint, render, report};
use crate::html::{self, Styles};

/// `guichet coverage FILE [--csv OUT] [--html OUT]`: exit 1 when a judged item fails.
pub fn probe_file(
    config: &Config,
    file: &Path,
    csv: Option<&Path>,
    html: Option<&Path>,
) -> Result<i32> {
    let probes = render::read_probes(file)?;
    if probes.is_empty() {
        bail!("{}: no question found", file.display());
    }
    let engine = build_engine(config)?;
    let mut results = Vec::with_capacity(probes.len());
    // The 1,000 limit is the API's; a file is run in batches of that size.
    for chunk in probes.chunks(coverage::MAX_BATCH) {
        results.extend(
            coverage::run(&engine, chunk, Utc::now())
                .with_context(|| format!("{}", file.display()))?,
        );
    }
    let summary = coverage::summarise(&results);
    if let Some(out) = csv {
        write(out, &render::results_csv(&results))?;
    }
    if let Some(out) = html {
        let title = format!("Couverture : {}", file.display());
        let page = html::probe::results(&results, &summary, &title, Styles::Inline);
        write(out, &page.into_string())?;
    }
    println!(
        "{} questions: {} answered, {} clarified, {} handed off",
        summary.total, summary.answered, summary.clarified, summary.handed_off
    );
    if let Some(rate) = summary.pass_rate {
        println!(
            "{}/{} expectations met ({:.1} %), {} wrong answer(s), {} expectation(s) to update",
            summary.passed,
            summary.judged,
            rate * 100.0,
            summary.wrong_answers,
            summary.expectations_to_update
        );
    }
    for r in &results {
        if let Some(v) = r
            .verdict
            .filter(|v| *v == coverage::Verdict::ExpectationToUpdate)
        {
            println!("  expectation to update: {:?}: {}", r.question, v.action(r));
        }
    }
    for c in &summary.confusable {
        println!("  expected {} got {} ({}x)", c.expected, c.got, c.count);
    }
    if csv.is_none() && html.is_none() {
        print!("{}", render::results_csv(&results));
    }
    Ok(if summary.passed < summary.judged {
        1
    } else {
        0
    })
}

/// `guichet coverage --self`: exit 1 when a stored phrasing finds another entry first.
pub fn self_test(config: &Config) -> Result<i32> {
    let engine = build_engine(config)?;
    let t = coverage::self_test(&engine)?;
    print!("{}", render::self_test_text(&t));
    Ok(if t.passed() { 0 } else { 1 })
}

/// `guichet gaps --days N`: the unanswered questions of the store, grouped by meaning.
pub fn gaps(config: &Config, days: i64, threshold: f32, json: bool) -> Result<i32> {
    if days < 1 {
        bail!("--days must be at least 1");
    }
    let store = super::kb::open(config)?;
    let turns = store.unanswered_since(Utc::now() - Duration::days(days), gaps::MAX_STORED)?;
    let asked: Vec<gaps::Asked> = turns.into_iter().map(gaps::Asked::from).collect();
    let engine = build_engine(config)?;
    let found = gaps::mine(&engine, &asked, threshold)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&found)?);
        return Ok(0);
    }
    println!(
        "{} unanswered question(s) in the last {days} day(s), {} of them asking for a person (not gaps), {} gap(s)\n",
        asked.len(),
        gaps::requests_for_a_person(&engine, &asked),
        found.len()
    );
    let services = engine.corpus().services();
    for (i, g) in found.iter().enumerate() {
        let closest = g.closest.as_ref().map_or("-".to_string(), |c| {
            format!("{} (score {:.2})", c.id, c.score)
        });
        let service = match &g.service {
            Some(key) => format!(
                "{} ({}/{} central questions)",
                services.get_or_default(key).name,
                g.evidence.agree,
                g.evidence.of
            ),
            None => "à attribuer".to_string(),
        };
        println!(
            "{}. {} question(s) ({} handed off, {} clarified); service: {service}; closest entry: {closest}",
            i + 1,
            g.size,
            g.handed_off,
            g.clarified
        );
        for r in &g.representatives {
            println!("     - {r}");
        }
    }
    Ok(0)
}

/// `guichet check --report`: the lint, with confusable entries from the engine.
pub fn check_report(config: &Config, threshold: f32, from_store: bool) -> Result<i32> {
    let today = Local::now().date_naive();
    let files = if from_store {
        let store = super::kb::open(config)?;
        let (files, version) = crate::kb::live_files(store.as_ref())?;
        if files.is_empty() {
            anyhow::bail!(
                "la base de connaissances de {} est vide : guichet corpus import DOSSIER",
                crate::store::shown(&config.db)
            );
        }
        println!(
            "base de connaissances de {}, version {version}",
            crate::store::shown(&config.db)
        );
        files
    } else {
        crate::corpus::Files::read_dir(&config.corpus)?
    };
    let mut report = lint::lint_files(&files, today);
    if report.servable.is_some() {
        let (corpus, _) = crate::corpus::load_files(&files, today)?;
        let engine = crate::cli::build_engine_on(config, corpus)?;
        report.confusable = lint::confusable_entries(&engine, threshold)?;
        // With a store, what people were answered with over the retention period.
        if crate::store::is_postgres(&config.db) || config.db.exists() {
            let store = super::kb::open(config)?;
            let days = config.retention_days;
            let traffic = store.traffic_since(Utc::now() - Duration::days(i64::from(days)))?;
            let answered = traffic
                .iter()
                .filter(|t| t.outcome == crate::reply::Outcome::Answer)
                .filter_map(|t| t.entry.as_deref());
            report.never_served = Some(lint::NeverServed {
                days,
                entries: lint::never_served(engine.corpus(), answered),
            });
        }
    }
    print!("{}", report.render());
    let blocking = !report.review_passed.is_empty() || !report.hash_mismatches.is_empty();
    Ok(if blocking || report.servable.is_none() {
        1
    } else {
        0
    })
}

/// `guichet report --out FILE --days N`: the coverage report as one HTML page.
pub fn report(config: &Config, out: &Path, days: i64, threshold: f32) -> Result<i32> {
    let days = u32::try_from(days)
        .ok()
        .filter(|d| (1..=report::MAX_DAYS).contains(d))
        .with_context(|| format!("--days must be between 1 and {}", report::MAX_DAYS))?;
    let store = super::kb::open(config)?;
    let now = Utc::now();
    let period = report::Period::last_days(days, now);
    let traffic = store.traffic_since(period.since())?;
    let unanswered = store.unanswered_since(period.since(), gaps::MAX_STORED)?;
    let engine = build_engine(config)?;
    let r = report::assemble(
        &engine,
        &config.corpus,
        period,
        &traffic,
        &unanswered,
        threshold,
        now,
    )?;
    write(out, &html::report::page(&r, Styles::Inline).into_string())?;
    let t = &r.total;
    println!(
        "{}: {} question(s) from {} to {}: {} answered, {} clarified, {} handed off; {} gap(s)",
        out.display(),
        t.total(),
        r.from,
        r.to,
        t.answered,
        t.clarified,
        t.handed_off,
        r.gaps_found
    );
    Ok(0)
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
