//! Ingests random documents into a fresh on-disk database, for counting the write
//! syscalls a durable ingest costs:
//!
//! ```text
//! cargo build --release --example disk_ingest
//! strace -c -f -e trace=write,pwrite64,writev,fsync,fdatasync \
//!     target/release/examples/disk_ingest batch 10000 768
//! strace -c -f -e trace=write,pwrite64,writev,fsync,fdatasync \
//!     target/release/examples/disk_ingest single 10000 768
//! ```
//!
//! Arguments: `batch` (one `insert_batch`) or `single` (one `insert` per document), the
//! number of documents (default 10,000) and the dimension (default 768); `--buffered`
//! uses `Durability::Buffered`; `--memory` uses an in-memory database instead (to tell
//! the cost of the disk from the cost of the index); `--dir PATH` keeps the database there
//! (default: a temporary directory, removed at exit). Every document has a ~60-word text and
//! metadata. Prints the wall time of the writes and of the final close (checkpoint).

use std::time::Instant;

use vjson::{Durability, Options, VectorDB};

#[path = "../tests/support/gen.rs"]
mod generate;
use generate::documents;

fn main() -> vjson::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut pos = args.iter().filter(|a| !a.starts_with("--"));
    let mode = pos.next().cloned().unwrap_or_else(|| "batch".into());
    let n: usize = pos
        .next()
        .map_or(10_000, |s| s.parse().expect("a number of documents"));
    let dim: usize = pos.next().map_or(768, |s| s.parse().expect("a dimension"));
    let durability = if args.iter().any(|a| a == "--buffered") {
        Durability::Buffered
    } else {
        Durability::Fsync
    };
    let tmp;
    let dir = match args.iter().position(|a| a == "--dir") {
        Some(i) => std::path::PathBuf::from(&args[i + 1]),
        None => {
            tmp = tempfile::tempdir().expect("a temporary directory");
            tmp.path().join("db")
        }
    };
    let docs = documents(n, dim, 1);
    let memory = args.iter().any(|a| a == "--memory");
    let db = if memory {
        VectorDB::in_memory(Options::new(dim))?
    } else {
        VectorDB::open(&dir, Options::new(dim).durability(durability))?
    };
    let t = Instant::now();
    match mode.as_str() {
        "batch" => db.insert_batch(docs)?,
        "single" => {
            for d in docs {
                db.insert(d)?;
            }
        }
        other => panic!("mode must be batch or single, not {other:?}"),
    }
    let write = t.elapsed();
    let t = Instant::now();
    db.close()?;
    eprintln!(
        "{mode}: {n} x {dim} documents ({}) written in {write:.2?}, closed (checkpoint) in {:.2?}",
        if memory {
            "in memory".to_string()
        } else {
            format!("{durability:?}")
        },
        t.elapsed()
    );
    Ok(())
}
