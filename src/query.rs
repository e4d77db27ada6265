//! [`Query`]: what a search asks for — a vector, a text, or both; `k`; a filter; a fusion.

use crate::filter::Filter;
use crate::fusion::Fusion;

/// A search request. Vector-only, text-only and hybrid searches are all a `Query`.
///
/// ```
/// use vjson::{Fusion, Query};
/// let q = Query::new().text("ownership").k(5);
/// let h = Query::new().vector(vec![0.1; 4]).text("borrow").fusion(Fusion::Max).k(10);
/// # let _ = (q, h);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub(crate) vector: Option<Vec<f32>>,
    pub(crate) text: Option<String>,
    pub(crate) k: Option<usize>,
    pub(crate) filter: Option<Filter>,
    pub(crate) fusion: Fusion,
    pub(crate) ef_search: Option<usize>,
    pub(crate) candidates: Option<usize>,
}

impl Query {
    /// The default number of results.
    pub const DEFAULT_K: usize = 10;
    /// Candidates each side contributes to a hybrid fusion unless the query says
    /// otherwise (at least `k`: a search fetches `max(k, candidates)` per side). See
    /// [`Fusion::default`] for how it was chosen: under the default fusion every candidate
    /// carries both sides' scores, so few are needed.
    pub const DEFAULT_CANDIDATES: usize = 10;

    /// An empty query (add a vector, a text, or both).
    pub fn new() -> Self {
        Self::default()
    }

    /// Searches by vector similarity.
    pub fn vector(mut self, v: Vec<f32>) -> Self {
        self.vector = Some(v);
        self
    }

    /// Searches by full text (BM25).
    pub fn text(mut self, t: impl Into<String>) -> Self {
        self.text = Some(t.into());
        self
    }

    /// How many hits to return (default 10).
    pub fn k(mut self, k: usize) -> Self {
        self.k = Some(k);
        self
    }

    /// Only documents whose metadata passes `filter`.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// How vector and text results are fused (default [`Fusion::default`]: 0.5 / 0.5 of
    /// standardised scores).
    pub fn fusion(mut self, fusion: Fusion) -> Self {
        self.fusion = fusion;
        self
    }

    /// HNSW candidate-list size for this query (default: the database's `ef_search`;
    /// raised to `k` when smaller).
    pub fn ef_search(mut self, ef: usize) -> Self {
        self.ef_search = Some(ef);
        self
    }

    /// How many results each side contributes to a hybrid fusion (default
    /// `max(k, DEFAULT_CANDIDATES)`; the vector side searches with `ef` at least this).
    pub fn candidates(mut self, n: usize) -> Self {
        self.candidates = Some(n);
        self
    }
}
