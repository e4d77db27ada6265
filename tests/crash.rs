//! Crash recovery under `kill -9` (a `harness = false` test: `cargo test --test crash`).
//!
//! The test re-runs its own binary as a child process (`VJSON_CRASH_CHILD` set) that opens
//! a database and writes without pause: batches of 1–40 documents through `insert_batch`,
//! single `insert`s, `upsert`s of acknowledged documents, `delete`s of one-document batches,
//! now and then a checkpoint (`flush`) and, more rarely, a `compact`. Before each write it appends its intent to a
//! side file, after the call returns its acknowledgement. The parent kills the child with
//! SIGKILL at a random moment, then checks a copy of the directory (so that the original is
//! left un-checkpointed for the next child, which replays the log of the crash before):
//! every acknowledged batch is fully present, every batch is present entirely or not at all
//! — by `get`, by a filtered vector search and by a text search, so the vectors, the rows
//! and the text index agree — and `len()` counts exactly those documents.
//!
//! A second child runs under a file-size limit (`ulimit -f`, SIGXFSZ ignored), so that a
//! large write's log record cannot be written: the write must fail with an `io` error and
//! change nothing, and the database must go on taking writes and reopen intact.
//!
//! 20 rounds run in the normal suite (a few seconds); `cargo test --release --test crash --
//! --ignored` runs 300 (`VJSON_CRASH_ROUNDS` to choose). Rounds alternate between the
//! fsync'd and the buffered durability: both must survive a process crash.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use vjson::{Document, Durability, Filter, Metric, Options, Query, VectorDB};

#[path = "support/copy_dir.rs"]
mod copy_dir;
use copy_dir::copy_dir;

const DIM: usize = 16;

#[path = "support/gen.rs"]
mod generate;
use generate::Rng;

fn options(durability: Durability) -> Options {
    // Dot product: stored vectors are the written ones, bit for bit, so the reference
    // model can compare them exactly.
    Options::new(DIM)
        .metric(Metric::Dot)
        .durability(durability)
        .ef_construction(64)
}

/// Version `v` of document `i` of batch `b` (`v` is the sequence number of the write
/// that wrote it): the same on every call, so the parent can rebuild any acknowledged
/// document from the side file.
fn doc(b: u64, i: u64, v: u64) -> Document {
    let mut rng = Rng((b << 40 ^ i << 20 ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    Document::new(format!("b{b}-{i}"), rng.vector(DIM))
        .text(format!("tok{b} d{b}x{i}v{v} crash recovery words"))
        .metadata(json!({"batch": b, "i": i, "v": v}))
}

/// Splits an id `b{b}-{i}` into its batch and index.
fn parse_id(id: &str) -> (u64, u64) {
    let (b, i) = id[1..].split_once('-').expect("ids are b{batch}-{index}");
    (b.parse().unwrap(), i.parse().unwrap())
}

/// One write of the child, as the side file records it. `seq` numbers the writes; a new
/// batch is numbered by its write and every document a write touches gets `v = seq`.
#[derive(Debug, Clone)]
enum Op {
    /// `insert` (one document) or `insert_batch` of the new batch `seq`, `n` documents.
    Insert(u64),
    /// `upsert` of one live document.
    Upsert(u64, u64),
    /// `upsert_batch` of these live documents of batch `b`.
    UpsertBatch(u64, Vec<u64>),
    /// `delete` of one live document.
    Delete(u64, u64),
    /// `flush` (a checkpoint).
    Flush,
    /// `compact`.
    Compact,
}

impl Op {
    fn to_line(&self, seq: u64) -> String {
        match self {
            Op::Insert(n) => format!("s {seq} I {n}\n"),
            Op::Upsert(b, i) => format!("s {seq} U {b} {i}\n"),
            Op::UpsertBatch(b, is) => {
                let is: Vec<String> = is.iter().map(u64::to_string).collect();
                format!("s {seq} W {b} {}\n", is.join(","))
            }
            Op::Delete(b, i) => format!("s {seq} D {b} {i}\n"),
            Op::Flush => format!("s {seq} F\n"),
            Op::Compact => format!("s {seq} C\n"),
        }
    }

    /// Parses the fields after `s SEQ`; `None` for a line cut short by the kill.
    fn parse(f: &[&str]) -> Option<Op> {
        let num = |k: usize| f.get(k).and_then(|x| x.parse::<u64>().ok());
        Some(match *f.first()? {
            "I" => Op::Insert(num(1)?),
            "U" => Op::Upsert(num(1)?, num(2)?),
            "W" => {
                let is: Option<Vec<u64>> = f.get(2)?.split(',').map(|x| x.parse().ok()).collect();
                Op::UpsertBatch(num(1)?, is?)
            }
            "D" => Op::Delete(num(1)?, num(2)?),
            "F" => Op::Flush,
            "C" => Op::Compact,
            _ => return None,
        })
    }
}

/// The child: writes until killed. Side-file lines: `o MICROS` once the database is open,
/// `s SEQ OP…` before each write (see [`Op::to_line`]) and `a SEQ` once it returned.
fn child(db_path: &str) {
    let ack_path = std::env::var("VJSON_CRASH_ACKS").expect("VJSON_CRASH_ACKS");
    let mut seq: u64 = std::env::var("VJSON_CRASH_START").unwrap().parse().unwrap();
    let seed: u64 = std::env::var("VJSON_CRASH_SEED").unwrap().parse().unwrap();
    let durability = match std::env::var("VJSON_CRASH_DURABILITY").as_deref() {
        Ok("buffered") => Durability::Buffered,
        _ => Durability::Fsync,
    };
    let mut rng = Rng(seed | 1);
    let mut side = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&ack_path)
        .unwrap();
    let mut note = |line: String| side.write_all(line.as_bytes()).unwrap();
    let t = std::time::Instant::now();
    let db = VectorDB::open(db_path, options(durability)).unwrap();
    note(format!("o {}\n", t.elapsed().as_micros()));
    // The live documents, earlier children's included: any of them may be changed.
    let mut live: Vec<(u64, u64)> = db.ids().iter().map(|id| parse_id(id)).collect();
    live.sort_unstable();
    loop {
        // Past 2,000 documents, mostly single deletes and single inserts: the database
        // stays small enough for an exhaustive graph search (ef at most 10,000).
        let full = live.len() > 2_000;
        let op = match rng.below(40) {
            0 if rng.below(3) == 0 => Op::Compact,
            1 => Op::Flush,
            2..=5 if !live.is_empty() => {
                let (b, i) = live[rng.index(live.len())];
                Op::Upsert(b, i)
            }
            6 | 7 if !live.is_empty() => {
                let (b, _) = live[rng.index(live.len())];
                let is = live.iter().filter(|d| d.0 == b).map(|d| d.1).collect();
                Op::UpsertBatch(b, is)
            }
            r @ 8..=30 if !live.is_empty() && (r <= 11 || full) => {
                let (b, i) = live[rng.index(live.len())];
                Op::Delete(b, i)
            }
            r => Op::Insert(if r < 24 || full { 1 } else { 2 + rng.below(39) }),
        };
        note(op.to_line(seq));
        match &op {
            Op::Insert(1) => db.insert(doc(seq, 0, seq)).unwrap(),
            Op::Insert(n) => db
                .insert_batch((0..*n).map(|i| doc(seq, i, seq)).collect())
                .unwrap(),
            Op::Upsert(b, i) => db.upsert(doc(*b, *i, seq)).unwrap(),
            Op::UpsertBatch(b, is) => db
                .upsert_batch(is.iter().map(|&i| doc(*b, i, seq)).collect())
                .unwrap(),
            Op::Delete(b, i) => db.delete(&format!("b{b}-{i}")).unwrap(),
            Op::Flush => db.flush().unwrap(),
            Op::Compact => db.compact().unwrap(),
        }
        note(format!("a {seq}\n"));
        match op {
            Op::Insert(n) => live.extend((0..n).map(|i| (seq, i))),
            Op::Delete(b, i) => live.retain(|&d| d != (b, i)),
            _ => {}
        }
        seq += 1;
    }
}

/// The side file, read back.
#[derive(Default)]
struct Log {
    /// How many times a child opened the database, and the last open's duration.
    opens: usize,
    last_open: Duration,
    /// Every write a child set out to do, in order.
    ops: Vec<(u64, Op)>,
    acked: HashSet<u64>,
}

fn read_log(path: &Path) -> Log {
    let mut log = Log::default();
    let text = fs::read_to_string(path).unwrap_or_default();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        // The last line may be cut short by the kill.
        let Some(n) = f.get(1).and_then(|x| x.parse::<u64>().ok()) else {
            continue;
        };
        match f[0] {
            "o" => {
                log.opens += 1;
                log.last_open = Duration::from_micros(n);
            }
            "s" => {
                if let Some(op) = Op::parse(&f[2..]) {
                    log.ops.push((n, op));
                }
            }
            "a" => {
                log.acked.insert(n);
            }
            _ => {}
        }
    }
    log
}

/// The reference model: id -> (batch, index, version).
type Model = BTreeMap<String, (u64, u64, u64)>;

/// The version of each document `op` writes (none for a delete, a flush, a compaction).
fn written(seq: u64, op: &Op) -> Vec<(u64, u64)> {
    match op {
        Op::Insert(n) => (0..*n).map(|i| (seq, i)).collect(),
        Op::Upsert(b, i) => vec![(*b, *i)],
        Op::UpsertBatch(b, is) => is.iter().map(|&i| (*b, i)).collect(),
        Op::Delete(..) | Op::Flush | Op::Compact => Vec::new(),
    }
}

fn apply(model: &mut Model, seq: u64, op: &Op) {
    if let Op::Delete(b, i) = op {
        model.remove(&format!("b{b}-{i}"));
    }
    for (b, i) in written(seq, op) {
        model.insert(format!("b{b}-{i}"), (b, i, seq));
    }
}

/// Did the crashed database take the unacknowledged write `op` (wholly) or not (at all)?
fn taken(db: &VectorDB, model: &Model, seq: u64, op: &Op, round: usize) -> bool {
    let version = |id: &str| {
        db.get(id)
            .unwrap()
            .map(|d| d.metadata.unwrap()["v"].as_u64().unwrap())
    };
    if let Op::Delete(b, i) = op {
        let id = format!("b{b}-{i}");
        return match version(&id) {
            None => true,
            Some(v) => {
                assert_eq!(
                    Some(&v),
                    model.get(&id).map(|m| &m.2),
                    "round {round}: {id}"
                );
                false
            }
        };
    }
    let docs = written(seq, op);
    let new = docs
        .iter()
        .filter(|(b, i)| version(&format!("b{b}-{i}")) == Some(seq))
        .count();
    assert!(
        new == 0 || new == docs.len(),
        "round {round}: write {seq} ({op:?}) is half applied ({new} of {} documents)",
        docs.len()
    );
    new > 0
}

/// Replays the side file into the reference model: every acknowledged write, and each
/// unacknowledged one as the first reopen after its crash found it (`decided`).
fn replay(log: &Log, db: &VectorDB, decided: &mut BTreeMap<u64, bool>, round: usize) -> Model {
    let mut model = Model::new();
    for (seq, op) in &log.ops {
        let take = if log.acked.contains(seq) {
            true
        } else {
            *decided
                .entry(*seq)
                .or_insert_with(|| taken(db, &model, *seq, op, round))
        };
        if take {
            apply(&mut model, *seq, op);
        }
    }
    model
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Checks the crashed database (a copy of it) against the reference model: the same
/// documents, each as last written, and searches — by vector (the graph, searched
/// exhaustively), by text and filtered — that return what the model says. Returns
/// (documents, replayed records).
fn verify(
    path: &Path,
    log: &Log,
    decided: &mut BTreeMap<u64, bool>,
    round: usize,
    rng: &mut Rng,
) -> (usize, u64) {
    let db = VectorDB::open(path, options(Durability::Fsync))
        .unwrap_or_else(|e| panic!("round {round}: reopening after the kill failed: {e}"));
    let model = replay(log, &db, decided, round);
    let mut ids = db.ids();
    ids.sort();
    assert!(
        ids.iter().eq(model.keys()),
        "round {round}: the database holds {} documents, the model {}; first difference: {:?}",
        ids.len(),
        model.len(),
        ids.iter()
            .zip(model.keys())
            .find(|(a, b)| a != b)
            .map(|(a, b)| (a.clone(), b.clone()))
    );
    assert_eq!(db.len(), model.len(), "round {round}: len()");
    for (id, &(b, i, v)) in &model {
        let want = doc(b, i, v);
        let got = db.get(id).unwrap().unwrap();
        assert_eq!(
            (&got.vector, &got.text, &got.metadata),
            (&want.vector, &want.text, &want.metadata),
            "round {round}: {id} is not as last written (version {v})"
        );
    }
    // Text: each document's own token finds it (as last written) and nothing else; each
    // batch's token finds the batch's live documents. A sample when the model is large.
    let sample = |rng: &mut Rng| model.len() <= 200 || rng.below(model.len() as u64) < 200;
    for (id, &(b, i, v)) in &model {
        if !sample(rng) {
            continue;
        }
        let hits = db
            .search(&Query::new().text(format!("d{b}x{i}v{v}")).k(3))
            .unwrap();
        let got: Vec<&str> = hits.iter().map(|h| h.id.as_str()).collect();
        assert_eq!(
            got,
            [id.as_str()],
            "round {round}: text search for {id} v{v}"
        );
    }
    let batches: BTreeSet<u64> = model.values().map(|m| m.0).collect();
    for &b in &batches {
        if batches.len() > 40 && rng.below(batches.len() as u64) >= 40 {
            continue;
        }
        let want: BTreeSet<&str> = model
            .iter()
            .filter(|m| m.1.0 == b)
            .map(|m| m.0.as_str())
            .collect();
        let by_text = db
            .search(&Query::new().text(format!("tok{b}")).k(100))
            .unwrap();
        let tag = Filter::from_json(&json!({"batch": b})).unwrap();
        let by_vector = db
            .search(&Query::new().vector(vec![0.25; DIM]).filter(tag).k(100))
            .unwrap();
        for (side, hits) in [("text", by_text), ("filtered vector", by_vector)] {
            let got: BTreeSet<&str> = hits.iter().map(|h| h.id.as_str()).collect();
            assert_eq!(got, want, "round {round}: {side} search for batch {b}");
        }
    }
    // Vectors: the graph searched with ef at the document count (exhaustively) must return exactly the
    // model's top 10 by dot product (scores compared, so that near ties may swap).
    for _ in 0..5 {
        let q = rng.vector(DIM);
        let mut want: Vec<(f32, &str)> = model
            .iter()
            .map(|(id, &(b, i, v))| (dot(&q, &doc(b, i, v).vector), id.as_str()))
            .collect();
        want.sort_by(|a, b| b.0.total_cmp(&a.0));
        want.truncate(10);
        let hits = db
            .search(
                &Query::new()
                    .vector(q.clone())
                    .k(10)
                    .ef_search(model.len().max(10)),
            )
            .unwrap();
        assert_eq!(
            hits.len(),
            want.len(),
            "round {round}: vector search length"
        );
        for (h, w) in hits.iter().zip(&want) {
            let (b, i, v) = model[&h.id];
            let own = dot(&q, &doc(b, i, v).vector);
            assert!(
                (h.score - w.0).abs() <= 1e-4 && (h.score - own).abs() <= 1e-4,
                "round {round}: vector search: {} scored {} where the model's hit {} scores {}",
                h.id,
                h.score,
                w.1,
                w.0
            );
        }
    }
    let replayed = db.stats().disk.unwrap().wal_records_replayed;
    (model.len(), replayed)
}

fn run(rounds: usize) {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("db");
    let side = dir.path().join("side.log");
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng(0x5EED ^ std::process::id() as u64);
    let started = Instant::now();
    let mut replayed_total = 0;
    let mut decided = BTreeMap::new();
    for round in 0..rounds {
        let start = read_log(&side).ops.last().map_or(0, |o| o.0 + 1);
        let durability = if round % 2 == 0 { "fsync" } else { "buffered" };
        let mut child = Command::new(&exe)
            .env("VJSON_CRASH_CHILD", &db_path)
            .env("VJSON_CRASH_ACKS", &side)
            .env("VJSON_CRASH_START", start.to_string())
            .env("VJSON_CRASH_SEED", rng.next().to_string())
            .env("VJSON_CRASH_DURABILITY", durability)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // One round in four kills at any moment, recovery included; the others let the
        // child open the database first.
        if round % 4 != 3 {
            let opens = read_log(&side).opens;
            let t = Instant::now();
            while read_log(&side).opens == opens {
                if let Ok(Some(status)) = child.try_wait() {
                    let mut err = String::new();
                    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err)
                        .unwrap();
                    panic!("round {round}: the writer exited by itself ({status}): {err}");
                }
                assert!(
                    t.elapsed() < Duration::from_secs(60),
                    "round {round}: open hangs"
                );
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        std::thread::sleep(Duration::from_millis(20 + rng.below(200)));
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("round {round}: the writer exited by itself ({status}): {err}");
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let log = read_log(&side);
        let copy: PathBuf = dir.path().join(format!("check{round}"));
        copy_dir(&db_path, &copy);
        let (docs, replayed) = verify(&copy, &log, &mut decided, round, &mut rng);
        replayed_total += replayed;
        fs::remove_dir_all(&copy).unwrap();
        if round % 10 == 9 || round + 1 == rounds {
            let count = |f: fn(&Op) -> bool| log.ops.iter().filter(|o| f(&o.1)).count();
            println!(
                "crash round {}: {} writes started ({} inserts, {} upserts, {} deletes, {} checkpoints, {} compactions), {} acknowledged, {docs} documents equal to the model, {replayed} log records replayed, last open {:.1?}",
                round + 1,
                log.ops.len(),
                count(|o| matches!(o, Op::Insert(_))),
                count(|o| matches!(o, Op::Upsert(..) | Op::UpsertBatch(..))),
                count(|o| matches!(o, Op::Delete(..))),
                count(|o| matches!(o, Op::Flush)),
                count(|o| matches!(o, Op::Compact)),
                log.acked.len(),
                log.last_open
            );
        }
    }
    println!(
        "{rounds} kill -9 rounds passed in {:.1?} ({replayed_total} log records replayed in all)",
        started.elapsed()
    );
}

/// The file-size-limited child (see the module docs).
fn fsize_child(path: &str) {
    let db = VectorDB::open(path, options(Durability::Fsync)).unwrap();
    db.insert_batch((0..10).map(|i| doc(0, i, 0)).collect())
        .unwrap();
    let big: Vec<Document> = (0..100)
        .map(|i| doc(1, i, 0).text("words ".repeat(4000)))
        .collect();
    let e = db
        .insert_batch(big)
        .expect_err("a 2 MiB log record under a 1 MiB file limit");
    assert_eq!(e.code(), "io", "{e}");
    assert!(e.to_string().contains("writing to the log"), "{e}");
    assert_eq!(db.len(), 10);
    assert!(db.get("b1-0").unwrap().is_none());
    assert!(
        db.search(&Query::new().text("tok1").k(5))
            .unwrap()
            .is_empty()
    );
    db.insert(doc(2, 0, 0)).unwrap();
    assert_eq!(db.len(), 11);
    db.close().unwrap();
}

fn file_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let out = Command::new("bash")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 2048; exec \"$0\"")
        .arg(std::env::current_exe().unwrap())
        .env("VJSON_FSIZE_CHILD", &path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "file-size-limited writer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = VectorDB::open(&path, options(Durability::Fsync)).unwrap();
    assert_eq!(db.len(), 11);
    assert!(db.get("b2-0").unwrap().is_some());
    assert!(db.get("b1-0").unwrap().is_none());
    assert_eq!(db.stats().disk.unwrap().wal_bytes_truncated, 0);
    println!("a write refused by a full file system: io error, nothing changed, writes go on");
}

fn main() {
    if let Ok(path) = std::env::var("VJSON_CRASH_CHILD") {
        child(&path);
        return;
    }
    if let Ok(path) = std::env::var("VJSON_FSIZE_CHILD") {
        fsize_child(&path);
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("crash_rounds: test");
        return;
    }
    let long = args
        .iter()
        .any(|a| a == "--ignored" || a == "--include-ignored");
    let rounds = match std::env::var("VJSON_CRASH_ROUNDS") {
        Ok(n) => n.parse().expect("VJSON_CRASH_ROUNDS is a number"),
        Err(_) if long => 300,
        Err(_) => 20,
    };
    file_size_limit();
    run(rounds);
}
