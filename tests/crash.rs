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

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use vjson::{Document, Durability, Filter, Options, Query, VectorDB};

#[path = "support/copy_dir.rs"]
mod copy_dir;
use copy_dir::copy_dir;

const DIM: usize = 16;

#[path = "support/gen.rs"]
mod generate;
use generate::Rng;

fn options(durability: Durability) -> Options {
    Options::new(DIM).durability(durability).ef_construction(64)
}

fn doc(rng: &mut Rng, b: u64, i: u64, size: u64) -> Document {
    Document::new(format!("b{b}-{i}"), rng.vector(DIM))
        .text(format!("tok{b} crash recovery words"))
        .metadata(json!({"batch": b, "size": size}))
}

/// The child: writes until killed. Side-file lines: `o MICROS` once the database is open,
/// `s B SIZE` before writing batch B, `a B` after it was acknowledged, `D B` before
/// deleting one-document batch B, `d B` after.
fn child(db_path: &str) {
    let ack_path = std::env::var("VJSON_CRASH_ACKS").expect("VJSON_CRASH_ACKS");
    let mut b: u64 = std::env::var("VJSON_CRASH_START").unwrap().parse().unwrap();
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
    // Acknowledged batches of this child (earlier children's are left alone).
    let mut acked: Vec<(u64, u64)> = Vec::new();
    loop {
        if rng.below(150) == 0 {
            db.compact().unwrap();
            continue;
        }
        match rng.below(20) {
            0 => db.flush().unwrap(),
            1 | 2 if !acked.is_empty() => {
                let (ob, size) = acked[rng.below(acked.len() as u64) as usize];
                let i = rng.below(size);
                db.upsert(doc(&mut rng, ob, i, size)).unwrap();
            }
            3 if acked.iter().any(|a| a.1 == 1) => {
                let pos = acked.iter().position(|a| a.1 == 1).unwrap();
                let (ob, _) = acked.swap_remove(pos);
                note(format!("D {ob}\n"));
                db.delete(&format!("b{ob}-0")).unwrap();
                note(format!("d {ob}\n"));
            }
            r => {
                let size = if r < 8 { 1 } else { 1 + rng.below(40) };
                note(format!("s {b} {size}\n"));
                if size == 1 {
                    db.insert(doc(&mut rng, b, 0, 1)).unwrap();
                } else {
                    let docs = (0..size).map(|i| doc(&mut rng, b, i, size)).collect();
                    db.insert_batch(docs).unwrap();
                }
                note(format!("a {b}\n"));
                acked.push((b, size));
                b += 1;
            }
        }
    }
}

#[derive(Default)]
struct Log {
    /// How many times a child opened the database, and the last open's duration.
    opens: usize,
    last_open: Duration,
    /// Batch -> size, for every batch a child set out to write.
    started: BTreeMap<u64, u64>,
    acked: HashSet<u64>,
    delete_started: HashSet<u64>,
    deleted: HashSet<u64>,
}

fn read_log(path: &Path) -> Log {
    let mut log = Log::default();
    let text = fs::read_to_string(path).unwrap_or_default();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        // The last line may be cut short by the kill.
        let Some(b) = f.get(1).and_then(|x| x.parse::<u64>().ok()) else {
            continue;
        };
        match (f[0], f.get(2).and_then(|x| x.parse::<u64>().ok())) {
            ("o", _) => {
                log.opens += 1;
                log.last_open = Duration::from_micros(b);
            }
            ("s", Some(size)) => {
                log.started.insert(b, size);
            }
            ("a", _) => {
                log.acked.insert(b);
            }
            ("D", _) => {
                log.delete_started.insert(b);
            }
            ("d", _) => {
                log.deleted.insert(b);
            }
            _ => {}
        }
    }
    log
}

/// Checks the crashed database (a copy of it); returns (documents, replayed records).
/// Every batch is checked with `get`; the batches from `recent` on and a sample of the
/// older ones also by searches (an exact filtered scan per batch would make long runs
/// quadratic).
fn verify(path: &Path, log: &Log, round: usize, recent: u64, rng: &mut Rng) -> (usize, u64) {
    let db = VectorDB::open(path, options(Durability::Fsync))
        .unwrap_or_else(|e| panic!("round {round}: reopening after the kill failed: {e}"));
    let mut total = 0usize;
    let sample = 40.0 / log.started.len().max(1) as f64;
    for (&b, &size) in &log.started {
        let present = (0..size)
            .filter(|i| db.get(&format!("b{b}-{i}")).unwrap().is_some())
            .count() as u64;
        assert!(
            present == 0 || present == size,
            "round {round}: batch {b} is half applied ({present} of {size})"
        );
        if log.deleted.contains(&b) {
            assert_eq!(present, 0, "round {round}: deleted batch {b} is back");
        } else if log.acked.contains(&b) && !log.delete_started.contains(&b) {
            assert_eq!(
                present, size,
                "round {round}: acknowledged batch {b} is missing"
            );
        }
        total += present as usize;
        if b < recent && (rng.below(1 << 20) as f64) >= sample * (1 << 20) as f64 {
            continue;
        }
        let tag = Filter::from_json(&json!({"batch": b})).unwrap();
        let by_vector = db
            .search(&Query::new().vector(vec![0.25; DIM]).filter(tag).k(50))
            .unwrap()
            .len() as u64;
        let by_text = db
            .search(&Query::new().text(format!("tok{b}")).k(50))
            .unwrap()
            .len() as u64;
        assert_eq!(
            (by_vector, by_text),
            (present, present),
            "round {round}: batch {b}: get finds {present}, vector search {by_vector}, text search {by_text}"
        );
    }
    assert_eq!(
        db.len(),
        total,
        "round {round}: len() disagrees with the documents found"
    );
    let replayed = db.stats().disk.unwrap().wal_records_replayed;
    (total, replayed)
}

fn run(rounds: usize) {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("db");
    let side = dir.path().join("side.log");
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng(0x5EED ^ std::process::id() as u64);
    let started = Instant::now();
    let mut replayed_total = 0;
    for round in 0..rounds {
        let start = read_log(&side).started.keys().last().map_or(0, |b| b + 1);
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
        let (docs, replayed) = verify(&copy, &log, round, start, &mut rng);
        replayed_total += replayed;
        fs::remove_dir_all(&copy).unwrap();
        if round % 10 == 9 || round + 1 == rounds {
            println!(
                "crash round {}: {} batches started, {} acknowledged, {docs} documents, {replayed} log records replayed, last open {:.1?}",
                round + 1,
                log.started.len(),
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
    let mut rng = Rng(3);
    db.insert_batch((0..10).map(|i| doc(&mut rng, 0, i, 10)).collect())
        .unwrap();
    let big: Vec<Document> = (0..100)
        .map(|i| doc(&mut rng, 1, i, 100).text("words ".repeat(4000)))
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
    db.insert(doc(&mut rng, 2, 0, 1)).unwrap();
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
