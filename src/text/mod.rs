//! Full-text search: [`Text`], the text index a database holds — the in-memory BM25 index
//! (`bm25.rs`, both targets) or, natively, Tantivy on disk (`tantivy.rs`) — the
//! `TextIndex` contract both implement, and the analysis pipeline they share.
//!
//! Fields: a row's text is indexed in two fields, its text (the *body*) and its title.
//! A query's score is the sum over its terms of their BM25 score in the body plus
//! `title_boost` times their BM25 score in the title (Lucene's and Tantivy's multi-field
//! query: each field with its own length normalisation; `N`, the number of indexed rows,
//! is shared). Titles are short, so a query term in one weighs more than in a long body.
//!
//! A leaf layer: it imports only the error type.
//!
//! Analysis: split on characters that are not alphanumeric, drop tokens over 40 bytes,
//! lower-case character by character (`lower.rs`), then English (Snowball/Porter 2)
//! stemming. Scoring is BM25 with `k1 = 1.2`, `b = 0.75` and
//! `idf = ln(1 + (N - df + 0.5) / (df + 0.5))`. Tantivy gets the same pipeline as a named
//! analyser ([`ANALYZER`]), built from its own tokenizer and length filter plus
//! [`normalize_token`], so both indexes see exactly the same terms.

mod bm25;
mod lower;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod tantivy;

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use bm25::{AvgLengths, LengthNorm};
pub(crate) use bm25::{Bm25Index, scratch_bytes};
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use tantivy::{TantivyText, TantivyWriter};

/// The name under which the analysis pipeline is registered with Tantivy.
#[cfg(not(target_arch = "wasm32"))]
pub const ANALYZER: &str = "vjson";

use std::collections::HashMap;

use crate::error::Result;

/// Longest token kept, in bytes.
pub const MAX_TOKEN_BYTES: usize = 40;
/// BM25 term-frequency saturation.
pub const BM25_K1: f32 = 1.2;
/// BM25 length normalisation.
pub const BM25_B: f32 = 0.75;

/// The fields a row's text is indexed in.
pub(crate) const FIELDS: usize = 2;
/// The field of a row's text.
pub(crate) const BODY: usize = 0;
/// The field of a row's title.
pub(crate) const TITLE: usize = 1;

/// What the text index indexes of a row: its text and its title.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct FieldTexts<'a> {
    pub(crate) text: Option<&'a str>,
    pub(crate) title: Option<&'a str>,
}

impl<'a> FieldTexts<'a> {
    /// Each field's text, by field number.
    fn by_field(self) -> [Option<&'a str>; FIELDS] {
        [self.text, self.title]
    }

    /// True when there is nothing to index (no field has a term).
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn is_empty(self) -> bool {
        !self.by_field().into_iter().flatten().any(has_terms)
    }
}

/// The text layer's maps keyed by terms (analysis, the stem cache, BM25's dictionary):
/// foldhash, seeded per map, instead of std's SipHash, which cost ~3x as much per term
/// on short keys and showed in profiles of inserts with text.
pub(crate) type TermMap<V> = HashMap<String, V, hashbrown::DefaultHashBuilder>;

/// One field's text after analysis: its distinct terms with their frequencies, and its
/// length in terms.
#[derive(Default)]
pub(crate) struct Terms {
    pub(crate) tf: TermMap<u32>,
    pub(crate) len: u32,
}

/// A row's fields after analysis, by field number. Writers analyse outside the database's
/// write lock and index under it.
#[derive(Default)]
pub(crate) struct Analyzed {
    pub(crate) fields: [Terms; FIELDS],
}

impl Analyzed {
    pub(crate) fn of(texts: FieldTexts<'_>) -> Self {
        let mut out = Analyzed::default();
        for (terms, text) in out.fields.iter_mut().zip(texts.by_field()) {
            if let Some(text) = text {
                // Room for about one distinct term per 24 bytes (fewer in long texts), so
                // most texts fill the map without growing it step by step.
                terms.tf.reserve((text.len() / 24).min(512));
                analyze_terms(text, |t| {
                    terms.len += 1;
                    // A term is copied once per document, when first seen in it.
                    match terms.tf.get_mut(t) {
                        Some(n) => *n += 1,
                        None => {
                            terms.tf.insert(t.to_owned(), 1);
                        }
                    }
                });
            }
        }
        out
    }

    /// True when no field has a term.
    pub(crate) fn is_empty(&self) -> bool {
        self.fields.iter().all(|f| f.len == 0)
    }
}

/// A full-text index over rows.
pub(crate) trait TextIndex: Send + Sync {
    /// Indexes a row's analysed fields (the row is new to the index).
    fn add_analyzed(&mut self, row: u32, texts: Analyzed) -> Result<()>;

    /// Indexes a row's fields (the row is new to the index).
    fn add(&mut self, row: u32, texts: FieldTexts<'_>) -> Result<()> {
        self.add_analyzed(row, Analyzed::of(texts))
    }
    /// Removes `row`, whose indexed fields were `texts` (no-op when it was never added).
    fn remove(&mut self, row: u32, texts: FieldTexts<'_>) -> Result<()>;
    /// Analyses `query` and weights its terms over this index's statistics, with a title
    /// match weighted by `title_boost` (see [`Prepared`]).
    fn prepare(&self, query: &str, title_boost: f32) -> Result<Prepared>;
    /// The `limit` best rows for the prepared `query` among those `accept` allows, best
    /// first, with their scores. Exhaustive, so a filter never starves the result.
    fn search(
        &self,
        query: &Prepared,
        limit: usize,
        accept: &(dyn Fn(u32) -> bool + Sync),
    ) -> Result<Vec<(u32, f32)>>;
    /// The scores `search` gives `rows` for `query` (0 for a row without any of its
    /// terms), in the order of `rows`. Bit for bit in memory; Tantivy adds a row's terms
    /// in query order here and in its own order in a search, so the two may differ in the
    /// last bit.
    fn score_rows(&self, query: &Prepared, rows: &[u32]) -> Result<Vec<f32>>;
}

/// A query analysed and weighted over one text index's statistics, ready to search the
/// index or to score given rows (a hybrid search's two halves share one: the query is
/// analysed once). Valid for the index that prepared it, until the index changes.
pub(crate) struct Prepared {
    /// Per field searched and query term that occurs there, its weight (over the whole
    /// collection on disk). Empty when no indexed row holds a query term.
    pub(crate) terms: Vec<QueryTerm>,
    /// Each field's average length, over the same rows as the weights.
    pub(crate) avg: bm25::AvgLengths,
    /// On disk: Tantivy's weight of the query over its committed segments, if any.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) weight: Option<Box<dyn ::tantivy::query::Weight>>,
}

/// A query term in one field, weighted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueryTerm {
    /// The field ([`BODY`] or [`TITLE`]).
    pub(crate) field: usize,
    /// The term's number in the field of the in-memory index (the BM25 index; on disk,
    /// Tantivy's delta), if that holds it: its postings without a dictionary look-up.
    pub(crate) id: Option<u32>,
    /// `idf * (k1 + 1) * field boost`.
    pub(crate) weight: f32,
}

impl Prepared {
    /// A query that matches nothing.
    pub(crate) fn nothing() -> Self {
        Prepared {
            terms: Vec::new(),
            avg: bm25::AvgLengths([0.0; FIELDS]),
            #[cfg(not(target_arch = "wasm32"))]
            weight: None,
        }
    }
}

/// The text index of a database: one implementation per kind of database.
pub(crate) enum Text {
    /// In memory (both targets).
    Bm25(Bm25Index),
    /// Natively, on disk: Tantivy's last commit plus an in-memory delta.
    #[cfg(not(target_arch = "wasm32"))]
    Tantivy(TantivyText),
}

impl Text {
    fn index(&self) -> &dyn TextIndex {
        match self {
            Text::Bm25(t) => t,
            #[cfg(not(target_arch = "wasm32"))]
            Text::Tantivy(t) => t,
        }
    }

    fn index_mut(&mut self) -> &mut dyn TextIndex {
        match self {
            Text::Bm25(t) => t,
            #[cfg(not(target_arch = "wasm32"))]
            Text::Tantivy(t) => t,
        }
    }

    /// Indexes a row's analysed fields (the row is new to the index).
    pub(crate) fn add_analyzed(&mut self, row: u32, texts: Analyzed) -> Result<()> {
        self.index_mut().add_analyzed(row, texts)
    }

    /// Indexes a row's fields (the row is new to the index).
    pub(crate) fn add(&mut self, row: u32, texts: FieldTexts<'_>) -> Result<()> {
        self.index_mut().add(row, texts)
    }

    /// Removes `row`, whose indexed fields were `texts`.
    pub(crate) fn remove(&mut self, row: u32, texts: FieldTexts<'_>) -> Result<()> {
        self.index_mut().remove(row, texts)
    }

    /// See [`TextIndex::prepare`].
    pub(crate) fn prepare(&self, query: &str, title_boost: f32) -> Result<Prepared> {
        self.index().prepare(query, title_boost)
    }

    /// The `limit` best rows `accept` allows, best first, with their scores.
    pub(crate) fn search(
        &self,
        query: &Prepared,
        limit: usize,
        accept: &(dyn Fn(u32) -> bool + Sync),
    ) -> Result<Vec<(u32, f32)>> {
        self.index().search(query, limit, accept)
    }

    /// The scores [`Text::search`] gives `rows` (0 for a row without any of the query's
    /// terms), in the order of `rows`.
    pub(crate) fn score_rows(&self, query: &Prepared, rows: &[u32]) -> Result<Vec<f32>> {
        self.index().score_rows(query, rows)
    }

    /// Heap bytes the index holds: the whole BM25 index, or Tantivy's in-memory delta
    /// (its committed segments are memory-mapped files, paged in by the kernel).
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            Text::Bm25(t) => t.heap_bytes(),
            #[cfg(not(target_arch = "wasm32"))]
            Text::Tantivy(t) => t.heap_bytes(),
        }
    }

    /// Natively, for the on-disk index: Tantivy committed everything added so far and
    /// `searcher` sees it; rows from `next_row` on are new. The BM25 index ignores it.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn committed(&mut self, searcher: ::tantivy::Searcher, next_row: u32) -> Result<()> {
        match self {
            Text::Bm25(_) => Ok(()),
            Text::Tantivy(t) => t.committed(searcher, next_row),
        }
    }
}

/// Prepares `query` on `ix` and searches it (for tests of one index).
#[cfg(test)]
pub(crate) fn search_text(
    ix: &dyn TextIndex,
    query: &str,
    limit: usize,
    title_boost: f32,
    accept: &(dyn Fn(u32) -> bool + Sync),
) -> Result<Vec<(u32, f32)>> {
    ix.search(&ix.prepare(query, title_boost)?, limit, accept)
}

/// Splits `text` into analysed terms (see the module docs), calling `emit` for each.
pub fn analyze(text: &str, mut emit: impl FnMut(String)) {
    analyze_terms(text, |t| emit(t.to_owned()));
}

/// [`analyze`], lending each term (from this thread's cache of normalised tokens) rather
/// than handing over a copy. `emit` must not analyse text itself.
pub(crate) fn analyze_terms(text: &str, mut emit: impl FnMut(&str)) {
    for raw in tokens(text) {
        with_normalized(raw, &mut emit);
    }
}

/// The raw tokens of `text`: runs of alphanumerics of at most [`MAX_TOKEN_BYTES`] bytes.
fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|raw| !raw.is_empty() && raw.len() <= MAX_TOKEN_BYTES)
}

/// Raw tokens whose normalised form each thread remembers, at most (~2 MB); past it the
/// memory starts again empty. Words follow Zipf's law: a few thousand cover most tokens.
const STEM_CACHE: usize = 32 * 1024;

thread_local! {
    static STEMS: std::cell::RefCell<TermMap<String>> = Default::default();
}

/// The last steps of the analysis, applied to one raw token (a run of alphanumerics of
/// at most [`MAX_TOKEN_BYTES`] bytes): lower-casing, then English stemming. Each thread
/// remembers the tokens it normalised last (the stemmer is most of the analysis's time).
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub fn normalize_token(raw: &str) -> String {
    with_normalized(raw, str::to_owned)
}

/// Calls `f` with the normalised form of `raw` (see [`normalize_token`]), lent from this
/// thread's cache. `f` runs while the cache is borrowed: it must not normalise tokens.
fn with_normalized<R>(raw: &str, f: impl FnOnce(&str) -> R) -> R {
    use std::sync::OnceLock;
    static STEMMER: OnceLock<rust_stemmers::Stemmer> = OnceLock::new();
    STEMS.with_borrow_mut(|stems| {
        if let Some(term) = stems.get(raw) {
            return f(term);
        }
        let stemmer = STEMMER
            .get_or_init(|| rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English));
        let term = stemmer.stem(&lower::lowercase(raw)).into_owned();
        if stems.len() >= STEM_CACHE {
            stems.clear();
        }
        let r = f(&term);
        stems.insert(raw.to_owned(), term);
        r
    })
}

/// True when `text` yields at least one term (cheaper than [`analyze`]: no stemming).
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) fn has_terms(text: &str) -> bool {
    tokens(text).next().is_some()
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
    fn remembered_tokens_normalise_as_fresh_ones() {
        let fresh = |raw: &str| {
            rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English)
                .stem(&lower::lowercase(raw))
                .into_owned()
        };
        // Past the cache's size it starts again: the answers stay the same throughout.
        for i in 0..STEM_CACHE + 100 {
            let raw = format!("Running{i}s");
            assert_eq!(normalize_token(&raw), fresh(&raw));
            if i % 1000 == 0 {
                assert_eq!(normalize_token("Dogs"), "dog");
                assert_eq!(normalize_token("dogs"), "dog");
                assert_eq!(normalize_token("Running"), fresh("Running"));
            }
        }
    }

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
