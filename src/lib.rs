//! # vjson
//!
//! An embedded vector database with hybrid search: vector similarity (our own HNSW) and
//! full-text relevance (BM25) over the same documents, fused into one ranking, with
//! Mongo-style metadata filters. The same crate runs natively and on `wasm32` (as the
//! `vjson` npm package), and a snapshot written by one opens in the other.
//!
//! ```
//! use vjson::{Document, Filter, Fusion, Options, Query, VectorDB};
//! use serde_json::json;
//!
//! let db = VectorDB::in_memory(Options::new(2))?;
//! db.insert_batch(vec![
//!     Document::new("own", vec![1.0, 0.0]).text("ownership rules").metadata(json!({"year": 2024})),
//!     Document::new("life", vec![0.0, 1.0]).text("lifetimes and borrowing").metadata(json!({"year": 2019})),
//! ])?;
//! let hits = db.search(
//!     &Query::new()
//!         .vector(vec![0.2, 0.9])
//!         .text("borrowing")
//!         .filter(Filter::from_json(&json!({"year": {"$gte": 2015}}))?)
//!         .fusion(Fusion::Rrf { k: 60.0 })
//!         .k(2),
//! )?;
//! assert_eq!(hits[0].id, "life");
//! # Ok::<(), vjson::Error>(())
//! ```
//!
//! Natively, [`VectorDB::open`] keeps a database in a directory: vectors in a memory-mapped
//! file, the graph and rows in checkpointed files, full text in Tantivy, and every write in
//! a write-ahead log first (fsync'd before the call returns, by default), so a crash loses
//! no acknowledged write and never leaves half of one. Any number of threads may search
//! while one writes; a search sees a write entirely or not at all.

//!
//! The layers, top to bottom (see `ARCHITECTURE.md`): `db` (the orchestrator: validation
//! and every lock) → `durable` (the log, the files and recovery of an on-disk database) →
//! `state` (what a database holds in memory) → `store` (rows, vectors, files), `hnsw`,
//! `text`, `filter`, `fusion`; `snapshot` beside `durable`; `codec` (bytes) at the bottom.

mod codec;
#[doc(hidden)]
pub mod dataset;
mod db;
mod distance;
mod document;
mod durable;
mod error;
// cfg: the faults it injects are of the on-disk files, which wasm32 does not have.
#[cfg(not(target_arch = "wasm32"))]
mod fault;
mod filter;
mod fusion;
// cfg: entry points for the fuzz targets in fuzz/, built only by `cargo fuzz`.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzz;
mod hnsw;
mod options;
mod par;
mod query;
mod rank;
mod snapshot;
mod state;
mod store;
mod sync;
mod text;

pub use db::{Sides, Stats, VectorDB};
pub use distance::{dot, l2sq, norm};
pub use document::{Document, Hit};
pub use durable::DiskStats;
pub use error::{Error, Result};
pub use filter::{Filter, OPERATORS};
pub use fusion::Fusion;
pub use hnsw::distance_computations;
pub use options::{
    DEFAULT_TITLE_BOOST, Durability, HnswParams, Limits, MAX_DIMENSION, MAX_FILTER_CONDITIONS,
    MAX_FILTER_DEPTH, MAX_ID_BYTES, MAX_K, MAX_METADATA_DEPTH, Metric, Options, Quantization,
};
pub use query::Query;
pub use snapshot::{MAGIC as SNAPSHOT_MAGIC, VERSION as SNAPSHOT_VERSION};
pub use state::MemoryStats;
pub use text::analyze;

cfg_if::cfg_if! {
    if #[cfg(target_arch = "wasm32")] {
        mod heap;
        mod wasm;
    } else {
        pub use durable::CHECKPOINT_WAL_BYTES;
    }
}

/// The README's Rust code, compiled and run as a doc test (`cargo test --doc`), so that
/// what users paste into a new project works.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
