//! Row storage: what each row number holds — id, vector, text, metadata, liveness.
//!
//! Rows are append-only; a delete tombstones its row and compaction rewrites the rows.
//! Ids, text and metadata are kept in [`Rows`] on both targets; vectors live in
//! [`Vectors`], in memory (`memory.rs`) or, natively, in a memory-mapped file (`disk.rs`).
//! Natively, `disk.rs` also owns the on-disk layout (manifest, data files, checkpoints) and
//! `wal.rs` the write-ahead log.

#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod disk;
mod memory;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod wal;

pub(crate) use memory::MemoryVectors;
use serde_json::Value;

use crate::hnsw::VectorSource;

/// Per-row ids, texts, metadata and liveness.
#[derive(Default)]
pub(crate) struct Rows {
    pub ids: Vec<String>,
    pub texts: Vec<Option<String>>,
    pub metadata: Vec<Option<Value>>,
    pub live: Vec<bool>,
}

impl Rows {
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    pub(crate) fn push(&mut self, id: String, text: Option<String>, metadata: Option<Value>) {
        self.ids.push(id);
        self.texts.push(text);
        self.metadata.push(metadata);
        self.live.push(true);
    }

    /// Tombstones `row`, dropping its text and metadata.
    pub(crate) fn kill(&mut self, row: u32) -> (Option<String>, Option<Value>) {
        let r = row as usize;
        self.live[r] = false;
        (self.texts[r].take(), self.metadata[r].take())
    }
}

/// Vector storage by row number.
pub(crate) enum Vectors {
    Memory(MemoryVectors),
    /// Natively: a memory-mapped file plus the rows appended since it was mapped.
    #[cfg(not(target_arch = "wasm32"))]
    Disk(disk::DiskVectors),
}

impl Vectors {
    pub(crate) fn push(&mut self, v: &[f32]) -> crate::Result<()> {
        match self {
            Vectors::Memory(m) => {
                m.push(v);
                Ok(())
            }
            #[cfg(not(target_arch = "wasm32"))]
            Vectors::Disk(d) => {
                d.push(v);
                Ok(())
            }
        }
    }

    /// Reserves room for `additional` more rows.
    pub(crate) fn reserve(&mut self, additional: usize) {
        match self {
            Vectors::Memory(m) => m.reserve(additional),
            #[cfg(not(target_arch = "wasm32"))]
            Vectors::Disk(d) => d.reserve(additional),
        }
    }
}

impl VectorSource for Vectors {
    #[inline]
    fn vector(&self, row: u32) -> &[f32] {
        match self {
            Vectors::Memory(m) => m.vector(row),
            #[cfg(not(target_arch = "wasm32"))]
            Vectors::Disk(d) => d.vector(row),
        }
    }
}
