//! The production embedder in a fresh process each time (this test binary run again on one
//! test): resident memory must not count what an earlier load freed. A second worker costs
//! one more model session, not a second copy of the XLM-R tokenizer (~280 MiB with its 250k
//! pieces) nor of the word-embedding table (92 MiB), and the session of every core for a
//! question alone costs no more.

use std::path::PathBuf;
use std::process::Command;

use guichet::embedder::{Embedder, ModelPaths, OnnxEmbedder, TextKind, Threads};

const CHILD: &str = "GUICHET_TEST_EMBEDDER_WORKERS";
const CHILD_THREADS: &str = "GUICHET_TEST_EMBEDDER_THREADS";
const TEXTS: [&str; 4] = [
    "horaires de la mairie",
    "comment inscrire mon fils à la cantine ?",
    "How much is a new ID card?",
    "La demande de passeport se fait en ligne, puis en mairie sur rendez-vous.",
];

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kb / 1024.0
}

/// In a child: loads the embedder with the workers and threads asked, embeds [`TEXTS`],
/// prints its RSS, the threads it got and the vectors.
#[test]
fn load_and_report_rss() {
    let Some(workers) = std::env::var_os(CHILD) else {
        return;
    };
    let models = std::env::var_os("GUICHET_MODELS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"),
        PathBuf::from,
    );
    let workers = workers.to_str().unwrap().parse().unwrap();
    let threads = match std::env::var(CHILD_THREADS).map_or(1, |t| t.parse().unwrap()) {
        1 => Threads::PerSession,
        n => Threads::Adaptive(n),
    };
    let e = OnnxEmbedder::load_with(&ModelPaths::in_folder(&models), workers, threads)
        .expect("run `make models` first");
    // Memory with every session built (the first at load, the others just after).
    e.wait_for_sessions();
    let vectors: Vec<Vec<f32>> = TEXTS
        .iter()
        .map(|t| e.embed(t, TextKind::Query).unwrap().as_slice().to_vec())
        .collect();
    // On lines of their own: libtest writes the test's name before them.
    println!("\nRSS_MIB={}", rss_mib());
    println!("THREADS={:?}", e.threads());
    for v in vectors {
        let v: Vec<String> = v.iter().map(f32::to_string).collect();
        println!("VECTOR={}", v.join(","));
    }
}

struct Child {
    rss_mib: f64,
    threads: String,
    vectors: Vec<Vec<f32>>,
}

fn child(workers: usize, threads: usize) -> Child {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "load_and_report_rss",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, workers.to_string())
        .env(CHILD_THREADS, threads.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {stdout}");
    let field = |name: &str| {
        stdout
            .lines()
            .filter_map(|l| l.split(name).nth(1))
            .map(str::trim)
            .collect::<Vec<_>>()
    };
    Child {
        rss_mib: field("RSS_MIB=")
            .first()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no RSS reported: {stdout}")),
        threads: field("THREADS=").concat(),
        vectors: field("VECTOR=")
            .iter()
            .map(|v| v.split(',').map(|x| x.parse().unwrap()).collect())
            .collect(),
    }
}

/// The word-embedding table (250,037 rows of 384 int8): what a session copying it would add.
const WORD_TABLE_MIB: f64 = 250_037.0 * 384.0 / 1_048_576.0;

#[test]
fn a_second_worker_costs_a_session_not_another_tokenizer_or_word_table() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let one = child(1, 1);
    let two = child(2, 1);
    let adaptive = child(2, 2);
    assert_eq!(two.threads, "PerSession");
    assert_eq!(adaptive.threads, "Adaptive(2)");
    eprintln!(
        "resident memory: 1 worker {:.0} MiB, 2 workers {:.0} MiB, 2 workers and the session \
         of every core {:.0} MiB",
        one.rss_mib, two.rss_mib, adaptive.rss_mib
    );
    for (what, more) in [
        ("a second worker", two.rss_mib - one.rss_mib),
        ("the session of every core", adaptive.rss_mib - two.rss_mib),
    ] {
        assert!(
            more < WORD_TABLE_MIB,
            "{what} cost {more:.0} MiB, as much as a copy of the word table ({WORD_TABLE_MIB:.0} MiB)"
        );
    }
    // The session of every core computes what the one-thread sessions compute.
    assert_eq!(two.vectors.len(), TEXTS.len());
    assert_eq!(adaptive.vectors.len(), TEXTS.len());
    for ((text, a), b) in TEXTS.iter().zip(&two.vectors).zip(&adaptive.vectors) {
        let cos: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        assert!(
            cos > 0.9999,
            "{text:?}: cosine {cos} between the two kinds of session"
        );
    }
}
