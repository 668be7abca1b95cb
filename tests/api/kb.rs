//! Knowledge-base integrity (issue 14, items 4-8): variants go stale when the French answer
//! changes, `stamp` signs only what it is told and only for the right service, the writing
//! rules are checked, problems are in French, and a broken corpus refuses a start whole.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use chrono::{Local, NaiveDate};
use guichet::corpus::{self, Kind, Severity};
use guichet::engine::{Engine, EngineOptions};

use crate::helpers::{config, demo_copy, edit, engine, line_of, root};

fn today() -> NaiveDate {
    Local::now().date_naive()
}

/// `guichet ARGS`, in French whatever the machine's locale.
fn guichet(args: &[&str], file_args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_guichet"))
        .args(args)
        .args(file_args)
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", "fr_FR.UTF-8")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const ACCUEIL: &str = "Accueil de la mairie";

/// The demo corpus with Thursday's closing time moved from 19 h to 18 h in the French
/// answer of `horaires-mairie` only, as the issue tells it.
fn thursday_changed() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let (dir, corpus_dir) = demo_copy();
    let file = corpus_dir.join("entries/accueil/horaires-mairie.md");
    edit(
        &file,
        "- jeudi : 8 h 30 – 12 h et 13 h 30 – 19 h ;",
        "- jeudi : 8 h 30 – 12 h et 13 h 30 – 18 h ;",
    );
    (dir, corpus_dir, file)
}

#[test]
fn kb_stamp_after_a_french_change_leaves_the_variants_stale_and_says_so() {
    let (_dir, corpus_dir, file) = thursday_changed();
    let out = guichet(&["stamp", "--by", ACCUEIL], &[&file]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let left = stdout
        .lines()
        .find(|l| l.contains("laissé périmé"))
        .unwrap_or_else(|| panic!("stamp does not say what it left stale:\n{stdout}"));
    for v in ["easy_read", "translations.en", "translations.de"] {
        assert!(left.contains(v), "{v} not listed as stale: {left}");
    }
    assert!(
        !stdout.contains("(+ "),
        "no variant is re-stamped unless named: {stdout}"
    );

    let problems = corpus::check(&corpus_dir, today()).unwrap();
    let stale: Vec<_> = problems
        .iter()
        .filter(|p| p.file == file && p.kind == Kind::StaleVariant)
        .collect();
    for (what, table) in [
        ("easy_read", "[easy_read]"),
        ("translations.en", "[translations.en]"),
        ("translations.de", "[translations.de]"),
    ] {
        let p = stale
            .iter()
            .find(|p| p.message.starts_with(what))
            .unwrap_or_else(|| panic!("check does not report {what} stale: {stale:?}"));
        assert_eq!(p.severity, Severity::Warning);
        assert_eq!(p.line, Some(line_of(&file, table)), "{p}");
        assert!(p.message.contains("périmé"), "{p}");
    }
    let (c, _) = corpus::load(&corpus_dir, today()).unwrap();
    let e = c.entry(
        c.index_of("horaires-mairie")
            .expect("the French is still served"),
    );
    assert!(e.translations.is_empty() && e.easy_read.is_none());

    // Validating the English translation again takes it out of the stale list, alone.
    let out = guichet(&["stamp", "--by", ACCUEIL, "--variant", "en"], &[&file]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("(+ translations.en)"), "{stdout}");
    let left = stdout
        .lines()
        .find(|l| l.contains("laissé périmé"))
        .unwrap();
    assert!(!left.contains("translations.en") && left.contains("translations.de"));
    let (c, _) = corpus::load(&corpus_dir, today()).unwrap();
    let e = c.entry(c.index_of("horaires-mairie").unwrap());
    assert!(e.translations.contains_key("en") && !e.translations.contains_key("de"));
    assert_eq!(e.stale, vec!["easy_read".to_string(), "de".to_string()]);
}

#[test]
fn kb_a_stale_translation_is_not_served_the_validated_french_answer_is_and_the_reply_says_so() {
    let (_dir, corpus_dir, file) = thursday_changed();
    let out = guichet(&["stamp", "--by", ACCUEIL], &[&file]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (c, _) = corpus::load_checked(&corpus_dir, today()).unwrap();
    let options = EngineOptions {
        cache_dir: Some(config(&[]).cache),
        policy: engine().policy().clone(),
        ..EngineOptions::default()
    };
    let stale = Arc::new(Engine::build(c, engine().embedder().clone(), options).unwrap());
    let index = stale.corpus().index_of("horaires-mairie").unwrap();
    let french = stale.corpus().entry(index).answer.clone();
    assert!(french.contains("13 h 30 – 18 h"));

    let (reply, lang) = stale.entry_reply(index, "en");
    assert_eq!(lang, "fr", "the stale English text is not served");
    assert_eq!(reply.answer, french);
    assert!(!reply.answer.contains("7 pm"));
    assert_eq!(reply.answer_sha256, corpus::sha256_hex(&french));
    assert!(
        reply.easy_read.is_none(),
        "the stale easy-read is not offered"
    );
    assert_eq!(reply.stale_variants, vec!["en", "easy_read"]);
    let json = serde_json::to_value(&reply).unwrap();
    assert_eq!(json["stale_variants"][0], "en");
    // The person, who asked in English, is told why the answer is in French, in English;
    // every channel shows it before the answer.
    let answer = stale.answer(index, "en");
    let english = stale.corpus().messages().get("en").1.variant_stale.clone();
    assert_eq!(answer.message.as_deref(), Some(english.as_str()));
    let style = guichet::channels::Style {
        markup: guichet::channels::format::Markup::Plain,
        limit: 4096,
        numbered: false,
    };
    let sent = guichet::channels::compose(&stale, &answer, None, style);
    assert_eq!(sent[0].text, english);
    // Asked in French, the same entry needs no notice.
    assert!(stale.answer(index, "fr").message.is_none());

    // The demo corpus itself has nothing stale: the reply carries no notice.
    let demo = engine();
    let (fresh, lang) = demo.entry_reply(demo.corpus().index_of("horaires-mairie").unwrap(), "en");
    assert_eq!(lang, "en");
    assert!(fresh.answer.contains("7 pm") && fresh.stale_variants.is_empty());
    assert!(
        serde_json::to_value(&fresh)
            .unwrap()
            .get("stale_variants")
            .is_none()
    );
}

#[test]
fn kb_stamp_refuses_a_validator_or_a_service_check_refuses_with_the_same_problem() {
    let (_dir, corpus_dir) = demo_copy();
    let file = corpus_dir.join("entries/dechets/composteur.md");
    let before = std::fs::read_to_string(&file).unwrap();

    let out = guichet(&["stamp", "--by", "Quelqu'un"], &[&file]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("validated_by \"Quelqu'un\" n'est pas le service dechets"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        before,
        "nothing written"
    );
    // check gives the same words for the same mistake written by hand.
    edit(
        &file,
        "validated_by = \"Service Propreté et Déchets\"",
        "validated_by = \"Quelqu'un\"",
    );
    let checked = corpus::check(&corpus_dir, today()).unwrap();
    let p = checked
        .iter()
        .find(|p| p.file == file && p.message.contains("validated_by"))
        .expect("check refuses a validator who is not the service");
    assert_eq!(p.severity, Severity::Error);
    assert_eq!(p.line, Some(line_of(&file, "validated_by")));
    assert!(stderr.contains(&p.message), "{stderr}\n---\n{}", p.message);
    std::fs::write(&file, &before).unwrap();

    edit(&file, "service = \"dechets\"", "service = \"poubelles\"");
    let edited = std::fs::read_to_string(&file).unwrap();
    let out = guichet(&["stamp", "--by", "Service Propreté et Déchets"], &[&file]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let checked = corpus::check(&corpus_dir, today()).unwrap();
    let p = checked
        .iter()
        .find(|p| p.file == file && p.message.contains("poubelles"))
        .unwrap();
    assert!(stderr.contains(&p.to_string()), "{stderr}\n---\n{p}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), edited);
}

#[test]
fn kb_stamp_keeps_a_draft_a_draft_unless_a_status_is_asked() {
    let (_dir, corpus_dir) = demo_copy();
    let file = corpus_dir.join("entries/sports-culture/conservatoire-inscription.md");
    let by = "Service Sports, Culture et Vie associative";
    let out = guichet(&["stamp", "--by", by], &[&file]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("statut inchangé : draft"));
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("status = \"draft\"")
    );
    let (c, _) = corpus::load(&corpus_dir, today()).unwrap();
    assert!(c.index_of("conservatoire-inscription").is_none());

    let out = guichet(&["stamp", "--by", by, "--status", "validated"], &[&file]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("status = \"validated\"")
    );
    let (c, _) = corpus::load(&corpus_dir, today()).unwrap();
    assert!(c.index_of("conservatoire-inscription").is_some());
}

#[test]
fn kb_check_warns_on_length_and_alternates_and_refuses_raw_html() {
    let (_dir, corpus_dir) = demo_copy();
    let short = corpus_dir.join("entries/accueil/trop-court.md");
    std::fs::write(
        &short,
        "+++\nid = \"trop-court\"\nquestion = \"Où est la mairie ?\"\nalternates = [\"adresse mairie\"]\nservice = \"accueil\"\nstatus = \"draft\"\n+++\nMairie, place République.\n",
    )
    .unwrap();
    let html = corpus_dir.join("entries/dechets/composteur.md");
    let text_before = std::fs::read_to_string(&html).unwrap();
    std::fs::write(&html, format!("{text_before}\n<b>Important</b> : voir <a href=\"https://www.belleval.example\">le site</a>.\n")).unwrap();
    let en = corpus_dir.join("entries/accueil/horaires-mairie.md");
    edit(
        &en,
        "The Hôtel de ville (town hall)",
        "The <b>Hôtel de ville</b> (town hall)",
    );

    let problems = corpus::check(&corpus_dir, today()).unwrap();
    let of = |file: &Path| {
        problems
            .iter()
            .filter(|p| p.file == file)
            .collect::<Vec<_>>()
    };
    let words = of(&short)
        .into_iter()
        .find(|p| p.kind == Kind::Writing && p.message.contains("3 mots"))
        .expect("a 3-word answer warns");
    assert_eq!(words.severity, Severity::Warning);
    assert_eq!(words.line, Some(line_of(&short, "Mairie, place")));
    let alternates = of(&short)
        .into_iter()
        .find(|p| p.kind == Kind::Writing && p.message.contains("alternates"))
        .expect("a single alternate warns");
    assert_eq!(alternates.severity, Severity::Warning);
    assert_eq!(alternates.line, Some(line_of(&short, "alternates")));

    let tag = of(&html)
        .into_iter()
        .find(|p| p.message.contains("HTML"))
        .expect("raw HTML in an answer is refused");
    assert_eq!(tag.severity, Severity::Error);
    assert!(tag.message.contains("<b>"), "{tag}");
    let tr = of(&en)
        .into_iter()
        .find(|p| p.message.contains("HTML"))
        .expect("raw HTML in a translation is refused");
    assert_eq!(tr.severity, Severity::Error);
    assert!(tr.message.starts_with("translations.en.answer"), "{tr}");

    // Stamping cannot launder it: the stamp is refused with the same problem.
    let out = guichet(&["stamp", "--by", "Service Propreté et Déchets"], &[&html]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("HTML"));
    let (c, _) = corpus::load(&corpus_dir, today()).unwrap();
    assert!(c.index_of("composteur").is_none());

    // The demo corpus follows its own rules.
    let demo = corpus::check(&root().join("corpus"), today()).unwrap();
    let writing: Vec<_> = demo.iter().filter(|p| p.kind == Kind::Writing).collect();
    assert!(writing.is_empty(), "{writing:?}");
}

#[test]
fn kb_check_prints_problems_in_french_by_default_and_in_english_when_asked() {
    let (_dir, corpus_dir) = demo_copy();
    let file = corpus_dir.join("entries/dechets/composteur.md");
    edit(&file, "service = \"dechets\"", "service = \"poubelles\"");
    let at = format!("{}:{}:", file.display(), line_of(&file, "service = "));

    let fr = text(&guichet(&["check", "--corpus"], &[&corpus_dir]).stdout);
    assert!(
        fr.contains(&format!(
            "{at} erreur: le service \"poubelles\" n'est pas défini dans services.toml"
        )),
        "{fr}"
    );
    assert!(fr.contains("erreur(s)"), "{fr}");

    let flag = text(&guichet(&["check", "--lang", "en", "--corpus"], &[&corpus_dir]).stdout);
    assert!(
        flag.contains(&format!(
            "{at} error: service \"poubelles\" is not defined in services.toml"
        )),
        "{flag}"
    );
    let env = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .args(["check", "--corpus"])
        .arg(&corpus_dir)
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", "en_GB.UTF-8")
        .output()
        .unwrap();
    assert!(text(&env.stdout).contains(&format!("{at} error: service")));
}

#[test]
fn kb_an_apostrophe_in_a_single_quoted_string_is_explained_in_words_an_editor_understands() {
    let (_dir, corpus_dir) = demo_copy();
    let file = corpus_dir.join("entries/voirie/fourriere.md");
    let question = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("question = "))
        .unwrap()
        .to_string();
    edit(
        &file,
        &question,
        "question = 'Comment obtenir l'emplacement ?'",
    );
    let out = guichet(&["check", "--corpus"], &[&corpus_dir]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let at = format!(
        "{}:{}: erreur: ",
        file.display(),
        line_of(&file, "question = ")
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&at))
        .unwrap_or_else(|| panic!("no problem at {at}:\n{stdout}"));
    assert!(
        line.contains("apostrophe dans une chaîne entre apostrophes"),
        "{line}"
    );
    assert!(line.contains("guillemets droits"), "{line}");
}

/// A corpus with a typo in services.toml and a broken entry.
fn doubly_broken() -> (tempfile::TempDir, std::path::PathBuf) {
    let (dir, corpus_dir) = demo_copy();
    edit(
        &corpus_dir.join("services.toml"),
        "[services.voirie.hours]",
        "[services.voirie.hours]\nmonday = [\"08:30-12:00\"]",
    );
    edit(
        &corpus_dir.join("entries/titres/cni-renouvellement.md"),
        "service = \"titres\"",
        "service = \"titres",
    );
    (dir, corpus_dir)
}

#[test]
fn kb_a_broken_entry_refuses_the_corpus_whole_with_every_problem_and_never_panics() {
    let (_dir, corpus_dir) = demo_copy();
    let entry = corpus_dir.join("entries/titres/cni-renouvellement.md");
    edit(&entry, "service = \"titres\"", "service = \"titres");
    match corpus::load_checked(&corpus_dir, today()) {
        Err(corpus::CorpusError::Invalid(problems)) => {
            assert!(problems.iter().any(|p| p.file == entry));
        }
        Ok(_) => panic!("a broken entry is no longer skipped: the corpus is refused"),
        Err(e) => panic!("{e}"),
    }

    let (_dir, corpus_dir) = doubly_broken();
    let Err(corpus::CorpusError::Invalid(problems)) = corpus::load_checked(&corpus_dir, today())
    else {
        panic!("a broken corpus is refused");
    };
    for f in ["services.toml", "entries/titres/cni-renouvellement.md"] {
        let f = corpus_dir.join(f);
        assert!(
            problems.iter().any(|p| p.file == f && p.line.is_some()),
            "{} not listed: {problems:?}",
            f.display()
        );
    }

    // A review date passing withholds its entry but is not a broken file.
    let (_dir, corpus_dir) = demo_copy();
    let file = corpus_dir.join("entries/education/menus-cantine.md");
    let review = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("review_by"))
        .unwrap()
        .to_string();
    edit(&file, &review, "review_by = \"2026-01-01\"");
    let (c, _) = corpus::load_checked(&corpus_dir, today()).unwrap();
    assert!(c.index_of("menus-cantine").is_none());
    assert!(corpus::load_checked(&root().join("corpus"), today()).is_ok());
}

#[test]
fn kb_serve_on_a_broken_corpus_exits_with_every_problem_before_listening() {
    let (dir, corpus_dir) = doubly_broken();
    let mut child = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .arg("serve")
        .arg("--corpus")
        .arg(&corpus_dir)
        .arg("--db")
        .arg(dir.path().join("guichet.sqlite"))
        .args(["--bind", "127.0.0.1:0"])
        .env("GUICHET_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A server that started anyway would never exit: stop it rather than hang the suite.
    let mut exited = None;
    for _ in 0..600 {
        if let Some(status) = child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    if exited.is_none() {
        child.kill().unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert!(
        exited.is_some_and(|s| !s.success()),
        "serve started:\n{stderr}"
    );
    assert!(!stderr.contains("listening"), "{stderr}");
    let services = corpus_dir.join("services.toml");
    let entry = corpus_dir.join("entries/titres/cni-renouvellement.md");
    for f in [&services, &entry] {
        assert!(
            stderr.contains(&format!("{}:", f.display())),
            "{} not listed:\n{stderr}",
            f.display()
        );
    }
}
