//! Entry points for the fuzz targets in `fuzz/` (compiled only with `--cfg fuzzing`, as
//! `cargo fuzz` builds): each feeds arbitrary bytes to one decoder of outside input — the
//! files an open reads, log records, snapshots, filters, JSON lines, fusion names — and must
//! return an error or a value, never panic, loop or allocate beyond what the input
//! declares and holds. Where a decode succeeds the value is used a little (searched,
//! re-encoded), so that what a decoder accepts is also safe to use.

use serde_json::Value;

use crate::hnsw::{Hnsw, QueryDist, SearchScratch};
use crate::options::HnswParams;
use crate::store::Rows;
use crate::store::manifest::Manifest;
use crate::store::wal;
use crate::{Document, Filter, Fusion, Options, Query, VectorDB};

/// `manifest.json` at open.
pub fn manifest(data: &[u8]) {
    if let Ok(m) = Manifest::parse(data) {
        let _ = serde_json::to_vec(&m);
    }
}

/// `rows.dat` and a liveness bitmap at open: the first two bytes give the row count the
/// manifest would declare, the next two the bitmap's length.
pub fn rows(data: &[u8]) {
    let [a, b, c, d, rest @ ..] = data else {
        return;
    };
    let rows = u16::from_le_bytes([*a, *b]) as usize;
    let live = (u16::from_le_bytes([*c, *d]) as usize).min(rest.len());
    let (bitmap, bytes) = rest.split_at(live);
    if let Ok(mut r) = Rows::decode(bytes, rows) {
        let _ = r.apply_live(bitmap);
    }
    // As an open decodes them: pointing into the bytes, texts and metadata checked only
    // when read. Every row must read without a panic.
    if let Ok(mut r) = Rows::decode_backed(Box::new(bytes.to_vec()), rows) {
        let _ = r.apply_live(bitmap);
        for i in 0..r.len() {
            let _ = (r.id(i), r.text(i), r.title(i), r.metadata(i));
        }
    }
    // As an open with a row index (here the bitmap's bytes) loads them: nothing checked
    // until read. Every row must read (or report its damage) without a panic.
    if let Ok(Some(r)) = Rows::from_index(Box::new(bytes.to_vec()), bitmap, rows) {
        for i in 0..r.len() {
            let _ = (r.check(i), r.id(i), r.text(i), r.title(i), r.metadata(i));
        }
    }
}

/// A graph file at open (`hnsw.<c>.bin`): the first byte gives `m`, the next two the row
/// count; a graph that decodes is searched over constant vectors.
pub fn graph(data: &[u8]) {
    let [m, r0, r1, bytes @ ..] = data else {
        return;
    };
    let params = HnswParams {
        m: (*m as usize).clamp(2, 64),
        ..HnswParams::default()
    };
    let rows = u16::from_le_bytes([*r0, *r1]) as usize;
    if let Ok(h) = Hnsw::from_bytes(bytes, &params, rows) {
        // Distances to the query from a row number: any graph that decoded must be
        // walkable without a panic.
        struct ByRow;
        impl QueryDist for ByRow {
            fn dist(&self, row: u32) -> f32 {
                (row as f32 - 3.0).abs()
            }
        }
        let mut scratch = SearchScratch::default();
        let _ = h.search(&ByRow, 5, 16, &|_| true, &mut scratch);
    }
}

/// The write-ahead log at open: the first byte gives the dimension.
pub fn wal(data: &[u8]) {
    let [dim, bytes @ ..] = data else {
        return;
    };
    let r = wal::parse(bytes, (*dim as usize).clamp(1, 64), 0);
    let _ = r.records.len() + r.in_log as usize;
}

/// A snapshot, as `VectorDB::import_snapshot` reads it; one that imports is searched and
/// exported again.
pub fn snapshot(data: &[u8]) {
    if let Ok(db) = VectorDB::import_snapshot(data) {
        let dim = db.options().dimension;
        let _ = db.search(&Query::new().vector(vec![0.5; dim]).text("a b").k(5));
        let _ = db.export_snapshot();
    }
}

/// A filter's JSON text; one that parses is evaluated on a few metadata objects.
pub fn filter(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(f) = Filter::parse(text) {
        for md in [
            serde_json::json!({"a": 1, "b": "x", "c": [1, "y", null], "d": {"e": true}}),
            Value::Null,
        ] {
            let _ = f.matches(Some(&md));
        }
        let _ = f.matches(None);
    }
}

/// One line of a JSONL import, as the CLI reads it: parsed as a `Document`, then checked
/// and inserted into a small database.
pub fn jsonl(data: &[u8]) {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(doc) = serde_json::from_str::<Document>(line) {
        let dim = doc.vector.len().clamp(1, 64);
        if let Ok(db) = VectorDB::in_memory(Options::new(dim)) {
            let _ = db.insert(doc);
        }
    }
}

/// A fusion name and a query's numbers, as the CLI and the bindings take them.
pub fn query(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (fusion, rest) = text.split_once('\n').unwrap_or((text, ""));
    let Ok(f) = fusion.parse::<Fusion>() else {
        return;
    };
    let _ = f.to_string();
    let Ok(db) = VectorDB::in_memory(Options::new(2)) else {
        return;
    };
    let _ = db.insert_batch(vec![
        Document::new("a", vec![1.0, 0.0]).text("alpha beta"),
        Document::new("b", vec![0.0, 1.0]).text("beta gamma"),
    ]);
    let nums: Vec<usize> = rest
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    let mut q = Query::new().vector(vec![0.6, 0.4]).text(rest).fusion(f);
    if let Some(&k) = nums.first() {
        q = q.k(k);
    }
    if let Some(&c) = nums.get(1) {
        q = q.candidates(c);
    }
    if let Some(&ef) = nums.get(2) {
        q = q.ef_search(ef);
    }
    let _ = db.search(&q);
}
