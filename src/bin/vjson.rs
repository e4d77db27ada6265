//! The `vjson` command-line tool (native only): translates arguments into library calls
//! and results into text.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use std::process::ExitCode;
    use std::time::Instant;

    use clap::{Parser, Subcommand};
    use vjson::dataset::{Dataset, mrr_recall_at_10};
    use vjson::{Fusion, Hit, Options, Query, VectorDB};

    #[derive(Parser)]
    #[command(
        name = "vjson",
        version,
        about = "Embedded vector database with hybrid search"
    )]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Subcommand)]
    enum Command {
        /// Build a database from the bundled rustdocs sample and show vector, text and
        /// hybrid search on it, with MRR@10 and recall@10 of each mode.
        Demo {
            /// Use this dataset directory instead of the bundled sample.
            #[arg(long)]
            data: Option<std::path::PathBuf>,
            /// How many sample queries to show in full.
            #[arg(long, default_value_t = 3)]
            show: usize,
        },
    }

    pub fn main() -> ExitCode {
        let cli = Cli::parse();
        let result = match cli.command {
            Command::Demo { data, show } => demo(data, show),
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("vjson: error [{}]: {e}", e.code());
                ExitCode::FAILURE
            }
        }
    }

    fn print_hits(title: &str, hits: &[Hit], relevant: &str) {
        println!("  {title}");
        for (i, h) in hits.iter().enumerate() {
            let fmt = |s: Option<f32>| s.map_or("-".to_string(), |s| format!("{s:.3}"));
            println!(
                "    {:>2}. {:<7.4} vec {:>6} text {:>6}  {}{}",
                i + 1,
                h.score,
                fmt(h.vector_score),
                fmt(h.text_score),
                h.id,
                if h.id == relevant {
                    "  <== relevant"
                } else {
                    ""
                }
            );
        }
    }

    fn demo(data: Option<std::path::PathBuf>, show: usize) -> vjson::Result<()> {
        let ds = match data {
            Some(dir) => Dataset::load(&dir, 384)?,
            None => Dataset::bundled(),
        };
        println!(
            "vjson demo: {} Rust documentation sections, {} queries, all-MiniLM-L6-v2 ({}-d)",
            ds.docs.len(),
            ds.queries.len(),
            ds.dim
        );
        let db = VectorDB::in_memory(Options::new(ds.dim))?;
        let t = Instant::now();
        db.insert_batch(ds.documents())?;
        println!(
            "built an in-memory database of {} documents (HNSW + BM25) in {:.2?}\n",
            db.len(),
            t.elapsed()
        );
        let modes = ["vector", "text", "hybrid"];
        let query = |i: usize, mode: &str| {
            let q = &ds.queries[i];
            let base = Query::new().k(10).fusion(Fusion::default());
            match mode {
                "vector" => base.vector(ds.query_vector(i).to_vec()),
                "text" => base.text(q.text.clone()),
                _ => base
                    .vector(ds.query_vector(i).to_vec())
                    .text(q.text.clone()),
            }
        };
        for i in 0..show.min(ds.queries.len()) {
            let q = &ds.queries[i];
            println!("query {:?} ({}): {:?}", q.id, q.kind, q.text);
            for mode in modes {
                let hits = db.search(&query(i, mode).k(5))?;
                print_hits(mode, &hits, &q.relevant);
            }
            println!();
        }
        println!(
            "quality over all {} sample queries (k = 10):",
            ds.queries.len()
        );
        println!(
            "  {:<8} {:>8} {:>10} {:>12}",
            "mode", "MRR@10", "recall@10", "mean time"
        );
        for mode in modes {
            let t = Instant::now();
            let runs: Vec<Vec<Hit>> = (0..ds.queries.len())
                .map(|i| db.search(&query(i, mode)))
                .collect::<vjson::Result<_>>()?;
            let per = t.elapsed() / ds.queries.len().max(1) as u32;
            let (mrr, recall) = mrr_recall_at_10(
                runs.iter()
                    .zip(&ds.queries)
                    .map(|(h, q)| (h.as_slice(), q.relevant.as_str())),
            );
            println!("  {mode:<8} {mrr:>8.4} {recall:>10.4} {per:>12.2?}");
        }
        Ok(())
    }
}
