//! Benchmarks of the native on-disk database (a plain `harness = false` main):
//!
//! ```text
//! cargo bench --bench disk
//! VJSON_CORPUS=/work/shared/data/rustdocs cargo bench --bench disk
//! ```
//!
//! 1. `insert_batch` of N × D random vectors with text and metadata into a fresh database,
//!    durable (`Durability::Fsync`), graph and text index included: wall time of the call,
//!    then of the checkpoint (`flush`) that folds it into the data files;
//! 2. reopening that database (nothing replayed), and the first search after it;
//! 3. reopening a crash image of the same ingest taken before any checkpoint (the whole
//!    batch replayed from the write-ahead log);
//! 4. N single durable `insert`s (one fsync'd log record each);
//! 5. searches during a long `insert_batch`: their latency while the batch is linked;
//! 6. vector, text and hybrid search latency (p50 / p95) and MRR@10 on the rustdocs corpus
//!    (`VJSON_CORPUS`, else the bundled sample), on disk after a reopen and in memory.
//!
//! N and D default to 10,000 and 768 (`VJSON_BENCH_N`, `VJSON_BENCH_DIM`). Write syscalls
//! are counted separately, with `strace` on `examples/disk_ingest.rs` (see that file).
//! Without `--bench` (as `cargo test --all-targets` runs it) everything runs once at a
//! toy size (N = 300, D = 16, 50 queries), to check that it works.

use std::path::Path;
use std::time::{Duration, Instant};

use vjson::dataset::{Dataset, mrr_recall_at_10};
use vjson::{Fusion, Hit, Options, Query, VectorDB};

#[path = "../tests/support/copy_dir.rs"]
mod copy_dir;
use copy_dir::copy_dir;

#[path = "../tests/support/gen.rs"]
mod generate;
use generate::documents;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // A name filter other than ours means "not us".
    if args
        .iter()
        .any(|a| !a.starts_with("--") && !"disk".contains(a.as_str()))
    {
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test` does not.
    let full = args.iter().any(|a| a == "--bench");
    let n = if full {
        env_usize("VJSON_BENCH_N", 10_000)
    } else {
        300
    };
    let dim = if full {
        env_usize("VJSON_BENCH_DIM", 768)
    } else {
        16
    };
    let max_queries = if full { usize::MAX } else { 50 };
    let tmp = tempfile::tempdir().unwrap();
    let opts = Options::new(dim);
    println!("vjson on-disk benchmarks ({n} x {dim}, durability fsync, 2 cores shared)");

    // 1. One durable batch.
    let docs = documents(n, dim, 1);
    let path = tmp.path().join("batch");
    let db = VectorDB::open(&path, opts.clone()).unwrap();
    let t = Instant::now();
    db.insert_batch(docs.clone()).unwrap();
    let insert = t.elapsed();
    let crash_image = tmp.path().join("crash");
    copy_dir(&path, &crash_image);
    let t = Instant::now();
    db.flush().unwrap();
    let checkpoint = t.elapsed();
    let d = db.stats().disk.unwrap();
    println!(
        "insert_batch {n} x {dim}: {insert:.2?} ({:.0} docs/s), then checkpoint {checkpoint:.2?}; on disk {:.1} MiB (vectors {:.1}, rows {:.1}, graph {:.1}, text {:.1})",
        n as f64 / insert.as_secs_f64(),
        mib(d.total_bytes),
        mib(d.vectors_bytes),
        mib(d.rows_bytes),
        mib(d.graph_bytes),
        mib(d.text_bytes)
    );
    db.close().unwrap();

    // 2. Reopen.
    let t = Instant::now();
    let db = VectorDB::open(&path, opts.clone()).unwrap();
    let reopen = t.elapsed();
    let t = Instant::now();
    db.search(
        &Query::new()
            .vector(docs[7].vector.clone())
            .text("borrow")
            .k(10),
    )
    .unwrap();
    println!(
        "reopen after close: {reopen:.2?} (nothing replayed); first hybrid search after it {:.2?}",
        t.elapsed()
    );

    // 3. Replay.
    let t = Instant::now();
    let crashed = VectorDB::open(&crash_image, opts.clone()).unwrap();
    let replay = t.elapsed();
    let rd = crashed.stats().disk.unwrap();
    println!(
        "reopen of a crash image before any checkpoint: {replay:.2?} ({} log record(s), {:.1} MiB, replayed; {} documents)",
        rd.wal_records_replayed,
        mib(rd.wal_bytes),
        crashed.len()
    );
    drop(crashed);

    // 5. Searches during a long batch (on the reopened database).
    let more = documents(n / 2, dim, 2);
    let probe = docs[3].vector.clone();
    let done = std::sync::atomic::AtomicBool::new(false);
    let (batch_time, lat) = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut lat = Vec::new();
            let q = Query::new().vector(probe.clone()).k(10);
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let t = Instant::now();
                db.search(&q).unwrap();
                lat.push(t.elapsed());
            }
            lat
        });
        std::thread::sleep(Duration::from_millis(50));
        let t = Instant::now();
        db.insert_batch(more).unwrap();
        let bt = t.elapsed();
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        (bt, reader.join().unwrap())
    });
    let mut lat = lat;
    lat.sort();
    println!(
        "vector searches during a {:.2?} insert_batch of {}: {} searches, p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        batch_time,
        n / 2,
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or_default()
    );
    drop(db);

    // 4. Single inserts.
    let path = tmp.path().join("single");
    let db = VectorDB::open(&path, opts.clone()).unwrap();
    let t = Instant::now();
    for d in documents(n, dim, 3) {
        db.insert(d).unwrap();
    }
    let single = t.elapsed();
    println!(
        "{n} single durable inserts: {single:.2?} ({:.2?} each, {:.0} docs/s)",
        single / n as u32,
        n as f64 / single.as_secs_f64()
    );
    drop(db);

    // 6. Search latency on the corpus.
    let ds = match std::env::var("VJSON_CORPUS") {
        Ok(dir) => {
            Dataset::load(Path::new(&dir), 384).expect("VJSON_CORPUS is a dataset directory")
        }
        _ => vjson::bundled_sample!(),
    };
    let path = tmp.path().join("corpus");
    let db = VectorDB::open(&path, Options::new(ds.dim)).unwrap();
    let t = Instant::now();
    db.insert_batch(ds.documents()).unwrap();
    db.close().unwrap();
    let build = t.elapsed();
    let t = Instant::now();
    let disk = VectorDB::open(&path, Options::new(ds.dim)).unwrap();
    let reopen = t.elapsed();
    let mem = VectorDB::in_memory(Options::new(ds.dim)).unwrap();
    mem.insert_batch(ds.documents()).unwrap();
    println!(
        "corpus: {} documents, {} queries; on-disk build + close {build:.2?}, reopen {reopen:.2?}",
        ds.docs.len(),
        ds.queries.len().min(max_queries)
    );
    for (name, db) in [("disk", &disk), ("memory", &mem)] {
        for mode in ["vector", "text", "hybrid"] {
            let mut lat = Vec::with_capacity(ds.queries.len());
            let mut runs: Vec<Vec<Hit>> = Vec::with_capacity(ds.queries.len());
            for (i, q) in ds.queries.iter().enumerate().take(max_queries) {
                let base = Query::new().k(10).fusion(Fusion::default());
                let query = match mode {
                    "vector" => base.vector(ds.query_vector(i).to_vec()),
                    "text" => base.text(q.text.clone()),
                    _ => base
                        .vector(ds.query_vector(i).to_vec())
                        .text(q.text.clone()),
                };
                let t = Instant::now();
                runs.push(db.search(&query).unwrap());
                lat.push(t.elapsed());
            }
            lat.sort();
            let (mrr, recall) = mrr_recall_at_10(
                runs.iter()
                    .zip(&ds.queries)
                    .take(max_queries)
                    .map(|(h, q)| (h.as_slice(), q.relevant.as_str())),
            );
            println!(
                "  {name:<6} {mode:<6} p50 {:>9.2?}  p95 {:>9.2?}  MRR@10 {mrr:.4}  recall@10 {recall:.4}",
                percentile(&lat, 0.5),
                percentile(&lat, 0.95),
            );
        }
    }
}
