//! vjson's side of `benches/peers/ingest.py`: times one `insert_batch` of a dataset's
//! vectors, with or without text and metadata, into an in-memory or an on-disk database,
//! and prints one JSON line.
//!
//! ```text
//! cargo run --release --example bench_ingest -- --data DIR --dim 384 [--metric cosine|dot|l2]
//!     [--texts FILE.jsonl] [--disk DIR] [--rounds 1] [--ef-construction 200]
//! ```
//!
//! `DIR/docs.f32` holds the vectors (row-major little-endian float32, `--dim` columns).
//! With `--texts`, document i gets the text `title + ": " + text` and the metadata
//! `{"kind", "title", "n"}` of line `i mod lines` of that JSONL file (rustdocs' format:
//! `{"id","title","text","kind"}`); without it, vectors only and no text index. With
//! `--disk DIR` the database is created there (fsync durability, the default; DIR must not
//! exist) and the timed `insert_batch` returns only once the batch is durable; the close
//! that follows (a checkpoint) is timed apart. Output: `{"what":"ingest","n","dim",
//! "text","disk","insert_s","close_s","threads"}`; `--rounds N` repeats the whole thing
//! (a fresh database each time) and prints one line per round. Builds use every rayon
//! thread (`RAYON_NUM_THREADS`).

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    match native::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_ingest: {e}");
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

    use serde_json::{Value, json};

    use super::f32_rows::read_f32;
    use vjson::{Document, HnswParams, Metric, Options, VectorDB};

    struct Args {
        data: PathBuf,
        dim: usize,
        metric: Metric,
        texts: Option<PathBuf>,
        disk: Option<PathBuf>,
        rounds: usize,
        ef_construction: usize,
    }

    fn parse() -> Result<Args, String> {
        let mut a = Args {
            data: PathBuf::new(),
            dim: 384,
            metric: Metric::Cosine,
            texts: None,
            disk: None,
            rounds: 1,
            ef_construction: HnswParams::default().ef_construction,
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
                "--texts" => a.texts = Some(PathBuf::from(val)),
                "--disk" => a.disk = Some(PathBuf::from(val)),
                "--rounds" => a.rounds = num(&val)?,
                "--ef-construction" => a.ef_construction = num(&val)?,
                other => return Err(format!("unknown flag {other}")),
            }
        }
        if a.data.as_os_str().is_empty() {
            return Err("--data DIR is required".into());
        }
        Ok(a)
    }

    /// `(text, metadata)` per line of a rustdocs-style JSONL file.
    fn texts(path: &PathBuf) -> Result<Vec<(String, Value)>, String> {
        let body = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        body.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: Value =
                    serde_json::from_str(l).map_err(|e| format!("{}: {e}", path.display()))?;
                let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                Ok((
                    format!("{}: {}", s("title"), s("text")),
                    json!({"kind": s("kind"), "title": s("title")}),
                ))
            })
            .collect()
    }

    pub fn run() -> Result<(), String> {
        let a = parse()?;
        let vecs = read_f32(&a.data.join("docs.f32"), a.dim)?;
        let texts = a.texts.as_ref().map(texts).transpose()?;
        if texts.as_ref().is_some_and(Vec::is_empty) {
            return Err("--texts: no lines".into());
        }
        let n = vecs.len();
        for round in 0..a.rounds {
            let batch: Vec<Document> = vecs
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let d = Document::new(format!("d{i}"), v.clone());
                    match &texts {
                        Some(t) => {
                            let (text, meta) = &t[i % t.len()];
                            let mut meta = meta.clone();
                            meta["n"] = json!(i);
                            d.text(text.clone()).metadata(meta)
                        }
                        None => d,
                    }
                })
                .collect();
            let opts = Options::new(a.dim)
                .metric(a.metric)
                .ef_construction(a.ef_construction)
                .fulltext(texts.is_some());
            let dir = a.disk.as_ref().map(|d| d.join(format!("round{round}")));
            let db = match &dir {
                Some(d) => VectorDB::open(d, opts),
                None => VectorDB::in_memory(opts),
            }
            .map_err(|e| e.to_string())?;
            let t = Instant::now();
            db.insert_batch(batch).map_err(|e| e.to_string())?;
            let insert_s = t.elapsed().as_secs_f64();
            let t = Instant::now();
            db.close().map_err(|e| e.to_string())?;
            let close_s = t.elapsed().as_secs_f64();
            if let Some(d) = &dir {
                std::fs::remove_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
            }
            println!(
                "{}",
                json!({"what": "ingest", "n": n, "dim": a.dim, "text": texts.is_some(),
                       "disk": dir.is_some(), "insert_s": insert_s, "close_s": close_s,
                       "threads": rayon::current_num_threads()})
            );
        }
        Ok(())
    }
}
