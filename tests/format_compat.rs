//! Formats stay readable: an on-disk database directory and a snapshot written by the
//! code of on-disk format 1 / snapshot format 1 (commit e4fa1b6, before the storage
//! layer was restructured) are committed under `tests/data/v1/`, with what that code
//! answered (`expected.json` on disk, `expected-snapshot.json` for the snapshot imported in
//! memory). Today's code must open both and give the same documents
//! and the same rankings (ids in the same order, scores within 1e-5).
//!
//! The database directory is a crash image: it holds a compacted generation of files, a
//! later checkpoint, a Tantivy index, and write-ahead-log records past the checkpoint
//! (inserts, an upsert and deletes) that opening must replay.
//!
//! The fixture was made by `VJSON_WRITE_FIXTURE=1 cargo test --test format_compat --
//! --ignored write_v1_fixture` at that commit. Do not regenerate it with later code: it is
//! the old code's output that is being checked.

#![cfg(not(target_arch = "wasm32"))]

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use vjson::{Document, Filter, Fusion, Options, Query, VectorDB};

#[path = "support/copy_dir.rs"]
mod copy_dir;
#[path = "support/gen.rs"]
mod generate;
use copy_dir::copy_dir;
use generate::Rng;

const DIM: usize = 8;
/// The fixture's vocabulary (frozen: the recorded answers depend on it).
const WORDS: &[&str] = &[
    "ownership",
    "borrow",
    "lifetime",
    "trait",
    "generic",
    "iterator",
    "closure",
    "vector",
    "string",
    "thread",
    "channel",
    "mutex",
];

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/v1")
}

/// Uniform in `[-1, 1)`: twice the shared generator's `f32` (exactly, so the recorded
/// queries stay the same).
fn unit(rng: &mut Rng) -> f32 {
    2.0 * rng.f32()
}

fn doc(rng: &mut Rng, id: &str, i: usize) -> Document {
    let v: Vec<f32> = (0..DIM).map(|_| unit(rng)).collect();
    let words: Vec<&str> = (0..6).map(|_| WORDS[rng.index(WORDS.len())]).collect();
    let mut d = Document::new(id, v).text(words.join(" "));
    if !i.is_multiple_of(5) {
        d = d.metadata(json!({"n": i, "tag": if i.is_multiple_of(2) { "even" } else { "odd" }}));
    }
    d
}

/// The query defaults when the answers were recorded (the defaults have changed since:
/// the queries name them, so that the answers stay a test of the formats alone).
const V1_DEFAULT_FUSION: Fusion = Fusion::Rrf { k: 60.0 };
const V1_DEFAULT_CANDIDATES: usize = 50;

/// The queries whose answers are recorded: vector, text, hybrid (two fusions) and filtered.
fn queries() -> Vec<(String, Query)> {
    let mut rng = Rng(0xC0FFEE);
    let mut out = Vec::new();
    for i in 0..4 {
        let v: Vec<f32> = (0..DIM).map(|_| unit(&mut rng)).collect();
        let t = format!("{} {}", WORDS[i * 2], WORDS[i * 3 % WORDS.len()]);
        out.push((
            format!("vector {i}"),
            Query::new().vector(v.clone()).k(10).ef_search(200),
        ));
        out.push((format!("text {i}"), Query::new().text(t.clone()).k(10)));
        out.push((
            format!("hybrid rrf {i}"),
            Query::new()
                .vector(v.clone())
                .text(t.clone())
                .k(10)
                .ef_search(200)
                .fusion(V1_DEFAULT_FUSION)
                .candidates(V1_DEFAULT_CANDIDATES),
        ));
        out.push((
            format!("hybrid weighted {i}"),
            Query::new()
                .vector(v.clone())
                .text(t.clone())
                .k(10)
                .ef_search(200)
                .fusion(Fusion::Weighted {
                    vector: 0.7,
                    text: 0.3,
                })
                .candidates(V1_DEFAULT_CANDIDATES),
        ));
        let f = Filter::from_json(&json!({"tag": "even", "n": {"$gte": 20}})).unwrap();
        out.push((
            format!("filtered {i}"),
            Query::new()
                .vector(v)
                .text(t)
                .k(10)
                .ef_search(200)
                .fusion(V1_DEFAULT_FUSION)
                .candidates(V1_DEFAULT_CANDIDATES)
                .filter(f),
        ));
    }
    out
}

fn answers(db: &VectorDB) -> Value {
    let mut docs = serde_json::Map::new();
    for id in db.ids() {
        let d = db.get(&id).unwrap().unwrap();
        docs.insert(
            id,
            json!({"vector": d.vector, "text": d.text, "metadata": d.metadata}),
        );
    }
    let results: Vec<Value> = queries()
        .into_iter()
        .map(|(name, q)| {
            let hits: Vec<Value> = db
                .search(&q)
                .unwrap()
                .into_iter()
                .map(|h| json!([h.id, h.score]))
                .collect();
            json!({"query": name, "hits": hits})
        })
        .collect();
    json!({"ids": db.ids(), "len": db.len(), "docs": docs, "results": results})
}

/// Compares two `answers`: everything equal, numbers within 1e-5.
fn same(a: &Value, b: &Value, at: &str) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() <= 1e-5, "{at}: {x} != {y}");
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{at}: lengths differ");
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                same(x, y, &format!("{at}[{i}]"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            let kx: Vec<_> = x.keys().collect();
            let ky: Vec<_> = y.keys().collect();
            assert_eq!(kx, ky, "{at}: keys differ");
            for (k, v) in x {
                same(v, &y[k], &format!("{at}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{at}"),
    }
}

fn expected() -> Value {
    expected_in("expected.json")
}

fn expected_in(name: &str) -> Value {
    let text = fs::read_to_string(fixture().join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_v1_database_directory_opens_with_the_same_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("db");
    copy_dir(&fixture().join("db"), &path);
    let db = VectorDB::open_existing(&path).unwrap();
    let stats = db.stats();
    let disk = stats.disk.as_ref().unwrap();
    assert!(
        disk.wal_records_replayed > 0,
        "the fixture has log records to replay"
    );
    same(&answers(&db), &expected(), "answers");
    // Written before int8 codes were stored: the open derived them into a codes file
    // that the manifest now names (and the search above walked on them, mapped).
    let manifest = fs::read_to_string(path.join("manifest.json")).unwrap();
    assert!(
        !fs::read_to_string(fixture().join("db/manifest.json"))
            .unwrap()
            .contains("\"codes\"")
    );
    assert!(manifest.contains("\"codes\""), "{manifest}");
    assert!(stats.memory.codes_mapped > 0, "{:?}", stats.memory);
    // It goes on taking writes and survives a reopen.
    let mut rng = Rng(99);
    db.insert(doc(&mut rng, "new", 1)).unwrap();
    db.close().unwrap();
    let db = VectorDB::open_existing(&path).unwrap();
    assert!(db.contains("new"));
    assert_eq!(db.len(), expected()["len"].as_u64().unwrap() as usize + 1);
}

#[test]
fn a_v1_snapshot_imports_with_the_same_answers() {
    let bytes = fs::read(fixture().join("snapshot.vjsn")).unwrap();
    let db = VectorDB::import_snapshot(&bytes).unwrap();
    // In memory the text side is the BM25 index, whose statistics leave out deleted rows
    // (Tantivy counts them until a merge), so text scores have their own record.
    same(
        &answers(&db),
        &expected_in("expected-snapshot.json"),
        "answers",
    );
}

/// Writes the fixture (see the module docs; only with `VJSON_WRITE_FIXTURE=1`).
#[test]
#[ignore]
fn write_v1_fixture() {
    if std::env::var("VJSON_WRITE_FIXTURE").as_deref() != Ok("1") {
        eprintln!("set VJSON_WRITE_FIXTURE=1 to overwrite tests/data/v1");
        return;
    }
    let out = fixture();
    let _ = fs::remove_dir_all(&out);
    fs::create_dir_all(&out).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("db");
    let db = VectorDB::open(&path, Options::new(DIM)).unwrap();
    let mut rng = Rng(0x5EED);
    let batch = |rng: &mut Rng, r: std::ops::Range<usize>| -> Vec<Document> {
        r.map(|i| doc(rng, &format!("doc{i}"), i)).collect()
    };
    // Generation 0, then deletes and a compaction (generation 1).
    db.insert_batch(batch(&mut rng, 0..40)).unwrap();
    for i in (0..40).step_by(7) {
        db.delete(&format!("doc{i}")).unwrap();
    }
    db.compact().unwrap();
    // More rows and a checkpoint.
    db.insert_batch(batch(&mut rng, 40..70)).unwrap();
    db.delete("doc41").unwrap();
    db.flush().unwrap();
    // Log records past the checkpoint: a batch, singles, an upsert and deletes.
    db.insert_batch(batch(&mut rng, 70..85)).unwrap();
    db.insert(doc(&mut rng, "single", 3)).unwrap();
    db.upsert(doc(&mut rng, "doc45", 45)).unwrap();
    db.delete("doc72").unwrap();
    db.delete("doc3").unwrap();
    assert!(db.stats().disk.unwrap().wal_records > 0);
    // The crash image: the directory as it is now, log not folded in.
    copy_dir(&path, &out.join("db"));
    let _ = fs::remove_file(out.join("db/LOCK"));
    let snapshot = db.export_snapshot().unwrap();
    fs::write(out.join("snapshot.vjsn"), &snapshot).unwrap();
    let write = |name: &str, db: &VectorDB| {
        let ans = serde_json::to_string_pretty(&answers(db)).unwrap();
        fs::write(out.join(name), ans).unwrap();
    };
    write("expected.json", &db);
    write(
        "expected-snapshot.json",
        &VectorDB::import_snapshot(&snapshot).unwrap(),
    );
    db.close().unwrap();
}
