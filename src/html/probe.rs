//! The results of a coverage probe (`guichet coverage FILE --html`) as one page in
//! French: summary cards, the failures first, each saying what to do, the confusable
//! pairs, then the probes that passed or carried no expectation.

use maud::{Markup, html};

use super::{Styles, decimal_fr, document};
use crate::coverage::{Expect, ProbeResult, Summary, Verdict};
use crate::reply::Outcome;

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
fn details(r: &ProbeResult) -> Markup {
    let candidates: Vec<String> = r
        .candidates
        .iter()
        .map(|c| format!("{} ({})", c.id, decimal_fr(f64::from(c.score), 2)))
        .collect();
    let nearest = if candidates.is_empty() {
        "aucune".to_string()
    } else {
        candidates.join(", ")
    };
    html! {
        details {
            summary { "détails" }
            "confiance " ((r.confidence * 100.0).round()) " %, écart "
            (decimal_fr(f64::from(r.margin), 2)) " ; entrées les plus proches : " (nearest)
        }
    }
}

/// The page, titled `title`, with its stylesheet as `styles` says.
pub fn results(results: &[ProbeResult], summary: &Summary, title: &str, styles: Styles) -> Markup {
    let body = html! {
        main {
            h1 { (title) }
            (content(results, summary))
        }
    };
    document("fr", title, styles, body)
}

/// The results without a page around them (the console puts its own).
pub fn content(results: &[ProbeResult], summary: &Summary) -> Markup {
    let pass_rate = summary.pass_rate.map_or("–".to_string(), |r| {
        format!("{} %", decimal_fr(r * 100.0, 1))
    });
    let cards = [
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
    ];
    let mut failures: Vec<(Verdict, &ProbeResult)> = results
        .iter()
        .filter_map(|r| r.verdict.filter(|v| !v.passed()).map(|v| (v, r)))
        .collect();
    failures.sort_by_key(|(v, _)| *v);
    let rest: Vec<&ProbeResult> = results
        .iter()
        .filter(|r| r.verdict.is_none_or(Verdict::passed))
        .collect();
    html! {
            div.cards {
                @for (label, value) in &cards {
                    div.card { b { (value) } (label) }
                }
            }
            section aria-labelledby="a-traiter" {
                @if failures.is_empty() {
                    h2 #a-traiter { "À traiter" }
                    p { "Rien : chaque attendu est rempli." }
                } @else {
                    h2 #a-traiter { "À traiter (" (failures.len()) ")" }
                    table #t-echecs {
                        thead {
                            tr {
                                th scope="col" { "question" }
                                th scope="col" { "attendu" }
                                th scope="col" { "obtenu" }
                                th scope="col" { "verdict" }
                                th scope="col" { "à faire" }
                            }
                        }
                        tbody {
                            @for (v, r) in &failures {
                                @let class = if *v == Verdict::ExpectationToUpdate { "update" } else { "fail" };
                                tr class=(class) data-verdict=(v.as_str()) {
                                    td { (r.question) }
                                    td { (expect_fr(r.expect.as_ref())) }
                                    td { (got_fr(r)) }
                                    td { (v.label()) }
                                    td { span.todo { (v.action(r)) } (details(r)) }
                                }
                            }
                        }
                    }
                }
            }
            @if !summary.confusable.is_empty() {
                section aria-labelledby="confondues" {
                    h2 #confondues { "Entrées confondues" }
                    table {
                        thead {
                            tr {
                                th scope="col" { "attendue" }
                                th scope="col" { "servie ou proposée" }
                                th.num scope="col" { "fois" }
                            }
                        }
                        tbody {
                            @for c in &summary.confusable {
                                tr {
                                    td { (c.expected) }
                                    td { (c.got) }
                                    td.num { (c.count) }
                                }
                            }
                        }
                    }
                }
            }
            @if !rest.is_empty() {
                section aria-labelledby="reussies" {
                    h2 #reussies { "Réussies ou sans attendu (" (rest.len()) ")" }
                    table #t-reussies {
                        thead {
                            tr {
                                th scope="col" { "question" }
                                th scope="col" { "attendu" }
                                th scope="col" { "obtenu" }
                                th scope="col" { "verdict" }
                            }
                        }
                        tbody {
                            @for r in &rest {
                                tr class=[r.verdict.map(|_| "pass")] {
                                    td { (r.question) }
                                    td { (expect_fr(r.expect.as_ref())) }
                                    td { (got_fr(r)) }
                                    td {
                                        (r.verdict.map_or("sans attendu", Verdict::label))
                                        (details(r))
                                    }
                                }
                            }
                        }
                    }
                }
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coverage;

    use crate::coverage::probe_result as probe;

    fn page(results: &[ProbeResult], title: &str) -> String {
        let summary = coverage::summarise(results);
        super::results(results, &summary, title, Styles::Inline).into_string()
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
        let html = page(&results, "Couverture");
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
        let mut typed = probe("<b>&\"", "handoff", Outcome::Handoff, None);
        typed.candidates = vec![crate::engine::ScoredEntry {
            id: "<i>x</i>".into(),
            service: "s".into(),
            signals: crate::retrieval::Signals {
                dense: 0.5,
                dense_answer: 0.5,
                lexical: 0.0,
                lexical_answer: 0.0,
            },
            score: 0.5,
        }];
        let html = page(&[typed], "<script>alert(1)</script> & co");
        assert!(html.contains("&lt;b&gt;&amp;&quot;"), "{html}");
        assert!(html.contains("&lt;i&gt;x&lt;/i&gt; (0,50)"), "{html}");
        assert!(
            html.contains("<title>&lt;script&gt;alert(1)&lt;/script&gt; &amp; co</title>"),
            "{html}"
        );
        assert!(!html.contains("<b>&") && !html.contains("<i>x") && !html.contains("<script>"));
    }

    #[test]
    fn the_page_links_or_carries_the_one_stylesheet() {
        let summary = coverage::summarise(&[]);
        let linked = results(&[], &summary, "t", Styles::Linked).into_string();
        assert!(linked.contains("href=\"/console/assets/console.css\""));
        assert!(!linked.contains("<style>"));
        assert!(page(&[], "t").contains(super::super::STYLESHEET.trim()));
    }
}
