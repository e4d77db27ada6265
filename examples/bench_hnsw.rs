//! vjson's side of `benches/peers/hnswlib_compare.py`: builds the HNSW over a dataset's
//! vectors (no text, no metadata) and measures search QPS and recall@10 at several
//! `ef_search` values, printing one JSON object per line.
//!
//! ```text
//! cargo run --release --example bench_hnsw -- [--data DIR] [--m 16] [--ef-construction 200]
//!     [--ef 10,20,40,80,160] [--k 10]
//! ```
//!
//! `DIR` is laid out like `tests/data/sample` (the default). Output lines:
//! `{"system":"vjson","what":"build","n":..,"dim":..,"build_s":..,"threads":..}`, then per
//! ef `{"system":"vjson","what":"search","ef":..,"qps":..,"recall":..,"queries":..}`.
//! The build uses every rayon thread; searches run one query at a time on one thread.
//! Recall is against exact inner-product search (the vectors are unit length, so it is
//! cosine).

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
mod native {
    use std::path::PathBuf;
    use std::time::Instant;

    use rayon::prelude::*;
    use serde_json::json;
    use vjson::dataset::Dataset;
    use vjson::{Document, Options, Query, VectorDB};

    struct Args {
        data: PathBuf,
        m: usize,
        ef_construction: usize,
        efs: Vec<usize>,
        k: usize,
    }

    fn parse() -> Result<Args, String> {
        let mut a = Args {
            data: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sample")),
            m: 16,
            ef_construction: 200,
            efs: vec![10, 20, 40, 80, 160],
            k: 10,
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
                "--m" => a.m = num(&val)?,
                "--ef-construction" => a.ef_construction = num(&val)?,
                "--k" => a.k = num(&val)?,
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

    pub fn run() -> Result<(), String> {
        let a = parse()?;
        let d = Dataset::load(&a.data, 384).map_err(|e| e.to_string())?;
        let docs: Vec<Document> = (0..d.docs.len())
            .map(|i| Document::new(d.docs[i].id.clone(), d.doc_vector(i).to_vec()))
            .collect();
        let opts = Options::new(d.dim)
            .m(a.m)
            .ef_construction(a.ef_construction)
            .fulltext(false);
        let db = VectorDB::in_memory(opts).map_err(|e| e.to_string())?;
        let t = Instant::now();
        db.insert_batch(docs).map_err(|e| e.to_string())?;
        let build_s = t.elapsed().as_secs_f64();
        println!(
            "{}",
            json!({"system": "vjson", "what": "build", "n": d.docs.len(), "dim": d.dim,
                   "build_s": build_s, "threads": rayon::current_num_threads()})
        );

        let k = a.k;
        let truth: Vec<Vec<usize>> = (0..d.queries.len())
            .into_par_iter()
            .map(|qi| {
                let q = d.query_vector(qi);
                let mut all: Vec<(f32, usize)> = (0..d.docs.len())
                    .map(|i| (vjson::dot(q, d.doc_vector(i)), i))
                    .collect();
                all.select_nth_unstable_by(k - 1, |x, y| y.0.total_cmp(&x.0));
                all.truncate(k);
                all.into_iter().map(|x| x.1).collect()
            })
            .collect();
        let row: std::collections::HashMap<&str, usize> = d
            .docs
            .iter()
            .enumerate()
            .map(|(i, doc)| (doc.id.as_str(), i))
            .collect();
        let queries: Vec<Vec<f32>> = (0..d.queries.len())
            .map(|i| d.query_vector(i).to_vec())
            .collect();
        for &ef in &a.efs {
            let run = || -> Result<Vec<Vec<vjson::Hit>>, String> {
                queries
                    .iter()
                    .map(|q| {
                        db.search(&Query::new().vector(q.clone()).k(k).ef_search(ef))
                            .map_err(|e| e.to_string())
                    })
                    .collect()
            };
            run()?; // warm-up
            let t = Instant::now();
            let mut rounds = 0;
            let mut last = Vec::new();
            while rounds == 0 || t.elapsed().as_secs_f64() < 1.0 {
                last = run()?;
                rounds += 1;
            }
            let qps = (rounds * queries.len()) as f64 / t.elapsed().as_secs_f64();
            let hit: usize = last
                .iter()
                .zip(&truth)
                .map(|(hits, exact)| {
                    hits.iter()
                        .filter(|h| exact.contains(&row[h.id.as_str()]))
                        .count()
                })
                .sum();
            let recall = hit as f64 / (truth.len() * k) as f64;
            println!(
                "{}",
                json!({"system": "vjson", "what": "search", "ef": ef, "qps": qps,
                       "recall": recall, "queries": queries.len()})
            );
        }
        Ok(())
    }
}
