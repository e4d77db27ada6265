//! The two full-text indexes rank alike: on the bundled sample, text-only top-10 of the
//! in-memory BM25 index (`VectorDB::in_memory`) and of Tantivy on disk (`VectorDB::open`)
//! overlap by at least 0.9 on average over the 500 sample queries — with everything
//! committed to Tantivy, and with half of the rows still in the uncommitted delta.
//! Figures are printed (`-- --nocapture`).

#![cfg(not(target_arch = "wasm32"))]

use std::collections::HashSet;

use vjson::dataset::Dataset;
use vjson::{Options, Query, VectorDB};

fn top10(db: &VectorDB, q: &str) -> Vec<String> {
    db.search(&Query::new().text(q).k(10))
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect()
}

/// Mean overlap of the two top-10 lists over all sample queries, and how many queries
/// give identical lists.
fn overlap(ds: &Dataset, a: &VectorDB, b: &VectorDB) -> (f64, usize) {
    let (mut sum, mut same) = (0.0, 0);
    for q in &ds.queries {
        let x = top10(a, &q.text);
        let y = top10(b, &q.text);
        let denom = x.len().max(y.len());
        if denom == 0 {
            sum += 1.0;
            same += 1;
            continue;
        }
        let xs: HashSet<&String> = x.iter().collect();
        sum += y.iter().filter(|id| xs.contains(id)).count() as f64 / denom as f64;
        same += (x == y) as usize;
    }
    (sum / ds.queries.len() as f64, same)
}

#[test]
fn bm25_and_tantivy_rank_the_sample_alike() {
    let ds = vjson::bundled_sample!();
    let docs = ds.documents();
    let mem = VectorDB::in_memory(Options::new(384)).unwrap();
    mem.insert_batch(docs.clone()).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let disk = VectorDB::open(dir.path().join("db"), Options::new(384)).unwrap();
    disk.insert_batch(docs[..1000].to_vec()).unwrap();
    disk.flush().unwrap();
    disk.insert_batch(docs[1000..].to_vec()).unwrap();
    // Half committed to Tantivy, half in the delta.
    let (half, half_same) = overlap(&ds, &mem, &disk);
    disk.flush().unwrap();
    let (all, all_same) = overlap(&ds, &mem, &disk);
    println!(
        "text top-10 overlap, in-memory BM25 vs Tantivy over {} queries: {all:.4} all committed ({all_same} identical lists), {half:.4} half committed ({half_same} identical)",
        ds.queries.len()
    );
    assert!(all >= 0.9, "overlap {all}");
    assert!(half >= 0.9, "overlap {half}");
    // Scores are BM25 on both sides: the best hit's scores agree closely.
    let q = &ds.queries[0].text;
    let a = mem.search(&Query::new().text(q.clone()).k(1)).unwrap();
    let b = disk.search(&Query::new().text(q.clone()).k(1)).unwrap();
    let (sa, sb) = (a[0].score, b[0].score);
    assert!((sa - sb).abs() / sa < 0.1, "{sa} vs {sb}");
}
