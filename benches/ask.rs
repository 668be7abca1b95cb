//! Where a question's time goes, on the demo corpus with the real model: embedding one
//! question, the vector search, retrieval with BM25, the decision alone, and a whole `ask`.
//! Run with `make bench` (numbers go in the issue notes; tests never assert on time).

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::Local;
use criterion::{Criterion, criterion_group, criterion_main};
use guichet::corpus;
use guichet::embedder::{Embedder, ModelPaths, OnnxEmbedder, TextKind};
use guichet::engine::{AskContext, Engine, EngineOptions};
use guichet::policy::{Policy, rank};
use guichet::privacy::Redacted;

/// Questions asked in turn (a fixed list: the same inputs on every run).
const QUESTIONS: [&str; 6] = [
    "comment inscrire mon fils à l'école ?",
    "ma voiture a été enlevée par la fourrière",
    "inscription cantine tarif",
    "Quelle est la capitale de l'Australie ?",
    "How much do school meals cost?",
    "il y a un lampadaire qui ne marche plus dans ma rue",
];
/// One model session, as one core serves one question.
const WORKERS: usize = 1;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn setup() -> (Arc<dyn Embedder>, Engine, OnnxEmbedder) {
    let models =
        std::env::var_os("GUICHET_MODELS").map_or_else(|| root().join("models"), PathBuf::from);
    let load = || {
        let e = OnnxEmbedder::load(&ModelPaths::in_folder(&models), WORKERS)
            .expect("run `make models` first");
        // Measured with every session built.
        e.wait_for_sessions();
        e
    };
    // The model itself, every time: no memory of questions.
    let embedder: Arc<dyn Embedder> = Arc::new(load().with_query_cache(0));
    let (corpus, _) =
        corpus::load(&root().join("corpus"), Local::now().date_naive()).expect("demo corpus loads");
    let policy = Policy::from_file(&root().join("calibration/policy.toml")).expect("policy loads");
    let options = EngineOptions {
        cache_dir: Some(root().join("target/bench-cache")),
        policy,
        ..EngineOptions::default()
    };
    let engine = Engine::build(corpus, embedder.clone(), options).expect("engine builds");
    (embedder, engine, load())
}

fn benches(c: &mut Criterion) {
    let (embedder, engine, cached) = setup();
    let mut i = 0;
    let mut next = || {
        i = (i + 1) % QUESTIONS.len();
        QUESTIONS[i]
    };
    c.bench_function("embed one question", |b| {
        b.iter(|| embedder.embed(black_box(next()), TextKind::Query).unwrap())
    });

    // The same six questions again and again, as residents repeat them: from memory.
    c.bench_function("embed one repeated question (query cache)", |b| {
        b.iter(|| cached.embed(black_box(next()), TextKind::Query).unwrap())
    });

    // Each question with its embedding, retrieved in turn.
    let embedded: Vec<_> = QUESTIONS
        .iter()
        .map(|q| (*q, embedder.embed(q, TextKind::Query).unwrap()))
        .collect();
    let mut j = 0;
    c.bench_function(
        "retrieve (given the embedding: hnsw + bm25 + signals)",
        |b| {
            b.iter(|| {
                j = (j + 1) % embedded.len();
                let (text, query) = &embedded[j];
                engine.candidates_for(black_box(text), black_box(query))
            })
        },
    );
    let signals = engine.signals(QUESTIONS[0]).unwrap();
    c.bench_function("decide (rank + features + calibrated model)", |b| {
        b.iter(|| {
            let ranked = rank(black_box(signals.clone()), engine.policy().weights());
            engine.policy().decide(&ranked)
        })
    });
    let ctx = AskContext::now();
    c.bench_function(
        "ask (whole question: expand, embed, retrieve, decide, reply)",
        |b| b.iter(|| engine.ask(&Redacted::new(black_box(next())), &ctx).unwrap()),
    );
}

criterion_group! {
    name = ask;
    config = Criterion::default().sample_size(60);
    targets = benches
}
criterion_main!(ask);
