//! [`VectorDB`]: the one orchestrator of a database — it validates input, takes every
//! lock, and drives the in-memory [`State`] and the [`Journal`] (the log and files of an
//! on-disk database) through each operation. No other module takes a lock.
//!
//! Two locks:
//!
//! - `state: RwLock<State>` — searches take it shared and run concurrently with each
//!   other (a hybrid search runs its text half on the calling thread and its vector half on
//!   vjson's helper thread, `par::join`);
//! - `writer: Mutex<Journal>` — serialises writers (and checkpoints and compaction), and
//!   holds what only the writer touches.
//!
//! Writes validate everything before touching anything, so a bad document rejects its
//! whole batch and changes nothing. A write then runs, holding the writer lock:
//!
//! 1. `log` — on disk, append the write to the write-ahead log (fsync'd under the default
//!    durability): the write is durable from here on;
//! 2. `persist` — on disk, write the vectors to the vector file and queue the text changes
//!    in Tantivy;
//! 3. `append`, under the write lock, briefly — add the rows and vectors, unpublished, and
//!    grow the graph's arrays;
//! 4. `link`, under a *read* lock, concurrently with searches — link the new rows into the
//!    graph, in parallel;
//! 5. `publish`, under the write lock, briefly — apply the deletes, index the texts
//!    (analysed beforehand, outside any lock), publish the ids and the watermark.
//!
//! Steps 2–5 are `apply`, which replaying the log at open runs too. Searches return only
//! rows below the published watermark that are live in the published state, so a search
//! sees a write — a whole batch, an upsert with its delete — entirely or not at all.
//!
//! A checkpoint (on disk) captures what the data files lack under the read lock, writes
//! it with no lock held, and points the state at the result under the write lock.
//! Compaction alike: capture under the read lock, build with no lock, swap under the
//! write lock.
//!
//! Writes use rayon themselves: call them from ordinary threads, not from inside a rayon
//! parallel iterator (a writer waiting in its own parallel phase may pick up another
//! write from the pool, which would then wait for the writer lock it holds). Searches may
//! run anywhere.

use std::collections::HashSet;
use std::sync::OnceLock;

use crate::par::{self, *};
use serde::Serialize;
use serde_json::Value;

use crate::distance::{Distance, normalize};
use crate::document::{Document, Hit};
use crate::durable::{DiskStats, Journal};
use crate::error::{Error, Result, json_type};
use crate::fusion::{self, Fused, Fusion, fuse_top};
use crate::hnsw::VectorSource;
use crate::options::{Limits, MAX_METADATA_DEPTH, Metric, Options};
use crate::query::Query;
use crate::state::{MemoryStats, State, row_texts};
use crate::store::Row;
use crate::sync::{Mutex, RwLock, RwLockReadGuard};
use crate::text::{Analyzed, Prepared};

/// An embedded vector database with hybrid search.
///
/// ```
/// use vjson::{Document, Options, Query, VectorDB};
/// use serde_json::json;
///
/// let db = VectorDB::in_memory(Options::new(3))?;
/// db.insert(Document::new("a", vec![1.0, 0.0, 0.0]).text("ownership and borrowing"))?;
/// db.insert(Document::new("b", vec![0.0, 1.0, 0.0]).text("lifetimes").metadata(json!({"year": 2024})))?;
/// let hits = db.search(&Query::new().vector(vec![0.9, 0.1, 0.0]).text("borrowing").k(1))?;
/// assert_eq!(hits[0].id, "a");
/// # Ok::<(), vjson::Error>(())
/// ```
pub struct VectorDB {
    opts: Options,
    dist: Distance,
    state: RwLock<State>,
    /// Serialises writers; holds the log and files of an on-disk database.
    writer: Mutex<Journal>,
    /// True for databases from [`VectorDB::open`] (fixed at construction).
    on_disk: bool,
    /// True for databases from [`VectorDB::open_read_only`] (fixed at construction).
    read_only: bool,
}

/// A hybrid query's two sides before fusion (see [`VectorDB::sides`]): `(id, score)`
/// pairs, each side's own results first, best first. Under z-score fusion each side then
/// lists the other side's candidates it did not find, with its score for them (exact
/// vector similarity; BM25, 0 without a query term), so both lists hold every candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct Sides {
    /// The vector side.
    pub vector: Vec<(String, f32)>,
    /// The text side.
    pub text: Vec<(String, f32)>,
    /// How many of `vector` the vector side found (the rest are the text side's).
    pub vector_found: usize,
    /// How many of `text` the text side found (the rest are the vector side's).
    pub text_found: usize,
}

/// The text of a hybrid query prepared on `state`'s text index, shared by its two halves
/// through `cell`: the first half to need it prepares it (both, if they race: the same
/// result), the other uses it.
fn prepare_once<'a>(
    cell: &'a OnceLock<Prepared>,
    state: &State,
    text: &str,
    title_boost: f32,
) -> Result<&'a Prepared> {
    if let Some(p) = cell.get() {
        return Ok(p);
    }
    let p = state.prepare_text(text, title_boost)?;
    Ok(cell.get_or_init(|| p))
}

/// Counts that describe a database.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// Live documents.
    pub documents: usize,
    /// Rows, including tombstones not yet compacted away.
    pub rows: usize,
    /// Tombstoned rows.
    pub deleted: usize,
    /// Vector dimension.
    pub dimension: usize,
    /// Distance metric.
    pub metric: Metric,
    /// Whether full text is indexed.
    pub fulltext: bool,
    /// What the database holds in memory, by part.
    pub memory: MemoryStats,
    /// Natively, for a database from [`VectorDB::open`]: its files, log and recovery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskStats>,
}

/// Whether `v` nests arrays and objects more than `max` levels deep (without recursion:
/// values built in Rust may be arbitrarily deep).
fn nesting_exceeds(v: &Value, max: usize) -> bool {
    let mut todo = vec![(v, 1usize)];
    while let Some((v, depth)) = todo.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(a) => Box::new(a.iter()),
            Value::Object(o) => Box::new(o.values()),
            _ => continue,
        };
        if depth > max {
            return true;
        }
        todo.extend(children.map(|c| (c, depth + 1)));
    }
    false
}

/// The length of `v` as compact JSON (as stored).
fn json_len(v: &Value) -> usize {
    let mut text = String::new();
    crate::codec::write_json(v, &mut text);
    text.len()
}

impl VectorDB {
    /// Creates an empty in-memory database.
    pub fn in_memory(opts: Options) -> Result<Self> {
        opts.validate()?;
        let state = State::empty(&opts);
        Ok(Self::new(opts, state, Journal::Memory))
    }

    fn new(opts: Options, state: State, journal: Journal) -> Self {
        VectorDB {
            dist: Distance::new(opts.metric),
            opts,
            state: RwLock::new(state),
            on_disk: journal.is_disk(),
            read_only: journal.is_read_only(),
            writer: Mutex::new(journal),
        }
    }

    /// Creates or reopens the on-disk database in directory `path` (native only).
    ///
    /// A new database is laid out in `path` (created if needed; an existing directory must
    /// be empty). An existing one must have been created with the same dimension, metric,
    /// HNSW `m` and full-text setting, or this is an `invalid_options` error saying what
    /// differs; `ef_construction`, `ef_search` and durability are taken from `opts`.
    /// Reopening maps the stored vectors and graph (nothing is rebuilt) and replays the
    /// write-ahead log past the last checkpoint; a torn or damaged log tail is cut off and
    /// reported in [`Stats::disk`]. Damaged data files are a `corrupt` error. Only one
    /// `VectorDB` may have a database open for writing at a time, in this process or any
    /// other: the next gets a `locked` error naming the process that holds it. Readers
    /// need no such turn: see [`VectorDB::open_read_only`].
    ///
    /// ```
    /// use vjson::{Document, Options, Query, VectorDB};
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = VectorDB::open(dir.path().join("db"), Options::new(2))?;
    /// db.insert(Document::new("a", vec![1.0, 0.0]).text("ownership"))?;
    /// db.close()?;
    /// let db = VectorDB::open(dir.path().join("db"), Options::new(2))?;
    /// assert_eq!(db.search(&Query::new().text("ownership"))?[0].id, "a");
    /// # Ok::<(), vjson::Error>(())
    /// ```
    // cfg: an on-disk database needs a file system (wasm32 has snapshots instead).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open(path: impl AsRef<std::path::Path>, opts: Options) -> Result<Self> {
        opts.validate()?;
        let crate::durable::Opened {
            state,
            journal,
            records,
            options,
        } = crate::durable::open(path.as_ref(), &opts)?;
        Self::replayed(options, state, journal, records)
    }

    /// Opens the on-disk database in `path` read-only, with the options it was created
    /// with (native only).
    ///
    /// Any number of read-only opens, in this process or others, work beside the one
    /// writer ([`VectorDB::open`]): a read-only open writes nothing to the directory and
    /// never waits for the writer. It sees every write the writer had logged when it
    /// opened (replaying the write-ahead log in memory), each whole — a batch is all there
    /// or not at all — and nothing written later: open it again to see newer writes.
    /// Writes, [`VectorDB::compact`] and the like are `read_only` errors; `flush` and
    /// `close` have nothing to do. It is an `io` error (not found) when `path` holds no
    /// database.
    ///
    /// ```
    /// use vjson::{Document, Options, Query, VectorDB};
    /// let dir = tempfile::tempdir().unwrap();
    /// let writer = VectorDB::open(dir.path(), Options::new(2))?;
    /// writer.insert(Document::new("a", vec![1.0, 0.0]).text("ownership"))?;
    /// // The writer stays open; a reader sees what it wrote so far.
    /// let reader = VectorDB::open_read_only(dir.path())?;
    /// assert_eq!(reader.search(&Query::new().text("ownership"))?[0].id, "a");
    /// assert_eq!(reader.delete("a").unwrap_err().code(), "read_only");
    /// writer.insert(Document::new("b", vec![0.0, 1.0]))?;
    /// assert_eq!((reader.len(), VectorDB::open_read_only(dir.path())?.len()), (1, 2));
    /// # Ok::<(), vjson::Error>(())
    /// ```
    // cfg: as `open`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open_read_only(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let crate::durable::Opened {
            state,
            journal,
            records,
            options,
        } = crate::durable::open_read_only(path.as_ref())?;
        Self::replayed(options, state, journal, records)
    }

    /// A database over `state` after replaying the log `records` on it.
    // cfg: log records exist only on disk.
    #[cfg(not(target_arch = "wasm32"))]
    fn replayed(
        options: Options,
        state: State,
        journal: Journal,
        records: Vec<crate::store::wal::WalRecord>,
    ) -> Result<Self> {
        let db = Self::new(options, state, journal);
        {
            let mut w = db.writer.lock();
            for rec in records {
                if let Err(e) = db.replay(&mut w, rec) {
                    return Err(w.fail(e));
                }
            }
        }
        Ok(db)
    }

    /// Reopens the on-disk database in `path` with the options it was created with
    /// (native only). It is an `io` error (not found) when `path` holds no database.
    // cfg: as `open`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open_existing(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let opts = crate::store::manifest::Manifest::stored_options(path)?
            .ok_or_else(|| crate::store::manifest::no_database(path))?;
        Self::open(path, opts)
    }

    /// Replays one log record at open, through the write path without its `log` step.
    // cfg: log records exist only on disk.
    #[cfg(not(target_arch = "wasm32"))]
    fn replay(&self, w: &mut Journal, rec: crate::store::wal::WalRecord) -> Result<()> {
        let index_text = w.replay_indexes_text(rec.seq);
        let bad = |detail: String| Error::Corrupt {
            path: "wal/current.log".into(),
            detail: format!("record {}: {detail}", rec.seq),
        };
        let deletes = {
            let g = self.read();
            let mut rows = Vec::with_capacity(rec.deletes.len());
            for id in &rec.deletes {
                rows.push(g.row_of(id)?.ok_or_else(|| {
                    bad(format!("deletes {id:?}, which the data files do not hold"))
                })?);
            }
            for p in &rec.inserts {
                if g.row_of(&p.id)?.is_some_and(|r| !rows.contains(&r)) {
                    return Err(bad(format!("inserts {:?}, which already exists", p.id)));
                }
            }
            rows
        };
        self.apply(w, deletes, rec.inserts, index_text)
    }

    /// Checkpoints an on-disk database and closes it, reporting any failure (dropping a
    /// `VectorDB` checkpoints too, but can only log a failure through the `log` crate). A no-op
    /// in memory.
    pub fn close(self) -> Result<()> {
        let r = self.flush();
        // Closes the files and releases the lock now, whatever the checkpoint did (the
        // log keeps every write); `drop` then finds nothing left to checkpoint.
        drop(std::mem::replace(&mut *self.writer.lock(), Journal::Memory));
        r
    }

    /// Shared access for readers. On a rayon worker the lock is taken recursively: that
    /// worker may already hold it further up its stack (a search that stole another
    /// search while waiting in `rayon::join`), and must not queue behind a waiting writer.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        if par::current_thread_index().is_some() {
            self.state.read_recursive()
        } else {
            self.state.read()
        }
    }

    /// The database's options.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Replaces the database's [`Limits`], for the opens that take no [`Options`]
    /// (`open_existing`, `open_read_only`); the others take them with
    /// [`Options::limits`].
    ///
    /// ```
    /// # use vjson::{Limits, Options, VectorDB};
    /// let db = VectorDB::in_memory(Options::new(2))?
    ///     .with_limits(Limits { max_k: 100, ..Limits::default() })?;
    /// assert_eq!(db.options().limits.max_k, 100);
    /// # Ok::<(), vjson::Error>(())
    /// ```
    pub fn with_limits(mut self, limits: Limits) -> Result<Self> {
        limits.validate()?;
        self.opts.limits = limits;
        Ok(self)
    }

    /// Number of live documents.
    pub fn len(&self) -> usize {
        self.read().live_rows
    }

    /// True when the database holds no document.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counts that describe the database. On disk this also reports the files and the
    /// log (and waits for a write in progress).
    pub fn stats(&self) -> Stats {
        let s = {
            let state = self.read();
            Stats {
                documents: state.live_rows,
                rows: state.visible as usize,
                deleted: state.visible as usize - state.live_rows,
                dimension: self.opts.dimension,
                metric: self.opts.metric,
                fulltext: self.opts.fulltext,
                memory: state.memory(),
                disk: None,
            }
        };
        Stats {
            disk: if self.on_disk {
                self.writer.lock().stats()
            } else {
                None
            },
            ..s
        }
    }

    /// Checks a query or document vector; returns it normalised for cosine.
    fn check_vector(&self, id: &str, v: &[f32]) -> Result<Vec<f32>> {
        if v.len() != self.opts.dimension {
            return Err(Error::DimensionMismatch {
                id: id.to_owned(),
                expected: self.opts.dimension,
                got: v.len(),
            });
        }
        if let Some(index) = v.iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFiniteVector {
                id: id.to_owned(),
                index,
            });
        }
        let mut v = v.to_vec();
        if self.opts.metric == Metric::Cosine && !normalize(&mut v) {
            return Err(Error::ZeroVector { id: id.to_owned() });
        }
        Ok(v)
    }

    pub(crate) fn prepare(&self, doc: Document) -> Result<Row> {
        let limits = &self.opts.limits;
        if doc.id.is_empty() {
            return Err(Error::EmptyId);
        }
        if doc.id.len() > limits.max_id_bytes {
            return Err(Error::IdTooLong {
                len: doc.id.len(),
                max: limits.max_id_bytes,
            });
        }
        let vector = self.check_vector(&format!("document {:?}", doc.id), &doc.vector)?;
        for (field, value) in [("text", &doc.text), ("title", &doc.title)] {
            if let Some(t) = value
                && t.len() > limits.max_text_bytes
            {
                return Err(Error::LimitExceeded {
                    what: format!("the {field} of document {:?} (bytes)", doc.id),
                    got: t.len() as u64,
                    max: limits.max_text_bytes as u64,
                    limit: "max_text_bytes",
                });
            }
        }
        let metadata = match doc.metadata {
            None | Some(Value::Null) => None,
            Some(m @ Value::Object(_)) if nesting_exceeds(&m, limits.max_metadata_depth) => {
                return Err(Error::InvalidMetadata {
                    id: format!("document {:?}", doc.id),
                    got: if limits.max_metadata_depth == MAX_METADATA_DEPTH {
                        "an object nested more than 64 levels deep (vjson::MAX_METADATA_DEPTH)"
                    } else {
                        "an object nested deeper than Limits::max_metadata_depth allows"
                    },
                });
            }
            Some(m @ Value::Object(_)) => {
                let len = json_len(&m);
                if len > limits.max_metadata_bytes {
                    return Err(Error::LimitExceeded {
                        what: format!("the metadata of document {:?} (bytes of JSON)", doc.id),
                        got: len as u64,
                        max: limits.max_metadata_bytes as u64,
                        limit: "max_metadata_bytes",
                    });
                }
                Some(m)
            }
            Some(other) => {
                return Err(Error::InvalidMetadata {
                    id: format!("document {:?}", doc.id),
                    got: json_type(&other),
                });
            }
        };
        Ok(Row {
            id: doc.id,
            vector,
            text: doc.text,
            title: doc.title,
            metadata,
        })
    }

    fn prepare_all(&self, docs: Vec<Document>) -> Result<Vec<Row>> {
        let max = self.opts.limits.max_batch_docs;
        if docs.len() > max {
            return Err(Error::LimitExceeded {
                what: "the batch (documents)".into(),
                got: docs.len() as u64,
                max: max as u64,
                limit: "max_batch_docs",
            });
        }
        let prepared: Vec<Row> = docs
            .into_par_iter()
            .with_min_len(256)
            .map(|d| self.prepare(d))
            .collect::<Result<_>>()?;
        let mut seen = HashSet::with_capacity(prepared.len());
        for p in &prepared {
            if !seen.insert(p.id.as_str()) {
                return Err(Error::DuplicateId(p.id.clone()));
            }
        }
        Ok(prepared)
    }

    /// Inserts a new document; its id must not exist yet (see [`VectorDB::upsert`]).
    /// The document is searchable when this returns (and, on disk, logged).
    pub fn insert(&self, doc: Document) -> Result<()> {
        self.writable()?;
        let p = self.prepare(doc)?;
        let mut w = self.writer.lock();
        if self.read().row_of(&p.id)?.is_some() {
            return Err(Error::DuplicateId(p.id));
        }
        self.write(&mut w, Vec::new(), vec![p])
    }

    /// Inserts many documents at once, all or nothing: one bad document (or an id that
    /// exists or repeats) rejects the batch and changes nothing. The graph links the new
    /// documents in parallel, while searches go on; they see the batch once it is whole.
    pub fn insert_batch(&self, docs: Vec<Document>) -> Result<()> {
        self.writable()?;
        let prepared = self.prepare_all(docs)?;
        let mut w = self.writer.lock();
        {
            let state = self.read();
            for p in &prepared {
                if state.row_of(&p.id)?.is_some() {
                    return Err(Error::DuplicateId(p.id.clone()));
                }
            }
        }
        self.write(&mut w, Vec::new(), prepared)
    }

    /// Inserts a document, replacing any document with the same id (searches see the old
    /// one or the new one, never both or neither).
    pub fn upsert(&self, doc: Document) -> Result<()> {
        self.upsert_batch(vec![doc])
    }

    /// Inserts many documents, each replacing any document with the same id, all or
    /// nothing (as [`VectorDB::insert_batch`]; ids must not repeat within the batch).
    /// Searches see every old document or every new one, never a mix.
    pub fn upsert_batch(&self, docs: Vec<Document>) -> Result<()> {
        self.writable()?;
        let prepared = self.prepare_all(docs)?;
        let mut w = self.writer.lock();
        let old: Vec<u32> = {
            let state = self.read();
            let mut old = Vec::new();
            for p in &prepared {
                old.extend(state.row_of(&p.id)?);
            }
            old
        };
        self.write(&mut w, old, prepared)
    }

    /// Deletes a document.
    pub fn delete(&self, id: &str) -> Result<()> {
        self.writable()?;
        let mut w = self.writer.lock();
        let row = self
            .read()
            .row_of(id)?
            .ok_or_else(|| Error::NotFound(id.to_owned()))?;
        self.write(&mut w, vec![row], Vec::new())
    }

    /// Refuses every write on a read-only open, before anything is checked.
    fn writable(&self) -> Result<()> {
        if self.read_only {
            self.writer.lock().usable()
        } else {
            Ok(())
        }
    }

    /// A validated write: `deletes` (live rows), then `inserts` (ids that are new once the
    /// deletes are done). Runs `log`, then `apply` (see the module docs), then checkpoints
    /// when the log has grown large.
    fn write(&self, w: &mut Journal, deletes: Vec<u32>, inserts: Vec<Row>) -> Result<()> {
        if inserts.is_empty() && deletes.is_empty() {
            return Ok(());
        }
        if w.is_disk() {
            let ids: Vec<String> = {
                let state = self.read();
                deletes
                    .iter()
                    .map(|&r| state.rows.id(r as usize).to_owned())
                    .collect()
            };
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            w.log(&ids, &inserts)?;
        }
        self.apply(w, deletes, inserts, true)?;
        if w.wants_checkpoint() {
            // The write itself is logged and applied; the log just keeps growing until a
            // checkpoint succeeds. Stats report the failure.
            let _ = self.checkpoint(w);
        }
        Ok(())
    }

    /// Steps 2-5 of a write (see the module docs): `persist`, `append`, `link`,
    /// `publish`. `index_text` is false only when replaying log records the on-disk text
    /// index already holds.
    fn apply(
        &self,
        w: &mut Journal,
        deletes: Vec<u32>,
        inserts: Vec<Row>,
        index_text: bool,
    ) -> Result<()> {
        // Only writers change the row count, and this one holds the writer lock.
        let first_row = self.read().rows.len() as u32;
        w.persist(&deletes, first_row, &inserts, index_text)?;
        // Analyse the texts now, in parallel and outside any lock; `publish` only merges
        // their postings.
        let analyzed: Vec<Option<Analyzed>> = if index_text && self.opts.fulltext {
            inserts
                .par_iter()
                .with_min_len(64)
                .map(|p| Some(Analyzed::of(row_texts(p))))
                .collect()
        } else {
            Vec::new()
        };
        let rows = self.state.write().append(inserts);
        self.read().link(rows.clone(), &self.dist);
        self.state
            .write()
            .publish(&self.dist, &deletes, rows, analyzed)
    }

    /// Checkpoints an on-disk database in three phases (capture under the read lock,
    /// write with no lock, apply under the write lock). Nothing to do in memory.
    fn checkpoint(&self, w: &mut Journal) -> Result<()> {
        if w.is_read_only() {
            return Ok(());
        }
        w.usable()?;
        let captured = match w.checkpoint_capture(&self.read()) {
            Ok(Some(c)) => c,
            // Nothing to fold: the last checkpoint's outcome stands.
            Ok(None) => return Ok(()),
            Err(e) => {
                let failed = Err(e);
                w.checkpoint_done(&failed);
                return failed;
            }
        };
        let result = w
            .checkpoint_write(captured)
            .and_then(|written| w.checkpoint_apply(written, &mut self.state.write()));
        w.checkpoint_done(&result);
        result
    }

    /// Fetches a document by id (its vector as stored: normalised under cosine).
    pub fn get(&self, id: &str) -> Result<Option<Document>> {
        let state = self.read();
        let Some(row) = state.row_of(id)? else {
            return Ok(None);
        };
        // The id lookup read the row's frame whole (CRC and id).
        let r = row as usize;
        Ok(Some(Document {
            id: id.to_owned(),
            vector: state.vectors.vector(row).to_vec(),
            text: state.rows.text(r).map(str::to_owned),
            title: state.rows.title(r).map(str::to_owned),
            metadata: state.rows.metadata(r).map(std::borrow::Cow::into_owned),
        }))
    }

    /// True when a live document has this id (false when its stored row is damaged:
    /// [`VectorDB::get`] says so).
    pub fn contains(&self, id: &str) -> bool {
        self.read().row_of(id).is_ok_and(|r| r.is_some())
    }

    /// The ids of all live documents, in insertion order.
    pub fn ids(&self) -> Vec<String> {
        let state = self.read();
        let mut rows: Vec<u32> = state.ids.rows().collect();
        rows.sort_unstable();
        rows.into_iter()
            .map(|r| state.rows.id(r as usize).to_owned())
            .collect()
    }

    /// Checks a document the way `insert` would (id, dimension, finite values, zero
    /// vector under cosine, metadata type) without inserting it. It does not check
    /// whether the id exists (see [`VectorDB::contains`]).
    pub fn validate(&self, doc: &Document) -> Result<()> {
        self.prepare(doc.clone()).map(|_| ())
    }

    /// Shortcut for a hybrid query: `vector` plus an optional `text`, fused by `fusion`.
    pub fn hybrid_search(
        &self,
        vector: &[f32],
        text: Option<&str>,
        k: usize,
        fusion: Fusion,
    ) -> Result<Vec<Hit>> {
        let mut q = Query::new().vector(vector.to_vec()).k(k).fusion(fusion);
        if let Some(t) = text {
            q = q.text(t);
        }
        self.search(&q)
    }

    /// Runs many searches, in parallel natively (in order on wasm32): the hits of each
    /// query, in the order of `queries`. The first query that fails fails the call.
    ///
    /// ```
    /// use vjson::{Document, Options, Query, VectorDB};
    /// let db = VectorDB::in_memory(Options::new(2))?;
    /// db.insert_batch(vec![Document::new("x", vec![1.0, 0.0]), Document::new("y", vec![0.0, 1.0])])?;
    /// let queries = [Query::new().vector(vec![1.0, 0.1]).k(1), Query::new().vector(vec![0.1, 1.0]).k(1)];
    /// let hits = db.search_batch(&queries)?;
    /// assert_eq!((hits[0][0].id.as_str(), hits[1][0].id.as_str()), ("x", "y"));
    /// # Ok::<(), vjson::Error>(())
    /// ```
    pub fn search_batch(&self, queries: &[Query]) -> Result<Vec<Vec<Hit>>> {
        queries.par_iter().map(|q| self.search(q)).collect()
    }

    /// Runs a vector, text or hybrid search. Hits come best first.
    pub fn search(&self, q: &Query) -> Result<Vec<Hit>> {
        let (k, qv) = self.check_query(q)?;
        let state = self.read();
        let (vec_hits, text_hits) = self.run_sides(&state, q, k, qv.as_deref())?;
        let fused: Vec<Fused> = match (vec_hits, text_hits) {
            (Some((v, _)), Some((t, _))) => fuse_top(q.fusion, &v, &t, k),
            (Some((v, _)), None) => v
                .into_iter()
                .map(|(row, s)| Fused {
                    row,
                    score: s,
                    vector: Some(s),
                    text: None,
                })
                .collect(),
            (None, Some((t, _))) => t
                .into_iter()
                .map(|(row, s)| Fused {
                    row,
                    score: s,
                    vector: None,
                    text: Some(s),
                })
                .collect(),
            (None, None) => Vec::new(),
        };
        fused.into_iter().take(k).map(|f| state.hit(f)).collect()
    }

    /// The two sides of a hybrid query (a vector and a text) before fusion, as
    /// [`crate::VectorDB::search`] fuses them: for building a fusion of one's own, or for
    /// fusing the sides of several databases (the Python package's sharded database
    /// does). Fails with `invalid_query` on a query without both a vector and a text, and
    /// as `search` on a bad query.
    pub fn sides(&self, q: &Query) -> Result<Sides> {
        let (k, qv) = self.check_query(q)?;
        if q.vector.is_none() || q.text.is_none() {
            return Err(Error::InvalidQuery(
                "sides needs a hybrid query: a vector and a text".into(),
            ));
        }
        let state = self.read();
        let (v, t) = self.run_sides(&state, q, k, qv.as_deref())?;
        let ((v, vector_found), (t, text_found)) = (v.unwrap_or_default(), t.unwrap_or_default());
        let ids = |list: Vec<(u32, f32)>| -> Result<Vec<(String, f32)>> {
            list.into_iter()
                .map(|(r, s)| {
                    state.check_row(r as usize)?;
                    Ok((state.rows.id(r as usize).to_owned(), s))
                })
                .collect()
        };
        Ok(Sides {
            vector: ids(v)?,
            text: ids(t)?,
            vector_found,
            text_found,
        })
    }

    /// Checks a query against the database's options and limits: its `k`, and its vector
    /// checked (and normalised for cosine).
    fn check_query(&self, q: &Query) -> Result<(usize, Option<Vec<f32>>)> {
        let max_k = self.opts.limits.max_k;
        let k = q.k.unwrap_or(Query::DEFAULT_K.min(max_k));
        if k == 0 || k > max_k {
            return Err(Error::InvalidQuery(format!(
                "k must be between 1 and {max_k}, got {k}"
            )));
        }
        if q.vector.is_none() && q.text.is_none() {
            return Err(Error::InvalidQuery(
                "a query needs a vector, a text, or both".into(),
            ));
        }
        if q.text.is_some() && !self.opts.fulltext {
            return Err(Error::Unsupported(
                "text search on a database created with full text off; recreate it with fulltext on, or search by vector".into(),
            ));
        }
        if let Some(ef) = q.ef_search
            && !(1..=max_k).contains(&ef)
        {
            return Err(Error::InvalidQuery(format!(
                "ef_search must be between 1 and {max_k}, got {ef}"
            )));
        }
        if let Some(c) = q.candidates
            && !(1..=max_k).contains(&c)
        {
            return Err(Error::InvalidQuery(format!(
                "candidates must be between 1 and {max_k}, got {c}"
            )));
        }
        if let Some(f) = &q.filter {
            let limits = &self.opts.limits;
            let (depth, conditions) = f.size();
            if depth > limits.max_filter_depth {
                return Err(Error::InvalidFilter(format!(
                    "$and, $or and $not nest {depth} levels; this database allows {} (Limits::max_filter_depth)",
                    limits.max_filter_depth
                )));
            }
            if conditions > limits.max_filter_conditions {
                return Err(Error::InvalidFilter(format!(
                    "the filter holds {conditions} conditions; this database allows {} (Limits::max_filter_conditions)",
                    limits.max_filter_conditions
                )));
            }
        }
        q.fusion.validate()?;
        let qv = q
            .vector
            .as_deref()
            .map(|v| self.check_vector("query", v))
            .transpose()?;
        Ok((k, qv))
    }

    /// Runs each side a query has (both in parallel for a hybrid one): per side, its rows
    /// and scores, best first, and how many of them it found itself. Under z-score fusion
    /// a hybrid query's sides then score each other's candidates (appended after their
    /// own; see [`Fusion::Zscore`]).
    #[allow(clippy::type_complexity)]
    fn run_sides(
        &self,
        state: &State,
        q: &Query,
        k: usize,
        qv: Option<&[f32]>,
    ) -> Result<(
        Option<(Vec<(u32, f32)>, usize)>,
        Option<(Vec<(u32, f32)>, usize)>,
    )> {
        let hybrid = qv.is_some() && q.text.is_some();
        let fetch = if hybrid {
            q.candidates.unwrap_or(Query::DEFAULT_CANDIDATES).max(k)
        } else {
            k
        };
        let ef = q.ef_search.unwrap_or(self.opts.hnsw.ef_search).max(fetch);
        let filter = q.filter.as_ref().filter(|f| !f.is_all());
        let boost = self.opts.title_boost;
        // Under z-score fusion each half also scores its own candidates on the other side
        // (see `fusion::complete`), inside the parallel part. The text is analysed once
        // (`prepare_once`), by the text half as it starts; the vector half needs it only
        // after its own search.
        let both = hybrid && matches!(q.fusion, Fusion::Zscore { .. });
        let prepared: OnceLock<Prepared> = OnceLock::new();
        let vector_side = || {
            qv.map(|v| {
                let found = state.vector_search(&self.dist, v, fetch, ef, filter);
                let other = match q.text.as_deref() {
                    Some(text) if both && !found.is_empty() => {
                        let rows: Vec<u32> = found.iter().map(|h| h.0).collect();
                        Some(
                            prepare_once(&prepared, state, text, boost)
                                .and_then(|p| state.text_scores(p, &rows)),
                        )
                    }
                    _ => None,
                };
                (found, other)
            })
        };
        let text_side = || {
            q.text
                .as_deref()
                .map(|t| {
                    let p = prepare_once(&prepared, state, t, boost)?;
                    let found = state.text_search(p, fetch, filter)?;
                    let other = match qv {
                        Some(v) if both && !found.is_empty() => {
                            Some(state.vector_scores(&self.dist, v, found.iter().map(|h| h.0)))
                        }
                        _ => None,
                    };
                    Ok::<_, Error>((found, other))
                })
                .transpose()
        };
        // Only a hybrid query has two halves to run in parallel: handing a one-sided query
        // to the thread pool costs a cross-thread round trip (~35 µs, halving vector QPS).
        // The text side is usually the slower: it runs on this thread while the vector
        // side is offered to vjson's helper thread (`par::join`; awake if a search just
        // ran), which has the whole text search to start in; if it has not started by
        // then, this thread takes it back.
        let (vec_hits, text_hits) = if hybrid {
            let (t, v) = par::join(text_side, vector_side);
            (v, t)
        } else {
            (vector_side(), text_side())
        };
        let text_hits = text_hits?;
        let (mut vec_hits, vec_other) = vec_hits.unzip();
        let (mut text_hits, text_other) = text_hits.unzip();
        // (A failure to score the vector side's rows on the text index is an error even
        // when the text side found nothing and they are not needed.)
        let vec_other = vec_other.flatten().transpose()?;
        let (v_found, t_found) = (
            vec_hits.as_ref().map_or(0, Vec::len),
            text_hits.as_ref().map_or(0, Vec::len),
        );
        if let (Some(v), Some(t), Some(v_text), Some(Some(t_vector))) =
            (vec_hits.as_mut(), text_hits.as_mut(), vec_other, text_other)
        {
            // (Both sides found something: a side that found nothing — a text without an
            // indexed term — has no score distribution to place the other's candidates
            // in, and stays empty.)
            fusion::complete(v, t, &v_text, &t_vector);
        }
        Ok((
            vec_hits.map(|v| (v, v_found)),
            text_hits.map(|t| (t, t_found)),
        ))
    }

    /// Rewrites the rows without tombstones and rebuilds the graph and text index (on
    /// disk: as a new generation of every file). Searches continue meanwhile; writes wait.
    pub fn compact(&self) -> Result<()> {
        self.compact_with(&mut self.writer.lock())
    }

    /// [`VectorDB::compact`], with the writer lock held.
    fn compact_with(&self, w: &mut Journal) -> Result<()> {
        w.usable()?;
        let captured = w.compact_capture(&self.read())?;
        let fresh = w.compact_build(captured, &self.opts, &self.dist)?;
        // The old state (and its memory map) goes before its files do, and is freed
        // after the write lock is released.
        let old = std::mem::replace(&mut *self.state.write(), fresh);
        drop(old);
        w.compact_finish();
        Ok(())
    }

    /// On disk, checkpoints: folds the write-ahead log into the data files (and commits
    /// the text index) so that reopening replays nothing. Every acknowledged write is
    /// already durable under `Durability::Fsync`; under `Durability::Buffered` this is
    /// the durability point. A no-op in memory.
    pub fn flush(&self) -> Result<()> {
        self.checkpoint(&mut self.writer.lock())
    }

    /// Serialises the database into the portable snapshot format.
    pub fn export_snapshot(&self) -> Result<Vec<u8>> {
        let _w = self.writer.lock();
        let state = self.read();
        Ok(crate::snapshot::write(&self.opts, &state))
    }

    /// Opens a snapshot (from either target) as an in-memory database. The HNSW graph is
    /// taken as is; the text index is rebuilt.
    pub fn import_snapshot(bytes: &[u8]) -> Result<Self> {
        Self::import_snapshot_with_limits(bytes, Limits::default())
    }

    /// [`VectorDB::import_snapshot`] under `limits` (which the database keeps): a
    /// snapshot larger than `limits.max_snapshot_bytes` is refused before it is read.
    pub fn import_snapshot_with_limits(bytes: &[u8], limits: Limits) -> Result<Self> {
        limits.validate()?;
        if bytes.len() as u64 > limits.max_snapshot_bytes {
            return Err(Error::LimitExceeded {
                what: "the snapshot (bytes)".into(),
                got: bytes.len() as u64,
                max: limits.max_snapshot_bytes,
                limit: "max_snapshot_bytes",
            });
        }
        let (opts, state) = crate::snapshot::read(bytes)?;
        Ok(Self::new(opts.limits(limits), state, Journal::Memory))
    }
}

impl Drop for VectorDB {
    /// Checkpoints an on-disk database, best effort: a failure is logged, and nothing is
    /// lost — the log still holds every write and the next open replays it. When a file
    /// was removed while open, compacts instead, which writes every file anew.
    fn drop(&mut self) {
        if !self.on_disk {
            return;
        }
        let mut w = self.writer.lock();
        if !w.is_disk() || w.usable().is_err() {
            return;
        }
        let result = if w.vanished() {
            self.compact_with(&mut w)
        } else {
            self.checkpoint(&mut w)
        };
        if let Err(e) = result {
            log::warn!(
                "checkpoint on close failed: {e}; the write-ahead log keeps every write and the next open replays it"
            );
        }
    }
}
