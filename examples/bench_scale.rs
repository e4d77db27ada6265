//! vjson's side of `benches/peers/scale.py` (the 1 M-document benchmark): each phase runs
//! in a process of its own, so memory and open times are those of a fresh process, and
//! prints one JSON line.
//!
//! ```text
//! cargo run --release --example bench_scale -- ingest  --data DIR --db DB [--batch 10000]
//! cargo run --release --example bench_scale -- query   --data DIR --db DB [--ef 40,80,160]
//! cargo run --release --example bench_scale -- jsonl   --data DIR --out FILE.jsonl
//! cargo run --release --example bench_scale -- open    --data DIR --db DB
//! ```
//!
//! `DIR` is a set written by `benches/peers/scale_data.py`: `docs.f32` and `docs.jsonl`
//! (`{"id","text","metadata"}`, line i = row i), `queries.f32`, `queries.jsonl`
//! (`{"text","filter"}`) and `truth_k10.u32`.
//!
//! - `ingest` creates the database `DB` (durable: the log is fsynced before each
//!   `insert_batch` returns) and inserts the documents in batches of `--batch`, reading
//!   them from the files as it goes; then closes it (a checkpoint). Prints the seconds of
//!   the inserts and of the close, peak RSS (VmHWM), bytes on disk, and `stats()`.
//! - `query` opens `DB`, times the open and the first answer, then runs every query as a
//!   vector search (at each `--ef`, recall@10 against the exact top 10), a text search, a
//!   hybrid search (default fusion) and a filtered vector search; prints p50 / p99 of each,
//!   RSS after the open and after the queries, the vector file's size, and `stats()`.
//! - `open` only opens `DB` and answers one query: the open time and RSS after it.
//! - `jsonl` writes the documents as the CLI's import format (`{"id","vector","text",
//!   "metadata"}` per line), for timing `vjson import`.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    match native::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_scale: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
#[path = "support/f32_rows.rs"]
mod f32_rows;

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::fs::File;
    use std::io::{BufRead, BufReader, BufWriter, Read, Write};
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    use serde_json::{Value, json};

    use vjson::{Document, Filter, Options, Query, VectorDB};

    const DIM: usize = 384;
    const K: usize = 10;

    struct Args {
        cmd: String,
        data: PathBuf,
        db: PathBuf,
        out: PathBuf,
        batch: usize,
        efs: Vec<usize>,
    }

    fn parse() -> Result<Args, String> {
        let mut it = std::env::args().skip(1);
        let mut a = Args {
            cmd: it.next().ok_or("a command: ingest, query or jsonl")?,
            data: PathBuf::new(),
            db: PathBuf::new(),
            out: PathBuf::new(),
            batch: 10_000,
            efs: vec![40, 80, 160, 240, 320],
        };
        while let Some(flag) = it.next() {
            let val = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let num = |v: &str| {
                v.parse::<usize>()
                    .map_err(|_| format!("{flag}: bad number {v:?}"))
            };
            match flag.as_str() {
                "--data" => a.data = PathBuf::from(val),
                "--db" => a.db = PathBuf::from(val),
                "--out" => a.out = PathBuf::from(val),
                "--batch" => a.batch = num(&val)?.max(1),
                "--ef" => a.efs = val.split(',').map(num).collect::<Result<_, _>>()?,
                other => return Err(format!("unknown flag {other}")),
            }
        }
        if a.data.as_os_str().is_empty() {
            return Err("--data DIR is required".into());
        }
        Ok(a)
    }

    fn open_file(p: &Path) -> Result<File, String> {
        File::open(p).map_err(|e| format!("{}: {e}", p.display()))
    }

    /// Reads up to `n` rows of `DIM` float32 from `r`.
    fn read_rows(r: &mut impl Read, n: usize) -> Result<Vec<Vec<f32>>, String> {
        super::f32_rows::read_rows(r, DIM, n)
    }

    /// `(id, text, metadata)` of the next document line.
    fn read_doc(lines: &mut impl BufRead) -> Result<(String, String, Value), String> {
        let mut line = String::new();
        lines.read_line(&mut line).map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_str(&line).map_err(|e| format!("docs.jsonl: {e}"))?;
        let s = |k: &str| v[k].as_str().unwrap_or("").to_owned();
        Ok((s("id"), s("text"), v["metadata"].clone()))
    }

    /// A line of /proc/self/status in bytes (`VmRSS`, `VmHWM`).
    fn status_bytes(key: &str) -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with(key))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            })
            .map_or(0, |kb| kb * 1024)
    }

    fn dir_bytes(p: &Path) -> u64 {
        let Ok(rd) = std::fs::read_dir(p) else {
            return 0;
        };
        rd.flatten()
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    }

    fn ingest(a: &Args) -> Result<(), String> {
        let opts = Options::new(DIM);
        let db = VectorDB::open(&a.db, opts).map_err(|e| e.to_string())?;
        let mut vecs = BufReader::with_capacity(1 << 20, open_file(&a.data.join("docs.f32"))?);
        let mut docs = BufReader::with_capacity(1 << 20, open_file(&a.data.join("docs.jsonl"))?);
        let (mut n, mut insert) = (0usize, Duration::ZERO);
        let t_all = Instant::now();
        loop {
            let rows = read_rows(&mut vecs, a.batch)?;
            if rows.is_empty() {
                break;
            }
            let mut batch = Vec::with_capacity(rows.len());
            for v in rows {
                let (id, text, meta) = read_doc(&mut docs)?;
                batch.push(Document::new(id, v).text(text).metadata(meta));
            }
            n += batch.len();
            let t = Instant::now();
            db.insert_batch(batch).map_err(|e| e.to_string())?;
            insert += t.elapsed();
            if n % 100_000 < a.batch {
                eprintln!("  {n} documents, {:.1} s inserting", insert.as_secs_f64());
            }
        }
        let wall_insert = t_all.elapsed();
        let stats = serde_json::to_value(db.stats()).map_err(|e| e.to_string())?;
        let t = Instant::now();
        db.close().map_err(|e| e.to_string())?;
        let close = t.elapsed();
        let disk = dir_bytes(&a.db);
        println!(
            "{}",
            json!({"what": "ingest", "n": n, "batch": a.batch,
                   "insert_s": insert.as_secs_f64(), "wall_s": wall_insert.as_secs_f64(),
                   "close_s": close.as_secs_f64(), "peak_rss": status_bytes("VmHWM:"),
                   "disk_bytes": disk, "disk_bytes_per_doc": disk as f64 / n.max(1) as f64,
                   "threads": rayon::current_num_threads(), "stats": stats})
        );
        Ok(())
    }

    fn percentiles(mut t: Vec<Duration>) -> Value {
        t.sort();
        let at = |p: f64| t[((t.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3;
        json!({"p50_ms": at(0.5), "p99_ms": at(0.99)})
    }

    fn timed(queries: &[Query], db: &VectorDB) -> Result<(Vec<Vec<String>>, Value), String> {
        let mut times = Vec::with_capacity(queries.len());
        let mut ids = Vec::with_capacity(queries.len());
        for q in queries {
            let t = Instant::now();
            let hits = db.search(q).map_err(|e| e.to_string())?;
            times.push(t.elapsed());
            ids.push(hits.into_iter().map(|h| h.id).collect());
        }
        Ok((ids, percentiles(times)))
    }

    fn query(a: &Args) -> Result<(), String> {
        let qvecs = read_rows(&mut open_file(&a.data.join("queries.f32"))?, usize::MAX)?;
        let mut qmeta = Vec::new();
        for line in BufReader::new(open_file(&a.data.join("queries.jsonl"))?).lines() {
            let v: Value = serde_json::from_str(&line.map_err(|e| e.to_string())?)
                .map_err(|e| format!("queries.jsonl: {e}"))?;
            let f = Filter::from_json(&v["filter"]).map_err(|e| e.to_string())?;
            qmeta.push((v["text"].as_str().unwrap_or("").to_owned(), f));
        }
        let mut truth = Vec::new();
        open_file(&a.data.join("truth_k10.u32"))?
            .read_to_end(&mut truth)
            .map_err(|e| e.to_string())?;
        let truth: Vec<u32> = truth
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let rss_before = status_bytes("VmRSS:");

        let t = Instant::now();
        let db = VectorDB::open_existing(&a.db).map_err(|e| e.to_string())?;
        let open = t.elapsed();
        db.search(&Query::new().vector(qvecs[0].clone()).k(K))
            .map_err(|e| e.to_string())?;
        let first = t.elapsed();
        let rss_open = status_bytes("VmRSS:");
        let stats_open = serde_json::to_value(db.stats()).map_err(|e| e.to_string())?;

        let mut vector = Vec::new();
        for &ef in &a.efs {
            let qs: Vec<Query> = qvecs
                .iter()
                .map(|v| Query::new().vector(v.clone()).k(K).ef_search(ef))
                .collect();
            let (ids, lat) = timed(&qs, &db)?;
            let mut found = 0usize;
            for (qi, got) in ids.iter().enumerate() {
                let want = &truth[qi * K..qi * K + K];
                found += got
                    .iter()
                    .filter(|id| {
                        id.strip_prefix("doc")
                            .and_then(|r| r.parse::<u32>().ok())
                            .is_some_and(|r| want.contains(&r))
                    })
                    .count();
            }
            let mut rec = lat;
            rec["ef"] = json!(ef);
            rec["recall_at_10"] = json!(found as f64 / (ids.len() * K) as f64);
            vector.push(rec);
        }
        let rss_vector = status_bytes("VmRSS:");
        let text: Vec<Query> = qmeta
            .iter()
            .map(|(t, _)| Query::new().text(t.clone()).k(K))
            .collect();
        let hybrid: Vec<Query> = qvecs
            .iter()
            .zip(&qmeta)
            .map(|(v, (t, _))| Query::new().vector(v.clone()).text(t.clone()).k(K))
            .collect();
        let filtered: Vec<Query> = qvecs
            .iter()
            .zip(&qmeta)
            .map(|(v, (_, f))| Query::new().vector(v.clone()).filter(f.clone()).k(K))
            .collect();
        let (_, text) = timed(&text, &db)?;
        let (_, hybrid) = timed(&hybrid, &db)?;
        let (_, filtered) = timed(&filtered, &db)?;
        let stats = serde_json::to_value(db.stats()).map_err(|e| e.to_string())?;
        println!(
            "{}",
            json!({"what": "query", "open_ms": open.as_secs_f64() * 1e3,
                   "first_answer_ms": first.as_secs_f64() * 1e3,
                   "rss_before_open": rss_before, "rss_after_open": rss_open,
                   "rss_after_vector_queries": rss_vector,
                   "rss_after_all_queries": status_bytes("VmRSS:"),
                   "peak_rss": status_bytes("VmHWM:"),
                   "vectors_file_bytes": std::fs::metadata(a.db.join("vectors.f32"))
                       .map(|m| m.len()).unwrap_or(0),
                   "queries": qvecs.len(), "vector": vector, "text": text,
                   "hybrid": hybrid, "filtered": filtered,
                   "stats_after_open": stats_open, "stats": stats})
        );
        Ok(())
    }

    /// The documents in the CLI's import format.
    fn jsonl(a: &Args) -> Result<(), String> {
        let mut vecs = BufReader::with_capacity(1 << 20, open_file(&a.data.join("docs.f32"))?);
        let mut docs = BufReader::with_capacity(1 << 20, open_file(&a.data.join("docs.jsonl"))?);
        let out = File::create(&a.out).map_err(|e| format!("{}: {e}", a.out.display()))?;
        let mut out = BufWriter::with_capacity(1 << 20, out);
        loop {
            let rows = read_rows(&mut vecs, 10_000)?;
            if rows.is_empty() {
                break;
            }
            for v in rows {
                let (id, text, metadata) = read_doc(&mut docs)?;
                let line = json!({"id": id, "vector": v, "text": text, "metadata": metadata});
                writeln!(out, "{line}").map_err(|e| e.to_string())?;
            }
        }
        out.flush().map_err(|e| e.to_string())
    }

    pub fn run() -> Result<(), String> {
        let a = parse()?;
        match a.cmd.as_str() {
            "ingest" => ingest(&a),
            "query" => query(&a),
            "jsonl" => jsonl(&a),
            "open" => {
                let t = Instant::now();
                let db = VectorDB::open_existing(&a.db).map_err(|e| e.to_string())?;
                let open = t.elapsed();
                let q = read_rows(&mut open_file(&a.data.join("queries.f32"))?, 1)?;
                db.search(&Query::new().vector(q[0].clone()).k(K))
                    .map_err(|e| e.to_string())?;
                println!(
                    "{}",
                    json!({"what": "open", "open_ms": open.as_secs_f64() * 1e3,
                           "first_answer_ms": t.elapsed().as_secs_f64() * 1e3,
                           "rss_after_open": status_bytes("VmRSS:")})
                );
                Ok(())
            }
            other => Err(format!("unknown command {other}: ingest, query or jsonl")),
        }
    }
}
