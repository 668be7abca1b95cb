//! The production embedder on the real model: one tokenizer serves every worker, and a
//! repeated question costs the model nothing.

use std::sync::Arc;

use guichet::embedder::{Embedder, ModelPaths, OnnxEmbedder, TextKind};

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
