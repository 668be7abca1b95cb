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
    // The second session is built just after the load; both serve from then on.
    e.wait_for_sessions();
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
    // Ready at once: a question asked before the other sessions are built is computed on
    // the first one (or on the session of every core if it was built already).
    let early = e.embed(texts[0], TextKind::Query).unwrap();
    e.wait_for_sessions();
    let before = e.runs();
    assert_eq!(before.0 + before.1, 1);
    // One after the other: each alone, each on the session of every core.
    let alone: Vec<_> = texts
        .iter()
        .map(|t| e.embed(t, TextKind::Query).unwrap())
        .collect();
    assert_eq!(e.runs(), (before.0 + texts.len() as u64, before.1));
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
    assert_eq!(lone + single, (texts.len() * 41 + 1) as u64);
    assert!(single > before.1, "no question ran on a one-thread session");
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
            .chain((i == 0).then_some(&early))
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

/// Every line of every file under `dir` (the corpus: questions, answers, their
/// translations and easy-read versions, service names...).
fn lines_under(dir: &std::path::Path, out: &mut Vec<String>) {
    for item in std::fs::read_dir(dir).unwrap() {
        let path = item.unwrap().path();
        if path.is_dir() {
            lines_under(&path, out);
        } else if let Ok(text) = std::fs::read_to_string(&path) {
            out.extend(text.lines().map(str::to_string));
            out.push(text);
        }
    }
}

/// The texts of `../shared/data` (entries, their variants, the queries: French, English,
/// German), when it is there.
fn evaluation_texts(out: &mut Vec<String>) {
    let data = crate::helpers::root().join("../shared/data");
    let Ok(sets) = std::fs::read_dir(&data) else {
        eprintln!("no evaluation data at {}", data.display());
        return;
    };
    for set in sets {
        let set = set.unwrap().path();
        for file in ["entries.jsonl", "queries.dev.jsonl"] {
            let Ok(text) = std::fs::read_to_string(set.join(file)) else {
                continue;
            };
            for line in text.lines() {
                let row: serde_json::Value = serde_json::from_str(line).unwrap();
                for field in ["question", "answer", "query"] {
                    if let Some(s) = row[field].as_str() {
                        out.push(s.to_string());
                    }
                }
                for v in row["variants"].as_array().into_iter().flatten() {
                    out.push(v.as_str().unwrap().to_string());
                }
            }
        }
    }
}

/// The embedder reads tokenizer.json with its own compact Unigram model
/// (src/embedder/onnx/unigram.rs): its ids are those of `tokenizers`' own model, on the
/// corpus, the evaluation FAQs, other scripts and texts past the 512-token limit.
#[test]
fn tokenizer_ids_are_those_of_tokenizers_unigram() {
    let e = OnnxEmbedder::load(&paths(), 1).unwrap();
    let mut reference =
        tokenizers::Tokenizer::from_file(paths().model_dir.join("tokenizer.json")).unwrap();
    reference
        .with_truncation(Some(tokenizers::TruncationParams {
            max_length: 512,
            ..Default::default()
        }))
        .unwrap();
    reference.with_padding(None);
    let mut texts: Vec<String> = [
        "",
        "   ",
        "horaires   mairie",
        "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ ① ﬁ",
        "carte d'identité\u{301} e\u{301}te\u{301}",
        "بطاقة الهوية الوطنية",
        "身份证 どうやって 신분증",
        "Удостоверение личности",
        "kimlik kartı nasıl yenilenir? 🪪🗑️👨‍👩‍👧",
        "\u{0}\u{7}\t\r\n\u{200b}\u{feff}",
        "ꙮꙮꙮ 𓀀𓀁 ☃☃",
    ]
    .map(str::to_string)
    .to_vec();
    texts.push("déchets encombrants ".repeat(400));
    lines_under(&crate::helpers::root().join("corpus"), &mut texts);
    evaluation_texts(&mut texts);
    let mut tokens = 0;
    for text in &texts {
        for (kind, prefix) in [
            (TextKind::Query, "query: "),
            (TextKind::Passage, "passage: "),
        ] {
            let ours = e.token_ids(text, kind).unwrap();
            let theirs = reference.encode(format!("{prefix}{text}"), true).unwrap();
            assert_eq!(ours, theirs.get_ids(), "{kind:?} {text:?}");
            tokens += ours.len();
        }
    }
    eprintln!("{} texts, {tokens} tokens: the same ids", texts.len());
    assert!(
        texts.len() > 1000 && tokens > 100_000,
        "too little was compared"
    );
}
