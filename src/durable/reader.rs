//! Read-only opens of an on-disk database (native only): any number of them, in any
//! number of processes, beside the one writer.
//!
//! A read-only open writes nothing to the database (it takes the shared readers' lock of
//! `store/lock.rs`, which exists only so that the writer keeps the files an older
//! manifest names while readers are around). It loads the checkpoint the manifest names,
//! opens Tantivy's last commit without a writer, and replays the write-ahead log in
//! memory. Every write is one log record, checked by its CRC, so the reader sees every
//! write logged before it read the log and never part of one.
//!
//! The writer may checkpoint or compact meanwhile. It writes the new files first, then
//! the manifest, and only then empties the log or removes old files, so a reader that
//! finds the manifest unchanged after reading everything else has read one consistent
//! database; otherwise (or when a file it needed was gone) it starts again from the new
//! manifest.

use std::path::Path;
use std::time::{Duration, Instant};

use super::open::{Checkpointed, load};
use super::{DiskStats, Journal, Opened};
use crate::error::{Error, Result};
use crate::state::State;
use crate::store::file::{corrupt, io_err};
use crate::store::lock::ReaderLock;
use crate::store::manifest::{MANIFEST, Manifest, WAL_DIR, WAL_FILE, no_database};
use crate::store::wal;
use crate::store::{Int8Vectors, MappedVectors, Vectors};
use crate::text::{TantivyText, Text};

/// How long a read-only open waits for a full-text index the writer is rebuilding (or
/// for a writer that keeps checkpointing under it) before it gives up.
const PATIENCE: Duration = Duration::from_secs(5);

/// What a read-only database holds besides its state.
pub(crate) struct ReadOnlyJournal {
    stats: DiskStats,
    /// The log sequence number Tantivy's commit covers (log records up to it are in it).
    text_seq: Option<u64>,
    _lock: ReaderLock,
}

impl ReadOnlyJournal {
    pub(crate) fn text_seq(&self) -> Option<u64> {
        self.text_seq
    }

    pub(crate) fn stats(&self) -> DiskStats {
        self.stats.clone()
    }

    /// The error every write gets.
    pub(crate) fn refuse(&self) -> Error {
        Error::ReadOnly(self.stats.path.clone())
    }
}

/// One attempt at reading the database.
enum Attempt {
    Read(Box<Read>),
    /// Something moved under the reader (or the text index is not committed yet).
    Retry(Option<Error>),
}

/// A consistent read of the database.
struct Read {
    state: State,
    stats: DiskStats,
    text_seq: Option<u64>,
    records: Vec<wal::WalRecord>,
    options: crate::options::Options,
}

/// Opens the database in `dir` read-only, with the options it was created with.
pub(crate) fn open_read_only(dir: &Path) -> Result<Opened> {
    let manifest_path = dir.join(MANIFEST);
    let read_manifest = || {
        std::fs::read(&manifest_path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                no_database(dir)
            } else {
                io_err("reading", &manifest_path, e)
            }
        })
    };
    read_manifest()?;
    let lock = ReaderLock::acquire(dir)?;
    let deadline = Instant::now() + PATIENCE;
    let mut pause = Duration::from_millis(1);
    loop {
        let before = read_manifest()?;
        let outcome = attempt(dir, &before);
        let moved = read_manifest()? != before;
        let last = match outcome {
            Ok(Attempt::Read(r)) if !moved => {
                let Read {
                    state,
                    stats,
                    text_seq,
                    records,
                    options,
                } = *r;
                return Ok(Opened {
                    state,
                    journal: Journal::ReadOnly(Box::new(ReadOnlyJournal {
                        stats,
                        text_seq,
                        _lock: lock,
                    })),
                    records,
                    options,
                });
            }
            Ok(Attempt::Read(_)) => None,
            Ok(Attempt::Retry(e)) => e,
            // The files an unchanged manifest names are there to stay: this is damage.
            Err(e) if !moved => return Err(e),
            Err(e) => Some(e),
        };
        if Instant::now() >= deadline {
            return Err(last.unwrap_or_else(|| {
                if moved {
                    Error::Io {
                        context: Some(format!("opening {} read-only", dir.display())),
                        source: std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the writer replaced the manifest during every attempt; retry",
                        ),
                    }
                } else {
                    Error::Text(format!(
                        "the full-text index in {} has no commit that matches the log: the writer is rebuilding it, \
                         or was stopped while it did; retry when the writer is open, or open the database for writing once to rebuild it",
                        dir.display()
                    ))
                }
            }));
        }
        if !moved {
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }
}

fn attempt(dir: &Path, manifest_bytes: &[u8]) -> Result<Attempt> {
    let manifest =
        Manifest::parse(manifest_bytes).map_err(|detail| corrupt(&dir.join(MANIFEST), detail))?;
    let opts = manifest.options.clone();
    let dim = opts.dimension;
    let Checkpointed {
        map,
        codes,
        rows,
        ids,
        hnsw,
        ..
    } = load(dir, &manifest, &opts, false)?;
    let rows_n = rows.len();
    // Tantivy before the log: its commit follows the log's fsync, so the log read next
    // holds every record the commit covers, unless the log was emptied since (and then
    // the manifest changed).
    let text = match &manifest.text {
        None => None,
        Some(name) => match TantivyText::open_read_only(&dir.join(name), rows_n as u32) {
            Ok(Some(t)) => Some(t),
            Ok(None) => return Ok(Attempt::Retry(None)),
            Err(e) => return Ok(Attempt::Retry(Some(e))),
        },
    };
    let log = wal::read(
        &dir.join(WAL_DIR).join(WAL_FILE),
        dim,
        manifest.checkpoint_seq,
    )?;
    let text_seq = text.as_ref().map(|(_, seq)| *seq);
    if text_seq.is_some_and(|s| !(manifest.checkpoint_seq..=log.last_seq).contains(&s)) {
        return Ok(Attempt::Retry(None));
    }
    let vectors = Vectors::Mapped(MappedVectors::new(dim, map, rows_n));
    let state = State::from_stored(
        rows,
        ids,
        vectors,
        hnsw,
        text.map(|(t, _)| Text::Tantivy(t)),
    )
    .with_stored_codes(
        &opts,
        codes.map(|(_, map)| Int8Vectors::mapped(dim, map, rows_n)),
    );
    let stats = DiskStats {
        read_only: true,
        last_seq: log.last_seq,
        wal_records: log.in_log,
        wal_records_replayed: log.records.len() as u64,
        ..DiskStats::of_files(dir, &manifest, log.valid_bytes)
    };
    Ok(Attempt::Read(Box::new(Read {
        state,
        stats,
        text_seq,
        records: log.records,
        options: opts,
    })))
}
