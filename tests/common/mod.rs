//! Shared helpers of the integration tests: the bundled rustdocs sample (embedded with
//! `vjson::bundled_sample!()` on both targets), brute-force ground truth
//! and recall, and a `say!` macro that prints on both targets.

#![allow(dead_code)]

use std::sync::OnceLock;

use serde_json::json;
use vjson::dataset::Dataset;
use vjson::{Document, Filter, Options, VectorDB};

/// Prints a line: `println!` natively, `console.log` under wasm-bindgen-test.
macro_rules! say {
    ($($t:tt)*) => {{
        #[cfg(target_arch = "wasm32")]
        wasm_bindgen_test::console_log!($($t)*);
        #[cfg(not(target_arch = "wasm32"))]
        println!($($t)*);
    }};
}

/// The bundled sample (2,000 docs, 500 queries, 384-d), loaded once.
pub fn sample() -> &'static Dataset {
    static DATA: OnceLock<Dataset> = OnceLock::new();
    DATA.get_or_init(load_sample)
}

fn load_sample() -> Dataset {
    vjson::bundled_sample!()
}

/// Sample document `i` with an extra metadata field `bucket = i % 1000`, so that filters
/// on `bucket` have exact selectivities (`bucket < 500`: 50 %, `< 50`: 5 %, `== 7`: 0.1 %).
pub fn doc(i: usize) -> Document {
    let mut d = sample().document(i);
    if let Some(serde_json::Value::Object(m)) = d.metadata.as_mut() {
        m.insert("bucket".into(), json!(i % 1000));
        m.insert(
            "nested".into(),
            json!({"bucket": i % 1000, "odd": i % 2 == 1}),
        );
    }
    d
}

/// All sample documents with the `bucket` field.
pub fn docs() -> Vec<Document> {
    (0..sample().docs.len()).map(doc).collect()
}

/// A fresh in-memory database of the whole sample at default settings.
pub fn sample_db() -> VectorDB {
    let db = VectorDB::in_memory(Options::new(sample().dim)).expect("default options");
    db.insert_batch(docs()).expect("sample inserts");
    db
}

/// One database of the whole sample, built once and only read by the tests that share it.
pub fn shared_db() -> &'static VectorDB {
    static DB: OnceLock<VectorDB> = OnceLock::new();
    DB.get_or_init(sample_db)
}

/// Cosine similarity, computed in f64 independently of the library's kernels.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut d, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (*x as f64, *y as f64);
        d += x * y;
        na += x * x;
        nb += y * y;
    }
    d / (na.sqrt() * nb.sqrt())
}

/// The exact top-`k` sample documents by cosine to `q` among those `keep` allows, best
/// first, as (document index, cosine).
pub fn brute_top_k(q: &[f32], k: usize, keep: impl Fn(usize) -> bool) -> Vec<(usize, f64)> {
    let s = sample();
    let mut all: Vec<(usize, f64)> = (0..s.docs.len())
        .filter(|&i| keep(i))
        .map(|i| (i, cosine(q, s.doc_vector(i))))
        .collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all.truncate(k);
    all
}

/// Share of `exact` ids that appear in `got`.
pub fn overlap(got: &[String], exact: &[String]) -> (usize, usize) {
    let hit = exact.iter().filter(|e| got.contains(e)).count();
    (hit, exact.len())
}

/// Recall accumulated over many queries.
#[derive(Default, Debug, Clone, Copy)]
pub struct Recall {
    pub hit: usize,
    pub total: usize,
}

impl Recall {
    pub fn add(&mut self, got: &[String], exact: &[String]) {
        let (h, t) = overlap(got, exact);
        self.hit += h;
        self.total += t;
    }

    pub fn value(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            self.hit as f64 / self.total as f64
        }
    }
}

/// The sample id of document `i`.
pub fn id(i: usize) -> String {
    sample().docs[i].id.clone()
}

/// The filter parsed from JSON (panics on a malformed filter: test input).
pub fn filter(v: serde_json::Value) -> Filter {
    Filter::from_json(&v).expect("test filter parses")
}
