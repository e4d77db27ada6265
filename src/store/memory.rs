//! In-memory vector storage: one row-major `Vec<f32>`.

use crate::hnsw::VectorSource;

/// Vectors in memory, row-major.
pub(crate) struct MemoryVectors {
    dim: usize,
    data: Vec<f32>,
}

impl MemoryVectors {
    pub(crate) fn new(dim: usize) -> Self {
        MemoryVectors {
            dim,
            data: Vec::new(),
        }
    }

    pub(crate) fn from_vec(dim: usize, data: Vec<f32>) -> Self {
        debug_assert_eq!(data.len() % dim, 0);
        MemoryVectors { dim, data }
    }

    pub(crate) fn push(&mut self, v: &[f32]) {
        debug_assert_eq!(v.len(), self.dim);
        self.data.extend_from_slice(v);
    }

    pub(crate) fn reserve(&mut self, rows: usize) {
        self.data.reserve(rows * self.dim);
    }
}

impl VectorSource for MemoryVectors {
    #[inline]
    fn vector(&self, row: u32) -> &[f32] {
        let s = row as usize * self.dim;
        &self.data[s..s + self.dim]
    }
}
