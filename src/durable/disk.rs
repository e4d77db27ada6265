//! [`DiskJournal`]: what the writer of an on-disk database holds (native only) — the
//! directory and its lock, the manifest, the write-ahead log, the append handles of the
//! vector and row files, and Tantivy's writer — and the first two steps of every write:
//! log, then persist.
//!
//! Opening and recovery are in `open.rs`; checkpoints and compaction in `checkpoint.rs`.

use std::path::PathBuf;

use super::DiskStats;
use super::open::CHECKPOINT_WAL_BYTES;
use crate::error::{Error, Result};
use crate::options::{Durability, Options};
use crate::state::row_texts;
use crate::store::file::{AppendFile, corrupt, disk_size, unlinked};
use crate::store::lock::{WriterLock, readers_present};
use crate::store::manifest::{Manifest, remove_strays};
use crate::store::wal::{self, Wal};
use crate::store::{Row, VectorFile};
use crate::text::TantivyWriter;

/// The writer's side of an on-disk database.
pub(crate) struct DiskJournal {
    pub(super) dir: PathBuf,
    /// Held (flock) while the database is open; released when dropped.
    pub(super) _lock: WriterLock,
    pub(super) manifest: Manifest,
    pub(super) opts: Options,
    pub(super) wal: Wal,
    pub(super) vec_file: VectorFile,
    /// The int8 codes file, with `Quantization::Int8`.
    pub(super) codes_file: Option<VectorFile>,
    pub(super) rows_file: AppendFile,
    pub(super) text: Option<TantivyWriter>,
    /// The last sequence number written to the log.
    pub(super) last_seq: u64,
    /// Set when a failure left memory and disk out of step: writes are refused until the
    /// database is reopened (which recovers from the log).
    pub(super) broken: Option<String>,
    /// What recovery did at open (reported in stats).
    pub(super) replayed: u64,
    pub(super) truncated: u64,
    pub(super) text_rebuilt: bool,
    /// The last failed automatic checkpoint.
    pub(super) last_error: Option<String>,
    /// The text writer of the generation a compaction replaced, closed by
    /// `compact_finish`.
    pub(super) retired_text: Option<TantivyWriter>,
}

impl Drop for DiskJournal {
    fn drop(&mut self) {
        for t in [self.text.take(), self.retired_text.take()]
            .into_iter()
            .flatten()
        {
            // Nothing may write to the directory once the database is closed (the lock is
            // released right after).
            if let Err(e) = t.close() {
                log::warn!("closing the full-text index of {}: {e}", self.dir.display());
            }
        }
    }
}

impl DiskJournal {
    /// The log sequence number the text index has committed (records up to it are
    /// already in Tantivy); `None` without full text.
    pub(crate) fn text_seq(&self) -> Option<u64> {
        self.text.as_ref().map(TantivyWriter::committed_seq)
    }

    /// Refuses writes after a failure that left memory and disk out of step.
    pub(crate) fn usable(&self) -> Result<()> {
        match &self.broken {
            None => Ok(()),
            Some(why) => Err(Error::io(
                format!("database {} needs reopening", self.dir.display()),
                std::io::Error::other(format!(
                    "an earlier failure ({why}) left it out of step with its files; reopen it to recover from the log"
                )),
            )),
        }
    }

    /// The first of the files the writer appends to (the log, the vector and codes files,
    /// the row file) that was removed from the directory while open: writes to it would be lost
    /// when the process ends.
    pub(crate) fn vanished(&self) -> Option<&std::path::Path> {
        if self.wal.unlinked() {
            Some(self.wal.path())
        } else if unlinked(&self.vec_file.file.file) {
            Some(&self.vec_file.file.path)
        } else if let Some(c) = self.codes_file.as_ref().filter(|c| unlinked(&c.file.file)) {
            Some(&c.file.path)
        } else if unlinked(&self.rows_file.file) {
            Some(&self.rows_file.path)
        } else {
            None
        }
    }

    /// Refuses writes and checkpoints while a file is missing (see
    /// [`DiskJournal::vanished`]). Compaction writes every file anew from memory, and
    /// closing the database compacts in that case.
    pub(super) fn files_present(&self) -> Result<()> {
        match self.vanished() {
            None => Ok(()),
            Some(path) => Err(corrupt(
                path,
                "was removed while the database was open; writes are refused until `compact()` writes every file anew from what the open database holds (closing it does the same); nothing acknowledged is lost unless the process ends first",
            )),
        }
    }

    /// Marks the state broken (see [`DiskJournal::usable`]) and passes `e` on.
    pub(crate) fn fail(&mut self, e: Error) -> Error {
        if self.broken.is_none() {
            self.broken = Some(e.to_string());
        }
        e
    }

    /// Write step 1: appends one write to the log (fsync'd under `Durability::Fsync`).
    pub(crate) fn log(&mut self, deletes: &[&str], inserts: &[Row]) -> Result<()> {
        self.usable()?;
        self.files_present()?;
        let seq = self.last_seq + 1;
        let record = wal::encode(seq, deletes, inserts, self.opts.dimension)?;
        if let Err(e) = self
            .wal
            .append(&record, self.opts.durability == Durability::Fsync)
        {
            // A write the log refused changed nothing; one it could not undo stops writes.
            return Err(if self.wal.poisoned() { self.fail(e) } else { e });
        }
        self.last_seq = seq;
        Ok(())
    }

    /// Write step 2: writes a logged write's vectors to the vector file and queues its
    /// text changes in Tantivy (`index_text` false: Tantivy already has them, for
    /// replayed records).
    pub(crate) fn persist(
        &mut self,
        deletes: &[u32],
        first_row: u32,
        inserts: &[Row],
        index_text: bool,
    ) -> Result<()> {
        let res = (|| {
            for p in inserts {
                self.vec_file.append(&p.vector)?;
            }
            if let Some(c) = self.codes_file.as_mut() {
                for p in inserts {
                    c.append_code(&p.vector)?;
                }
            }
            if let (Some(t), true) = (&self.text, index_text) {
                for &row in deletes {
                    t.delete(row);
                }
                for (i, p) in inserts.iter().enumerate() {
                    t.add(first_row + i as u32, row_texts(p))?;
                }
            }
            Ok(())
        })();
        res.map_err(|e| self.fail(e))
    }

    /// True when the log has grown past [`CHECKPOINT_WAL_BYTES`].
    pub(crate) fn wants_checkpoint(&self) -> bool {
        self.wal.len() >= CHECKPOINT_WAL_BYTES
    }

    /// Remembers how the last checkpoint ended (stats report a failure).
    pub(crate) fn note_checkpoint(&mut self, result: &Result<()>) {
        self.last_error = result.as_ref().err().map(Error::to_string);
    }

    /// The on-disk figures for [`crate::Stats`].
    pub(crate) fn stats(&self) -> DiskStats {
        DiskStats {
            last_seq: self.last_seq,
            wal_bytes: self.wal.len(),
            wal_records: self.wal.records(),
            wal_records_replayed: self.replayed,
            wal_bytes_truncated: self.truncated,
            text_index_rebuilt: self.text_rebuilt,
            last_error: self.last_error.clone().or_else(|| self.broken.clone()),
            ..DiskStats::of_files(&self.dir, &self.manifest, self.wal.len())
        }
    }
}

impl DiskStats {
    /// The figures of the files `manifest` names (and a log of `wal_bytes`); the log and
    /// recovery figures are the caller's to fill in.
    pub(super) fn of_files(dir: &std::path::Path, manifest: &Manifest, wal_bytes: u64) -> Self {
        let size = |name: &str| disk_size(&dir.join(name));
        let vectors_bytes =
            size(&manifest.vectors.name) + manifest.codes.as_ref().map_or(0, |c| size(&c.name));
        let rows_bytes = size(&manifest.rows_file.name) + size(&manifest.live_file.name);
        let graph_bytes = size(&manifest.hnsw.name);
        let text_bytes = manifest.text.as_deref().map_or(0, size);
        DiskStats {
            path: dir.display().to_string(),
            read_only: false,
            checkpoint_seq: manifest.checkpoint_seq,
            last_seq: manifest.checkpoint_seq,
            wal_bytes,
            wal_records: 0,
            wal_records_replayed: 0,
            wal_bytes_truncated: 0,
            text_index_rebuilt: false,
            vectors_bytes,
            rows_bytes,
            graph_bytes,
            text_bytes,
            total_bytes: vectors_bytes + rows_bytes + graph_bytes + text_bytes + wal_bytes,
            last_error: None,
        }
    }
}

/// Removes the files of ours that `manifest` does not name (an older checkpoint's or
/// generation's, or a crashed write's), unless read-only opens are around: one may be
/// opening from an older manifest. The next open, checkpoint or compaction without
/// readers removes them.
pub(super) fn remove_superseded(dir: &std::path::Path, manifest: &Manifest) {
    if !readers_present(dir) {
        remove_strays(dir, &manifest.names());
    }
}
