//! 8 reader threads and 1 writer, in memory and on disk: readers never see part of a
//! write. Every batch's documents share a metadata tag and a text token, so a filtered
//! vector search, a filtered text search and a plain text search for a batch must return
//! none of its documents or all of them (exactly all, once the batch was acknowledged);
//! upserts replace documents in place, so a batch never shows an id twice or misses one;
//! `len()` always counts whole batches. On disk the writer also checkpoints while readers
//! run (remapping the vectors and swapping Tantivy searchers). Nothing may panic, and the
//! final state (and, on disk, the reopened state) must hold every batch. Read-only opens
//! beside the writer (another handle on the same directory) see exactly the batches
//! acknowledged before they opened, or more, each whole.

#![cfg(not(target_arch = "wasm32"))]

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

use serde_json::json;
use vjson::{Document, Filter, Options, Query, VectorDB};

const DIM: usize = 16;
const BATCH: usize = 40;
const BATCHES: usize = 50;
const READERS: usize = 8;

#[path = "support/gen.rs"]
mod generate;
use generate::Rng;

fn doc(rng: &mut Rng, b: usize, i: usize, version: usize) -> Document {
    Document::new(format!("b{b}-{i}"), rng.vector(DIM))
        .text(format!("tok{b} shared words v{version}"))
        .metadata(json!({"batch": b, "version": version}))
}

/// The ids a search returns for batch `b`, checked to be distinct and all tagged `b`.
fn batch_ids(db: &VectorDB, q: Query, b: usize, what: &str) -> usize {
    let hits = db.search(&q).unwrap();
    let ids: HashSet<&str> = hits.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(ids.len(), hits.len(), "{what}: an id twice: {hits:?}");
    for h in &hits {
        assert!(
            h.id.starts_with(&format!("b{b}-")),
            "{what}: stray hit {}",
            h.id
        );
        assert_eq!(h.metadata.as_ref().unwrap()["batch"], json!(b), "{what}");
    }
    hits.len()
}

fn reader(db: &VectorDB, done: &AtomicBool, acked: &AtomicUsize, seed: u64) -> usize {
    let mut rng = Rng(seed);
    let mut searches = 0;
    while !done.load(SeqCst) {
        // Batches below `acked` were acknowledged before this read started.
        let a = acked.load(SeqCst);
        let b = rng.index(a + 2);
        let must_be_whole = b < a;
        let tag = Filter::from_json(&json!({"batch": b})).unwrap();
        let counts = [
            batch_ids(
                db,
                Query::new()
                    .vector(rng.vector(DIM))
                    .filter(tag.clone())
                    .k(BATCH + 10),
                b,
                "filtered vector",
            ),
            batch_ids(
                db,
                Query::new()
                    .text(format!("tok{b}"))
                    .filter(tag)
                    .k(BATCH + 10),
                b,
                "filtered text",
            ),
            batch_ids(
                db,
                Query::new().text(format!("tok{b}")).k(BATCH + 10),
                b,
                "text",
            ),
        ];
        for c in counts {
            assert!(
                c == BATCH || (c == 0 && !must_be_whole),
                "batch {b} (acknowledged below {a}) half visible: {counts:?}"
            );
        }
        let hits = db
            .search(
                &Query::new()
                    .vector(rng.vector(DIM))
                    .text("shared words")
                    .k(10),
            )
            .unwrap();
        assert!(hits.len() <= 10);
        assert_eq!(db.len() % BATCH, 0, "len counts part of a batch");
        if must_be_whole {
            assert!(
                db.get(&format!("b{b}-{}", rng.index(BATCH)))
                    .unwrap()
                    .is_some()
            );
        }
        searches += 5;
    }
    searches
}

fn stress(db: Arc<VectorDB>, on_disk: bool) {
    let done = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..READERS)
        .map(|t| {
            let (db, done, acked) = (db.clone(), done.clone(), acked.clone());
            std::thread::spawn(move || reader(&db, &done, &acked, 0x9E37 + t as u64 * 7919))
        })
        .collect();
    let mut rng = Rng(42);
    for b in 0..BATCHES {
        let batch: Vec<Document> = (0..BATCH).map(|i| doc(&mut rng, b, i, 0)).collect();
        db.insert_batch(batch).unwrap();
        acked.store(b + 1, SeqCst);
        // Replace a few documents of an earlier batch (delete + insert in one write).
        let old = rng.index(b + 1);
        for _ in 0..3 {
            let i = rng.index(BATCH);
            db.upsert(doc(&mut rng, old, i, b + 1)).unwrap();
        }
        if on_disk && b % 10 == 9 {
            db.flush().unwrap();
        }
    }
    done.store(true, SeqCst);
    let searches: usize = readers.into_iter().map(|r| r.join().unwrap()).sum();
    println!(
        "{} readers ran {searches} searches during {BATCHES} batches ({})",
        READERS,
        if on_disk { "on disk" } else { "in memory" }
    );
    assert!(searches > 0);
    assert_eq!(db.len(), BATCH * BATCHES);
    for b in 0..BATCHES {
        let tag = Filter::from_json(&json!({"batch": b})).unwrap();
        let q = Query::new()
            .vector(vec![0.1; DIM])
            .filter(tag)
            .k(BATCH + 10);
        assert_eq!(batch_ids(&db, q, b, "final"), BATCH);
    }
}

#[test]
fn readers_see_whole_batches_in_memory() {
    stress(
        Arc::new(VectorDB::in_memory(Options::new(DIM)).unwrap()),
        false,
    );
}

#[test]
fn readers_see_whole_batches_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = Arc::new(VectorDB::open(&path, Options::new(DIM)).unwrap());
    stress(db.clone(), true);
    Arc::into_inner(db).unwrap().close().unwrap();
    let db = VectorDB::open(&path, Options::new(DIM)).unwrap();
    assert_eq!(db.len(), BATCH * BATCHES);
    for b in [0, BATCHES / 2, BATCHES - 1] {
        let q = Query::new().text(format!("tok{b}")).k(BATCH + 10);
        assert_eq!(batch_ids(&db, q, b, "reopened"), BATCH);
    }
}

#[test]
fn searches_complete_while_a_long_batch_is_linked() {
    // One large batch; a reader notes when each of its searches completes. Linking the
    // batch into the graph takes nearly all of the call, under a read lock: searches must
    // keep completing through the middle of it.
    let db = Arc::new(VectorDB::in_memory(Options::new(64)).unwrap());
    let mut rng = Rng(7);
    let vec64 = |rng: &mut Rng| -> Vec<f32> {
        (0..64)
            .map(|_| (rng.next() % 1000) as f32 / 1000.0 - 0.5)
            .collect()
    };
    db.insert_batch(
        (0..500)
            .map(|i| Document::new(format!("seed{i}"), vec64(&mut rng)))
            .collect(),
    )
    .unwrap();
    let big: Vec<Document> = (0..6000)
        .map(|i| Document::new(format!("big{i}"), vec64(&mut rng)))
        .collect();
    let finished = Arc::new(AtomicBool::new(false));
    let reader = {
        let (db, finished) = (db.clone(), finished.clone());
        std::thread::spawn(move || {
            let mut done_at = Vec::new();
            let q = Query::new().vector(vec![0.3; 64]).k(10);
            while !finished.load(SeqCst) {
                assert_eq!(db.search(&q).unwrap().len(), 10);
                done_at.push(std::time::Instant::now());
            }
            done_at
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(20));
    let t0 = std::time::Instant::now();
    db.insert_batch(big).unwrap();
    let t1 = std::time::Instant::now();
    finished.store(true, SeqCst);
    let done_at = reader.join().unwrap();
    let (lo, hi) = (t0 + (t1 - t0) / 4, t0 + (t1 - t0) * 3 / 4);
    let middle = done_at.iter().filter(|&&t| t > lo && t < hi).count();
    println!(
        "searches completed in the middle half of a {:.2?} insert of 6,000 documents: {middle}",
        t1 - t0
    );
    assert!(middle > 0, "searches were blocked through the batch");
    assert_eq!(db.len(), 6500);
}

/// What a read-only open must show: exactly the batches `0..n` for some `n` no smaller
/// than the batches acknowledged before it opened, each whole, and nothing else.
fn check_read_only_open(path: &std::path::Path, acked_before: usize, rng: &mut Rng) -> usize {
    let db = VectorDB::open_read_only(path).unwrap();
    assert_eq!(
        db.len() % BATCH,
        0,
        "a read-only open counts part of a batch"
    );
    let n = db.len() / BATCH;
    assert!(
        n >= acked_before,
        "opened after batch {acked_before} was acknowledged, sees {n}"
    );
    for b in [rng.index(n.max(1)), n, rng.index(BATCHES)] {
        let expect = if b < n { BATCH } else { 0 };
        let tag = Filter::from_json(&json!({"batch": b})).unwrap();
        let counts = [
            batch_ids(
                &db,
                Query::new()
                    .vector(rng.vector(DIM))
                    .filter(tag)
                    .k(BATCH + 10),
                b,
                "read-only filtered vector",
            ),
            batch_ids(
                &db,
                Query::new().text(format!("tok{b}")).k(BATCH + 10),
                b,
                "read-only text",
            ),
        ];
        assert_eq!(counts, [expect; 2], "batch {b} of the {n} this open sees");
    }
    let disk = db.stats().disk.unwrap();
    assert!(disk.read_only);
    // Writes are refused; flush and close have nothing to do.
    let code = |r: vjson::Result<()>| r.unwrap_err().code();
    assert_eq!(code(db.insert(doc(rng, BATCHES, 0, 0))), "read_only");
    assert_eq!(code(db.delete("b0-0")), "read_only");
    assert_eq!(code(db.compact()), "read_only");
    db.flush().unwrap();
    db.close().unwrap();
    n
}

#[test]
fn read_only_opens_see_whole_batches_beside_the_writer() {
    // One writer inserts batches, replaces documents, checkpoints and compacts, while
    // reader threads open the same directory read-only again and again.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = VectorDB::open(&path, Options::new(DIM)).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..3)
        .map(|t| {
            let (path, done, acked) = (path.clone(), done.clone(), acked.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(0x51ED + t);
                let mut seen = Vec::new();
                while !done.load(SeqCst) {
                    let a = acked.load(SeqCst);
                    seen.push(check_read_only_open(&path, a, &mut rng));
                }
                seen
            })
        })
        .collect();
    let mut rng = Rng(7);
    for b in 0..BATCHES {
        let batch: Vec<Document> = (0..BATCH).map(|i| doc(&mut rng, b, i, 0)).collect();
        db.insert_batch(batch).unwrap();
        acked.store(b + 1, SeqCst);
        let (old, i) = (rng.index(b + 1), rng.index(BATCH));
        db.upsert(doc(&mut rng, old, i, b + 1)).unwrap();
        if b % 10 == 4 {
            db.flush().unwrap();
        }
        if b == BATCHES / 2 {
            db.compact().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    done.store(true, SeqCst);
    let seen: Vec<usize> = readers
        .into_iter()
        .flat_map(|r| r.join().unwrap())
        .collect();
    println!(
        "{} read-only opens beside the writer saw {:?}..{:?} batches",
        seen.len(),
        seen.iter().min(),
        seen.iter().max()
    );
    assert!(
        seen.iter().any(|&n| n > 0 && n < BATCHES),
        "no read-only open happened while the writer was writing"
    );
    // A reader opened now sees everything, the writer still open.
    assert_eq!(check_read_only_open(&path, BATCHES, &mut rng), BATCHES);
    db.close().unwrap();
    assert_eq!(check_read_only_open(&path, BATCHES, &mut rng), BATCHES);
}

/// The soak: 8 reader threads and 2 writer threads on one on-disk database for
/// `secs` seconds. Each writer owns every other batch: it inserts new batches (of 20
/// documents, or single documents), rewrites whole batches with `upsert_batch` (each
/// document of a batch then carries the write's version), deletes single-document batches,
/// and one writer checkpoints while the other compacts. Readers check that every search
/// sees whole batches at one version only; at the end the database, and the database
/// reopened, equal the model of the acknowledged writes.
mod soak {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::atomic::AtomicU8;
    use std::time::{Duration, Instant};

    const MAX_BATCHES: usize = 1 << 20;
    // Batch states.
    const STARTED: u8 = 1;
    const ACKED: u8 = 2;
    const DELETING: u8 = 3;
    const DELETED: u8 = 4;

    fn size(b: usize) -> usize {
        if b.is_multiple_of(3) { 1 } else { 20 }
    }

    fn doc(b: usize, i: usize, v: usize) -> Document {
        let seed = ((b as u64) << 32) ^ ((i as u64) << 16) ^ v as u64;
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9) | 1);
        Document::new(format!("b{b}-{i}"), rng.vector(DIM))
            .text(format!("tok{b} soak words"))
            .metadata(json!({"batch": b, "v": v}))
    }

    struct Shared {
        state: Vec<AtomicU8>,
        /// One past the highest batch number any writer started.
        next: AtomicUsize,
        done: AtomicBool,
    }

    /// One search by batch `b`: `(hits, versions)`, every hit of batch `b`.
    fn look(db: &VectorDB, b: usize, rng: &mut Rng) -> Vec<(usize, usize)> {
        let tag = Filter::from_json(&json!({"batch": b})).unwrap();
        let q = match rng.below(3) {
            0 => Query::new().vector(rng.vector(DIM)).filter(tag).k(30),
            1 => Query::new().text(format!("tok{b}")).k(30),
            _ => Query::new()
                .vector(rng.vector(DIM))
                .text(format!("tok{b}"))
                .filter(tag)
                .k(30),
        };
        let hits = db.search(&q).unwrap();
        let mut seen = Vec::new();
        for h in hits {
            let m = h.metadata.unwrap();
            assert_eq!(m["batch"], json!(b), "stray hit {}", h.id);
            seen.push((
                h.id[h.id.find('-').unwrap() + 1..].parse().unwrap(),
                m["v"].as_u64().unwrap() as usize,
            ));
        }
        seen
    }

    fn reader(db: &VectorDB, s: &Shared, seed: u64) -> usize {
        let mut rng = Rng(seed);
        let mut searches = 0;
        while !s.done.load(SeqCst) {
            let b = rng.index(s.next.load(SeqCst) + 2);
            let before = s.state.get(b).map_or(0, |x| x.load(SeqCst));
            let seen = look(db, b, &mut rng);
            let after = s.state.get(b).map_or(0, |x| x.load(SeqCst));
            let n = seen.len();
            assert!(
                n == 0 || n == size(b),
                "batch {b} half visible: {n} of {} (state {before} -> {after})",
                size(b)
            );
            let ids: HashSet<usize> = seen.iter().map(|x| x.0).collect();
            assert_eq!(ids.len(), n, "batch {b}: an id twice");
            assert!(
                seen.iter().all(|x| x.1 == seen[0].1),
                "batch {b} seen at two versions at once: {seen:?}"
            );
            if before == ACKED && after == ACKED {
                assert_eq!(n, size(b), "acknowledged batch {b} missing");
            }
            if before == DELETED {
                assert_eq!(n, 0, "deleted batch {b} seen");
            }
            searches += 1;
        }
        searches
    }

    /// Writer `w` (0 or 1): batches `w, w + 2, …`. Returns its model: batch -> version.
    fn writer(db: &VectorDB, s: &Shared, w: usize, until: Instant) -> BTreeMap<usize, usize> {
        let mut rng = Rng(0xAB + w as u64);
        let mut mine: BTreeMap<usize, usize> = BTreeMap::new();
        let mut b = w;
        let mut v = 1;
        while Instant::now() < until {
            v += 1;
            let live: Vec<usize> = mine.keys().copied().collect();
            match rng.below(20) {
                0 if w == 0 => db.flush().unwrap(),
                0 => db.compact().unwrap(),
                1..=5 if !live.is_empty() => {
                    let ob = live[rng.index(live.len())];
                    let docs = (0..size(ob)).map(|i| doc(ob, i, v)).collect();
                    db.upsert_batch(docs).unwrap();
                    mine.insert(ob, v);
                }
                6 | 7 if live.iter().any(|&x| size(x) == 1) => {
                    let singles: Vec<usize> =
                        live.iter().copied().filter(|&x| size(x) == 1).collect();
                    let ob = singles[rng.index(singles.len())];
                    s.state[ob].store(DELETING, SeqCst);
                    db.delete(&format!("b{ob}-0")).unwrap();
                    s.state[ob].store(DELETED, SeqCst);
                    mine.remove(&ob);
                }
                _ => {
                    s.state[b].store(STARTED, SeqCst);
                    s.next.fetch_max(b + 1, SeqCst);
                    let docs = (0..size(b)).map(|i| doc(b, i, v)).collect();
                    db.insert_batch(docs).unwrap();
                    s.state[b].store(ACKED, SeqCst);
                    mine.insert(b, v);
                    b += 2;
                }
            }
        }
        mine
    }

    fn check_model(db: &VectorDB, model: &BTreeMap<usize, usize>, what: &str) {
        let mut ids = db.ids();
        ids.sort();
        let mut want: Vec<String> = model
            .iter()
            .flat_map(|(&b, _)| (0..size(b)).map(move |i| format!("b{b}-{i}")))
            .collect();
        want.sort();
        assert_eq!(ids, want, "{what}: the documents differ from the model");
        for (&b, &v) in model {
            for i in 0..size(b) {
                let got = db.get(&format!("b{b}-{i}")).unwrap().unwrap();
                let expect = doc(b, i, v);
                assert_eq!(
                    (&got.vector, &got.metadata),
                    (&expect.vector, &expect.metadata),
                    "{what}: b{b}-{i} is not at version {v}"
                );
            }
            let mut rng = Rng(b as u64 + 1);
            assert_eq!(look(db, b, &mut rng).len(), size(b), "{what}: batch {b}");
        }
    }

    pub(super) fn run(secs: u64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let opts = Options::new(DIM).metric(vjson::Metric::Dot);
        let db = Arc::new(VectorDB::open(&path, opts.clone()).unwrap());
        let s = Arc::new(Shared {
            state: (0..MAX_BATCHES).map(|_| AtomicU8::new(0)).collect(),
            next: AtomicUsize::new(0),
            done: AtomicBool::new(false),
        });
        let until = Instant::now() + Duration::from_secs(secs);
        let readers: Vec<_> = (0..READERS)
            .map(|t| {
                let (db, s) = (db.clone(), s.clone());
                std::thread::spawn(move || reader(&db, &s, 0x50AC + t as u64 * 7919))
            })
            .collect();
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let (db, s) = (db.clone(), s.clone());
                std::thread::spawn(move || writer(&db, &s, w, until))
            })
            .collect();
        let mut model = BTreeMap::new();
        for w in writers {
            model.extend(w.join().unwrap());
        }
        s.done.store(true, SeqCst);
        let searches: usize = readers.into_iter().map(|r| r.join().unwrap()).sum();
        let batches = s.next.load(SeqCst);
        check_model(&db, &model, "at the end");
        Arc::into_inner(db).unwrap().close().unwrap();
        let db = VectorDB::open(&path, opts).unwrap();
        check_model(&db, &model, "reopened");
        println!(
            "soak {secs} s: 2 writers started {batches} batches ({} live, {} documents) while {READERS} readers ran {searches} searches; 0 errors, every search saw whole batches at one version, final and reopened state equal the model",
            model.len(),
            db.len()
        );
        assert!(searches > 0 && batches > 2);
    }
}

#[test]
fn soak_two_writers_eight_readers_short() {
    soak::run(
        std::env::var("VJSON_SOAK_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3),
    );
}

#[test]
#[ignore = "60 s; the suite runs the short soak"]
fn soak_two_writers_eight_readers_60s() {
    soak::run(60);
}
