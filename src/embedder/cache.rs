//! Embeddings of entry texts, cached on disk by model id and text, so a restart with an
//! unchanged corpus embeds nothing. One file per model id; records are
//! `sha256(kind, text)` followed by the vector as little-endian f32.

use std::collections::HashMap;
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
    let mut out = Vec::with_capacity(texts.len());
    let mut fresh: Vec<([u8; 32], Embedding)> = Vec::new();
    for text in texts {
        let k = key(kind, text);
        match known.get(&k) {
            Some(v) => out.push(Embedding::from_unit(v.clone())?),
            None => {
                let e = embedder.embed(text, kind)?;
                known.insert(k, e.as_slice().to_vec());
                fresh.push((k, e.clone()));
                out.push(e);
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedder::HashingEmbedder;

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
