//! The vector index over hnsw_rs. Every matchable text of an entry (question, alternates,
//! translated questions) is a point that points back to its entry. hnsw_rs speaks in
//! distances; similarities (cosine) are converted here and only here. Below a few
//! thousand points there is no graph: a scan of every point is exact, no slower than a
//! search of the graph, and costs nothing to build at each start.

use hnsw_rs::anndists::dist::Distance;
use hnsw_rs::prelude::Hnsw;

use crate::embedder::Embedding;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index parameter {name} = {value} is out of range ({range})")]
    Parameter {
        name: &'static str,
        value: usize,
        range: &'static str,
    },
    #[error("point {point} has dimension {got}, expected {expected}")]
    Dimension {
        point: usize,
        got: usize,
        expected: usize,
    },
}

/// Graph parameters, checked before hnsw_rs sees them (it exits the process on some bad values).
#[derive(Debug, Clone, Copy)]
pub struct IndexParams {
    pub max_connections: usize,
    pub ef_construction: usize,
    pub ef_search: usize,
    /// From how many points a graph is built; below, every search scans all the points.
    pub graph_from: usize,
}

/// Where a search of the graph stops being cheaper than a scan (see `make bench`).
pub const GRAPH_FROM: usize = 4096;

impl Default for IndexParams {
    fn default() -> Self {
        Self {
            max_connections: 24,
            ef_construction: 200,
            ef_search: 96,
            graph_from: GRAPH_FROM,
        }
    }
}

impl IndexParams {
    fn check(&self) -> Result<(), IndexError> {
        let check = |name, value: usize, lo: usize, hi: usize, range| {
            if value < lo || value > hi {
                Err(IndexError::Parameter { name, value, range })
            } else {
                Ok(())
            }
        };
        check("max_connections", self.max_connections, 2, 255, "2..=255")?;
        check("ef_construction", self.ef_construction, 8, 4096, "8..=4096")?;
        check("ef_search", self.ef_search, 8, 4096, "8..=4096")
    }
}

/// 1 - cosine for unit vectors, clamped at 0: rounding can push a self-match's dot
/// product a hair above 1, which hnsw_rs's own DistDot asserts against.
#[derive(Debug, Default, Clone, Copy)]
struct UnitDot;

impl Distance<f32> for UnitDot {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        (1.0 - dot).max(0.0)
    }
}

/// One matching text found near the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Index of the point (the order in which texts were given to `build`).
    pub point: usize,
    /// Cosine similarity with the query.
    pub similarity: f32,
}

pub struct VectorIndex {
    /// None below [`IndexParams::graph_from`] points.
    hnsw: Option<Hnsw<'static, f32, UnitDot>>,
    points: Vec<Embedding>,
    params: IndexParams,
}

impl VectorIndex {
    pub fn build(points: Vec<Embedding>, params: IndexParams) -> Result<Self, IndexError> {
        params.check()?;
        let dim = points.first().map(Embedding::dim).unwrap_or(0);
        if let Some((point, e)) = points.iter().enumerate().find(|(_, e)| e.dim() != dim) {
            return Err(IndexError::Dimension {
                point,
                got: e.dim(),
                expected: dim,
            });
        }
        if points.len() < params.graph_from {
            return Ok(Self {
                hnsw: None,
                points,
                params,
            });
        }
        let started = std::time::Instant::now();
        let max_layer = 16;
        let mut hnsw = Hnsw::new(
            params.max_connections,
            points.len().max(1),
            max_layer,
            params.ef_construction,
            UnitDot,
        );
        let data: Vec<(&[f32], usize)> = points
            .iter()
            .enumerate()
            .map(|(i, e)| (e.as_slice(), i))
            .collect();
        hnsw.parallel_insert_slice(&data);
        hnsw.set_searching_mode(true);
        tracing::debug!(
            points = points.len(),
            elapsed_ms = started.elapsed().as_millis(),
            "vector index built"
        );
        Ok(Self {
            hnsw: Some(hnsw),
            points,
            params,
        })
    }

    /// Whether searches go through a graph (else they scan every point).
    pub fn has_graph(&self) -> bool {
        self.hnsw.is_some()
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    pub fn point(&self, index: usize) -> &Embedding {
        &self.points[index]
    }

    /// The `k` nearest points, most similar first.
    pub fn search(&self, query: &Embedding, k: usize) -> Vec<Hit> {
        if self.points.is_empty() || k == 0 {
            return Vec::new();
        }
        let Some(hnsw) = &self.hnsw else {
            return self.exact_search(query, k);
        };
        let ef = self.params.ef_search.max(k);
        let mut hits: Vec<Hit> = hnsw
            .search(query.as_slice(), k, ef)
            .into_iter()
            .map(|n| Hit {
                point: n.d_id,
                similarity: 1.0 - n.distance,
            })
            .collect();
        // Recompute exactly: the graph finds the neighbours, the score is the true cosine.
        for h in &mut hits {
            h.similarity = query.dot(&self.points[h.point]);
        }
        hits.sort_by(|a, b| {
            b.similarity
                .total_cmp(&a.similarity)
                .then(a.point.cmp(&b.point))
        });
        hits
    }

    /// The exact `k` nearest points by brute force: the search of a small index, and the
    /// oracle the graph is tested against.
    pub fn exact_search(&self, query: &Embedding, k: usize) -> Vec<Hit> {
        let mut all: Vec<Hit> = self
            .points
            .iter()
            .enumerate()
            .map(|(point, e)| Hit {
                point,
                similarity: query.dot(e),
            })
            .collect();
        all.sort_by(|a, b| {
            b.similarity
                .total_cmp(&a.similarity)
                .then(a.point.cmp(&b.point))
        });
        all.truncate(k);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unit(v: Vec<f32>) -> Embedding {
        Embedding::new(v).unwrap()
    }

    #[test]
    fn out_of_range_parameters_are_refused_before_hnsw_sees_them() {
        let p = IndexParams {
            max_connections: 300,
            ..IndexParams::default()
        };
        assert!(matches!(
            VectorIndex::build(vec![unit(vec![1.0, 0.0])], p),
            Err(IndexError::Parameter {
                name: "max_connections",
                ..
            })
        ));
    }

    #[test]
    fn an_empty_index_finds_nothing() {
        let idx = VectorIndex::build(Vec::new(), IndexParams::default()).unwrap();
        assert!(idx.search(&unit(vec![1.0, 0.0]), 5).is_empty());
    }

    #[test]
    fn a_small_index_has_no_graph_and_finds_the_exact_nearest_points() {
        let points: Vec<Embedding> = (0..200)
            .map(|i| unit(vec![(i as f32).sin(), (i as f32 * 0.7).cos(), 0.3]))
            .collect();
        let idx = VectorIndex::build(points.clone(), IndexParams::default()).unwrap();
        assert!(!idx.has_graph());
        let big = IndexParams {
            graph_from: points.len(),
            ..IndexParams::default()
        };
        assert!(VectorIndex::build(points, big).unwrap().has_graph());
        let query = unit(vec![0.2, -0.9, 0.1]);
        let hits = idx.search(&query, 7);
        assert_eq!(hits, idx.exact_search(&query, 7));
        assert_eq!(hits.len(), 7);
        assert!(hits.windows(2).all(|w| w[0].similarity >= w[1].similarity));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn the_graph_finds_the_same_nearest_points_as_exact_search(
            raw in prop::collection::vec(prop::collection::vec(-1.0f32..1.0, 16), 20..300),
            q in prop::collection::vec(-1.0f32..1.0, 16),
        ) {
            let points: Vec<Embedding> = raw.into_iter().filter_map(|v| Embedding::new(v).ok()).collect();
            prop_assume!(points.len() >= 10);
            let Ok(query) = Embedding::new(q) else { return Ok(()) };
            // A graph whatever the size, to test the graph.
            let params = IndexParams { graph_from: 0, ..IndexParams::default() };
            let idx = VectorIndex::build(points, params).unwrap();
            prop_assert!(idx.has_graph());
            let k = 5;
            let graph = idx.search(&query, k);
            let exact = idx.exact_search(&query, k);
            // Recall@5 of at least 4/5 on every draw, and the best point is always found.
            let found = exact.iter().filter(|e| graph.iter().any(|g| g.point == e.point)).count();
            prop_assert!(found >= 4, "graph {:?} vs exact {:?}", graph, exact);
            prop_assert!((graph[0].similarity - exact[0].similarity).abs() < 1e-6);
        }
    }
}
