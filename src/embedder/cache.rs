//! Embeddings of entry texts, cached on disk by model id and text, so a restart with an
//! unchanged corpus embeds nothing. One file per model id; records are
//! `sha256(kind, text)` followed by the vector as little-endian f32. What is not cached is
//! embedded by as many threads as the embedder has workers (a first start embeds
//! thousands of texts).

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::{EmbedError, Embedder, Embedding, TextKind};

fn key(kind: TextKind, text: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(match kind {
        TextKind::Query => b"query\0".as_slice(),
        TextKind::Passage => b"passage\0".as_slice(),
    });
    h.update(text.as_bytes());
    h.finalize().into()
}

/// Embeds `texts` as `kind`, reading and extending the cache in `cache_dir` (if any).
/// Returns the embeddings and how many were computed (not found in the cache).
pub fn embed_cached(
    embedder: &dyn Embedder,
    texts: &[String],
    kind: TextKind,
    cache_dir: Option<&Path>,
) -> Result<(Vec<Embedding>, usize), EmbedError> {
    let dim = embedder.dimension();
    let record = 32 + 4 * dim;
    let file = cache_dir.map(|d| d.join(format!("passages-{}.bin", embedder.model_id())));
    let mut known: HashMap<[u8; 32], Vec<f32>> = HashMap::new();
    if let Some(bytes) = file.as_ref().and_then(|f| std::fs::read(f).ok()) {
        // A truncated tail (a crash mid-write) is ignored; whole records are kept.
        for chunk in bytes.chunks_exact(record) {
            let k: [u8; 32] = chunk[..32].try_into().expect("32 bytes");
            let v = chunk[32..]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                .collect();
            known.insert(k, v);
        }
    }
    let keys: Vec<[u8; 32]> = texts.iter().map(|t| key(kind, t)).collect();
    // Each text not in the cache, once.
    let mut seen = HashSet::new();
    let missing: Vec<usize> = (0..texts.len())
        .filter(|&i| !known.contains_key(&keys[i]) && seen.insert(keys[i]))
        .collect();
    let computed = embed_all(
        embedder,
        &missing
            .iter()
            .map(|&i| texts[i].as_str())
            .collect::<Vec<_>>(),
        kind,
    )?;
    let mut fresh: Vec<([u8; 32], Embedding)> = Vec::with_capacity(missing.len());
    for (&i, e) in missing.iter().zip(computed) {
        known.insert(keys[i], e.as_slice().to_vec());
        fresh.push((keys[i], e));
    }
    let out = keys
        .iter()
        .map(|k| Embedding::from_unit(known[k].clone()))
        .collect::<Result<Vec<_>, _>>()?;
    if let (Some(file), false) = (file, fresh.is_empty()) {
        let io = |source| EmbedError::Cache {
            path: file.display().to_string(),
            source,
        };
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)
            .map_err(io)?;
        let mut buf = Vec::with_capacity(fresh.len() * record);
        for (k, e) in &fresh {
            buf.extend_from_slice(k);
            e.as_slice()
                .iter()
                .for_each(|x| buf.extend_from_slice(&x.to_le_bytes()));
        }
        f.write_all(&buf).map_err(io)?;
    }
    Ok((out, fresh.len()))
}

/// Embeds `texts` in order, spread over the embedder's workers (each text alone: its
/// vector does not depend on which thread or neighbours it had).
fn embed_all(
    embedder: &dyn Embedder,
    texts: &[&str],
    kind: TextKind,
) -> Result<Vec<Embedding>, EmbedError> {
    let threads = embedder.workers().clamp(1, texts.len().max(1));
    if threads == 1 {
        return texts.iter().map(|t| embedder.embed(t, kind)).collect();
    }
    let mut slots: Vec<Option<Result<Embedding, EmbedError>>> = Vec::new();
    slots.resize_with(texts.len(), || None);
    std::thread::scope(|s| {
        let stripes: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t..texts.len())
                        .step_by(threads)
                        .map(|i| (i, embedder.embed(texts[i], kind)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for stripe in stripes {
            for (i, r) in stripe.join().expect("an embedding thread panicked") {
                slots[i] = Some(r);
            }
        }
    });
    slots
        .into_iter()
        .map(|r| r.expect("every text has a stripe"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedder::HashingEmbedder;

    /// A hashing embedder that says it has workers and records the threads it ran on.
    struct Workers {
        inner: HashingEmbedder,
        threads: std::sync::Mutex<HashSet<std::thread::ThreadId>>,
    }

    impl Embedder for Workers {
        fn model_id(&self) -> &str {
            self.inner.model_id()
        }
        fn dimension(&self) -> usize {
            self.inner.dimension()
        }
        fn workers(&self) -> usize {
            3
        }
        fn embed(&self, text: &str, kind: TextKind) -> Result<Embedding, EmbedError> {
            self.threads
                .lock()
                .unwrap()
                .insert(std::thread::current().id());
            self.inner.embed(text, kind)
        }
    }

    #[test]
    fn texts_not_cached_are_spread_over_the_workers_and_come_back_in_order() {
        let texts: Vec<String> = (0..20).map(|i| format!("démarche numéro {i}")).collect();
        let alone = HashingEmbedder::new(64);
        let (expected, _) = embed_cached(&alone, &texts, TextKind::Passage, None).unwrap();
        let workers = Workers {
            inner: HashingEmbedder::new(64),
            threads: Default::default(),
        };
        let dir = tempfile::tempdir().unwrap();
        let (got, computed) =
            embed_cached(&workers, &texts, TextKind::Passage, Some(dir.path())).unwrap();
        assert_eq!(computed, 20);
        assert_eq!(got, expected);
        assert_eq!(workers.threads.lock().unwrap().len(), 3);
    }

    #[test]
    fn a_second_run_over_the_same_texts_embeds_nothing_and_returns_the_same_vectors() {
        let dir = tempfile::tempdir().unwrap();
        let e = HashingEmbedder::new(64);
        let texts = vec![
            "carte d'identité".to_string(),
            "collecte des déchets".to_string(),
        ];
        let (first, computed) =
            embed_cached(&e, &texts, TextKind::Passage, Some(dir.path())).unwrap();
        assert_eq!(computed, 2);
        let (second, computed) =
            embed_cached(&e, &texts, TextKind::Passage, Some(dir.path())).unwrap();
        assert_eq!(computed, 0);
        assert_eq!(first, second);
        let more = vec![texts[0].clone(), "piscine".to_string()];
        let (_, computed) = embed_cached(&e, &more, TextKind::Passage, Some(dir.path())).unwrap();
        assert_eq!(computed, 1);
    }
}
