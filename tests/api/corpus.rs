//! A corrupted corpus: every problem is named by file and line, `guichet check` fails,
//! broken entries are never served, and `guichet stamp` records a validation.

use std::path::Path;
use std::process::Command;

use chrono::NaiveDate;
use guichet::corpus::{self, Severity};

use crate::helpers::{demo_copy, edit, line_of, root};

/// A fixed day (the demo corpus's latest validation), so review dates do not move the tests.
const TODAY: &str = "2026-12-01";

fn today() -> NaiveDate {
    NaiveDate::parse_from_str(TODAY, "%Y-%m-%d").unwrap()
}

#[test]
fn the_demo_corpus_has_no_errors() {
    let problems = corpus::check(&root().join("corpus"), today()).unwrap();
    let errors: Vec<String> = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .map(ToString::to_string)
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    let (c, _) = corpus::load(&root().join("corpus"), today()).unwrap();
    assert!(
        c.entries().len() >= 60,
        "the demo corpus has at least 60 servable entries"
    );
}

#[test]
fn each_kind_of_corruption_is_reported_with_file_and_line_and_the_entry_is_not_served() {
    let (_dir, corpus_dir) = demo_copy();
    let e = corpus_dir.join("entries");
    let toml_broken = e.join("titres/cni-renouvellement.md");
    edit(&toml_broken, "service = \"titres\"", "service = \"titres");
    let unknown_service = e.join("dechets/composteur.md");
    edit(
        &unknown_service,
        "service = \"dechets\"",
        "service = \"poubelles\"",
    );
    let changed_body = e.join("accueil/objets-trouves.md");
    let text = std::fs::read_to_string(&changed_body).unwrap();
    std::fs::write(
        &changed_body,
        format!("{text}\nUne phrase ajoutée sans validation.\n"),
    )
    .unwrap();
    let past_review = e.join("education/menus-cantine.md");
    let review_line = std::fs::read_to_string(&past_review)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("review_by"))
        .unwrap()
        .to_string();
    edit(&past_review, &review_line, "review_by = \"2026-01-01\"");
    let duplicate = e.join("voirie/duplicate-of-pacs.md");
    std::fs::copy(e.join("etat-civil/pacs.md"), &duplicate).unwrap();
    let empty = e.join("social/vide.md");
    std::fs::write(&empty, "+++\nid = \"vide\"\nquestion = \"?\"\nservice = \"social\"\nstatus = \"validated\"\n+++\n\n").unwrap();
    let no_front = e.join("social/sans-entete.md");
    std::fs::write(&no_front, "Juste du texte.\n").unwrap();

    let problems = corpus::check(&corpus_dir, today()).unwrap();
    let find = |file: &Path, what: &str| {
        problems
            .iter()
            .find(|p| p.file == file && p.severity == Severity::Error && p.message.contains(what))
            .unwrap_or_else(|| {
                panic!(
                    "no error about {what:?} in {}; got:\n{}",
                    file.display(),
                    problems
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            })
    };
    assert_eq!(
        find(&toml_broken, "").line,
        Some(line_of(&toml_broken, "service = "))
    );
    assert_eq!(
        find(&unknown_service, "poubelles").line,
        Some(line_of(&unknown_service, "service = "))
    );
    assert_eq!(
        find(&changed_body, "a changé depuis sa validation").line,
        Some(line_of(&changed_body, "answer_sha256"))
    );
    assert_eq!(
        find(&past_review, "date de relecture").line,
        Some(line_of(&past_review, "review_by"))
    );
    assert!(find(&duplicate, "en double").message.contains("pacs.md"));
    find(&empty, "vide");
    assert_eq!(find(&no_front, "en-tête").line, Some(1));

    let (c, _) = corpus::load(&corpus_dir, today()).unwrap();
    for id in [
        "cni-renouvellement",
        "composteur",
        "objets-trouves",
        "menus-cantine",
        "vide",
    ] {
        assert!(c.index_of(id).is_none(), "{id} must not be served");
    }
    assert!(
        c.index_of("pacs").is_some(),
        "the first of two duplicates stays"
    );
}

#[test]
fn guichet_check_prints_file_and_line_and_exits_1_on_errors() {
    let (_dir, corpus_dir) = demo_copy();
    let file = corpus_dir.join("entries/dechets/composteur.md");
    edit(&file, "service = \"dechets\"", "service = \"poubelles\"");
    let out = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .args(["check", "--corpus"])
        .arg(&corpus_dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let expected = format!(
        "{}:{}: erreur:",
        file.display(),
        line_of(&file, "service = ")
    );
    assert!(
        stdout.contains(&expected),
        "expected {expected:?} in:\n{stdout}"
    );

    let clean = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .args(["check", "--corpus"])
        .arg(root().join("corpus"))
        .output()
        .unwrap();
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&clean.stdout)
    );
}

#[test]
fn a_missing_services_file_makes_the_corpus_unusable() {
    let (_dir, corpus_dir) = demo_copy();
    std::fs::remove_file(corpus_dir.join("services.toml")).unwrap();
    assert!(matches!(
        corpus::load(&corpus_dir, today()),
        Err(corpus::CorpusError::Invalid(_))
    ));
}

#[test]
fn stamping_an_edited_entry_validates_it_again_and_keeps_its_body_byte_for_byte() {
    let (_dir, corpus_dir) = demo_copy();
    let file = corpus_dir.join("entries/accueil/objets-trouves.md");
    let text = std::fs::read_to_string(&file).unwrap();
    let edited = format!("{text}\nLes clés trouvées sont gardées trois mois.\n");
    std::fs::write(&file, &edited).unwrap();
    assert!(
        corpus::check(&corpus_dir, today())
            .unwrap()
            .iter()
            .any(|p| p.file == file && p.severity == Severity::Error)
    );

    let out = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .arg("stamp")
        .arg(&file)
        .args(["--by", "Accueil de la mairie"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stamped = std::fs::read_to_string(&file).unwrap();
    let body = |t: &str| t.split_once("\n+++\n").unwrap().1.to_string();
    assert_eq!(
        body(&stamped),
        body(&edited),
        "stamp never touches the body"
    );
    assert!(stamped.contains("validated_by = \"Accueil de la mairie\""));
    let problems = corpus::check(&corpus_dir, chrono::Local::now().date_naive()).unwrap();
    assert!(
        !problems
            .iter()
            .any(|p| p.file == file && p.severity == Severity::Error),
        "{problems:?}"
    );
    let (c, _) = corpus::load(&corpus_dir, chrono::Local::now().date_naive()).unwrap();
    let entry = c.entry(c.index_of("objets-trouves").unwrap());
    assert!(
        entry
            .answer
            .ends_with("Les clés trouvées sont gardées trois mois.")
    );
}
