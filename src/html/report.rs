//! The coverage report people look at (`guichet report`, `GET /v1/report`) as one page in
//! French, with no script: answer / clarify / hand-off rates per day and per channel, the
//! same by service (traffic and self-test), the top gaps and the entries to review. Charts
//! are SVG drawn here, each followed by the table of its figures (the text alternative);
//! colours are SVG presentation attributes and stylesheet classes, never a `style`
//! attribute, so that the page also holds under a strict CSP.

use chrono::{Datelike, NaiveDate};
use maud::{Markup, html};

use super::{Styles, decimal_fr, document};
use crate::corpus::Problem;
use crate::coverage::report::{Counts, Report};
use crate::store::Channel;

/// The three series: French label, fill, text colour on the fill. Okabe-Ito hues,
/// darkened where white text sits on them (contrast at least 4.5:1 both ways). The
/// legend's swatches are the stylesheet's `.legend .serie-N`, in the same colours.
const SERIES: [(&str, &str, &str); 3] = [
    ("Répondu", "#0072b2", "#ffffff"),
    ("Précision demandée", "#e69f00", "#000000"),
    ("Transmis à une personne", "#b34700", "#ffffff"),
];

/// A share as French text: `62,5 %` (with a no-break space).
pub fn percent(share: f64) -> String {
    format!("{}\u{a0}%", decimal_fr(share * 100.0, 1))
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

/// A coordinate, to a tenth.
fn at(x: f64) -> String {
    format!("{x:.1}")
}

/// `s` when `n` is more than one.
fn plural(n: usize) -> &'static str {
    if n > 1 { "s" } else { "" }
}

/// The page, with its stylesheet as `styles` says.
pub fn page(r: &Report, styles: Styles) -> Markup {
    let period = period_of(r);
    let body = html! {
        header.doc {
            h1 { "Rapport de couverture de l'assistant" }
            p { (about(r)) }
        }
        main { (content(r)) }
    };
    document(
        "fr",
        &format!("Rapport de couverture {period}"),
        styles,
        body,
    )
}

fn period_of(r: &Report) -> String {
    format!("du {} au {}", day_long(r.from), day_long(r.to))
}

/// "Période du … au … · généré le … · corpus …".
pub fn about(r: &Report) -> String {
    format!(
        "Période {} · généré le {} UTC · corpus {}",
        period_of(r),
        r.generated.format("%d/%m/%Y à %H:%M"),
        r.corpus_version
    )
}

/// The report's sections without a page around them (the console puts its own).
pub fn content(r: &Report) -> Markup {
    html! {
        (cards(r))
        (by_day(r))
        (by_channel(r))
        (by_service(r))
        (gaps(r))
        (review(r))
    }
}

fn cards(r: &Report) -> Markup {
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
    let cards = [
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
    ];
    html! {
        section.panel aria-labelledby="s-resume" {
            h2 #s-resume { "En bref" }
            div.cards {
                @for (value, label) in &cards {
                    div.card { b { (value) } span { (label) } }
                }
            }
        }
    }
}

fn legend() -> Markup {
    html! {
        ul.legend aria-label="Légende" {
            @for (k, (label, _, _)) in SERIES.iter().enumerate() {
                li { i class=(format!("serie-{k}")) aria-hidden="true" {} (label) }
            }
        }
    }
}

/// The non-empty parts of `c` stacked upwards from `base`, `height` in all: (series,
/// count, top, height) of each.
fn column(c: &Counts, base: f64, height: f64) -> Vec<(usize, u64, f64, f64)> {
    let total = c.total() as f64;
    let mut y = base;
    let mut out = Vec::new();
    for (k, part) in c.parts().into_iter().enumerate().filter(|(_, p)| *p > 0) {
        let h = height * part as f64 / total;
        y -= h;
        out.push((k, part, y, h));
    }
    out
}

/// The non-empty parts of `c` laid end to end from `start`, `length` in all: (series,
/// count, left, width) of each, and where the row ends.
fn row(c: &Counts, start: f64, length: f64) -> (Vec<(usize, u64, f64, f64)>, f64) {
    let total = c.total() as f64;
    let mut x = start;
    let mut out = Vec::new();
    for (k, part) in c.parts().into_iter().enumerate().filter(|(_, p)| *p > 0) {
        let w = length * part as f64 / total;
        out.push((k, part, x, w));
        x += w;
    }
    (out, x)
}

/// Column chart: per day, the three outcomes stacked to 100 %, the number of questions
/// above each column.
fn day_chart(r: &Report) -> Markup {
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
    let base = TOP + plot_h;
    html! {
        svg viewBox=(format!("0 0 {W} {H}")) width=(W) height=(H) role="img"
            aria-labelledby="c-jour-t c-jour-d" font-size="13" {
            title #c-jour-t { "Part des questions répondues, précisées et transmises, par jour" }
            desc #c-jour-d {
                (r.total.total()) " questions du " (day_long(r.from)) " au " (day_long(r.to))
                "; les chiffres exacts sont dans le tableau qui suit."
            }
            @for k in 0..=4 {
                @let y = TOP + plot_h * (1.0 - k as f64 / 4.0);
                line x1=(LEFT) x2=(W - RIGHT) y1=(at(y)) y2=(at(y)) stroke="#c9ced4" stroke-width="1" {}
                text x=(LEFT - 8.0) y=(at(y + 4.0)) text-anchor="end" fill="#333" { (k * 25) " %" }
            }
            @for (i, (day, c)) in r.by_day.iter().enumerate() {
                @let cx = LEFT + slot * (i as f64 + 0.5);
                @let total = c.total();
                @if total == 0 {
                    text x=(at(cx)) y=(at(base - 6.0)) text-anchor="middle" fill="#555" { "0" }
                } @else {
                    @for (k, part, y, h) in column(c, base, plot_h) {
                        rect x=(at(cx - bar / 2.0)) y=(at(y)) width=(at(bar)) height=(at(h)) fill=(SERIES[k].1) {
                            title { (day_long(*day)) " : " (part) " (" (SERIES[k].0) ")" }
                        }
                    }
                    text x=(at(cx)) y=(at(TOP - 8.0)) text-anchor="middle" fill="#1a1a1a" { (total) }
                }
                @if i % every == 0 || i + 1 == n {
                    text x=(at(cx)) y=(at(H - BOTTOM + 18.0)) text-anchor="middle" fill="#333" {
                        (format!("{:02}/{:02}", day.day(), day.month()))
                    }
                }
            }
            line x1=(LEFT) x2=(W - RIGHT) y1=(base) y2=(base) stroke="#333" {}
            line x1=(LEFT) x2=(LEFT) y1=(TOP) y2=(base) stroke="#333" {}
            text x=(LEFT + plot_w / 2.0) y=(H - 6.0) text-anchor="middle" fill="#333" {
                "jour (le nombre de questions au-dessus de chaque colonne)"
            }
        }
    }
}

/// The header cells of the seven count columns every table ends with.
fn counts_head() -> Markup {
    html! {
        th.num scope="col" { "questions" }
        th.num scope="col" { "répondues" }
        th.num scope="col" { "taux" }
        th.num scope="col" { "précisions" }
        th.num scope="col" { "taux" }
        th.num scope="col" { "transmises" }
        th.num scope="col" { "taux" }
    }
}

fn counts_cells(c: &Counts) -> Markup {
    html! {
        td.num { (c.total()) }
        td.num { (c.answered) }
        td.num { (rate(c, c.answered)) }
        td.num { (c.clarified) }
        td.num { (rate(c, c.clarified)) }
        td.num { (c.handed_off) }
        td.num { (rate(c, c.handed_off)) }
    }
}

fn by_day(r: &Report) -> Markup {
    html! {
        section.panel aria-labelledby="s-jour" {
            h2 #s-jour { "Réponses, précisions et transmissions par jour" }
            @if r.total.total() == 0 {
                p { "Aucune question enregistrée sur la période." }
            } @else {
                (legend())
                figure {
                    (day_chart(r))
                    figcaption { "Chaque colonne fait 100 % des questions du jour." }
                }
                details {
                    summary { "Tableau des chiffres par jour" }
                    div.scroll tabindex="0" role="region" aria-label="Questions par jour" { table #t-jour {
                        caption { "Questions par jour" }
                        thead { tr { th scope="col" { "jour" } (counts_head()) } }
                        tbody {
                            @for (day, c) in &r.by_day {
                                tr { th scope="row" { (day_long(*day)) } (counts_cells(c)) }
                            }
                        }
                    } }
                }
            }
        }
    }
}

/// Horizontal bars, one per row: stacked counts, each bar `scale` long at `max`, or to
/// 100 % when `max` is `None`. Shares of at least 9 % are written inside their segment.
fn bar_chart(id: &str, title: &str, rows: &[(String, Counts)], max: Option<u64>) -> Markup {
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
    let bottom = TOP + ROW * rows.len() as f64;
    html! {
        svg viewBox=(format!("0 0 {W} {h}")) width=(W) height=(h) role="img"
            aria-labelledby=(format!("{id}-t {id}-d")) font-size="13" {
            title id=(format!("{id}-t")) { (title) }
            desc id=(format!("{id}-d")) { "Les chiffres exacts sont dans le tableau qui suit." }
            @for (i, (label, c)) in rows.iter().enumerate() {
                @let y = TOP + ROW * i as f64;
                @let middle = at(y + BAR / 2.0 + 4.5);
                text x=(at(LABEL - 10.0)) y=(middle) text-anchor="end" fill="#1a1a1a" {
                    (shorten(label, LABEL_CHARS))
                }
                @let total = c.total();
                @let length = match max {
                    _ if total == 0 => 0.0,
                    None => scale,
                    Some(m) => scale * total as f64 / m.max(1) as f64,
                };
                @let (segments, end) = row(c, LABEL, length);
                @for (k, part, x, w) in segments {
                    @let share = part as f64 / total as f64;
                    rect x=(at(x)) y=(at(y)) width=(at(w)) height=(BAR) fill=(SERIES[k].1) {
                        title { (label) " : " (part) " (" (SERIES[k].0) ")" }
                    }
                    @if max.is_none() && share >= 0.09 && w >= 48.0 {
                        text x=(at(x + w / 2.0)) y=(middle) text-anchor="middle" fill=(SERIES[k].2) {
                            (percent(share))
                        }
                    }
                }
                text x=(at(end + 8.0)) y=(middle) fill="#333" {
                    @if total == 0 {
                        "aucune question"
                    } @else {
                        (total) " question" (plural(total as usize))
                    }
                }
            }
            line x1=(LABEL) x2=(LABEL) y1=(TOP) y2=(at(bottom)) stroke="#333" {}
            @if max.is_none() {
                @for k in 0..=4 {
                    text x=(at(LABEL + scale * k as f64 / 4.0)) y=(at(bottom + 16.0))
                        text-anchor="middle" fill="#333" { (k * 25) " %" }
                }
            }
        }
    }
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

fn by_channel(r: &Report) -> Markup {
    let rows: Vec<(String, Counts)> = r
        .by_channel
        .iter()
        .map(|(c, n)| (channel_name(*c).to_string(), *n))
        .collect();
    html! {
        section.panel aria-labelledby="s-canal" {
            h2 #s-canal { "Par canal" }
            (legend())
            figure {
                (bar_chart(
                    "c-canal",
                    "Part des questions répondues, précisées et transmises, par canal",
                    &rows,
                    None,
                ))
                figcaption { "Chaque barre fait 100 % des questions reçues sur le canal." }
            }
            div.scroll tabindex="0" role="region" aria-label="Questions par canal" { table #t-canal {
                caption { "Questions par canal" }
                thead { tr { th scope="col" { "canal" } (counts_head()) } }
                tbody {
                    @for (label, c) in &rows {
                        tr { th scope="row" { (label) } (counts_cells(c)) }
                    }
                }
            } }
        }
    }
}

fn by_service(r: &Report) -> Markup {
    let rows: Vec<(String, Counts)> = r
        .by_service
        .iter()
        .map(|s| (s.name.clone(), s.traffic))
        .collect();
    let max = rows.iter().map(|(_, c)| c.total()).max().unwrap_or(0);
    html! {
        section.panel aria-labelledby="s-service" {
            h2 #s-service { "Couverture par service" }
            p.muted {
                "Une question est comptée pour le service de la fiche servie, ou à défaut de la fiche la plus proche. "
                "L'auto-test vérifie que chaque formulation enregistrée (question, variantes, traductions) trouve sa propre fiche."
            }
            (legend())
            figure {
                (bar_chart(
                    "c-service",
                    "Questions par service, réparties en répondues, précisées et transmises",
                    &rows,
                    Some(max),
                ))
                figcaption { "Longueur : nombre de questions du service sur la période." }
            }
            div.scroll tabindex="0" role="region" aria-label="Questions et auto-test par service" { table #t-service {
                caption { "Questions et auto-test par service" }
                thead {
                    tr {
                        th scope="col" { "service" }
                        th.num scope="col" { "fiches" }
                        th.num scope="col" { "auto-test" }
                        (counts_head())
                    }
                }
                tbody {
                    @for s in &r.by_service {
                        tr {
                            th scope="row" { (s.name) }
                            td.num { (s.entries) }
                            td.num {
                                @match s.found_own {
                                    Some(ok) if s.phrasings > 0 => { (ok) " / " (s.phrasings) }
                                    _ => "–",
                                }
                            }
                            (counts_cells(&s.traffic))
                        }
                    }
                }
            } }
        }
    }
}

fn gaps(r: &Report) -> Markup {
    let (n, s) = (r.unanswered, plural(r.unanswered));
    html! {
        section.panel aria-labelledby="s-lacunes" {
            h2 #s-lacunes { "Principales lacunes" }
            p.muted {
                (n) " question" (s) " transmise" (s) " ou restée" (s)
                " sans choix après une précision, regroupée" (s) " par sens en "
                (r.gaps_found) " lacune" (plural(r.gaps_found)) "."
            }
            @if r.gaps.is_empty() {
                p { "Aucune lacune sur la période." }
            } @else {
                div.scroll tabindex="0" role="region" aria-label="Lacunes" { table #t-lacunes {
                    thead {
                        tr {
                            th.num scope="col" { "n°" }
                            th.num scope="col" { "questions" }
                            th.num scope="col" { "transmises" }
                            th.num scope="col" { "précisions" }
                            th scope="col" { "questions représentatives" }
                            th scope="col" { "service qui devrait répondre" }
                            th scope="col" { "fiche la plus proche" }
                        }
                    }
                    tbody {
                        @for (i, g) in r.gaps.iter().enumerate() {
                            tr {
                                td.num { (i + 1) }
                                td.num { (g.size) }
                                td.num { (g.handed_off) }
                                td.num { (g.clarified) }
                                td { ul.plain { @for q in &g.representatives { li { (q) } } } }
                                td {
                                    // Named only on strong evidence: a wrong service sends the
                                    // gap to people who cannot write its answer.
                                    @match &g.service {
                                        Some(key) => {
                                            (r.service_names.get(key).unwrap_or(key)) " "
                                            @let agree = plural(g.evidence.agree);
                                            span.muted {
                                                "(" (g.evidence.agree) " question" (agree)
                                                " centrale" (agree) " sur " (g.evidence.of) ")"
                                            }
                                        }
                                        None => em { "à attribuer" },
                                    }
                                }
                                td {
                                    @match &g.closest {
                                        Some(c) => code { (c.id) },
                                        None => "–",
                                    }
                                }
                            }
                        }
                    }
                } }
                @if r.gaps_found > r.gaps.len() {
                    p.muted {
                        "Et " (r.gaps_found - r.gaps.len()) " autre(s) : "
                        code { "guichet gaps" } " les liste toutes."
                    }
                }
            }
        }
    }
}

/// `entries/x/y.md:7`, and the date the message names, if any.
fn problem_item(p: &Problem) -> Markup {
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
        .find_map(|w| NaiveDate::parse_from_str(w, "%Y-%m-%d").ok());
    html! {
        li {
            code { (place) }
            @if let Some(d) = date { " (échéance " (day_long(d)) ")" }
        }
    }
}

/// `items` as `<code>` names separated by commas.
fn codes<'a>(items: impl IntoIterator<Item = &'a String>) -> Markup {
    html! {
        @for (i, item) in items.into_iter().enumerate() {
            @if i > 0 { ", " }
            code { (item) }
        }
    }
}

fn review(r: &Report) -> Markup {
    let l = &r.lint;
    let lists = [
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
    ];
    html! {
        section.panel aria-labelledby="s-revoir" {
            h2 #s-revoir { "Fiches à revoir" }
            @for (title, items) in lists {
                h3 { (title) " (" (items.len()) ")" }
                @if items.is_empty() {
                    p.muted { "Aucune." }
                } @else {
                    ul.plain { @for p in items { (problem_item(p)) } }
                }
            }
            h3 { "Fiches qui se font concurrence (" (l.confusable.len()) ")" }
            @if l.confusable.is_empty() {
                p.muted { "Aucune." }
            } @else {
                ul.plain {
                    @for c in &l.confusable {
                        li {
                            code { (c.a) } " ↔ " code { (c.b) }
                            " (similarité " (decimal_fr(f64::from(c.cosine), 3)) ")"
                        }
                    }
                }
            }
            h3 { "Fiches jamais servies sur la période (" (r.never_served.len()) ")" }
            @if r.never_served.is_empty() {
                p.muted { "Aucune : chaque fiche a répondu au moins une fois." }
            } @else {
                details #l-jamais {
                    summary { "Voir les fiches" }
                    p { (codes(&r.never_served)) }
                }
            }
            h3 {
                "Services sans téléphone ou sans courriel ("
                (l.services_without_contacts.len()) ")"
            }
            @if l.services_without_contacts.is_empty() {
                p.muted { "Aucun." }
            } @else {
                p { (codes(&l.services_without_contacts)) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coverage::gaps::{Closest, Evidence, Gap};
    use crate::coverage::lint::LintReport;
    use chrono::{TimeZone, Utc};

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

    fn report_with(question: &str, closest: &str, service_name: &str) -> Report {
        let day = NaiveDate::from_ymd_opt(2025, 3, 4).unwrap();
        let counts = Counts {
            answered: 1,
            clarified: 0,
            handed_off: 2,
        };
        Report {
            generated: Utc.with_ymd_and_hms(2025, 3, 4, 9, 30, 0).unwrap(),
            from: day,
            to: day,
            corpus_version: "v<1>".into(),
            total: counts,
            by_day: vec![(day, counts)],
            by_channel: vec![(Channel::Web, counts)],
            by_service: Vec::new(),
            self_test: Some((3, 4)),
            service_names: [("etat-civil".to_string(), service_name.to_string())].into(),
            unanswered: 2,
            gaps: vec![Gap {
                size: 2,
                handed_off: 2,
                clarified: 0,
                representatives: vec![question.to_string()],
                closest: Some(Closest {
                    id: closest.into(),
                    score: 0.4,
                }),
                service: Some("etat-civil".into()),
                evidence: Evidence { agree: 2, of: 3 },
            }],
            gaps_found: 1,
            never_served: vec!["a&b".into()],
            lint: LintReport::default(),
        }
    }

    #[test]
    fn a_gap_people_typed_comes_out_escaped() {
        let r = report_with(
            "<script>alert('x')</script> & \"moi\"",
            "<b>fiche</b>",
            "État civil & <i>mairie</i>",
        );
        let html = page(&r, Styles::Inline).into_string();
        assert!(!html.contains("<script"), "{html}");
        assert!(
            html.contains("<li>&lt;script&gt;alert('x')&lt;/script&gt; &amp; &quot;moi&quot;</li>"),
            "{html}"
        );
        assert!(
            html.contains("<code>&lt;b&gt;fiche&lt;/b&gt;</code>"),
            "{html}"
        );
        assert!(
            html.contains("État civil &amp; &lt;i&gt;mairie&lt;/i&gt; <span"),
            "{html}"
        );
        assert!(html.contains("<code>a&amp;b</code>") && html.contains("corpus v&lt;1&gt;"));
        // The words and figures the page carried before it was a template.
        assert!(html.contains("(2 questions centrales sur 3)"), "{html}");
        assert!(html.contains(
            "<b>75,0\u{a0}%</b><span>formulations qui trouvent leur fiche (3 / 4)</span>"
        ));
        assert!(
            html.contains("Période du 04/03/2025 au 04/03/2025 · généré le 04/03/2025 à 09:30 UTC")
        );
        assert!(html.contains("2 questions transmises ou restées sans choix après une précision, regroupées par sens en 1 lacune."));
    }

    #[test]
    fn the_report_holds_under_a_strict_csp_when_linked() {
        let html = page(&report_with("q", "c", "s"), Styles::Linked).into_string();
        assert!(html.contains("href=\"/console/assets/console.css\""));
        // No inline style of any kind: the legend's colours are the stylesheet's.
        assert!(
            !html.contains("<style") && !html.contains("style="),
            "{html}"
        );
        assert!(!html.contains("<script"));
        for (k, (_, fill, _)) in SERIES.iter().enumerate() {
            let rule = format!(".legend .serie-{k}{{background:{fill}}}");
            assert!(
                super::super::STYLESHEET.contains(&rule),
                "{rule} in console.css"
            );
        }
    }
}
