//! Full-text search: the [`TextIndex`] trait, the analysis pipeline both implementations
//! share, and the implementations — the in-memory BM25 index (both targets) and, natively,
//! Tantivy on disk.
//!
//! Analysis: split on characters that are not alphanumeric, drop tokens over 40 bytes,
//! lower-case, then English (Snowball/Porter 2) stemming. Scoring is BM25 with
//! `k1 = 1.2`, `b = 0.75` and `idf = ln(1 + (N - df + 0.5) / (df + 0.5))`.

mod bm25;

pub(crate) use bm25::Bm25Index;

use crate::error::Result;

/// Longest token kept, in bytes.
pub const MAX_TOKEN_BYTES: usize = 40;
/// BM25 term-frequency saturation.
pub const BM25_K1: f32 = 1.2;
/// BM25 length normalisation.
pub const BM25_B: f32 = 0.75;

/// A full-text index over rows.
pub(crate) trait TextIndex: Send + Sync {
    /// Indexes `text` for `row` (the row is new to the index).
    fn add(&mut self, row: u32, text: &str) -> Result<()>;
    /// Removes `row`, whose indexed text was `text` (no-op when it was never added).
    fn remove(&mut self, row: u32, text: &str) -> Result<()>;
    /// The `limit` best rows for `query` among those `accept` allows, best first, with
    /// their BM25 scores. Exhaustive, so a filter never starves the result.
    fn search(
        &self,
        query: &str,
        limit: usize,
        accept: &(dyn Fn(u32) -> bool + Sync),
    ) -> Result<Vec<(u32, f32)>>;
}

/// Splits `text` into analysed terms (see the module docs), calling `emit` for each.
pub fn analyze(text: &str, mut emit: impl FnMut(String)) {
    use std::sync::OnceLock;
    static STEMMER: OnceLock<rust_stemmers::Stemmer> = OnceLock::new();
    let stemmer =
        STEMMER.get_or_init(|| rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English));
    for raw in text.split(|c: char| !c.is_alphanumeric()) {
        if raw.is_empty() || raw.len() > MAX_TOKEN_BYTES {
            continue;
        }
        let lower = raw.to_lowercase();
        emit(stemmer.stem(&lower).into_owned());
    }
}

/// The analysed terms of a query, each once, in first-seen order.
pub(crate) fn query_terms(query: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    analyze(query, |t| {
        if !terms.contains(&t) {
            terms.push(t);
        }
    });
    terms
}

/// BM25 inverse document frequency.
#[inline]
pub(crate) fn idf(docs: f32, df: f32) -> f32 {
    (1.0 + (docs - df + 0.5) / (df + 0.5)).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analysis_splits_lowercases_stems_and_drops_long_tokens() {
        let mut out = Vec::new();
        let long = "x".repeat(41);
        analyze(
            &format!("Running dogs, HashMap::insert() {long} été"),
            |t| out.push(t),
        );
        assert_eq!(out, vec!["run", "dog", "hashmap", "insert", "été"]);
        assert_eq!(query_terms("run running runs"), vec!["run"]);
    }
}
