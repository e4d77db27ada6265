//! Native side of the cross-target parity test of the npm package (tests/js/parity.test.mjs)
//! and the snapshot builder of the www/ demo.
//!
//! ```text
//! cargo run --release --example parity -- native DIR     # DIR/native.snap + DIR/native.json
//! cargo run --release --example parity -- answer SNAP OUT.json   # answers over a snapshot
//! cargo run --release --example parity -- snapshot OUT.snap      # the sample as a snapshot
//! ```
//!
//! `native` builds a database from the bundled sample, writes its snapshot and the top-10
//! of every sample query in each mode; `answer` opens a snapshot written elsewhere (by
//! Node) and writes the same answers. The answers JSON is
//! `{"modes": {"vector": [[{"id", "score"}, ...], ...], "text": ..., "hybrid": ...,
//! "hybrid_filtered": ...}}`, one list per sample query, in query order. The modes are
//! defined here and, identically, in tests/js/parity.test.mjs:
//! vector (k 10), text (k 10), hybrid (RRF, k 10), and hybrid_filtered (weighted 0.7/0.3,
//! filter `{"kind": "book"}`, k 10).

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    match native::run(std::env::args().skip(1).collect()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("parity: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::path::Path;

    use serde_json::{Value, json};
    use vjson::dataset::Dataset;
    use vjson::{Filter, Fusion, Hit, Options, Query, VectorDB};

    type Res<T> = Result<T, String>;

    const MODES: [&str; 5] = [
        "vector",
        "text",
        "hybrid",
        "hybrid_filtered",
        "hybrid_default",
    ];

    fn query(ds: &Dataset, i: usize, mode: &str) -> Res<Query> {
        let v = ds.query_vector(i).to_vec();
        let t = ds.queries[i].text.clone();
        Ok(match mode {
            "vector" => Query::new().vector(v).k(10),
            "text" => Query::new().text(t).k(10),
            "hybrid" => Query::new()
                .vector(v)
                .text(t)
                .fusion(Fusion::Rrf { k: 60.0 })
                .k(10),
            "hybrid_filtered" => Query::new()
                .vector(v)
                .text(t)
                .fusion(Fusion::Weighted {
                    vector: 0.7,
                    text: 0.3,
                })
                .filter(Filter::from_json(&json!({"kind": "book"})).map_err(|e| e.to_string())?)
                .k(10),
            "hybrid_default" => Query::new().vector(v).text(t).k(10),
            other => return Err(format!("unknown mode {other}")),
        })
    }

    fn answers(db: &VectorDB, ds: &Dataset) -> Res<Value> {
        let mut modes = serde_json::Map::new();
        for mode in MODES {
            let mut lists = Vec::with_capacity(ds.queries.len());
            for i in 0..ds.queries.len() {
                let hits: Vec<Hit> = db
                    .search(&query(ds, i, mode)?)
                    .map_err(|e| format!("{mode} query {i}: {e}"))?;
                lists.push(Value::Array(
                    hits.iter()
                        .map(|h| json!({"id": h.id, "score": h.score}))
                        .collect(),
                ));
            }
            modes.insert(mode.to_owned(), Value::Array(lists));
        }
        Ok(json!({ "documents": db.len(), "modes": modes }))
    }

    fn write(path: &Path, bytes: &[u8]) -> Res<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn build() -> Res<(Dataset, VectorDB)> {
        let ds = vjson::bundled_sample!();
        let db = VectorDB::in_memory(Options::new(ds.dim)).map_err(|e| e.to_string())?;
        db.insert_batch(ds.documents()).map_err(|e| e.to_string())?;
        Ok((ds, db))
    }

    pub fn run(args: Vec<String>) -> Res<()> {
        let usage =
            "usage: parity native DIR | parity answer SNAPSHOT OUT.json | parity snapshot OUT.snap";
        match args
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["native", dir] => {
                let (ds, db) = build()?;
                let dir = Path::new(dir);
                write(
                    &dir.join("native.snap"),
                    &db.export_snapshot().map_err(|e| e.to_string())?,
                )?;
                let out = answers(&db, &ds)?;
                write(&dir.join("native.json"), out.to_string().as_bytes())?;
                println!(
                    "parity: wrote {} and native.json ({} documents, {} queries)",
                    dir.join("native.snap").display(),
                    db.len(),
                    ds.queries.len()
                );
                Ok(())
            }
            ["answer", snap, out] => {
                let bytes = std::fs::read(snap).map_err(|e| format!("{snap}: {e}"))?;
                let db = VectorDB::import_snapshot(&bytes).map_err(|e| e.to_string())?;
                let ds = vjson::bundled_sample!();
                let answers = answers(&db, &ds)?;
                write(Path::new(out), answers.to_string().as_bytes())?;
                println!("parity: answered {} queries over {snap}", ds.queries.len());
                Ok(())
            }
            ["snapshot", out] => {
                let (_, db) = build()?;
                write(
                    Path::new(out),
                    &db.export_snapshot().map_err(|e| e.to_string())?,
                )?;
                println!("parity: wrote {out} ({} documents)", db.len());
                Ok(())
            }
            _ => Err(usage.to_owned()),
        }
    }
}
