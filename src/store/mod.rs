//! Storage of rows and vectors, and natively the files they live in.
//!
//! The bottom layer: it imports only the byte codec, the error type, the options and
//! `hnsw::VectorSource`, never the layers that drive it (`state`, `durable`, `db`).
//!
//! - `ids.rs`: [`IdIndex`], from a live document's id to its row;
//! - `rows.rs`: [`Rows`] (id, text, metadata, liveness per row), [`Row`] (one document
//!   being written), and the codecs of `rows.dat` and the liveness bitmap;
//! - `vectors.rs`: [`Vectors`] in memory or memory-mapped, and the vector file;
//! - natively, `file.rs` (append-only files, atomic replacement, checked reads),
//!   `lock.rs` (the writer's and the readers' file locks), `manifest.rs` (the directory
//!   layout and `manifest.json`) and `wal.rs` (the write-ahead log).

// cfg: the files below need a file system; wasm32 keeps everything in memory.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod file;
mod ids;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod lock;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod manifest;
mod rows;
mod vectors;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod wal;

pub(crate) use ids::IdIndex;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use rows::Backed;
pub(crate) use rows::{Row, Rows};
pub(crate) use vectors::{Int8Code, Int8Vectors, MemoryVectors, Vectors};
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use vectors::{MappedVectors, VectorFile, map_valid, map_whole};
