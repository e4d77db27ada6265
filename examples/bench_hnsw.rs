//! vjson's side of `benches/peers/ann.py`: builds the HNSW over a dataset's vectors (no
//! text, no metadata) through the public API and measures search QPS and recall@k at
//! several `ef_search` values, printing one JSON object per line.
//!
//! ```text
//! cargo run --release --example bench_hnsw -- [--data DIR] [--dim 384] [--metric cosine|dot|l2]
//!     [--quantization none|int8] [--m 16] [--ef-construction 200] [--ef 10,20,40,80,160]
//!     [--k 10] [--serve true] [--window 1.0]
//! ```
//!
//! `DIR` holds `docs.f32` and `queries.f32` (row-major little-endian float32, `--dim`
//! columns; default: the bundled sample) and optionally `truth_k{k}.u32` (the exact top-k
//! row numbers per query, as `ann.py` writes them; computed here by brute force when
//! missing). Output lines: `{"system":"vjson","what":"build","n","dim","build_s","threads",
//! "snapshot_bytes","peak_rss_bytes","distances_per_insert"}` (peak RSS when the build is done, before the snapshot
//! is exported to measure its size), then per ef `{"system":"vjson","what":"search","ef",
//! "qps","recall","queries","distances_per_query"}` (see `vjson::distance_computations`). The build uses every rayon
//! thread (`RAYON_NUM_THREADS`); searches run one query at a time on one thread, each ef
//! for `--window` seconds. With `--serve true` (as `ann.py` runs it) the searches are not
//! run at once: each stdin line `ef N` measures ef N, and `quit` ends.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    match native::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_hnsw: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
#[path = "support/f32_rows.rs"]
mod f32_rows;

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::path::PathBuf;
    use std::time::Instant;

    use rayon::prelude::*;

    use super::f32_rows::read_f32;
    use serde_json::json;
    use vjson::{Document, HnswParams, Metric, Options, Quantization, Query, VectorDB};

    struct Args {
        data: PathBuf,
        dim: usize,
        metric: Metric,
        quantization: Quantization,
        m: usize,
        ef_construction: usize,
        efs: Vec<usize>,
        k: usize,
        serve: bool,
        window: f64,
    }

    fn parse() -> Result<Args, String> {
        let mut a = Args {
            data: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sample")),
            dim: 384,
            metric: Metric::Cosine,
            quantization: Quantization::default(),
            m: 16,
            ef_construction: HnswParams::default().ef_construction,
            efs: vec![10, 20, 40, 80, 160],
            k: 10,
            serve: false,
            window: 1.0,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let val = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let num = |v: &str| {
                v.parse::<usize>()
                    .map_err(|_| format!("{flag}: bad number {v:?}"))
            };
            match flag.as_str() {
                "--data" => a.data = PathBuf::from(val),
                "--dim" => a.dim = num(&val)?,
                "--metric" => {
                    a.metric = val
                        .parse::<Metric>()
                        .map_err(|e| format!("--metric: {e}"))?
                }
                "--quantization" => {
                    a.quantization = match val.as_str() {
                        "none" => Quantization::None,
                        "int8" => Quantization::Int8,
                        other => return Err(format!("--quantization: unknown {other:?}")),
                    }
                }
                "--m" => a.m = num(&val)?,
                "--ef-construction" => a.ef_construction = num(&val)?,
                "--k" => a.k = num(&val)?,
                "--serve" => a.serve = val == "true",
                "--window" => {
                    a.window = val
                        .parse()
                        .map_err(|_| format!("--window: bad seconds {val:?}"))?
                }
                "--ef" => {
                    a.efs = val
                        .split(',')
                        .map(|v| num(v.trim()))
                        .collect::<Result<_, _>>()?
                }
                other => return Err(format!("unknown flag {other}")),
            }
        }
        Ok(a)
    }

    /// The exact top-k rows per query: from `truth_k{k}.u32` when present, else by brute
    /// force under the metric (on normalised vectors for cosine).
    fn truth(a: &Args, docs: &[Vec<f32>], queries: &[Vec<f32>]) -> Result<Vec<Vec<u32>>, String> {
        let k = a.k;
        let file = a.data.join(format!("truth_k{k}.u32"));
        if let Ok(bytes) = std::fs::read(&file) {
            let rows: Vec<u32> = bytes
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            if rows.len() != queries.len() * k {
                return Err(format!(
                    "{}: expected {} x {k} rows",
                    file.display(),
                    queries.len()
                ));
            }
            return Ok(rows.chunks(k).map(<[u32]>::to_vec).collect());
        }
        let unit = |v: &[f32]| -> Vec<f32> {
            let n = vjson::norm(v).max(f32::MIN_POSITIVE);
            v.iter().map(|x| x / n).collect()
        };
        let cosine = a.metric == Metric::Cosine;
        let docs: Vec<Vec<f32>> = if cosine {
            docs.iter().map(|d| unit(d)).collect()
        } else {
            docs.to_vec()
        };
        Ok(queries
            .par_iter()
            .map(|q| {
                let q = if cosine { unit(q) } else { q.clone() };
                let mut all: Vec<(f32, u32)> = docs
                    .iter()
                    .enumerate()
                    .map(|(i, d)| {
                        let dist = match a.metric {
                            Metric::L2 => vjson::l2sq(&q, d),
                            _ => -vjson::dot(&q, d),
                        };
                        (dist, i as u32)
                    })
                    .collect();
                all.select_nth_unstable_by(k - 1, |x, y| x.0.total_cmp(&y.0));
                all.truncate(k);
                all.into_iter().map(|x| x.1).collect()
            })
            .collect())
    }

    pub fn run() -> Result<(), String> {
        let a = parse()?;
        let docs = read_f32(&a.data.join("docs.f32"), a.dim)?;
        let queries = read_f32(&a.data.join("queries.f32"), a.dim)?;
        let truth = truth(&a, &docs, &queries)?;
        let n = docs.len();
        let batch: Vec<Document> = docs
            .into_iter()
            .enumerate()
            .map(|(i, v)| Document::new(i.to_string(), v))
            .collect();
        let opts = Options::new(a.dim)
            .metric(a.metric)
            .quantization(a.quantization)
            .m(a.m)
            .ef_construction(a.ef_construction)
            .fulltext(false);
        let db = VectorDB::in_memory(opts).map_err(|e| e.to_string())?;
        let t = Instant::now();
        let d0 = vjson::distance_computations();
        db.insert_batch(batch).map_err(|e| e.to_string())?;
        let build_s = t.elapsed().as_secs_f64();
        let build_distances = vjson::distance_computations() - d0;
        let build_rss = peak_rss_bytes();
        let snapshot_bytes = db.export_snapshot().map_err(|e| e.to_string())?.len();
        println!(
            "{}",
            json!({"system": "vjson", "what": "build", "n": n, "dim": a.dim,
                   "build_s": build_s, "threads": rayon::current_num_threads(),
                   "snapshot_bytes": snapshot_bytes, "peak_rss_bytes": build_rss,
                   "distances_per_insert": build_distances as f64 / n as f64})
        );
        let k = a.k;
        let measure = |ef: usize| -> Result<(), String> {
            let run = || -> Result<Vec<Vec<vjson::Hit>>, String> {
                queries
                    .iter()
                    .map(|q| {
                        db.search(&Query::new().vector(q.clone()).k(k).ef_search(ef))
                            .map_err(|e| e.to_string())
                    })
                    .collect()
            };
            let d0 = vjson::distance_computations();
            run()?; // warm-up, and the distance count of one pass
            let distances = (vjson::distance_computations() - d0) as f64 / queries.len() as f64;
            let t = Instant::now();
            let mut rounds = 0;
            let mut last = Vec::new();
            while rounds == 0 || t.elapsed().as_secs_f64() < a.window {
                last = run()?;
                rounds += 1;
            }
            let qps = (rounds * queries.len()) as f64 / t.elapsed().as_secs_f64();
            let hit: usize = last
                .iter()
                .zip(&truth)
                .map(|(hits, exact)| {
                    hits.iter()
                        .filter(|h| exact.contains(&h.id.parse::<u32>().expect("row ids")))
                        .count()
                })
                .sum();
            let recall = hit as f64 / (truth.len() * k) as f64;
            println!(
                "{}",
                json!({"system": "vjson", "what": "search", "ef": ef, "qps": qps,
                       "recall": recall, "queries": queries.len(),
                       "distances_per_query": distances})
            );
            Ok(())
        };
        if a.serve {
            for line in std::io::stdin().lines() {
                let line = line.map_err(|e| e.to_string())?;
                let mut words = line.split_whitespace();
                match (words.next(), words.next()) {
                    (Some("ef"), Some(ef)) => {
                        measure(ef.parse().map_err(|_| format!("bad ef {ef:?}"))?)?
                    }
                    (Some("quit"), _) => return Ok(()),
                    _ => return Err(format!("unknown request {line:?}")),
                }
            }
        } else {
            for &ef in &a.efs {
                measure(ef)?;
            }
        }
        Ok(())
    }

    /// This process's peak resident set (VmHWM; Linux, else 0), in bytes.
    fn peak_rss_bytes() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            })
            .map_or(0, |kb| kb * 1024)
    }
}
