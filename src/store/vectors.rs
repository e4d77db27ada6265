//! Vector storage by row number: [`Vectors`], in memory on every target or, natively,
//! served from a memory map of `vectors.f32` ([`MappedVectors`]), and the writer's
//! buffered handle on that file ([`VectorFile`]).
//!
//! All `unsafe` of the storage layer is in this file: mapping the file and viewing the
//! map as `f32`. The invariant it relies on is written once, at [`MappedVectors`].
//!
//! `vectors.f32` is row-major little-endian `f32` in stored form (normalised under
//! cosine). It is mapped as native `f32`, so big-endian hosts are refused at compile time.

#[cfg(all(not(target_arch = "wasm32"), target_endian = "big"))]
compile_error!(
    "vjson's on-disk format maps little-endian f32 directly; big-endian hosts are not supported"
);

use crate::distance::prefetch;
use crate::hnsw::VectorSource;

/// Vectors by row number.
pub(crate) enum Vectors {
    Memory(MemoryVectors),
    /// Natively: a memory-mapped file plus the rows appended since it was mapped.
    #[cfg(not(target_arch = "wasm32"))]
    Mapped(MappedVectors),
}

impl Vectors {
    /// Appends the vector of the next row.
    pub(crate) fn push(&mut self, v: &[f32]) {
        match self {
            Vectors::Memory(m) => m.push(v),
            #[cfg(not(target_arch = "wasm32"))]
            Vectors::Mapped(d) => d.push(v),
        }
    }

    /// Heap bytes: every vector in memory, or the rows appended since the file was mapped.
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            Vectors::Memory(m) => m.data.capacity() * 4,
            #[cfg(not(target_arch = "wasm32"))]
            Vectors::Mapped(d) => d.heap_bytes(),
        }
    }

    /// Bytes served from the memory map (file-backed: resident only as far as touched).
    pub(crate) fn mapped_bytes(&self) -> usize {
        match self {
            Vectors::Memory(_) => 0,
            #[cfg(not(target_arch = "wasm32"))]
            Vectors::Mapped(d) => d.mapped_bytes(),
        }
    }

    /// Reserves room for `additional` more rows.
    pub(crate) fn reserve(&mut self, additional: usize) {
        match self {
            Vectors::Memory(m) => m.reserve(additional),
            #[cfg(not(target_arch = "wasm32"))]
            Vectors::Mapped(d) => d.reserve(additional),
        }
    }
}

impl VectorSource for Vectors {
    #[inline(always)]
    fn vector(&self, row: u32) -> &[f32] {
        match self {
            Vectors::Memory(m) => m.vector(row),
            #[cfg(not(target_arch = "wasm32"))]
            Vectors::Mapped(d) => d.vector(row),
        }
    }

    #[inline(always)]
    fn prefetch(&self, row: u32) {
        match self {
            Vectors::Memory(m) => m.prefetch(row),
            #[cfg(not(target_arch = "wasm32"))]
            Vectors::Mapped(d) => d.prefetch(row),
        }
    }
}

/// A compact copy of the vectors that graph searches traverse with: each vector as `dim`
/// signed bytes plus its own scale (`x ≈ scale * code`, `scale = max |x| / 127`), and its
/// exact squared norm (for L2). A quarter of the f32 bytes, so far more of it stays in
/// the CPU's caches; searches re-rank their final candidates with the f32 vectors.
///
/// Codes depend on nothing but their own vector, and integer dot products are exact, so
/// every target computes the same distances. One row is `dim + 8` bytes: the codes, then
/// the scale and the squared norm (`f32`, little-endian), so a row's distance reads one
/// contiguous run. In memory they sit in a buffer; natively a database keeps them in
/// `vectors.i8` (same layout), written as rows are written and memory-mapped at each
/// checkpoint like `vectors.f32`, so opening a database does not recompute them and only
/// the rows searches touch are paged in (see [`MappedVectors`] for the invariant the map
/// relies on).
pub(crate) struct Int8Vectors {
    dim: usize,
    /// Natively: the mapped rows `0..mapped`.
    #[cfg(not(target_arch = "wasm32"))]
    map: Option<memmap2::Mmap>,
    mapped: usize,
    /// Rows from `mapped` on.
    tail: Vec<u8>,
}

/// One vector encoded as in [`Int8Vectors`].
pub(crate) struct Int8Code {
    pub(crate) codes: Vec<i8>,
    pub(crate) scale: f32,
    pub(crate) sq_norm: f32,
}

impl Int8Code {
    /// Encodes `v`.
    pub(crate) fn of(v: &[f32]) -> Int8Code {
        let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
        let (scale, inv) = if max > 0.0 {
            (max / 127.0, 127.0 / max)
        } else {
            (0.0, 0.0)
        };
        Int8Code {
            codes: v
                .iter()
                .map(|x| (x * inv).round().clamp(-127.0, 127.0) as i8)
                .collect(),
            scale,
            sq_norm: crate::distance::dot(v, v),
        }
    }

    /// Appends the code's row bytes (see [`Int8Vectors`]) to `out`.
    pub(crate) fn write_row(&self, out: &mut Vec<u8>) {
        out.extend(self.codes.iter().map(|&c| c as u8));
        out.extend_from_slice(&self.scale.to_le_bytes());
        out.extend_from_slice(&self.sq_norm.to_le_bytes());
    }
}

impl Int8Vectors {
    /// Bytes of one row of dimension `dim`.
    pub(crate) fn row_bytes(dim: usize) -> usize {
        dim + 8
    }

    /// The codes of rows `0..rows` of `vectors`, in memory.
    pub(crate) fn of(dim: usize, rows: u32, vectors: &impl VectorSource) -> Self {
        let mut q = Int8Vectors {
            dim,
            #[cfg(not(target_arch = "wasm32"))]
            map: None,
            mapped: 0,
            tail: Vec::with_capacity(rows as usize * Self::row_bytes(dim)),
        };
        for r in 0..rows {
            q.push(vectors.vector(r));
        }
        q
    }

    /// Natively: rows `0..rows`, all in `map` (which holds exactly their bytes).
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn mapped(dim: usize, map: Option<memmap2::Mmap>, rows: usize) -> Self {
        assert_eq!(
            map.as_ref().map_or(0, |m| m.len()),
            rows * Self::row_bytes(dim)
        );
        Int8Vectors {
            dim,
            map,
            mapped: rows,
            tail: Vec::new(),
        }
    }

    /// Natively: replaces the map by one covering every row, and drops the tail.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn install(&mut self, map: Option<memmap2::Mmap>, rows: usize) {
        let stride = Self::row_bytes(self.dim);
        assert_eq!(rows, self.mapped + self.tail.len() / stride);
        assert_eq!(map.as_ref().map_or(0, |m| m.len()), rows * stride);
        self.map = map;
        self.mapped = rows;
        self.tail = Vec::new();
    }

    /// Appends the code of the next row's vector.
    pub(crate) fn push(&mut self, v: &[f32]) {
        Int8Code::of(v).write_row(&mut self.tail);
    }

    /// Reserves room for `additional` more rows.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.tail.reserve(additional * Self::row_bytes(self.dim));
    }

    /// Heap bytes (the rows not mapped).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.tail.capacity()
    }

    /// Bytes served from the map.
    pub(crate) fn mapped_bytes(&self) -> usize {
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(m) = &self.map {
            return m.len();
        }
        0
    }

    /// The bytes of `row` (see the type's docs).
    #[inline(always)]
    fn row(&self, row: u32) -> &[u8] {
        let stride = Self::row_bytes(self.dim);
        let r = row as usize;
        #[cfg(not(target_arch = "wasm32"))]
        if r < self.mapped {
            let map = self.map.as_ref().expect("rows below `mapped` are mapped");
            return &map[r * stride..(r + 1) * stride];
        }
        let s = (r - self.mapped) * stride;
        &self.tail[s..s + stride]
    }

    /// The codes, scale and squared norm of `row`, from one lookup.
    #[inline(always)]
    pub(crate) fn parts(&self, row: u32) -> (&[i8], f32, f32) {
        let b = self.row(row);
        let (codes, rest) = b.split_at(self.dim);
        // SAFETY: `i8` and `u8` have the same size, alignment and validity (every bit
        // pattern); the slice borrows `self`.
        let codes = unsafe { std::slice::from_raw_parts(codes.as_ptr().cast::<i8>(), self.dim) };
        (codes, le_f32(rest, 0), le_f32(rest, 4))
    }

    #[inline(always)]
    pub(crate) fn prefetch(&self, row: u32) {
        prefetch(|| self.row(row).as_ptr().cast());
    }
}

/// The little-endian `f32` at byte `at` of `b`.
#[inline(always)]
fn le_f32(b: &[u8], at: usize) -> f32 {
    f32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

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
    #[inline(always)]
    fn vector(&self, row: u32) -> &[f32] {
        let s = row as usize * self.dim;
        &self.data[s..s + self.dim]
    }

    #[inline(always)]
    fn prefetch(&self, row: u32) {
        prefetch(|| self.vector(row).as_ptr().cast());
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use mapped::{MappedVectors, VectorFile, map_valid, map_whole};

#[cfg(not(target_arch = "wasm32"))]
mod mapped {
    use memmap2::{Mmap, MmapOptions};

    use super::super::file::{AppendFile, corrupt, io_err};
    use crate::error::Result;

    /// Maps the valid bytes of an append-only file (`rows.dat` at open, which the rows
    /// then point into): nothing is copied into the heap, and the kernel may drop the
    /// pages again. `rows.dat` keeps the invariant stated at [`MappedVectors`] for the
    /// same reasons: it is only appended to by the one writer, cut only past the length a
    /// manifest names (so past any mapped range), and replaced, not rewritten, by
    /// compaction.
    pub(crate) fn map_valid(file: &AppendFile) -> Result<Option<Mmap>> {
        if file.len == 0 {
            return Ok(None);
        }
        let len = usize::try_from(file.len)
            .map_err(|_| corrupt(&file.path, "too large to map on this platform"))?;
        // SAFETY: the mapped range is not changed while mapped (see above). Read-only.
        unsafe { MmapOptions::new().len(len).map(&file.file) }
            .map(Some)
            .map_err(|e| io_err("mapping", &file.path, e))
    }

    /// Maps a whole file that a checkpoint wrote under a name of its own and no one
    /// changes in place (the graph, read once at open by `file::read_checked`).
    pub(crate) fn map_whole(file: &std::fs::File, path: &std::path::Path) -> Result<Mmap> {
        // SAFETY: read-only, of a file written whole and never changed (see above).
        let map = unsafe { Mmap::map(file) }.map_err(|e| io_err("mapping", path, e))?;
        // Read once, front to back.
        let _ = map.advise(memmap2::Advice::Sequential);
        Ok(map)
    }

    impl crate::store::rows::Backed for Mmap {
        fn bytes(&self) -> &[u8] {
            self
        }

        fn decoded(&self) {
            // SAFETY: the map is a read-only shared map of a file whose mapped range does
            // not change (see `map_valid`): dropping its pages only makes the next read
            // fetch the same bytes from the page cache or the file again.
            let _ = unsafe { self.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
            // Hits and filters then read rows here and there: no read-ahead.
            let _ = self.advise(memmap2::Advice::Random);
        }
    }

    /// Searches read f32 vectors only to re-rank a few rows scattered over the file:
    /// without read-ahead, only those rows' pages are read and kept. Set on the map an
    /// open (or a compaction) makes, not on a checkpoint's: a writer linking new rows
    /// reads their neighbours' vectors, and fault-around serves those faster. (The int8
    /// codes keep the default: graph walks touch most of them.) Measured at 1 M rows:
    /// with the page cache holding the file, the same latency and RSS with and without
    /// it; under a memory limit below the file's size, without it each fault read 128 KiB
    /// around the row and the queries read the file from disk ~150 times over.
    fn random_access(map: &Option<Mmap>) {
        if let Some(m) = map {
            let _ = m.advise(memmap2::Advice::Random);
        }
    }

    /// Vector bytes gathered before one write to `vectors.f32`.
    pub(crate) const VECTOR_BUFFER_BYTES: usize = 512 * 1024;

    /// Vectors of an on-disk database: rows `0..mapped` read from the memory-mapped
    /// `vectors.f32`, later rows from `tail` until the next checkpoint maps them.
    ///
    /// The invariant every `unsafe` below relies on: **a mapped byte range of
    /// `vectors.f32` is never changed or cut while the map exists.** It holds because
    ///
    /// - the file is only ever appended to while a database has it open for writing (the
    ///   `LOCK` file, taken with `flock` at open, keeps every other writer out);
    /// - the one truncation, at open (cutting what an unfinished checkpoint appended past
    ///   the manifest's length, `AppendFile::cut_extra`), only removes bytes *past* the
    ///   mapped range: the map covers exactly the manifest's length, which the file was
    ///   checked to hold; a read-only open in another process maps the length of the
    ///   manifest it read, never more than the latest manifest's;
    /// - compaction writes a new file (`vectors.<c>.f32`) and switches to it; the old map
    ///   is dropped with the old state, and the old file is removed only after that;
    /// - only the writer replaces the map ([`MappedVectors::install`]), under the
    ///   database's write lock, so no reader holds a slice of a map being replaced.
    pub(crate) struct MappedVectors {
        dim: usize,
        map: Option<Mmap>,
        mapped: usize,
        tail: Vec<f32>,
    }

    impl MappedVectors {
        /// Vectors for `rows` rows, all in `map` (which holds exactly `rows * dim` f32).
        pub(crate) fn new(dim: usize, map: Option<Mmap>, rows: usize) -> Self {
            assert_eq!(map.as_ref().map_or(0, |m| m.len()), rows * dim * 4);
            random_access(&map);
            MappedVectors {
                dim,
                map,
                mapped: rows,
                tail: Vec::new(),
            }
        }

        #[inline(always)]
        pub(crate) fn vector(&self, row: u32) -> &[f32] {
            let r = row as usize;
            if r < self.mapped {
                let map = self.map.as_ref().expect("rows below `mapped` are mapped");
                // SAFETY: the map is page-aligned (so f32-aligned) and holds exactly
                // `mapped * dim` f32 (asserted in `new` and `install`); `r < mapped`. The
                // bytes do not change while mapped (the type's invariant), and the map
                // outlives `&self`.
                unsafe {
                    std::slice::from_raw_parts(
                        map.as_ptr().cast::<f32>().add(r * self.dim),
                        self.dim,
                    )
                }
            } else {
                let s = (r - self.mapped) * self.dim;
                &self.tail[s..s + self.dim]
            }
        }

        #[inline(always)]
        pub(crate) fn prefetch(&self, row: u32) {
            super::prefetch(|| self.vector(row).as_ptr().cast());
        }

        pub(crate) fn push(&mut self, v: &[f32]) {
            debug_assert_eq!(v.len(), self.dim);
            self.tail.extend_from_slice(v);
        }

        pub(crate) fn heap_bytes(&self) -> usize {
            self.tail.capacity() * 4
        }

        pub(crate) fn mapped_bytes(&self) -> usize {
            self.map.as_ref().map_or(0, |m| m.len())
        }

        pub(crate) fn reserve(&mut self, rows: usize) {
            self.tail.reserve(rows * self.dim);
        }

        fn rows(&self) -> usize {
            self.mapped + self.tail.len() / self.dim
        }

        /// Replaces the map by one covering every row, and drops the tail.
        pub(crate) fn install(&mut self, map: Option<Mmap>, rows: usize) {
            assert_eq!(rows, self.rows());
            assert_eq!(map.as_ref().map_or(0, |m| m.len()), rows * self.dim * 4);
            self.map = map;
            self.mapped = rows;
            self.tail = Vec::new();
        }
    }

    /// An append-only file of fixed-size rows for writing (`vectors.f32`, and `vectors.i8`
    /// of the int8 codes): appends go through a 512 KiB buffer.
    pub(crate) struct VectorFile {
        pub(crate) file: AppendFile,
        buf: Vec<u8>,
    }

    impl VectorFile {
        pub(crate) fn new(file: AppendFile) -> Self {
            VectorFile {
                file,
                buf: Vec::with_capacity(VECTOR_BUFFER_BYTES),
            }
        }

        pub(crate) fn append(&mut self, v: &[f32]) -> Result<()> {
            for x in v {
                self.buf.extend_from_slice(&x.to_le_bytes());
            }
            self.flush_if_full()
        }

        /// Appends a vector's int8 code row (see [`super::Int8Vectors`]).
        pub(crate) fn append_code(&mut self, v: &[f32]) -> Result<()> {
            super::Int8Code::of(v).write_row(&mut self.buf);
            self.flush_if_full()
        }

        fn flush_if_full(&mut self) -> Result<()> {
            if self.buf.len() >= VECTOR_BUFFER_BYTES {
                self.flush()?;
            }
            Ok(())
        }

        fn flush(&mut self) -> Result<()> {
            if !self.buf.is_empty() {
                self.file.append(&self.buf)?;
                self.buf.clear();
            }
            Ok(())
        }

        /// Writes the buffer and makes the file durable.
        pub(crate) fn sync(&mut self) -> Result<()> {
            self.flush()?;
            self.file.sync()
        }

        /// Bytes written, buffered ones included.
        pub(crate) fn len(&self) -> u64 {
            self.file.len + self.buf.len() as u64
        }

        /// Maps the first `bytes` bytes, which must have been written ([`VectorFile::sync`])
        /// and lie within the file's valid length.
        pub(crate) fn map(&self, bytes: u64) -> Result<Option<Mmap>> {
            if bytes == 0 {
                return Ok(None);
            }
            assert!(bytes <= self.file.len, "mapping bytes not written yet");
            let len = usize::try_from(bytes)
                .map_err(|_| corrupt(&self.file.path, "too large to map on this platform"))?;
            // SAFETY: mapping is sound as long as the mapped range does not change while
            // mapped: see the invariant at `MappedVectors`. The map is read-only.
            unsafe { MmapOptions::new().len(len).map(&self.file.file) }
                .map(Some)
                .map_err(|e| io_err("mapping", &self.file.path, e))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::hnsw::VectorSource;
        use crate::store::Vectors;

        #[test]
        fn mapped_rows_and_tail_read_back() {
            let dir = tempfile::tempdir().unwrap();
            let mut f = VectorFile::new(AppendFile::create(dir.path().join("v.f32")).unwrap());
            f.append(&[1.0, 2.0]).unwrap();
            f.append(&[3.0, 4.0]).unwrap();
            f.sync().unwrap();
            let mut v = Vectors::Mapped(MappedVectors::new(2, f.map(16).unwrap(), 2));
            v.push(&[5.0, 6.0]);
            assert_eq!(v.vector(0), &[1.0, 2.0]);
            assert_eq!(v.vector(2), &[5.0, 6.0]);
            f.append(&[5.0, 6.0]).unwrap();
            f.sync().unwrap();
            let Vectors::Mapped(m) = &mut v else {
                unreachable!()
            };
            m.install(f.map(24).unwrap(), 3);
            assert_eq!(v.vector(1), &[3.0, 4.0]);
            assert_eq!(v.vector(2), &[5.0, 6.0]);
        }
    }
}
