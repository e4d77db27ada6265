//! Durability: what a write does besides changing the in-memory [`State`], and how a
//! database comes back after a restart or a crash.
//!
//! [`Journal`] is the one place the two kinds of database differ:
//!
//! - [`Journal::Memory`] (both targets): writes change the state only; checkpoints are
//!   no-ops and compaction rebuilds the state from its live rows;
//! - [`Journal::Disk`] (native): the database directory (`disk.rs`) — the write-ahead log,
//!   the data files, Tantivy — opened and recovered by `open.rs`, folded and compacted by
//!   `checkpoint.rs`;
//! - [`Journal::ReadOnly`] (native): a read-only open of a database directory
//!   (`reader.rs`), which replays the log in memory and refuses writes.
//!
//! This layer sits between `db.rs` and the state: it takes `&State` or `&mut State`, never
//! a lock (`db.rs` takes every lock, and calls each method here under the lock its doc
//! names), and it drives `store/` and `text/`.
//!
//! A write goes, in order: [`Journal::log`] (the durability point) → [`Journal::persist`]
//! (vector file, Tantivy queue) → the state's `append` → `link` → `publish`. Replaying the
//! log at open runs the same sequence without `log`.

// cfg: the on-disk database needs a file system, memory maps and Tantivy, which wasm32
// does not have; everything native-only of this layer is in these four files.
#[cfg(not(target_arch = "wasm32"))]
mod checkpoint;
#[cfg(not(target_arch = "wasm32"))]
mod disk;
#[cfg(not(target_arch = "wasm32"))]
mod open;
#[cfg(not(target_arch = "wasm32"))]
mod reader;

use serde::Serialize;

use crate::distance::Distance;
use crate::error::Result;
use crate::options::Options;
use crate::state::State;
use crate::store::Row;

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use disk::DiskJournal;
#[cfg(not(target_arch = "wasm32"))]
pub use open::CHECKPOINT_WAL_BYTES;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use open::{Opened, open};
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use reader::{ReadOnlyJournal, open_read_only};

/// The on-disk side of [`crate::Stats`]: the files, the log and what recovery did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiskStats {
    /// The database directory.
    pub path: String,
    /// Opened read-only ([`crate::VectorDB::open_read_only`]): the database as of that
    /// open, writes refused.
    pub read_only: bool,
    /// The last log sequence number folded into the data files.
    pub checkpoint_seq: u64,
    /// The last log sequence number written (one per write).
    pub last_seq: u64,
    /// Bytes in the write-ahead log (writes since the checkpoint).
    pub wal_bytes: u64,
    /// Records in the write-ahead log.
    pub wal_records: u64,
    /// Log records replayed when the database was opened.
    pub wal_records_replayed: u64,
    /// Bytes of a torn or damaged log tail cut off when the database was opened.
    pub wal_bytes_truncated: u64,
    /// Whether the full-text index was missing or behind and was rebuilt at open.
    pub text_index_rebuilt: bool,
    /// Size of the vector file, and of the int8 codes file when there is one.
    pub vectors_bytes: u64,
    /// Size of the row files (ids, texts, metadata, liveness).
    pub rows_bytes: u64,
    /// Size of the stored graph.
    pub graph_bytes: u64,
    /// Size of the full-text index.
    pub text_bytes: u64,
    /// Everything above plus the log.
    pub total_bytes: u64,
    /// The last failed automatic checkpoint, or what keeps the database from writing.
    pub last_error: Option<String>,
}

/// What the writer of a database holds besides the state (see the module docs).
pub(crate) enum Journal {
    /// An in-memory database.
    Memory,
    /// An on-disk database (native only).
    #[cfg(not(target_arch = "wasm32"))]
    Disk(Box<DiskJournal>),
    /// An on-disk database opened read-only (native only).
    #[cfg(not(target_arch = "wasm32"))]
    ReadOnly(Box<ReadOnlyJournal>),
}

/// A checkpoint between its phases: what was captured from the state, then what was
/// written. Only on-disk databases checkpoint (on wasm32 this type has no value).
pub(crate) enum Checkpoint {
    #[cfg(not(target_arch = "wasm32"))]
    Captured(checkpoint::Captured),
    #[cfg(not(target_arch = "wasm32"))]
    Written(checkpoint::Written),
}

/// A compaction after its capture phase.
pub(crate) enum Compaction {
    /// In memory: copies of the live rows.
    Memory(Vec<Row>),
    /// On disk: the new generation's vector and row files, written.
    #[cfg(not(target_arch = "wasm32"))]
    Disk(Box<checkpoint::CompactionFiles>),
}

// On wasm32 only the in-memory journal exists, which ignores most arguments and is never
// replayed or failed.
#[cfg_attr(target_arch = "wasm32", allow(unused_variables, dead_code))]
impl Journal {
    /// True for an on-disk database.
    pub(crate) fn is_disk(&self) -> bool {
        !matches!(self, Journal::Memory)
    }

    /// Write step 1, under the writer lock only: appends the write to the log (and, under
    /// `Durability::Fsync`, fsyncs it). Nothing to do in memory.
    pub(crate) fn log(&mut self, deletes: &[&str], inserts: &[Row]) -> Result<()> {
        match self {
            Journal::Memory => Ok(()),
            #[cfg(not(target_arch = "wasm32"))]
            Journal::Disk(d) => d.log(deletes, inserts),
            #[cfg(not(target_arch = "wasm32"))]
            Journal::ReadOnly(r) => Err(r.refuse()),
        }
    }

    /// Write step 2, under the writer lock only: writes the new rows' vectors to the
    /// vector file and queues the text changes in Tantivy (`index_text` false: Tantivy
    /// holds them already, when replaying). `first_row` is the row of `inserts[0]`.
    pub(crate) fn persist(
        &mut self,
        deletes: &[u32],
        first_row: u32,
        inserts: &[Row],
        index_text: bool,
    ) -> Result<()> {
        match self {
            Journal::Memory => Ok(()),
            #[cfg(not(target_arch = "wasm32"))]
            Journal::Disk(d) => d.persist(deletes, first_row, inserts, index_text),
            // Replaying the log in memory: the files stay as they are.
            #[cfg(not(target_arch = "wasm32"))]
            Journal::ReadOnly(_) => Ok(()),
        }
    }

    /// Whether log records up to `seq` must be indexed into the text index when replayed
    /// (false for the records the on-disk text index committed already).
    pub(crate) fn replay_indexes_text(&self, seq: u64) -> bool {
        match self {
            Journal::Memory => true,
            #[cfg(not(target_arch = "wasm32"))]
            Journal::Disk(d) => d.text_seq().is_none_or(|t| seq > t),
            #[cfg(not(target_arch = "wasm32"))]
            Journal::ReadOnly(r) => r.text_seq().is_none_or(|t| seq > t),
        }
    }

    /// True when the log has grown enough that a write should checkpoint.
    pub(crate) fn wants_checkpoint(&self) -> bool {
        match self {
            Journal::Memory => false,
            #[cfg(not(target_arch = "wasm32"))]
            Journal::Disk(d) => d.wants_checkpoint(),
            #[cfg(not(target_arch = "wasm32"))]
            Journal::ReadOnly(_) => false,
        }
    }

    /// Checkpoint phase 1, under the read lock: captures what the data files lack. `None`
    /// when there is nothing to fold (and always in memory).
    pub(crate) fn checkpoint_capture(&mut self, state: &State) -> Result<Option<Checkpoint>> {
        match self {
            Journal::Memory => Ok(None),
            #[cfg(not(target_arch = "wasm32"))]
            Journal::ReadOnly(_) => Ok(None),
            #[cfg(not(target_arch = "wasm32"))]
            Journal::Disk(d) => Ok(d.checkpoint_capture(state)?.map(Checkpoint::Captured)),
        }
    }

    /// Checkpoint phase 2, with no lock held: writes the data files and the manifest and
    /// empties the log.
    pub(crate) fn checkpoint_write(&mut self, c: Checkpoint) -> Result<Checkpoint> {
        match (self, c) {
            #[cfg(not(target_arch = "wasm32"))]
            (Journal::Disk(d), Checkpoint::Captured(c)) => {
                d.checkpoint_write(c).map(Checkpoint::Written)
            }
            #[allow(unreachable_patterns)]
            _ => unreachable!("checkpoint phases out of order"),
        }
    }

    /// Checkpoint phase 3, under the write lock: points the state at what was written
    /// (the new map of the vector file, Tantivy's new commit).
    pub(crate) fn checkpoint_apply(&mut self, c: Checkpoint, state: &mut State) -> Result<()> {
        match (self, c) {
            #[cfg(not(target_arch = "wasm32"))]
            (Journal::Disk(d), Checkpoint::Written(w)) => d.checkpoint_apply(w, state),
            #[allow(unreachable_patterns)]
            _ => unreachable!("checkpoint phases out of order"),
        }
    }

    /// Records how a checkpoint ended (stats report the last failure).
    pub(crate) fn checkpoint_done(&mut self, result: &Result<()>) {
        #[cfg(not(target_arch = "wasm32"))]
        if let Journal::Disk(d) = self {
            d.note_checkpoint(result);
        }
    }

    /// Compaction phase 1, under the read lock: copies the live rows (in memory) or
    /// writes them as the new generation's vector and row files (on disk).
    pub(crate) fn compact_capture(&mut self, state: &State) -> Result<Compaction> {
        match self {
            Journal::Memory => Ok(Compaction::Memory(state.clone_live())),
            #[cfg(not(target_arch = "wasm32"))]
            Journal::Disk(d) => Ok(Compaction::Disk(Box::new(d.compact_capture(state)?))),
            #[cfg(not(target_arch = "wasm32"))]
            Journal::ReadOnly(r) => Err(r.refuse()),
        }
    }

    /// Compaction phase 2, with no lock held: builds the new state (graph, text index;
    /// on disk also the new generation's other files and the manifest that switches to
    /// it). The caller swaps it in under the write lock, then calls
    /// [`Journal::compact_finish`].
    pub(crate) fn compact_build(
        &mut self,
        c: Compaction,
        opts: &Options,
        dist: &Distance,
    ) -> Result<State> {
        match (self, c) {
            (_, Compaction::Memory(rows)) => State::from_rows(opts, dist, rows, None),
            #[cfg(not(target_arch = "wasm32"))]
            (Journal::Disk(d), Compaction::Disk(files)) => d.compact_build(*files, dist),
            #[allow(unreachable_patterns)]
            _ => unreachable!("a compaction of another kind of database"),
        }
    }

    /// After the compacted state is swapped in: lets go of the old generation.
    pub(crate) fn compact_finish(&mut self) {
        #[cfg(not(target_arch = "wasm32"))]
        if let Journal::Disk(d) = self {
            d.compact_finish();
        }
    }

    /// The on-disk figures for [`crate::Stats`]; `None` in memory.
    pub(crate) fn stats(&self) -> Option<DiskStats> {
        match self {
            Journal::Memory => None,
            #[cfg(not(target_arch = "wasm32"))]
            Journal::Disk(d) => Some(d.stats()),
            #[cfg(not(target_arch = "wasm32"))]
            Journal::ReadOnly(r) => Some(r.stats()),
        }
    }

    /// Refuses writes after a failure left memory and disk out of step (on disk), and
    /// always when opened read-only.
    pub(crate) fn usable(&self) -> Result<()> {
        match self {
            Journal::Memory => Ok(()),
            #[cfg(not(target_arch = "wasm32"))]
            Journal::Disk(d) => d.usable(),
            #[cfg(not(target_arch = "wasm32"))]
            Journal::ReadOnly(r) => Err(r.refuse()),
        }
    }

    /// True when a file the writer appends to was removed while open: compaction, not a
    /// checkpoint, saves what the database holds.
    pub(crate) fn vanished(&self) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        if let Journal::Disk(d) = self {
            return d.vanished().is_some();
        }
        false
    }

    /// True when opened read-only: there is nothing to checkpoint, and writes are refused.
    pub(crate) fn is_read_only(&self) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        if let Journal::ReadOnly(_) = self {
            return true;
        }
        false
    }

    /// Marks an on-disk database as out of step with its files (writes refused until it
    /// is reopened), and passes `e` on.
    pub(crate) fn fail(&mut self, e: crate::error::Error) -> crate::error::Error {
        match self {
            Journal::Memory => e,
            #[cfg(not(target_arch = "wasm32"))]
            Journal::Disk(d) => d.fail(e),
            #[cfg(not(target_arch = "wasm32"))]
            Journal::ReadOnly(_) => e,
        }
    }
}
