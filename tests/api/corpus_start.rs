//! The knowledge base at start, through the real binary: a corpus broken in any way
//! refuses `guichet serve` (and `guichet check`, `guichet corpus import`), every problem
//! listed with its file and line; a copy never knocks out or replaces the original, and a
//! broken change to the live knowledge base is refused while the previous one serves.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use guichet::store::{Decider, KbStore, NewRevision, Origin, SqliteStore};
use serde_json::{Value, json};

use crate::helpers::{TestApp, demo_copy, edit, line_of, root};

const CANTINE_Q: &str = "Combien coûte la cantine ?";

/// A corpus broken in every way item 13 names, each with where its problem must point.
struct Broken {
    _dir: tempfile::TempDir,
    corpus: PathBuf,
    /// `file:line: erreur:` and a word of the message, one per planted problem.
    expected: Vec<(String, &'static str)>,
}

fn at(file: &Path, line: usize) -> String {
    format!("{}:{line}: erreur:", file.display())
}

fn broken() -> Broken {
    let (dir, corpus) = demo_copy();
    let e = corpus.join("entries");
    let mut expected = Vec::new();

    let bad_toml = e.join("titres/cni-renouvellement.md");
    edit(&bad_toml, "service = \"titres\"", "service = \"titres");
    expected.push((at(&bad_toml, line_of(&bad_toml, "service = ")), "TOML"));

    let unknown = e.join("dechets/composteur.md");
    edit(&unknown, "service = \"dechets\"", "service = \"poubelles\"");
    expected.push((at(&unknown, line_of(&unknown, "service = ")), "poubelles"));

    let changed = e.join("accueil/objets-trouves.md");
    let text = std::fs::read_to_string(&changed).unwrap();
    std::fs::write(&changed, format!("{text}\nUne phrase ajoutée.\n")).unwrap();
    expected.push((
        at(&changed, line_of(&changed, "answer_sha256")),
        "a changé depuis sa validation",
    ));

    // A misnamed copy that sorts before the original ("-copie" < ".md").
    let original = e.join("education/cantine-tarifs.md");
    let copy = e.join("education/cantine-tarifs-copie.md");
    std::fs::copy(&original, &copy).unwrap();
    let id_line = line_of(&copy, "id = ");
    expected.push((at(&copy, id_line), "doit s'appeler cantine-tarifs.md"));
    expected.push((at(&copy, id_line), "en double"));
    expected.push((
        format!("{}:{}", original.display(), line_of(&original, "id = ")),
        "en double",
    ));

    // A copy in another service's folder that sorts before the original.
    let pacs = e.join("etat-civil/pacs.md");
    let moved = e.join("accueil/pacs.md");
    std::fs::copy(&pacs, &moved).unwrap();
    expected.push((
        at(&moved, line_of(&moved, "service = ")),
        "entries/accueil/",
    ));
    expected.push((at(&moved, line_of(&moved, "id = ")), "en double"));
    expected.push((
        format!("{}:{}", pacs.display(), line_of(&pacs, "id = ")),
        "en double",
    ));

    // A file moved alone into the wrong folder: no duplicate, but not where it belongs.
    let lone = e.join("voirie/fourriere.md");
    let lone_moved = e.join("urbanisme/fourriere.md");
    std::fs::rename(&lone, &lone_moved).unwrap();
    expected.push((
        at(&lone_moved, line_of(&lone_moved, "service = ")),
        "entries/urbanisme/",
    ));
    Broken {
        _dir: dir,
        corpus,
        expected,
    }
}

fn guichet() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_guichet"));
    c.env("GUICHET_LOG", "warn").env_remove("LANG");
    c
}

/// `guichet serve` on `corpus` with a fresh database; it must exit by itself (a broken
/// corpus is refused before listening, without loading the model).
fn serve_refused(corpus: &Path, db: &Path) -> Output {
    let root = root();
    let path = |p: &str| root.join(p).display().to_string();
    let mut child = guichet()
        .arg("serve")
        .args(["--bind", "127.0.0.1:0", "--db", &db.display().to_string()])
        .arg("--corpus")
        .arg(corpus)
        .args([
            "--models",
            &path("models"),
            "--cache",
            &path("target/test-cache"),
        ])
        .args(["--policy", &path("calibration/policy.toml")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("guichet serve started on a broken corpus");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}

/// Every expected problem is in `text`, on one line that names its file and line.
fn assert_lists(text: &str, expected: &[(String, &str)]) {
    for (at, word) in expected {
        assert!(
            text.lines()
                .any(|l| l.contains(at.as_str()) && l.contains(word)),
            "no line with {at:?} and {word:?} in:\n{text}"
        );
    }
}

#[test]
fn start_refuses_a_broken_corpus_and_lists_every_problem_with_file_and_line() {
    let b = broken();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("guichet.sqlite");
    let out = serve_refused(&b.corpus, &db);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "refused: {:?}\n{stderr}", out.status);
    assert!(stderr.contains("problème(s) bloquant(s)"), "{stderr}");
    assert_lists(&stderr, &b.expected);
    let listed = stderr.lines().filter(|l| l.contains(": erreur:")).count();
    eprintln!(
        "serve on a corpus broken in 6 ways ({} expected lines): exit {:?}, {listed} problems listed",
        b.expected.len(),
        out.status.code()
    );
    // Nothing of the broken corpus reached the store.
    let store = SqliteStore::open(&db).unwrap();
    assert_eq!(store.kb_version().unwrap(), 0, "nothing imported");

    let check = guichet()
        .arg("check")
        .arg("--corpus")
        .arg(&b.corpus)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{stdout}");
    assert_lists(&stdout, &b.expected);

    // The configuration's flags come before the sub-action.
    let import = guichet()
        .arg("corpus")
        .arg("--db")
        .arg(&db)
        .arg("import")
        .arg(&b.corpus)
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&import.stdout),
        String::from_utf8_lossy(&import.stderr)
    );
    assert!(!import.status.success(), "{all}");
    assert_lists(&all, &b.expected);
    assert_eq!(store.kb_version().unwrap(), 0, "import applied nothing");
}

#[test]
fn a_copy_never_knocks_out_or_replaces_the_original_in_the_checked_corpus() {
    let b = broken();
    let today = chrono::Local::now().date_naive();
    // What reports and `check` count: the originals stay servable, the copies do not.
    let (c, _) = guichet::corpus::load(&b.corpus, today).unwrap();
    for (id, file) in [
        ("cantine-tarifs", "entries/education/cantine-tarifs.md"),
        ("pacs", "entries/etat-civil/pacs.md"),
    ] {
        let i = c
            .index_of(id)
            .unwrap_or_else(|| panic!("{id} is still served"));
        assert_eq!(c.entry(i).source, b.corpus.join(file), "{id}: the original");
    }
    assert!(
        c.index_of("fourriere").is_none(),
        "a misplaced entry is not served"
    );
}

#[tokio::test]
async fn with_the_misnamed_copy_removed_the_original_answers_again() {
    let (_dir, corpus) = demo_copy();
    let e = corpus.join("entries/education");
    std::fs::copy(
        e.join("cantine-tarifs.md"),
        e.join("cantine-tarifs-copie.md"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("guichet.sqlite");
    let out = serve_refused(&corpus, &db);
    assert!(
        !out.status.success(),
        "the server does not start with the copy"
    );

    std::fs::remove_file(e.join("cantine-tarifs-copie.md")).unwrap();
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let root = root();
    let path = |p: &str| root.join(p).display().to_string();
    let mut child = guichet()
        .arg("serve")
        .args(["--bind", &addr, "--db", &db.display().to_string()])
        .arg("--corpus")
        .arg(&corpus)
        .args([
            "--models",
            &path("models"),
            "--cache",
            &path("target/test-cache"),
        ])
        .args(["--policy", &path("calibration/policy.toml")])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let mut answer: Option<Value> = None;
    for _ in 0..1200 {
        if let Ok(r) = client
            .post(format!("http://{addr}/v1/chat"))
            .json(&json!({ "message": CANTINE_Q }))
            .send()
            .await
            && r.status().is_success()
        {
            answer = Some(r.json().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().ok();
    child.wait().ok();
    let answer = answer.expect("the fixed corpus is served");
    assert_eq!(answer["outcome"], "answer", "{answer}");
    assert_eq!(answer["entry"]["id"], "cantine-tarifs", "{answer}");
}

const BY: Decider<'static> = Decider {
    name: "test",
    staff: None,
};

#[tokio::test]
async fn a_broken_change_to_the_live_knowledge_base_is_refused_and_the_previous_one_serves() {
    let app = TestApp::spawn().await;
    let store = app.state.store.as_ref();
    let before = store.kb_version().unwrap();
    assert_eq!(app.state.kb.version(), before, "serving the imported base");
    // A change that skipped the checks (another tool, an older replica): the original
    // moved into another service's folder.
    let original = "entries/education/cantine-tarifs.md";
    let (files, _) = guichet::kb::live_files(store).unwrap();
    let text = files.get(original).unwrap().to_string();
    let live = store.kb_live_revision(original).unwrap();
    let change = |path: &str, content: Option<String>, base: Option<i64>| NewRevision {
        path: path.into(),
        entry_id: Some("cantine-tarifs".into()),
        service: Some("education".into()),
        content,
        origin: Origin::Import,
        author: "test".into(),
        author_staff: None,
        base,
        comment: None,
        answer_sha256: None,
    };
    let moved = "entries/sports-culture/cantine-tarifs.md";
    let version = store
        .kb_apply(
            &[
                change(original, None, live),
                change(moved, Some(text), None),
            ],
            &BY,
            Utc::now(),
        )
        .unwrap();
    assert!(version > before);
    let swapped = guichet::http::refresh_kb(&app.state).await.unwrap();
    assert!(!swapped, "a broken base is not swapped in");
    let problem = app
        .state
        .kb
        .problem()
        .expect("the refusal is kept for the console");
    assert_eq!(problem.version, version);
    assert!(
        problem
            .problems
            .iter()
            .any(|p| p.starts_with(&format!("{moved}:")) && p.contains("entries/sports-culture/")),
        "{:?}",
        problem.problems
    );
    assert_eq!(app.state.kb.version(), before, "the previous base serves");
    let (status, reply) = app.chat(CANTINE_Q).await;
    assert_eq!(status, 200);
    assert_eq!(reply["entry"]["id"], "cantine-tarifs", "{reply}");
}
