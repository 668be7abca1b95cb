//! The production embedder in a fresh process each time (this test binary run again on one
//! test): ONNX Runtime's thread pool is chosen once per process, and resident memory must
//! not count what an earlier load freed. A second worker costs one more model session, not
//! a second copy of the XLM-R tokenizer (~280 MiB with its 250k pieces); the shared thread
//! pool computes the vectors one thread per session computes.

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
        n => Threads::Shared(n),
    };
    let e = OnnxEmbedder::load_with(&ModelPaths::in_folder(&models), workers, threads)
        .expect("run `make models` first");
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

fn rss_with(workers: usize) -> f64 {
    child(workers, 1).rss_mib
}

#[test]
fn a_second_worker_costs_a_session_not_another_tokenizer() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let one = rss_with(1);
    let two = rss_with(2);
    eprintln!("resident memory: 1 worker {one:.0} MiB, 2 workers {two:.0} MiB");
    // One model session is ~120-140 MiB; a tokenizer copy would add ~280 MiB more.
    assert!(
        two - one < 220.0,
        "a second worker cost {:.0} MiB (1 worker {one:.0} MiB, 2 workers {two:.0} MiB)",
        two - one
    );
}

#[test]
fn a_shared_thread_pool_computes_the_vectors_of_one_thread_per_session() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let own = child(2, 1);
    let shared = child(2, 2);
    assert_eq!(own.threads, "PerSession");
    assert_eq!(shared.threads, "Shared(2)");
    assert_eq!(own.vectors.len(), TEXTS.len());
    assert_eq!(shared.vectors.len(), TEXTS.len());
    for ((text, a), b) in TEXTS.iter().zip(&own.vectors).zip(&shared.vectors) {
        // Work split over threads may sum in another order: equal to float rounding.
        let cos: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        assert!(cos > 0.9999, "{text:?}: cosine {cos} between the two pools");
    }
    eprintln!(
        "resident memory, 2 workers: own threads {:.0} MiB, shared pool {:.0} MiB",
        own.rss_mib, shared.rss_mib
    );
}
