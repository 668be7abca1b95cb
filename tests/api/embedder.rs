//! The production embedder on the real model: one tokenizer serves every worker, a
//! question alone runs on every core and questions together on one core each, and a
//! repeated question costs the model nothing.

use std::sync::Arc;

use guichet::embedder::{Embedder, ModelPaths, OnnxEmbedder, TextKind, Threads};

use crate::helpers::models;

fn paths() -> ModelPaths {
    ModelPaths::in_folder(&models())
}

#[test]
fn a_repeated_question_is_served_from_memory_with_the_same_vector() {
    let e = OnnxEmbedder::load(&paths(), 1).unwrap();
    let first = e.embed("horaires mairie", TextKind::Query).unwrap();
    let before = e
        .query_cache_stats()
        .expect("the ONNX embedder keeps a cache");
    assert_eq!((before.hits, before.misses, before.entries), (0, 1, 1));
    // The tokenizer folds runs of spaces: the same token ids, the same question.
    let again = e.embed("horaires   mairie", TextKind::Query).unwrap();
    assert_eq!(again, first);
    let s = e.query_cache_stats().unwrap();
    assert_eq!((s.hits, s.misses, s.entries), (1, 1, 1));
    // Another question, and a passage with the same words (never cached, other prefix).
    let other = e.embed("Horaires mairie", TextKind::Query).unwrap();
    assert_ne!(other, first);
    let passage = e.embed("horaires mairie", TextKind::Passage).unwrap();
    assert_ne!(passage, first);
    let s = e.query_cache_stats().unwrap();
    assert_eq!((s.hits, s.misses, s.entries), (1, 2, 2));
}

#[test]
fn workers_share_one_tokenizer_and_agree_with_each_other() {
    let e = Arc::new(OnnxEmbedder::load(&paths(), 2).unwrap());
    assert_eq!(e.workers(), 2);
    let texts = [
        "inscription cantine tarif",
        "ma voiture a été enlevée par la fourrière",
        "Quelle est la capitale de l'Australie ?",
        "il y a un lampadaire qui ne marche plus dans ma rue",
    ];
    let alone: Vec<_> = texts
        .iter()
        .map(|t| e.embed(t, TextKind::Passage).unwrap())
        .collect();
    // Two threads at once, each on its own session, the same shared tokenizer.
    let together: Vec<Vec<_>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let e = e.clone();
                s.spawn(move || {
                    texts
                        .iter()
                        .map(|t| e.embed(t, TextKind::Passage).unwrap())
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for run in together {
        assert_eq!(run, alone);
    }
}

#[test]
fn a_question_alone_runs_on_every_core_and_questions_together_on_one_each() {
    let texts = [
        "inscription cantine tarif",
        "ma voiture a été enlevée par la fourrière",
        "How much do school meals cost?",
        "il y a un lampadaire qui ne marche plus dans ma rue",
    ];
    let e = Arc::new(
        OnnxEmbedder::load_with(&paths(), 2, Threads::Adaptive(2))
            .unwrap()
            .with_query_cache(0),
    );
    assert_eq!(e.threads(), Threads::Adaptive(2));
    assert_eq!(e.workers(), 2);
    // One after the other: each alone, each on the session of every core.
    let alone: Vec<_> = texts
        .iter()
        .map(|t| e.embed(t, TextKind::Query).unwrap())
        .collect();
    assert_eq!(e.runs(), (texts.len() as u64, 0));
    // Four threads at once, ten rounds each: questions overlap, and those that start while
    // another is computed go to the one-thread sessions.
    let start = std::sync::Barrier::new(4);
    let together: Vec<Vec<_>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    (0..10)
                        .flat_map(|_| texts.iter())
                        .map(|t| e.embed(t, TextKind::Query).unwrap())
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let (lone, single) = e.runs();
    assert_eq!(lone + single, (texts.len() * 41) as u64);
    assert!(single > 0, "no question ran on a one-thread session");
    eprintln!("runs: {lone} alone, {single} together");
    // Either kind of session computes the same vector, to float rounding (the work split
    // over threads may add in another order).
    let per_session = OnnxEmbedder::load(&paths(), 1).unwrap().with_query_cache(0);
    for (i, t) in texts.iter().enumerate() {
        let reference = per_session.embed(t, TextKind::Query).unwrap();
        for v in together
            .iter()
            .flat_map(|run| run.iter().skip(i).step_by(texts.len()))
            .chain([&alone[i]])
        {
            let cos: f32 = v
                .as_slice()
                .iter()
                .zip(reference.as_slice())
                .map(|(a, b)| a * b)
                .sum();
            assert!(
                cos > 0.9999,
                "{t:?}: cosine {cos} to the one-thread session's vector"
            );
        }
    }
}
