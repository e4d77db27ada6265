//! Checkpoints and compaction of an on-disk database (native only), each in phases so
//! that searches go on meanwhile: `db.rs` calls the capture under the read lock, the
//! writing with no lock held, and the apply (or the swap) under the write lock.
//!
//! A checkpoint folds the log into the data files: it fsyncs the log (Tantivy's commit
//! below must not get ahead of it) and the vector file, appends the new rows to
//! `rows.dat`, writes the graph and the liveness bitmap as new per-checkpoint files,
//! commits Tantivy with the log sequence number as payload, writes the manifest (the
//! switch), empties the log, removes the previous checkpoint's files, and finally maps the
//! vector file anew and hands Tantivy's new searcher to the state.
//!
//! Compaction writes a new generation of every file without the tombstoned rows,
//! rebuilds the graph and the text index over them, switches to it by the manifest, and
//! replaces the state.

use memmap2::Mmap;

use super::disk::{DiskJournal, remove_superseded};
use super::open::{index_rows, map_rows, rebuild_text};
use crate::codec::Encoder;
use crate::distance::Distance;
use crate::error::Result;
use crate::hnsw::{ExactSpace, Hnsw, VectorSource};
use crate::state::State;
use crate::store::file::{AppendFile, corrupt, sync_dir};
use crate::store::manifest::{FORMAT, FORMAT_VERSION, FileRef, Manifest};
use crate::store::{Int8Vectors, MappedVectors, VectorFile, Vectors, map_valid};
use crate::text::{TantivyWriter, Text};

/// What a checkpoint takes from the state under the read lock.
pub(crate) struct Captured {
    /// `rows.dat` bytes of the rows added since the last checkpoint, and where each
    /// one's frame will be in the file.
    row_bytes: Vec<u8>,
    row_offsets: Vec<u64>,
    /// The row index of every row, when the rows know where each one is.
    row_index: Option<Vec<u8>>,
    live_bitmap: Vec<u8>,
    graph: Vec<u8>,
    rows: usize,
    live_rows: u64,
}

/// What a checkpoint wrote, for the state to take up under the write lock.
pub(crate) struct Written {
    map: Option<Mmap>,
    /// The row file's new map, the first row the checkpoint appended, and where.
    rows_map: Option<Mmap>,
    rows_from: usize,
    row_offsets: Vec<u64>,
    /// The codes file's new map, when there is one.
    codes_map: Option<Option<Mmap>>,
    rows: usize,
    searcher: Option<tantivy::Searcher>,
}

/// A compaction's new vector and row files, written from the live rows.
pub(crate) struct CompactionFiles {
    generation: u64,
    seq: u64,
    vec_file: VectorFile,
    codes_file: Option<VectorFile>,
    rows_file: AppendFile,
    /// Live rows written.
    rows: usize,
}

impl DiskJournal {
    /// Checkpoint phase 1 (read lock): `None` when the log is empty and nothing changed.
    pub(crate) fn checkpoint_capture(&mut self, state: &State) -> Result<Option<Captured>> {
        self.usable()?;
        self.files_present()?;
        if self.last_seq == self.manifest.checkpoint_seq
            && self.wal.len() == 0
            && self.opts == self.manifest.options
        {
            return Ok(None);
        }
        let n = state.rows.len();
        let (row_bytes, row_offsets) = state
            .rows
            .encode_appended(self.manifest.rows as usize, self.manifest.rows_file.bytes);
        Ok(Some(Captured {
            row_index: state.rows.encode_index(&row_offsets),
            row_bytes,
            row_offsets,
            live_bitmap: state.rows.encode_live(),
            graph: state.hnsw.to_bytes(),
            rows: n,
            live_rows: state.live_rows as u64,
        }))
    }

    /// Checkpoint phase 2 (no lock): data files, Tantivy's commit, the manifest, the log.
    pub(crate) fn checkpoint_write(&mut self, c: Captured) -> Result<Written> {
        let seq = self.last_seq;
        let gen_ = self.manifest.checkpoint + 1;
        let dim = self.opts.dimension as u64;
        let n = c.rows;
        // Tantivy's commit below is durable at once: the log it covers must be too (under
        // `Durability::Buffered` it may not be yet).
        self.wal.sync()?;
        self.vec_file.sync()?;
        if self.vec_file.len() != n as u64 * dim * 4 {
            let e = corrupt(
                &self.vec_file.file.path,
                format!(
                    "holds {} bytes for {n} rows of dimension {dim}",
                    self.vec_file.len()
                ),
            );
            return Err(self.fail(e));
        }
        let code_bytes = n as u64 * Int8Vectors::row_bytes(dim as usize) as u64;
        if let Some(f) = self.codes_file.as_mut() {
            f.sync()?;
            if f.len() != code_bytes {
                let e = corrupt(
                    &f.file.path,
                    format!(
                        "holds {} bytes of int8 codes for {n} rows of dimension {dim}",
                        f.len()
                    ),
                );
                return Err(self.fail(e));
            }
        }
        let (rows_from, rows_base) = (self.manifest.rows as usize, self.manifest.rows_file.bytes);
        self.rows_file.cut_to(rows_base)?;
        self.rows_file.append(&c.row_bytes)?;
        self.rows_file.sync()?;
        let live_file = FileRef::write(&self.dir, format!("live.{gen_}.bin"), &c.live_bitmap)?;
        let row_index = c
            .row_index
            .map(|ix| FileRef::write(&self.dir, format!("rows.{gen_}.idx"), &ix))
            .transpose()?;
        let hnsw = FileRef::write(&self.dir, format!("hnsw.{gen_}.bin"), &c.graph)?;
        drop(c.graph);
        let searcher = match self.text.as_mut().map(|t| t.commit(seq)).transpose() {
            Ok(s) => s,
            Err(e) => return Err(self.fail(e)),
        };
        let m = Manifest {
            options: self.opts.clone(),
            checkpoint: gen_,
            checkpoint_seq: seq,
            rows: n as u64,
            live_rows: c.live_rows,
            vectors: FileRef {
                bytes: n as u64 * dim * 4,
                ..self.manifest.vectors.clone()
            },
            rows_file: FileRef {
                bytes: self.rows_file.len,
                ..self.manifest.rows_file.clone()
            },
            live_file,
            hnsw,
            row_index,
            codes: self
                .codes_file
                .as_ref()
                .map(|f| FileRef::appended(file_name(&f.file.path), code_bytes)),
            ..self.manifest.clone()
        };
        m.write(&self.dir)?;
        self.manifest = m;
        self.wal.reset()?;
        remove_superseded(&self.dir, &self.manifest);
        let map = self.vec_file.map(n as u64 * dim * 4)?;
        let codes_map = self
            .codes_file
            .as_ref()
            .map(|f| f.map(code_bytes))
            .transpose()?;
        let rows_map = if rows_from < n {
            map_valid(&self.rows_file)?
        } else {
            None
        };
        Ok(Written {
            map,
            rows_map,
            rows_from,
            row_offsets: c.row_offsets,
            codes_map,
            rows: n,
            searcher,
        })
    }

    /// Checkpoint phase 3 (write lock): the state reads the new map and Tantivy's commit.
    pub(crate) fn checkpoint_apply(&mut self, w: Written, state: &mut State) -> Result<()> {
        if let Vectors::Mapped(v) = &mut state.vectors {
            v.install(w.map, w.rows);
        }
        if let (Some(map), Some(c)) = (w.codes_map, state.codes.as_mut()) {
            c.install(map, w.rows);
        }
        if let Some(map) = w.rows_map {
            state
                .rows
                .adopt(Box::new(map), w.rows_from, &w.row_offsets)
                .map_err(|e| e.into_corrupt(&self.rows_file.path))?;
        }
        if let (Some(s), Some(t)) = (w.searcher, state.text.as_mut()) {
            t.committed(s, w.rows as u32)?;
        }
        Ok(())
    }

    /// Compaction phase 1 (read lock): writes the live rows' vectors and rows as the next
    /// generation's files.
    pub(crate) fn compact_capture(&mut self, state: &State) -> Result<CompactionFiles> {
        self.usable()?;
        self.wal.sync()?;
        let generation = self.manifest.checkpoint + 1;
        let mut vec_file = VectorFile::new(AppendFile::create(
            self.dir.join(format!("vectors.{generation}.f32")),
        )?);
        let mut codes_file = match self.codes_file {
            Some(_) => Some(VectorFile::new(AppendFile::create(
                self.dir.join(format!("vectors.{generation}.i8")),
            )?)),
            None => None,
        };
        let mut rows = 0;
        let mut row_bytes = Encoder::new();
        for r in 0..state.rows.len() {
            if !state.rows.live[r] {
                continue;
            }
            vec_file.append(state.vectors.vector(r as u32))?;
            if let Some(f) = codes_file.as_mut() {
                f.append_code(state.vectors.vector(r as u32))?;
            }
            state.rows.encode_row(&mut row_bytes, r);
            rows += 1;
        }
        vec_file.sync()?;
        if let Some(f) = codes_file.as_mut() {
            f.sync()?;
        }
        let mut rows_file = AppendFile::create(self.dir.join(format!("rows.{generation}.dat")))?;
        rows_file.append(&row_bytes.into_bytes())?;
        rows_file.sync()?;
        Ok(CompactionFiles {
            generation,
            seq: self.last_seq,
            vec_file,
            codes_file,
            rows_file,
            rows,
        })
    }

    /// Compaction phase 2 (no lock): the graph, the liveness bitmap, the text index and
    /// the manifest of the new generation; returns the state over it. From the manifest
    /// write on, the new generation is the database.
    pub(crate) fn compact_build(&mut self, f: CompactionFiles, dist: &Distance) -> Result<State> {
        let CompactionFiles {
            generation,
            seq,
            vec_file,
            codes_file,
            rows_file,
            rows,
        } = f;
        let dim = self.opts.dimension;
        let n = rows;
        // The new state's rows point into the new row file, as after an open.
        let rows = map_rows(&rows_file, n)?;
        let ids = index_rows(&rows, &rows_file.path)?;
        let vectors = Vectors::Mapped(MappedVectors::new(
            dim,
            vec_file.map((n * dim * 4) as u64)?,
            n,
        ));
        let space = ExactSpace {
            vecs: &vectors,
            dist,
        };
        let hnsw = Hnsw::rebuild(&self.opts.hnsw, n as u32, &space, &|_| false);
        let code_bytes = (n * Int8Vectors::row_bytes(dim)) as u64;
        let codes = match &codes_file {
            Some(f) => Some(Int8Vectors::mapped(dim, f.map(code_bytes)?, n)),
            None => None,
        };
        let live_file = FileRef::write(
            &self.dir,
            format!("live.{generation}.bin"),
            &rows.encode_live(),
        )?;
        let hnsw_ref = FileRef::write(
            &self.dir,
            format!("hnsw.{generation}.bin"),
            &hnsw.to_bytes(),
        )?;
        let row_index = rows
            .encode_index(&[])
            .map(|ix| FileRef::write(&self.dir, format!("rows.{generation}.idx"), &ix))
            .transpose()?;
        let (text, text_name): (Option<TantivyWriter>, _) = if self.opts.fulltext {
            let name = format!("tantivy.{generation}");
            (
                Some(rebuild_text(&self.dir.join(&name), &rows, seq)?),
                Some(name),
            )
        } else {
            (None, None)
        };
        let m = Manifest {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            options: self.opts.clone(),
            checkpoint: generation,
            checkpoint_seq: seq,
            rows: n as u64,
            live_rows: n as u64,
            vectors: FileRef::appended(file_name(&vec_file.file.path), (n * dim * 4) as u64),
            rows_file: FileRef::appended(file_name(&rows_file.path), rows_file.len),
            live_file,
            hnsw: hnsw_ref,
            codes: codes_file
                .as_ref()
                .map(|f| FileRef::appended(file_name(&f.file.path), code_bytes)),
            text: text_name,
            row_index,
        };
        sync_dir(&self.dir)?;
        m.write(&self.dir)?;
        // From here on the new generation is the database.
        self.manifest = m;
        self.wal.reset()?;
        let text_index = match &text {
            Some(w) => Some(Text::Tantivy(w.text_index(n as u32)?)),
            None => None,
        };
        self.vec_file = vec_file;
        self.codes_file = codes_file;
        self.rows_file = rows_file;
        self.retired_text = std::mem::replace(&mut self.text, text);
        Ok(State::from_stored(rows, ids, vectors, hnsw, text_index)
            .with_stored_codes(&self.opts, codes))
    }

    /// After the compacted state was swapped in: closes the old generation's text writer
    /// (letting its merges finish before its directory goes) and removes the old files.
    pub(crate) fn compact_finish(&mut self) {
        if let Some(old) = self.retired_text.take()
            && let Err(e) = old.close()
        {
            log::warn!("closing the replaced full-text index: {e}");
        }
        remove_superseded(&self.dir, &self.manifest);
    }
}

/// The name of a file in the database directory.
fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .expect("data files have names")
        .to_string_lossy()
        .into_owned()
}
