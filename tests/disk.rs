//! The native on-disk database: close and reopen keeps everything and answers every sample
//! query the same, replay of the write-ahead log after a crash (a copy of the directory
//! taken while the database is open is exactly what a crash leaves), torn and damaged log
//! tails, option mismatches, checkpoints and compaction, the lock, and damaged files —
//! each failure with its error code, never a panic.

#![cfg(not(target_arch = "wasm32"))]

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::json;
use vjson::dataset::Dataset;
use vjson::{Document, Durability, Error, Filter, Fusion, Metric, Options, Query, VectorDB};

fn sample() -> &'static Dataset {
    static DATA: std::sync::OnceLock<Dataset> = std::sync::OnceLock::new();
    DATA.get_or_init(|| vjson::bundled_sample!())
}

fn code<T>(r: Result<T, Error>) -> &'static str {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.code(),
    }
}

fn err<T>(r: Result<T, Error>) -> Error {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

#[path = "support/copy_dir.rs"]
mod copy_dir;
use copy_dir::copy_dir;

fn file_named(dir: &Path, prefix: &str) -> PathBuf {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix}* in {}", dir.display()))
}

fn flip_byte(path: &Path, at: usize) {
    let mut b = fs::read(path).unwrap();
    b[at] ^= 0x5A;
    fs::write(path, b).unwrap();
}

fn wal_path(db: &Path) -> PathBuf {
    db.join("wal").join("current.log")
}

/// The ids every sample query returns, in the three modes (k = 10).
/// Every file under `dir` (but the readers' lock file) with its bytes.
fn files_and_bytes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if e.file_name() != "READERS" {
                out.push((p.clone(), fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn answers(db: &VectorDB) -> Vec<Vec<String>> {
    let ds = sample();
    let mut out = Vec::new();
    for i in 0..ds.queries.len() {
        let v = ds.query_vector(i).to_vec();
        let t = ds.queries[i].text.clone();
        for q in [
            Query::new().vector(v.clone()).k(10),
            Query::new().text(t.clone()).k(10),
            Query::new()
                .vector(v.clone())
                .text(t.clone())
                .fusion(Fusion::Rrf { k: 60.0 })
                .k(10),
        ] {
            out.push(db.search(&q).unwrap().into_iter().map(|h| h.id).collect());
        }
    }
    out
}

fn same_answers(a: &[Vec<String>], b: &[Vec<String>], what: &str) {
    assert_eq!(a.len(), b.len());
    let differ = a.iter().zip(b).filter(|(x, y)| x != y).count();
    assert_eq!(differ, 0, "{what}: {differ} of {} answers differ", a.len());
}

/// Loads the sample into `db` in four batches, then deletes and upserts a few documents.
fn load_sample(db: &VectorDB) {
    let docs = sample().documents();
    for chunk in docs.chunks(500) {
        db.insert_batch(chunk.to_vec()).unwrap();
    }
    for i in (0..2000).step_by(97) {
        db.delete(&sample().docs[i].id).unwrap();
    }
    for i in (5..2000).step_by(101) {
        let mut d = sample().document(i);
        d.metadata = Some(json!({"kind": "upserted", "n": i}));
        db.upsert(d).unwrap();
    }
}

/// `stats().memory` says where memory goes: each part grows with what it holds and
/// shrinks when rows go; on disk the checkpointed vectors are mapped, not in the heap.
#[test]
fn memory_stats_account_for_each_part() {
    let dir = tempfile::tempdir().unwrap();
    let dim = 32;
    let doc = |i: usize, meta: bool| {
        let v: Vec<f32> = (0..dim)
            .map(|j| ((i * 31 + j * 7) % 97) as f32 - 48.0)
            .collect();
        let d = Document::new(format!("document-{i:06}"), v)
            .text(format!("text {i} {}", "word ".repeat(20)));
        if meta {
            d.metadata(json!({"n": i, "tag": format!("tag-{i}"), "list": [1, 2, 3]}))
        } else {
            d
        }
    };
    let mem = VectorDB::in_memory(Options::new(dim)).unwrap();
    let empty = mem.stats().memory;
    mem.insert_batch((0..2000).map(|i| doc(i, true)).collect())
        .unwrap();
    let m = mem.stats().memory;
    assert!(m.vectors >= (2000 * dim * 4) as u64, "{m:?}");
    assert_eq!(m.vectors_mapped, 0);
    assert!(m.codes >= (2000 * dim) as u64, "{m:?}");
    // Ids: at least the bytes of the ids twice (rows and map).
    assert!(m.ids >= 2 * 2000 * 15, "{m:?}");
    assert!(m.texts >= 2000 * 100, "{m:?}");
    assert!(m.metadata > empty.metadata + 2000 * 50, "{m:?}");
    assert!(m.graph > empty.graph + 2000 * 4 * 16, "{m:?}");
    assert!(m.text_index > 0, "{m:?}");
    let parts = m.vectors + m.codes + m.graph + m.ids + m.texts + m.metadata;
    assert_eq!(m.heap_total, parts + m.text_index + m.search_buffers);
    // Deleting rows frees their texts and metadata (rows stay until compaction).
    for i in 0..1000 {
        mem.delete(&format!("document-{i:06}")).unwrap();
    }
    let after = mem.stats().memory;
    assert!(
        after.metadata < m.metadata && after.texts < m.texts,
        "{after:?}"
    );
    // Searching sizes the thread's visited marks to the graph.
    mem.search(&Query::new().vector(vec![1.0; dim]).k(5))
        .unwrap();
    assert!(mem.stats().memory.search_buffers >= 2000 * 4);
    // Without metadata the part is (nearly) empty.
    let bare = VectorDB::in_memory(Options::new(dim)).unwrap();
    bare.insert_batch((0..2000).map(|i| doc(i, false)).collect())
        .unwrap();
    assert!(bare.stats().memory.metadata < m.metadata / 10);

    // On disk, after a checkpoint the vectors are mapped; new rows sit in the heap.
    let path = dir.path().join("db");
    let db = VectorDB::open(&path, Options::new(dim)).unwrap();
    db.insert_batch((0..2000).map(|i| doc(i, true)).collect())
        .unwrap();
    db.flush().unwrap();
    let s = db.stats();
    assert_eq!((s.memory.vectors, s.memory.codes), (0, 0), "{:?}", s.memory);
    // The checkpoint appended the rows to rows.dat: they read their texts and metadata
    // from its map now, not from the heap.
    assert!(
        s.memory.texts <= 2000 * 32 && s.memory.rows_mapped > 0,
        "{:?}",
        s.memory
    );
    let got = db.get("document-000009").unwrap().unwrap();
    assert_eq!(
        (got.text, got.metadata),
        (doc(9, true).text, doc(9, true).metadata)
    );
    assert_eq!(s.memory.vectors_mapped, 2000 * dim as u64 * 4);
    assert_eq!(s.memory.codes_mapped, 2000 * (dim as u64 + 8));
    assert_eq!(
        s.memory.vectors_mapped + s.memory.codes_mapped,
        s.disk.unwrap().vectors_bytes
    );
    db.insert(doc(5000, true)).unwrap();
    let m = db.stats().memory;
    assert!(
        m.vectors >= (dim * 4) as u64 && m.codes >= dim as u64 + 8,
        "{m:?}"
    );
    // Reopened, nothing is computed: the codes are mapped from their file.
    db.close().unwrap();
    let db = VectorDB::open(&path, Options::new(dim)).unwrap();
    let m = db.stats().memory;
    assert_eq!((m.vectors, m.codes), (0, 0), "{m:?}");
    assert_eq!(m.codes_mapped, 2001 * (dim as u64 + 8));
    // Texts and metadata stay in the mapped row file: the heap holds a slot per row.
    assert!(m.rows_mapped >= 2001 * 100, "{m:?}");
    assert!(m.texts <= 2001 * 32 && m.metadata <= 2001 * 64, "{m:?}");
    let hit = &db.get("document-000007").unwrap().unwrap();
    assert_eq!(hit.text.as_deref(), doc(7, true).text.as_deref());
    assert_eq!(hit.metadata, doc(7, true).metadata);
    // Reading metadata parses it (and counts it) from then on.
    assert!(db.stats().memory.metadata > m.metadata);
}

#[test]
fn close_and_reopen_keeps_everything_and_answers_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = VectorDB::open(&path, Options::new(384)).unwrap();
    load_sample(&db);
    db.flush().unwrap();
    let before = answers(&db);
    let stats = db.stats();
    let len = db.len();
    let got = db.get(&sample().docs[5].id).unwrap().unwrap();
    db.close().unwrap();

    let db = VectorDB::open(&path, Options::new(384)).unwrap();
    let s = db.stats();
    assert_eq!(
        (s.documents, s.rows, s.deleted),
        (stats.documents, stats.rows, stats.deleted)
    );
    assert_eq!(db.len(), len);
    let d = s.disk.as_ref().unwrap();
    assert_eq!(d.wal_records_replayed, 0);
    assert_eq!(d.wal_bytes_truncated, 0);
    assert!(!d.text_index_rebuilt);
    assert_eq!(d.wal_bytes, 0);
    assert!(d.vectors_bytes >= (s.rows * 384 * 4) as u64);
    assert!(d.graph_bytes > 0 && d.rows_bytes > 0 && d.text_bytes > 0);
    assert_eq!(db.get(&sample().docs[5].id).unwrap().unwrap(), got);
    assert_eq!(db.get(&sample().docs[0].id).unwrap(), None);
    same_answers(&before, &answers(&db), "after reopening");
    // Filters still see the stored metadata.
    let f = Filter::from_json(&json!({"kind": "upserted"})).unwrap();
    let hits = db
        .search(
            &Query::new()
                .vector(sample().query_vector(0).to_vec())
                .filter(f)
                .k(100),
        )
        .unwrap();
    assert_eq!(hits.len(), (5..2000).step_by(101).count());
}

#[test]
fn reopen_replays_the_log_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = VectorDB::open(&path, Options::new(384)).unwrap();
    let docs = sample().documents();
    db.insert_batch(docs[..1000].to_vec()).unwrap();
    db.flush().unwrap();
    db.insert_batch(docs[1000..1500].to_vec()).unwrap();
    for d in &docs[1500..1600] {
        db.insert(d.clone()).unwrap();
    }
    db.delete(&docs[3].id).unwrap();
    db.delete(&docs[1200].id).unwrap();
    let mut up = docs[7].clone();
    up.text = Some("completely different words: zebra giraffe".into());
    db.upsert(up.clone()).unwrap();
    let s = db.stats().disk.unwrap();
    assert_eq!(s.wal_records, 1 + 100 + 2 + 1);
    assert_eq!(s.last_seq, s.checkpoint_seq + 104);

    // What a kill -9 right now would leave.
    let crash = dir.path().join("crash");
    copy_dir(&path, &crash);
    let expect = answers(&db);
    let len = db.len();
    drop(db);

    // A read-only open of what the crash left replays the log in memory, answers the
    // same, and changes no byte of the directory (beside its own lock file).
    let before = files_and_bytes(&crash);
    {
        let ro = VectorDB::open_read_only(&crash).unwrap();
        assert_eq!(ro.len(), len);
        let d = ro.stats().disk.unwrap();
        assert!(d.read_only);
        assert_eq!(d.wal_records_replayed, 104);
        assert_eq!(ro.get(&docs[3].id).unwrap(), None);
        assert_eq!(ro.get(&docs[7].id).unwrap().unwrap().text, up.text);
        let got = answers(&ro);
        let same = expect.iter().zip(&got).filter(|(a, b)| a == b).count();
        assert!(
            same as f64 >= 0.97 * expect.len() as f64,
            "read-only: {same} of {} answers agree",
            expect.len()
        );
    }
    assert!(
        files_and_bytes(&crash) == before,
        "a read-only open changed the directory"
    );

    let db = VectorDB::open(&crash, Options::new(384)).unwrap();
    let s = db.stats();
    let d = s.disk.as_ref().unwrap();
    assert_eq!(d.wal_records_replayed, 104);
    assert_eq!(d.wal_bytes_truncated, 0);
    assert_eq!(db.len(), len);
    assert_eq!(db.get(&docs[3].id).unwrap(), None);
    assert_eq!(db.get(&docs[7].id).unwrap().unwrap().text, up.text);
    let zebra = db.search(&Query::new().text("zebra giraffe").k(5)).unwrap();
    assert_eq!(zebra[0].id, docs[7].id);
    // The replayed state answers like the state that was lost, except where Tantivy's
    // length quantisation reorders near-ties between committed and uncommitted rows.
    let got = answers(&db);
    let same = expect.iter().zip(&got).filter(|(a, b)| a == b).count();
    assert!(
        same as f64 >= 0.97 * expect.len() as f64,
        "{same} of {} answers agree",
        expect.len()
    );
    // Replaying again (the copy was never checkpointed) gives the same state.
    db.close().unwrap();
    let db = VectorDB::open(&crash, Options::new(384)).unwrap();
    assert_eq!(db.stats().disk.unwrap().wal_records_replayed, 0);
    assert_eq!(db.len(), len);
}

#[test]
fn checkpoint_then_more_writes_then_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let docs = sample().documents();
    {
        let db = VectorDB::open(&path, Options::new(384)).unwrap();
        db.insert_batch(docs[..300].to_vec()).unwrap();
        db.flush().unwrap();
        let s = db.stats().disk.unwrap();
        assert_eq!((s.checkpoint_seq, s.wal_bytes), (1, 0));
        db.insert_batch(docs[300..600].to_vec()).unwrap();
        db.flush().unwrap();
        db.insert_batch(docs[600..700].to_vec()).unwrap();
        // Dropped without close: the drop checkpoints.
    }
    let db = VectorDB::open(&path, Options::new(384)).unwrap();
    let s = db.stats().disk.unwrap();
    assert_eq!((s.checkpoint_seq, s.wal_records_replayed), (3, 0));
    assert_eq!(db.len(), 700);
    for d in [&docs[0], &docs[350], &docs[699]] {
        let hits = db
            .search(&Query::new().vector(d.vector.clone()).k(1))
            .unwrap();
        assert_eq!(hits[0].id, d.id);
    }
    // Only the current checkpoint's files are left.
    let names: Vec<String> = fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names.iter().filter(|n| n.starts_with("hnsw.")).count(),
        1,
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
}

#[test]
fn reopening_with_other_options_is_an_error_that_says_what_differs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    VectorDB::open(&path, Options::new(8))
        .unwrap()
        .close()
        .unwrap();
    let e = err(VectorDB::open(&path, Options::new(16)));
    assert_eq!(e.code(), "invalid_options");
    assert!(e.to_string().contains("dimension 8 (asked for 16)"), "{e}");
    let e = err(VectorDB::open(&path, Options::new(8).metric(Metric::L2)));
    assert_eq!(e.code(), "invalid_options");
    assert!(
        e.to_string().contains("metric cosine (asked for l2)"),
        "{e}"
    );
    assert_eq!(
        code(VectorDB::open(&path, Options::new(8).m(8))),
        "invalid_options"
    );
    assert_eq!(
        code(VectorDB::open(&path, Options::new(8).fulltext(false))),
        "invalid_options"
    );
    // Tunables may change; the stored options come back with open_existing.
    let db = VectorDB::open(&path, Options::new(8).ef_search(99)).unwrap();
    assert_eq!(db.options().hnsw.ef_search, 99);
    db.close().unwrap();
    let db = VectorDB::open_existing(&path).unwrap();
    assert_eq!(db.options().dimension, 8);
    drop(db);
    assert_eq!(
        code(VectorDB::open_existing(dir.path().join("nothing"))),
        "io"
    );
}

#[test]
fn compact_rewrites_without_tombstones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let docs = sample().documents();
    let db = VectorDB::open(&path, Options::new(384)).unwrap();
    db.insert_batch(docs[..900].to_vec()).unwrap();
    db.flush().unwrap();
    for d in docs[..900].iter().step_by(3) {
        db.delete(&d.id).unwrap();
    }
    db.insert_batch(docs[900..1000].to_vec()).unwrap();
    let before = db.stats();
    assert_eq!(before.deleted, 300);
    db.compact().unwrap();
    let s = db.stats();
    assert_eq!((s.documents, s.rows, s.deleted), (700, 700, 0));
    assert_eq!(s.disk.as_ref().unwrap().wal_bytes, 0);
    let probe = |db: &VectorDB| {
        for d in [&docs[1], &docs[950]] {
            assert_eq!(
                db.search(&Query::new().vector(d.vector.clone()).k(1))
                    .unwrap()[0]
                    .id,
                d.id
            );
            let t = db
                .search(&Query::new().text(d.text.clone().unwrap()).k(3))
                .unwrap();
            assert!(t.iter().any(|h| h.id == d.id));
        }
        assert_eq!(db.get(&docs[0].id).unwrap(), None);
        assert!(
            db.search(&Query::new().vector(docs[3].vector.clone()).k(700))
                .unwrap()
                .iter()
                .all(|h| h.id != docs[3].id)
        );
    };
    probe(&db);
    // Writes after a compaction, then reopen.
    db.insert(docs[1500].clone()).unwrap();
    db.close().unwrap();
    let db = VectorDB::open(&path, Options::new(384)).unwrap();
    assert_eq!(db.len(), 701);
    probe(&db);
    let names: Vec<String> = fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    // One generation of the vectors and of their int8 codes, none of the old ones.
    for ext in [".f32", ".i8"] {
        assert_eq!(
            names
                .iter()
                .filter(|n| n.starts_with("vectors.") && n.ends_with(ext))
                .count(),
            1,
            "{names:?}"
        );
    }
    assert_eq!(
        names.iter().filter(|n| n.starts_with("tantivy")).count(),
        1,
        "{names:?}"
    );
}

fn small_doc(i: usize) -> Document {
    Document::new(format!("d{i}"), vec![1.0, i as f32, 0.5])
        .text(format!("document number {i} word{i}"))
        .metadata(json!({"i": i}))
}

/// A database with `base` checkpointed documents and then `extra` single inserts in the
/// log; returns the path of a crash image and the byte offsets where log records start.
fn crash_image(dir: &Path, base: usize, extra: usize) -> (PathBuf, Vec<u64>) {
    let path = dir.join("db");
    let db = VectorDB::open(&path, Options::new(3)).unwrap();
    db.insert_batch((0..base).map(small_doc).collect()).unwrap();
    db.flush().unwrap();
    let mut starts = Vec::new();
    for i in base..base + extra {
        starts.push(fs::metadata(wal_path(&path)).unwrap().len());
        db.insert(small_doc(i)).unwrap();
    }
    starts.push(fs::metadata(wal_path(&path)).unwrap().len());
    let image = dir.join("image");
    copy_dir(&path, &image);
    drop(db);
    (image, starts)
}

#[test]
fn a_torn_log_tail_is_cut_at_the_last_good_record() {
    let dir = tempfile::tempdir().unwrap();
    let (image, starts) = crash_image(dir.path(), 10, 3);
    // Cut the last record in the middle.
    let cut_at = (starts[2] + starts[3]) / 2;
    fs::OpenOptions::new()
        .write(true)
        .open(wal_path(&image))
        .unwrap()
        .set_len(cut_at)
        .unwrap();
    let db = VectorDB::open(&image, Options::new(3)).unwrap();
    let d = db.stats().disk.unwrap();
    assert_eq!(d.wal_records_replayed, 2);
    assert_eq!(d.wal_bytes_truncated, cut_at - starts[2]);
    assert_eq!(db.len(), 12);
    assert!(db.get("d11").unwrap().is_some());
    assert!(db.get("d12").unwrap().is_none());
    assert_eq!(fs::metadata(wal_path(&image)).unwrap().len(), starts[2]);
    // The database goes on from the last good record.
    db.insert(small_doc(12)).unwrap();
    db.close().unwrap();
    let db = VectorDB::open(&image, Options::new(3)).unwrap();
    assert_eq!(db.len(), 13);
    assert_eq!(
        db.search(&Query::new().text("word12")).unwrap()[0].id,
        "d12"
    );
}

#[test]
fn a_flipped_byte_in_the_log_cuts_it_at_the_last_good_record() {
    let dir = tempfile::tempdir().unwrap();
    let (image, starts) = crash_image(dir.path(), 10, 4);
    // Damage the second record's payload.
    flip_byte(&wal_path(&image), (starts[1] + 12) as usize);
    let db = VectorDB::open(&image, Options::new(3)).unwrap();
    let d = db.stats().disk.unwrap();
    assert_eq!(d.wal_records_replayed, 1);
    assert_eq!(d.wal_bytes_truncated, starts[4] - starts[1]);
    assert_eq!(db.len(), 11);
    assert!(db.get("d10").unwrap().is_some());
    assert!(db.get("d11").unwrap().is_none());
    // Text and vectors agree about what exists.
    assert!(db.search(&Query::new().text("word11")).unwrap().is_empty());
    assert_eq!(
        db.search(&Query::new().text("word10")).unwrap()[0].id,
        "d10"
    );

    // A damaged length field is caught the same way.
    let (image2, starts2) = crash_image(&dir.path().join("second"), 5, 2);
    flip_byte(&wal_path(&image2), (starts2[0] + 2) as usize);
    let db = VectorDB::open(&image2, Options::new(3)).unwrap();
    let d = db.stats().disk.unwrap();
    assert_eq!(
        (d.wal_records_replayed, d.wal_bytes_truncated),
        (0, starts2[2] - starts2[0])
    );
    assert_eq!(db.len(), 5);
}

#[test]
fn a_second_writer_gets_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = VectorDB::open(&path, Options::new(3)).unwrap();
    db.insert(small_doc(1)).unwrap();
    let e = err(VectorDB::open(&path, Options::new(3)));
    assert_eq!(e.code(), "locked");
    // The message names who holds the lock and what to do.
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("process {}", std::process::id())) && msg.contains("read-only"),
        "{msg}"
    );
    // Readers need no turn.
    assert_eq!(VectorDB::open_read_only(&path).unwrap().len(), 1);
    assert_eq!(code(VectorDB::open_existing(&path)), "locked");
    db.close().unwrap();
    let db = VectorDB::open(&path, Options::new(3)).unwrap();
    assert_eq!(db.len(), 1);
}

#[test]
fn buffered_durability_and_fulltext_off() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let opts = Options::new(3)
        .durability(Durability::Buffered)
        .fulltext(false);
    let db = VectorDB::open(&path, opts.clone()).unwrap();
    db.insert_batch((0..50).map(small_doc).collect()).unwrap();
    assert_eq!(code(db.search(&Query::new().text("word1"))), "unsupported");
    let image = dir.path().join("image");
    copy_dir(&path, &image);
    drop(db);
    let db = VectorDB::open(&image, opts).unwrap();
    assert_eq!(db.len(), 50);
    assert_eq!(db.stats().disk.unwrap().text_bytes, 0);
}

#[test]
fn a_large_log_checkpoints_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = VectorDB::open(&path, Options::new(3)).unwrap();
    let blob = "x".repeat(1 << 20);
    for i in 0..70 {
        db.insert(small_doc(i).metadata(json!({"blob": blob, "i": i})))
            .unwrap();
    }
    let d = db.stats().disk.unwrap();
    assert!(d.checkpoint_seq > 0, "{d:?}");
    assert!(d.wal_bytes < vjson::CHECKPOINT_WAL_BYTES, "{d:?}");
    assert_eq!(d.last_error, None);
    drop(db);
    let db = VectorDB::open(&path, Options::new(3)).unwrap();
    assert_eq!(db.len(), 70);
}

#[test]
fn damaged_files_are_corrupt_errors_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    {
        let db = VectorDB::open(&good, Options::new(3)).unwrap();
        db.insert_batch((0..100).map(small_doc).collect()).unwrap();
        db.close().unwrap();
    }
    let case = |name: &str, damage: &dyn Fn(&Path)| -> Error {
        let p = dir.path().join(name);
        copy_dir(&good, &p);
        damage(&p);
        err(VectorDB::open(&p, Options::new(3)))
    };
    let e = case("manifest-garbage", &|p| {
        fs::write(p.join("manifest.json"), b"{not json").unwrap()
    });
    assert_eq!(e.code(), "corrupt", "{e}");
    let e = case("manifest-rows", &|p| {
        let m = fs::read_to_string(p.join("manifest.json")).unwrap();
        fs::write(
            p.join("manifest.json"),
            m.replace("\"rows\": 100", "\"rows\": 101"),
        )
        .unwrap();
    });
    assert_eq!(e.code(), "corrupt", "{e}");
    let e = case("manifest-escape", &|p| {
        let m = fs::read_to_string(p.join("manifest.json")).unwrap();
        fs::write(
            p.join("manifest.json"),
            m.replace("\"rows.dat\"", "\"../rows.dat\""),
        )
        .unwrap();
    });
    assert_eq!(e.code(), "corrupt", "{e}");
    let e = case("manifest-missing", &|p| {
        fs::remove_file(p.join("manifest.json")).unwrap()
    });
    assert_eq!(e.code(), "corrupt", "{e}");
    let e = case("hnsw-flip", &|p| flip_byte(&file_named(p, "hnsw."), 40));
    assert_eq!(e.code(), "corrupt", "{e}");
    assert!(e.to_string().contains("hnsw."), "{e}");
    let e = case("hnsw-short", &|p| {
        let f = file_named(p, "hnsw.");
        let n = fs::metadata(&f).unwrap().len();
        fs::OpenOptions::new()
            .write(true)
            .open(f)
            .unwrap()
            .set_len(n - 3)
            .unwrap();
    });
    assert_eq!(e.code(), "corrupt", "{e}");
    // The open reads the row index, not rows.dat: a damaged row is found when read, and
    // reading it is a corrupt error that names the file, never an empty row.
    {
        let p = dir.path().join("rows-flip");
        copy_dir(&good, &p);
        flip_byte(&p.join("rows.dat"), 100);
        let db = VectorDB::open(&p, Options::new(3)).unwrap();
        let all = Query::new().vector(vec![1.0, 50.0, 0.5]).k(100);
        let e = err(db.search(&all));
        assert_eq!(e.code(), "corrupt", "{e}");
        assert!(e.to_string().contains("rows.dat"), "{e}");
        // Row 1's frame holds byte 100 (each is ~50 bytes): reading it is an error, the
        // rows around it read whole.
        assert!(e.to_string().contains("row 1 "), "{e}");
        assert_eq!(err(db.get("d1")).code(), "corrupt");
        assert_eq!(
            db.get("d50").unwrap().unwrap().text.unwrap(),
            "document number 50 word50"
        );
        let e = err(db.search(&Query::new().text("word1").k(3)));
        assert_eq!(e.code(), "corrupt", "{e}");
    }
    let e = case("rows-index-flip", &|p| {
        flip_byte(&file_named(p, "rows.1.idx"), 40)
    });
    assert_eq!(e.code(), "corrupt", "{e}");
    assert!(e.to_string().contains(".idx"), "{e}");
    let e = case("rows-missing", &|p| {
        fs::remove_file(p.join("rows.dat")).unwrap()
    });
    assert_eq!(e.code(), "corrupt", "{e}");
    let e = case("live-flip", &|p| flip_byte(&file_named(p, "live."), 3));
    assert_eq!(e.code(), "corrupt", "{e}");
    let e = case("vectors-short", &|p| {
        fs::OpenOptions::new()
            .write(true)
            .open(p.join("vectors.f32"))
            .unwrap()
            .set_len(100)
            .unwrap();
    });
    assert_eq!(e.code(), "corrupt", "{e}");
    let e = case("tantivy-meta", &|p| {
        fs::write(p.join("tantivy").join("meta.json"), b"{}").unwrap()
    });
    assert_eq!(e.code(), "text_index", "{e}");
}

#[test]
fn a_missing_text_index_is_rebuilt_from_the_stored_texts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let db = VectorDB::open(&path, Options::new(3)).unwrap();
        db.insert_batch((0..100).map(small_doc).collect()).unwrap();
        db.delete("d7").unwrap();
    }
    fs::remove_dir_all(path.join("tantivy")).unwrap();
    let db = VectorDB::open(&path, Options::new(3)).unwrap();
    assert!(db.stats().disk.unwrap().text_index_rebuilt);
    assert_eq!(
        db.search(&Query::new().text("word42")).unwrap()[0].id,
        "d42"
    );
    assert!(db.search(&Query::new().text("word7")).unwrap().is_empty());
}

/// Ids of a text search, best first.
fn text_ids(db: &VectorDB, q: &str) -> Vec<String> {
    db.search(&Query::new().text(q).k(10))
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect()
}

#[test]
fn titles_are_logged_checkpointed_and_searched_in_their_own_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let docs = || {
        vec![
            Document::new("long", vec![1.0, 0.0, 0.0])
                .text("the iterator trait, and an iterator over iterator adapters"),
            Document::new("titled", vec![0.0, 1.0, 0.0])
                .text("an iterator adapter chain")
                .title("Iterator"),
            Document::new("only-title", vec![0.0, 0.0, 1.0]).title("Closures"),
            Document::new("other", vec![1.0, 1.0, 0.0]).text("closures capture their environment"),
        ]
    };
    let want_iter = vec!["titled".to_string(), "long".to_string()];
    {
        // In memory, for reference: the title's own field lifts "titled" above a body
        // that repeats the word; a title alone makes a document findable.
        let mem = VectorDB::in_memory(Options::new(3)).unwrap();
        mem.insert_batch(docs()).unwrap();
        assert_eq!(text_ids(&mem, "iterator"), want_iter);
        assert!(text_ids(&mem, "closures").contains(&"only-title".to_string()));
        // Without the boost, the body's repetitions win.
        let flat = VectorDB::in_memory(Options::new(3).title_boost(0.0)).unwrap();
        flat.insert_batch(docs()).unwrap();
        assert_eq!(text_ids(&flat, "iterator"), vec!["long", "titled"]);
    }
    let db = VectorDB::open(&path, Options::new(3)).unwrap();
    db.insert_batch(docs()).unwrap();
    assert_eq!(text_ids(&db, "iterator"), want_iter);
    let expect = answers_of(&db, &["iterator", "closures", "adapter chain"]);
    // Logged only (no checkpoint): a copy is what a kill -9 leaves.
    let crash = dir.path().join("crash");
    copy_dir(&path, &crash);
    db.flush().unwrap();
    drop(db);
    for p in [&crash, &path] {
        let db = VectorDB::open(p, Options::new(3)).unwrap();
        assert_eq!(
            answers_of(&db, &["iterator", "closures", "adapter chain"]),
            expect
        );
        let got = db.get("titled").unwrap().unwrap();
        assert_eq!(got.title.as_deref(), Some("Iterator"));
        let hit = &db.search(&Query::new().text("closures").k(10)).unwrap();
        let only = hit.iter().find(|h| h.id == "only-title").unwrap();
        assert_eq!(
            (only.title.as_deref(), only.text.as_deref()),
            (Some("Closures"), None)
        );
        // Deleting drops the title from the index too.
        db.delete("titled").unwrap();
        assert_eq!(text_ids(&db, "iterator"), vec!["long"]);
    }
    // A snapshot carries titles.
    let db = VectorDB::open(&path, Options::new(3)).unwrap();
    let back = VectorDB::import_snapshot(&db.export_snapshot().unwrap()).unwrap();
    assert_eq!(
        back.get("only-title").unwrap().unwrap().title.as_deref(),
        Some("Closures")
    );
}

fn answers_of(db: &VectorDB, queries: &[&str]) -> Vec<Vec<String>> {
    queries.iter().map(|q| text_ids(db, q)).collect()
}

#[test]
fn paths_that_cannot_hold_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    fs::write(&file, b"hello").unwrap();
    let e = err(VectorDB::open(&file, Options::new(3)));
    assert_eq!(e.code(), "io", "{e}");
    let busy = dir.path().join("busy");
    fs::create_dir_all(&busy).unwrap();
    fs::write(busy.join("notes.txt"), b"mine").unwrap();
    assert_eq!(
        code(VectorDB::open(&busy, Options::new(3))),
        "invalid_options"
    );
    assert!(busy.join("notes.txt").exists());
    assert_eq!(
        code(VectorDB::open(dir.path().join("x"), Options::new(0))),
        "invalid_options"
    );
}

#[test]
fn a_text_index_ahead_of_the_log_is_rebuilt_not_trusted() {
    // The state a power cut can leave under Durability::Buffered: Tantivy committed
    // records that the log then lost. The text index must not keep documents that do not
    // exist (their row numbers will be reused).
    let dir = tempfile::tempdir().unwrap();
    let (image, starts) = crash_image(dir.path(), 10, 3);
    let path = dir.path().join("db");
    {
        // The original database commits all three records to Tantivy.
        let db = VectorDB::open(&path, Options::new(3)).unwrap();
        db.flush().unwrap();
    }
    fs::remove_dir_all(image.join("tantivy")).unwrap();
    copy_dir(&path.join("tantivy"), &image.join("tantivy"));
    fs::OpenOptions::new()
        .write(true)
        .open(wal_path(&image))
        .unwrap()
        .set_len(starts[1] + 4)
        .unwrap();
    let db = VectorDB::open(&image, Options::new(3)).unwrap();
    let d = db.stats().disk.unwrap();
    assert!(d.text_index_rebuilt);
    assert_eq!(d.wal_records_replayed, 1);
    assert_eq!(db.len(), 11);
    db.insert(Document::new("new", vec![0.0, 1.0, 1.0]).text("fresh"))
        .unwrap();
    assert!(db.search(&Query::new().text("word11")).unwrap().is_empty());
    assert!(db.search(&Query::new().text("word12")).unwrap().is_empty());
    assert_eq!(
        db.search(&Query::new().text("word10")).unwrap()[0].id,
        "d10"
    );
    assert_eq!(db.search(&Query::new().text("fresh")).unwrap()[0].id, "new");
}

#[test]
fn a_failed_open_changes_no_file() {
    // A manifest that understates a file's valid length is damage, not a checkpoint to
    // roll back to: the open fails and leaves every file as it was.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let db = VectorDB::open(&path, Options::new(3)).unwrap();
        db.insert_batch((0..100).map(small_doc).collect()).unwrap();
        db.close().unwrap();
        let db = VectorDB::open(&path, Options::new(3)).unwrap();
        for i in 100..103 {
            db.insert(small_doc(i)).unwrap();
        }
        let image = dir.path().join("image");
        copy_dir(&path, &image);
    }
    let image = dir.path().join("image");
    let manifest = fs::read_to_string(image.join("manifest.json")).unwrap();
    let rows_len = fs::metadata(image.join("rows.dat")).unwrap().len();
    let wal_len = fs::metadata(wal_path(&image)).unwrap().len();
    let damaged = manifest.replace(
        &format!("\"bytes\": {rows_len}"),
        &format!("\"bytes\": {}", rows_len / 2),
    );
    assert_ne!(damaged, manifest);
    fs::write(image.join("manifest.json"), &damaged).unwrap();
    assert_eq!(code(VectorDB::open(&image, Options::new(3))), "corrupt");
    assert_eq!(
        fs::metadata(image.join("rows.dat")).unwrap().len(),
        rows_len
    );
    assert_eq!(fs::metadata(wal_path(&image)).unwrap().len(), wal_len);
    // With the manifest restored, everything is there.
    fs::write(image.join("manifest.json"), &manifest).unwrap();
    let db = VectorDB::open(&image, Options::new(3)).unwrap();
    assert_eq!(db.len(), 103);
    assert_eq!(db.stats().disk.unwrap().wal_records_replayed, 3);
}

#[test]
fn metadata_nests_up_to_the_limit_and_reads_back_after_a_crash() {
    // Nested `depth` levels: {"a": {"a": ... {"a": 1}}}.
    fn nested(depth: usize) -> serde_json::Value {
        let mut v = json!(1);
        for _ in 0..depth {
            v = json!({ "a": v });
        }
        v
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = VectorDB::open(&path, Options::new(3)).unwrap();
    let deepest = nested(vjson::MAX_METADATA_DEPTH);
    db.insert(small_doc(1).metadata(deepest.clone())).unwrap();
    for too_deep in [nested(vjson::MAX_METADATA_DEPTH + 1), nested(1_000)] {
        let e = err(db.insert(small_doc(2).metadata(too_deep)));
        assert_eq!(e.code(), "invalid_metadata");
        assert!(e.to_string().contains("64 levels"), "{e}");
    }
    db.insert(small_doc(3)).unwrap();
    // What a crash leaves (the log only), then a clean reopen: both read it back.
    let crash = dir.path().join("crash");
    copy_dir(&path, &crash);
    db.close().unwrap();
    for p in [&crash, &path] {
        let db = VectorDB::open(p, Options::new(3)).unwrap();
        assert_eq!(db.len(), 2);
        assert_eq!(
            db.get(&small_doc(1).id).unwrap().unwrap().metadata,
            Some(deepest.clone())
        );
        let copy = VectorDB::import_snapshot(&db.export_snapshot().unwrap()).unwrap();
        assert_eq!(
            copy.get(&small_doc(1).id).unwrap().unwrap().metadata,
            Some(deepest.clone())
        );
    }
}
