//! The bundled rustdocs sample (2,000 Rust documentation sections with all-MiniLM-L6-v2
//! embeddings, 500 known-item queries) and the retrieval metrics used to judge search on
//! it. Used by the `demo` command, the tests and the benchmarks; see
//! `tests/data/sample/README.md` for where the data comes from and its licence.
//!
//! The library does not carry the sample: [`bundled_sample!`](crate::bundled_sample)
//! embeds its files into the crate that calls it (the CLI, a test, a benchmark).

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::json;

use crate::document::{Document, Hit};
use crate::error::{Error, Result};

/// One sample document.
#[derive(Debug, Clone, Deserialize)]
pub struct SampleDoc {
    /// Document id, e.g. `api:std::vec::Vec`.
    pub id: String,
    /// Title (item path, or page > heading).
    pub title: String,
    /// Body text.
    pub text: String,
    /// `"api"` or `"book"`.
    pub kind: String,
}

/// One sample query with its one relevant document.
#[derive(Debug, Clone, Deserialize)]
pub struct SampleQuery {
    /// Query id.
    pub id: String,
    /// Query text.
    pub text: String,
    /// `"api"` or `"book"`.
    #[serde(default)]
    pub kind: String,
    /// The relevant document's id (from the judgements).
    #[serde(skip)]
    pub relevant: String,
}

#[derive(Deserialize)]
struct Qrel {
    qid: String,
    docid: String,
}

/// A loaded dataset: documents and queries with their vectors.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Vector dimension.
    pub dim: usize,
    /// Documents.
    pub docs: Vec<SampleDoc>,
    /// Document vectors, row-major, one per document.
    pub doc_vectors: Vec<f32>,
    /// Queries.
    pub queries: Vec<SampleQuery>,
    /// Query vectors, row-major, one per query.
    pub query_vectors: Vec<f32>,
}

fn jsonl<T: for<'de> Deserialize<'de>>(text: &str, what: &str) -> Result<Vec<T>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| Error::InvalidOptions(format!("{what} line {}: {e}", i + 1)))
        })
        .collect()
}

fn f32s(bytes: &[u8], rows: usize, dim: usize, what: &str) -> Result<Vec<f32>> {
    if bytes.len() != rows * dim * 4 {
        return Err(Error::InvalidOptions(format!(
            "{what} holds {} bytes, expected {rows} x {dim} float32",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

impl Dataset {
    /// Parses a dataset from the contents of its five files.
    pub fn from_parts(
        dim: usize,
        docs_jsonl: &str,
        docs_f32: &[u8],
        queries_jsonl: &str,
        queries_f32: &[u8],
        qrels_jsonl: &str,
    ) -> Result<Self> {
        let docs: Vec<SampleDoc> = jsonl(docs_jsonl, "docs.jsonl")?;
        let mut queries: Vec<SampleQuery> = jsonl(queries_jsonl, "queries.jsonl")?;
        let qrels: HashMap<String, String> = jsonl::<Qrel>(qrels_jsonl, "qrels.jsonl")?
            .into_iter()
            .map(|q| (q.qid, q.docid))
            .collect();
        for q in &mut queries {
            q.relevant = qrels.get(&q.id).cloned().unwrap_or_default();
        }
        Ok(Dataset {
            dim,
            doc_vectors: f32s(docs_f32, docs.len(), dim, "docs.f32")?,
            query_vectors: f32s(queries_f32, queries.len(), dim, "queries.f32")?,
            docs,
            queries,
        })
    }

    /// Loads a dataset directory laid out like `tests/data/sample`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load(dir: &std::path::Path, dim: usize) -> Result<Self> {
        let read =
            |f: &str| std::fs::read(dir.join(f)).map_err(|e| Error::io(dir.join(f).display(), e));
        let text = |f: &str| -> Result<String> {
            String::from_utf8(read(f)?)
                .map_err(|_| Error::InvalidOptions(format!("{f} is not UTF-8")))
        };
        Self::from_parts(
            dim,
            &text("docs.jsonl")?,
            &read("docs.f32")?,
            &text("queries.jsonl")?,
            &read("queries.f32")?,
            &text("qrels.jsonl")?,
        )
    }

    /// The vector dimension of a dataset directory: `docs.f32`'s size over the number of
    /// lines of `docs.jsonl`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn dimension_of(dir: &std::path::Path) -> Result<usize> {
        let docs = dir.join("docs.jsonl");
        let lines = std::fs::read_to_string(&docs)
            .map_err(|e| Error::io(docs.display(), e))?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count();
        let vectors = dir.join("docs.f32");
        let bytes = std::fs::metadata(&vectors)
            .map_err(|e| Error::io(vectors.display(), e))?
            .len() as usize;
        if lines == 0 || !bytes.is_multiple_of(4 * lines) {
            return Err(Error::InvalidOptions(format!(
                "{}: docs.f32 ({bytes} bytes) does not hold one float32 vector per line of docs.jsonl ({lines} lines)",
                dir.display()
            )));
        }
        Ok(bytes / 4 / lines)
    }

    /// The vector of document `i`.
    pub fn doc_vector(&self, i: usize) -> &[f32] {
        &self.doc_vectors[i * self.dim..(i + 1) * self.dim]
    }

    /// The vector of query `i`.
    pub fn query_vector(&self, i: usize) -> &[f32] {
        &self.query_vectors[i * self.dim..(i + 1) * self.dim]
    }

    /// Document `i` as a [`Document`]: text `title: text` (as embedded), the title also as
    /// its own field, metadata `{"kind", "source", "chars"}` where `source` is the crate
    /// (api) or book (book).
    pub fn document(&self, i: usize) -> Document {
        let d = &self.docs[i];
        let source = match d.id.split_once(':') {
            Some(("api", path)) => path
                .trim_start_matches("derive@")
                .trim_start_matches("attr@")
                .split("::")
                .next()
                .unwrap_or(""),
            Some(("book", path)) => path.split('/').next().unwrap_or(""),
            _ => "",
        };
        Document::new(d.id.clone(), self.doc_vector(i).to_vec())
            .text(format!("{}: {}", d.title, d.text))
            .title(d.title.clone())
            .metadata(json!({"kind": d.kind, "source": source, "chars": d.text.len()}))
    }

    /// All documents.
    pub fn documents(&self) -> Vec<Document> {
        (0..self.docs.len()).map(|i| self.document(i)).collect()
    }
}

/// Retrieval quality over known-item queries (one relevant document each), at 10:
/// add each query's rank of its relevant document, then read the means.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Quality {
    /// Queries added.
    pub queries: usize,
    reciprocal_ranks: f64,
    found: usize,
    gains: f64,
}

impl Quality {
    /// Adds one query whose relevant document came at `rank` (0-based; `None`, or 10 and
    /// beyond, when not in the top 10).
    pub fn add(&mut self, rank: Option<usize>) {
        self.queries += 1;
        if let Some(p) = rank.filter(|&p| p < 10) {
            self.reciprocal_ranks += 1.0 / (p + 1) as f64;
            self.found += 1;
            self.gains += 1.0 / ((p + 2) as f64).log2();
        }
    }

    /// Mean reciprocal rank at 10 (0 with no queries).
    pub fn mrr(&self) -> f64 {
        self.reciprocal_ranks / self.queries.max(1) as f64
    }

    /// Share of queries whose relevant document is in the top 10.
    pub fn recall(&self) -> f64 {
        self.found as f64 / self.queries.max(1) as f64
    }

    /// nDCG at 10 (with one relevant document, its gain `1 / log2(rank + 2)`).
    pub fn ndcg(&self) -> f64 {
        self.gains / self.queries.max(1) as f64
    }
}

/// Mean reciprocal rank at 10 and recall at 10 of ranked id lists against one relevant
/// id each.
pub fn mrr_recall_at_10<'a>(runs: impl IntoIterator<Item = (&'a [Hit], &'a str)>) -> (f64, f64) {
    let mut q = Quality::default();
    for (ranked, relevant) in runs {
        q.add(ranked.iter().take(10).position(|h| h.id == relevant));
    }
    (q.mrr(), q.recall())
}

/// The bundled sample (`tests/data/sample/`), embedded into the calling crate with
/// `include_bytes!` (so only the binaries and tests that use it carry its 5 MB). Only for
/// code of this package: the path is relative to the caller's `CARGO_MANIFEST_DIR`.
#[doc(hidden)]
#[macro_export]
macro_rules! bundled_sample {
    () => {{
        macro_rules! sample_file {
            ($f:literal) => {
                include_bytes!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/data/sample/",
                    $f
                ))
            };
        }
        let text = |b: &[u8]| {
            ::std::string::String::from_utf8(b.to_vec()).expect("the bundled sample is UTF-8")
        };
        $crate::dataset::Dataset::from_parts(
            384,
            &text(sample_file!("docs.jsonl")),
            sample_file!("docs.f32"),
            &text(sample_file!("queries.jsonl")),
            sample_file!("queries.f32"),
            &text(sample_file!("qrels.jsonl")),
        )
        .expect("the bundled sample parses")
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_means_over_known_item_queries() {
        let mut q = Quality::default();
        for rank in [Some(0), Some(1), None, Some(12)] {
            q.add(rank);
        }
        assert_eq!(q.queries, 4);
        assert!((q.mrr() - (1.0 + 0.5) / 4.0).abs() < 1e-12);
        assert!((q.recall() - 0.5).abs() < 1e-12);
        assert!((q.ndcg() - (1.0 + 1.0 / 3f64.log2()) / 4.0).abs() < 1e-12);
        assert_eq!(Quality::default().mrr(), 0.0);
    }
}
