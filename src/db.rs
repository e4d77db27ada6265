//! [`VectorDB`]: the one orchestrator of the row store, the HNSW graph and the text index.
//!
//! Writes validate everything before touching state, so a bad document rejects its whole
//! batch and changes nothing. Searches take a shared lock and run concurrently with each
//! other; each search runs its vector half and its text half with `rayon::join`.
//!
//! Writers are serialised by a writer mutex, and each write runs in three phases so that
//! searches are never held up for the length of a batch:
//!
//! 1. under the write lock, briefly: append the rows and vectors, grow the graph's arrays;
//! 2. under a *read* lock, concurrently with searches: link the new rows into the graph,
//!    in parallel (the graph takes concurrent inserts and searches);
//! 3. under the write lock, briefly: index the texts, apply the deletes, publish the ids
//!    and the visibility watermark.
//!
//! Searches return only rows below the published watermark that are live in the published
//! state, so a search sees a write — a whole batch, an upsert with its delete — entirely or
//! not at all.
//!
//! Writes use rayon themselves: call them from ordinary threads, not from inside a rayon
//! parallel iterator (a writer waiting in its own parallel phase may pick up another
//! write from the pool, which would then wait for the writer lock it holds). Searches may
//! run anywhere.
//!
//! Natively, [`VectorDB::open`] gives an on-disk database (`store/disk.rs`): each write is
//! first appended to the write-ahead log (and fsync'd, under the default durability), then
//! applied as above; checkpoints fold the log into the data files; reopening replays the
//! log past the last checkpoint through the same path.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;

use crate::distance::{Distance, normalize};
use crate::document::{Document, Hit};
use crate::error::{Error, Result, json_type};
use crate::filter::Filter;
use crate::fusion::{Fused, Fusion, fuse};
use crate::hnsw::{Hnsw, SearchScratch, VectorSource};
use crate::options::{Metric, Options};
use crate::query::Query;
use crate::store::{MemoryVectors, Rows, Vectors};
use crate::text::{Analyzed, Bm25Index, TextIndex};

/// The longest document id, in bytes.
pub const MAX_ID_BYTES: usize = 1024;
/// The largest `k` a search may ask for.
pub const MAX_K: usize = 10_000;

thread_local! {
    static SCRATCH: RefCell<SearchScratch> = RefCell::new(SearchScratch::default());
}

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
    inner: RwLock<Inner>,
    /// Serialises writers; natively holds the on-disk state.
    writer: Mutex<Writer>,
    /// True for databases from [`VectorDB::open`].
    #[cfg(not(target_arch = "wasm32"))]
    on_disk: bool,
}

/// What only the (single) writer touches.
#[derive(Default)]
struct Writer {
    #[cfg(not(target_arch = "wasm32"))]
    disk: Option<crate::store::disk::DiskState>,
}

/// Everything behind the lock.
pub(crate) struct Inner {
    pub(crate) rows: Rows,
    pub(crate) vectors: Vectors,
    pub(crate) ids: HashMap<String, u32>,
    pub(crate) hnsw: Hnsw,
    pub(crate) text: Option<Box<dyn TextIndex>>,
    /// Live rows below `visible`.
    pub(crate) live: usize,
    /// Rows `0..visible` are published; rows from `visible` on belong to a write still in
    /// progress and are invisible to searches.
    pub(crate) visible: u32,
}

/// A validated document, vector normalised for cosine.
pub(crate) struct Prepared {
    pub(crate) id: String,
    pub(crate) vector: Vec<f32>,
    pub(crate) text: Option<String>,
    pub(crate) metadata: Option<Value>,
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
    /// Natively, for a database from [`VectorDB::open`]: its files, log and recovery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskStats>,
}

/// The on-disk side of [`Stats`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiskStats {
    /// The database directory.
    pub path: String,
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
    /// Size of the vector file.
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

impl VectorDB {
    /// Creates an empty in-memory database.
    pub fn in_memory(opts: Options) -> Result<Self> {
        opts.validate()?;
        let inner = Inner {
            rows: Rows::default(),
            vectors: Vectors::Memory(MemoryVectors::new(opts.dimension)),
            ids: HashMap::new(),
            hnsw: Hnsw::new(&opts.hnsw),
            text: opts
                .fulltext
                .then(|| Box::new(Bm25Index::new()) as Box<dyn TextIndex>),
            live: 0,
            visible: 0,
        };
        Ok(Self::from_parts(opts, inner))
    }

    pub(crate) fn from_parts(opts: Options, inner: Inner) -> Self {
        VectorDB {
            dist: Distance::new(opts.metric),
            opts,
            inner: RwLock::new(inner),
            writer: Mutex::new(Writer::default()),
            #[cfg(not(target_arch = "wasm32"))]
            on_disk: false,
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
    /// `VectorDB` may have a database open at a time, in this process or any other: the
    /// next gets a `locked` error.
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
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open(path: impl AsRef<std::path::Path>, opts: Options) -> Result<Self> {
        opts.validate()?;
        let crate::store::disk::Opened {
            inner,
            state,
            records,
            options,
        } = crate::store::disk::open(path.as_ref(), &opts)?;
        let db = VectorDB {
            dist: Distance::new(options.metric),
            opts: options,
            inner: RwLock::new(inner),
            writer: Mutex::new(Writer { disk: Some(state) }),
            on_disk: true,
        };
        {
            let mut w = db.writer.lock();
            for rec in records {
                if let Err(e) = db.replay(&mut w, rec) {
                    let d = w.disk.as_mut().expect("an opened database is on disk");
                    return Err(d.fail(e));
                }
            }
        }
        Ok(db)
    }

    /// Reopens the on-disk database in `path` with the options it was created with
    /// (native only). It is an `io` error (not found) when `path` holds no database.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open_existing(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let opts = crate::store::disk::stored_options(path)?.ok_or_else(|| {
            Error::io(
                format!("opening {}", path.display()),
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no vjson database here (no manifest.json); create one with VectorDB::open and options",
                ),
            )
        })?;
        Self::open(path, opts)
    }

    /// Replays one log record at open.
    #[cfg(not(target_arch = "wasm32"))]
    fn replay(&self, w: &mut Writer, rec: crate::store::wal::WalRecord) -> Result<()> {
        let d = w.disk.as_ref().expect("replay is on disk");
        let index_text = rec.seq > d.text_seq();
        let bad = |detail: String| Error::Corrupt {
            path: "wal/current.log".into(),
            detail: format!("record {}: {detail}", rec.seq),
        };
        let deletes = {
            let g = self.read();
            let mut rows = Vec::with_capacity(rec.deletes.len());
            for id in &rec.deletes {
                rows.push(*g.ids.get(id).ok_or_else(|| {
                    bad(format!("deletes {id:?}, which the data files do not hold"))
                })?);
            }
            if let Some(p) = rec
                .inserts
                .iter()
                .find(|p| g.ids.get(&p.id).is_some_and(|r| !rows.contains(r)))
            {
                return Err(bad(format!("inserts {:?}, which already exists", p.id)));
            }
            rows
        };
        self.apply(w, rec.inserts, deletes, index_text)
    }

    /// Checkpoints an on-disk database and closes it, reporting any failure (dropping a
    /// `VectorDB` checkpoints too, but can only print a failure). A no-op in memory.
    pub fn close(self) -> Result<()> {
        let r = self.flush();
        #[cfg(not(target_arch = "wasm32"))]
        drop(self.writer.lock().disk.take());
        r
    }

    /// Shared access for readers. On a rayon worker the lock is taken recursively: that
    /// worker may already hold it further up its stack (a search that stole another
    /// search while waiting in `rayon::join`), and must not queue behind a waiting writer.
    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        if rayon::current_thread_index().is_some() {
            self.inner.read_recursive()
        } else {
            self.inner.read()
        }
    }

    /// The database's options.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Number of live documents.
    pub fn len(&self) -> usize {
        self.read().live
    }

    /// True when the database holds no document.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counts that describe the database. On disk this also reports the files and the
    /// log (and waits for a write in progress).
    pub fn stats(&self) -> Stats {
        let s = {
            let inner = self.read();
            Stats {
                documents: inner.live,
                rows: inner.visible as usize,
                deleted: inner.visible as usize - inner.live,
                dimension: self.opts.dimension,
                metric: self.opts.metric,
                fulltext: self.opts.fulltext,
                disk: None,
            }
        };
        #[cfg(not(target_arch = "wasm32"))]
        let s = Stats {
            disk: if self.on_disk {
                self.writer.lock().disk.as_ref().map(|d| d.stats())
            } else {
                None
            },
            ..s
        };
        s
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

    pub(crate) fn prepare(&self, doc: Document) -> Result<Prepared> {
        if doc.id.is_empty() {
            return Err(Error::EmptyId);
        }
        if doc.id.len() > MAX_ID_BYTES {
            return Err(Error::IdTooLong {
                len: doc.id.len(),
                max: MAX_ID_BYTES,
            });
        }
        let vector = self.check_vector(&format!("document {:?}", doc.id), &doc.vector)?;
        let metadata = match doc.metadata {
            None | Some(Value::Null) => None,
            Some(m @ Value::Object(_)) => Some(m),
            Some(other) => {
                return Err(Error::InvalidMetadata {
                    id: format!("document {:?}", doc.id),
                    got: json_type(&other),
                });
            }
        };
        Ok(Prepared {
            id: doc.id,
            vector,
            text: doc.text,
            metadata,
        })
    }

    fn prepare_all(&self, docs: Vec<Document>) -> Result<Vec<Prepared>> {
        let prepared: Vec<Prepared> = docs
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
        let p = self.prepare(doc)?;
        let mut w = self.writer.lock();
        if self.read().ids.contains_key(&p.id) {
            return Err(Error::DuplicateId(p.id));
        }
        self.write(&mut w, vec![p], Vec::new())
    }

    /// Inserts many documents at once, all or nothing: one bad document (or an id that
    /// exists or repeats) rejects the batch and changes nothing. The graph links the new
    /// documents in parallel, while searches go on; they see the batch once it is whole.
    pub fn insert_batch(&self, docs: Vec<Document>) -> Result<()> {
        let prepared = self.prepare_all(docs)?;
        let mut w = self.writer.lock();
        if let Some(p) = {
            let inner = self.read();
            prepared
                .iter()
                .find(|p| inner.ids.contains_key(&p.id))
                .map(|p| p.id.clone())
        } {
            return Err(Error::DuplicateId(p));
        }
        self.write(&mut w, prepared, Vec::new())
    }

    /// Inserts a document, replacing any document with the same id (searches see the old
    /// one or the new one, never both or neither).
    pub fn upsert(&self, doc: Document) -> Result<()> {
        let p = self.prepare(doc)?;
        let mut w = self.writer.lock();
        let old: Vec<u32> = self.read().ids.get(&p.id).copied().into_iter().collect();
        self.write(&mut w, vec![p], old)
    }

    /// Deletes a document.
    pub fn delete(&self, id: &str) -> Result<()> {
        let mut w = self.writer.lock();
        let row = *self
            .read()
            .ids
            .get(id)
            .ok_or_else(|| Error::NotFound(id.to_owned()))?;
        self.write(&mut w, Vec::new(), vec![row])
    }

    /// Logs (on disk) and applies a validated write: `deletes` (live rows), then `inserts`
    /// (ids that are new once the deletes are done).
    fn write(&self, w: &mut Writer, inserts: Vec<Prepared>, deletes: Vec<u32>) -> Result<()> {
        if inserts.is_empty() && deletes.is_empty() {
            return Ok(());
        }
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(d) = w.disk.as_mut() {
            let ids: Vec<String> = {
                let inner = self.read();
                deletes
                    .iter()
                    .map(|&r| inner.rows.ids[r as usize].clone())
                    .collect()
            };
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            d.log(&ids, &inserts)?;
        }
        self.apply(w, inserts, deletes, true)?;
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(d) = w.disk.as_mut()
            && d.wants_checkpoint()
            && let Err(e) = d.checkpoint(&self.inner)
        {
            // The write itself is logged and applied; the log just keeps growing until a
            // checkpoint succeeds. Stats report the failure.
            d.note_error(&e);
        }
        Ok(())
    }

    /// Applies a write in the three phases described in the module docs. `index_text`
    /// is false only when replaying log records the on-disk text index already holds.
    fn apply(
        &self,
        w: &mut Writer,
        inserts: Vec<Prepared>,
        deletes: Vec<u32>,
        index_text: bool,
    ) -> Result<()> {
        let n = inserts.len();
        // Only writers change the row count, and this one holds the writer lock.
        let start = self.read().rows.len() as u32;
        let end = start + n as u32;
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(d) = w.disk.as_mut() {
            d.stage(start, &inserts, &deletes, index_text)?;
        }
        #[cfg(target_arch = "wasm32")]
        let _ = w;
        // Analyse the texts now, in parallel and outside any lock; phase 3 only merges
        // their postings.
        let mut analyzed: Vec<Option<Analyzed>> = if index_text && self.opts.fulltext {
            inserts
                .par_iter()
                .with_min_len(64)
                .map(|p| p.text.as_deref().map(Analyzed::of))
                .collect()
        } else {
            Vec::new()
        };
        if n > 0 {
            {
                let mut inner = self.inner.write();
                inner.vectors.reserve(n);
                for p in &inserts {
                    inner.vectors.push(&p.vector)?;
                }
                inner.hnsw.grow(end as usize);
                for p in inserts {
                    inner.rows.push(p.id, p.text, p.metadata);
                }
            }
            let inner = self.read();
            inner
                .hnsw
                .insert_rows(start..end, &inner.vectors, &self.dist);
        }
        let mut guard = self.inner.write();
        let inner = &mut *guard;
        for row in deletes {
            inner.delete_row(&self.dist, row)?;
        }
        for (i, r) in (start..end).enumerate() {
            if let (Some(ix), Some(a)) = (
                inner.text.as_mut(),
                analyzed.get_mut(i).and_then(Option::take),
            ) {
                ix.add_analyzed(r, a)?;
            }
            inner.ids.insert(inner.rows.ids[r as usize].clone(), r);
        }
        inner.live += n;
        inner.visible = end;
        Ok(())
    }

    /// Fetches a document by id (its vector as stored: normalised under cosine).
    pub fn get(&self, id: &str) -> Result<Option<Document>> {
        let inner = self.read();
        Ok(inner.ids.get(id).map(|&row| {
            let r = row as usize;
            Document {
                id: id.to_owned(),
                vector: inner.vectors.vector(row).to_vec(),
                text: inner.rows.texts[r].clone(),
                metadata: inner.rows.metadata[r].clone(),
            }
        }))
    }

    /// True when a live document has this id.
    pub fn contains(&self, id: &str) -> bool {
        self.read().ids.contains_key(id)
    }

    /// The ids of all live documents, in insertion order.
    pub fn ids(&self) -> Vec<String> {
        let inner = self.read();
        let mut rows: Vec<u32> = inner.ids.values().copied().collect();
        rows.sort_unstable();
        rows.into_iter()
            .map(|r| inner.rows.ids[r as usize].clone())
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

    /// Runs a vector, text or hybrid search. Hits come best first.
    pub fn search(&self, q: &Query) -> Result<Vec<Hit>> {
        let k = q.k.unwrap_or(Query::DEFAULT_K);
        if k == 0 || k > MAX_K {
            return Err(Error::InvalidQuery(format!(
                "k must be between 1 and {MAX_K}, got {k}"
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
            && !(1..=10_000).contains(&ef)
        {
            return Err(Error::InvalidQuery(format!(
                "ef_search must be between 1 and 10000, got {ef}"
            )));
        }
        if let Some(c) = q.candidates
            && !(1..=MAX_K).contains(&c)
        {
            return Err(Error::InvalidQuery(format!(
                "candidates must be between 1 and {MAX_K}, got {c}"
            )));
        }
        q.fusion.validate()?;
        let qv = q
            .vector
            .as_deref()
            .map(|v| self.check_vector("query", v))
            .transpose()?;
        let hybrid = qv.is_some() && q.text.is_some();
        let fetch = if hybrid {
            q.candidates.unwrap_or(50).max(k)
        } else {
            k
        };
        let ef = q.ef_search.unwrap_or(self.opts.hnsw.ef_search).max(fetch);
        let inner = self.read();
        let filter = q.filter.as_ref().filter(|f| !f.is_all());
        let vector_side = || {
            qv.as_deref()
                .map(|v| inner.vector_search(&self.dist, v, fetch, ef, filter))
        };
        let text_side = || {
            q.text
                .as_deref()
                .map(|t| inner.text_search(t, fetch, filter))
                .transpose()
        };
        // Only a hybrid query has two halves to run in parallel: handing a one-sided query
        // to the thread pool costs a cross-thread round trip (~35 µs, halving vector QPS).
        let (vec_hits, text_hits) = if hybrid {
            rayon::join(vector_side, text_side)
        } else {
            (vector_side(), text_side())
        };
        let text_hits = text_hits?;
        let fused: Vec<Fused> = match (vec_hits, text_hits) {
            (Some(v), Some(t)) => fuse(q.fusion, &v, &t),
            (Some(v), None) => v
                .into_iter()
                .map(|(row, s)| Fused {
                    row,
                    score: s,
                    vector: Some(s),
                    text: None,
                })
                .collect(),
            (None, Some(t)) => t
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
        Ok(fused.into_iter().take(k).map(|f| inner.hit(f)).collect())
    }

    /// Rewrites the rows without tombstones and rebuilds the graph and text index (on
    /// disk: as a new generation of every file). Searches continue meanwhile; writes wait.
    pub fn compact(&self) -> Result<()> {
        let _w = self.writer.lock();
        #[cfg(not(target_arch = "wasm32"))]
        {
            let mut w = _w;
            if let Some(d) = w.disk.as_mut() {
                return d.compact(&self.inner, &self.dist);
            }
        }
        let docs = self.read().clone_live();
        let fresh = Inner::from_rows(&self.opts, &self.dist, docs, None)?;
        *self.inner.write() = fresh;
        Ok(())
    }

    /// On disk, checkpoints: folds the write-ahead log into the data files (and commits
    /// the text index) so that reopening replays nothing. Every acknowledged write is
    /// already durable under `Durability::Fsync`; under `Durability::Buffered` this is
    /// the durability point. A no-op in memory.
    pub fn flush(&self) -> Result<()> {
        #[cfg(not(target_arch = "wasm32"))]
        {
            let mut w = self.writer.lock();
            if let Some(d) = w.disk.as_mut() {
                return d.checkpoint(&self.inner);
            }
        }
        Ok(())
    }

    /// Serialises the database into the portable snapshot format.
    pub fn export_snapshot(&self) -> Result<Vec<u8>> {
        let _w = self.writer.lock();
        let inner = self.read();
        Ok(crate::snapshot::write(&self.opts, &inner))
    }

    /// Opens a snapshot (from either target) as an in-memory database. The HNSW graph is
    /// taken as is; the text index is rebuilt.
    pub fn import_snapshot(bytes: &[u8]) -> Result<Self> {
        let (opts, inner) = crate::snapshot::read(bytes)?;
        Ok(Self::from_parts(opts, inner))
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Drop for VectorDB {
    /// Checkpoints an on-disk database, best effort: a failure is printed, and nothing is
    /// lost — the log still holds every write and the next open replays it.
    fn drop(&mut self) {
        if let Some(d) = self.writer.get_mut().disk.as_mut()
            && d.usable().is_ok()
            && let Err(e) = d.checkpoint(&self.inner)
        {
            eprintln!(
                "vjson: checkpoint on close failed: {e}; the write-ahead log keeps every write and the next open replays it"
            );
        }
    }
}

/// The default rule: scan exactly when the filter is estimated to match fewer than this
/// many times `max(ef, k)` documents, or less than this share of them.
const EXACT_SCAN_FACTOR: usize = 8;
const EXACT_SCAN_SELECTIVITY: f64 = 0.03;
const SELECTIVITY_SAMPLE: usize = 1024;

impl Inner {
    fn delete_row(&mut self, dist: &Distance, row: u32) -> Result<()> {
        if !self.rows.live[row as usize] {
            return Ok(());
        }
        let id = &self.rows.ids[row as usize];
        if self.ids.get(id) == Some(&row) {
            self.ids.remove(id);
        }
        let (text, _) = self.rows.kill(row);
        if let (Some(ix), Some(t)) = (self.text.as_mut(), text.as_deref()) {
            ix.remove(row, t)?;
        }
        self.hnsw.remove(row, &self.vectors, dist);
        self.live -= 1;
        Ok(())
    }

    /// Copies of the published live documents, in row order (vectors as stored).
    pub(crate) fn clone_live(&self) -> Vec<Prepared> {
        let mut out = Vec::with_capacity(self.live);
        for r in 0..self.visible as usize {
            if self.rows.live[r] {
                out.push(Prepared {
                    id: self.rows.ids[r].clone(),
                    vector: self.vectors.vector(r as u32).to_vec(),
                    text: self.rows.texts[r].clone(),
                    metadata: self.rows.metadata[r].clone(),
                });
            }
        }
        out
    }

    /// Builds state from validated rows; with `graph`, the HNSW graph is taken as given
    /// instead of being rebuilt.
    pub(crate) fn from_rows(
        opts: &Options,
        dist: &Distance,
        docs: Vec<Prepared>,
        graph: Option<Hnsw>,
    ) -> Result<Inner> {
        let mut data = Vec::with_capacity(docs.len() * opts.dimension);
        let mut rows = Rows::default();
        for p in docs {
            data.extend_from_slice(&p.vector);
            rows.push(p.id, p.text, p.metadata);
        }
        let vectors = Vectors::Memory(MemoryVectors::from_vec(opts.dimension, data));
        Self::assemble(opts, dist, rows, vectors, graph)
    }

    /// Builds the id map and text index over `rows` (some maybe dead) and takes or builds
    /// the graph.
    pub(crate) fn assemble(
        opts: &Options,
        dist: &Distance,
        rows: Rows,
        vectors: Vectors,
        graph: Option<Hnsw>,
    ) -> Result<Inner> {
        let text: Option<Box<dyn TextIndex>> = if opts.fulltext {
            let mut ix = Bm25Index::new();
            for r in 0..rows.len() {
                if let (true, Some(t)) = (rows.live[r], rows.texts[r].as_deref()) {
                    ix.add(r as u32, t)?;
                }
            }
            Some(Box::new(ix))
        } else {
            None
        };
        let hnsw = match graph {
            Some(g) => g,
            None => {
                let dead = |r: u32| !rows.live[r as usize];
                Hnsw::rebuild(&opts.hnsw, rows.len() as u32, &vectors, dist, &dead)
            }
        };
        Inner::from_stored(rows, vectors, hnsw, text).map_err(Error::snapshot)
    }

    /// Puts stored parts together, every row published: builds the id map and counts the
    /// live rows. Two live rows with one id are an error (the message says which id).
    pub(crate) fn from_stored(
        rows: Rows,
        vectors: Vectors,
        hnsw: Hnsw,
        text: Option<Box<dyn TextIndex>>,
    ) -> std::result::Result<Inner, String> {
        let mut ids = HashMap::with_capacity(rows.len());
        let mut live = 0;
        for r in 0..rows.len() {
            if !rows.live[r] {
                continue;
            }
            if ids.insert(rows.ids[r].clone(), r as u32).is_some() {
                return Err(format!("id {:?} appears on two live rows", rows.ids[r]));
            }
            live += 1;
        }
        Ok(Inner {
            visible: rows.len() as u32,
            rows,
            vectors,
            ids,
            hnsw,
            text,
            live,
        })
    }

    fn accepts(&self, row: u32, filter: Option<&Filter>) -> bool {
        let r = row as usize;
        row < self.visible
            && self.rows.live[r]
            && filter.is_none_or(|f| f.matches(self.rows.metadata[r].as_ref()))
    }

    /// Estimated share of live rows that pass `filter`, from an even sample.
    fn selectivity(&self, filter: &Filter) -> f64 {
        let n = self.visible as usize;
        let step = (n / SELECTIVITY_SAMPLE).max(1);
        let (mut seen, mut pass) = (0usize, 0usize);
        for r in (0..n).step_by(step) {
            if self.rows.live[r] {
                seen += 1;
                if filter.matches(self.rows.metadata[r].as_ref()) {
                    pass += 1;
                }
            }
        }
        if seen == 0 {
            0.0
        } else {
            pass as f64 / seen as f64
        }
    }

    /// The `k` nearest accepted rows with their scores, best first.
    pub(crate) fn vector_search(
        &self,
        dist: &Distance,
        q: &[f32],
        k: usize,
        ef: usize,
        filter: Option<&Filter>,
    ) -> Vec<(u32, f32)> {
        if self.live == 0 {
            return Vec::new();
        }
        if let Some(f) = filter {
            let sel = self.selectivity(f);
            let est = sel * self.live as f64;
            if sel < EXACT_SCAN_SELECTIVITY || est < (EXACT_SCAN_FACTOR * ef.max(k)) as f64 {
                return self.exact_search(dist, q, k, filter);
            }
        }
        let accept = |r: u32| self.accepts(r, filter);
        let found = SCRATCH.with(|s| {
            self.hnsw
                .search(&self.vectors, dist, q, k, ef, &accept, &mut s.borrow_mut())
        });
        // The graph can come back short only when few rows qualify or tombstones cut it
        // off; the exact scan then returns every qualifying row.
        if found.len() < k.min(self.live) {
            return self.exact_search(dist, q, k, filter);
        }
        found.into_iter().map(|(r, d)| (r, dist.score(d))).collect()
    }

    /// Brute force over the accepted rows.
    pub(crate) fn exact_search(
        &self,
        dist: &Distance,
        q: &[f32],
        k: usize,
        filter: Option<&Filter>,
    ) -> Vec<(u32, f32)> {
        let mut all: Vec<(u32, f32)> = (0..self.visible)
            .into_par_iter()
            .with_min_len(2048)
            .filter(|&r| self.accepts(r, filter))
            .map(|r| (r, dist.dist(q, self.vectors.vector(r))))
            .collect();
        let by = |a: &(u32, f32), b: &(u32, f32)| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0));
        if all.len() > k {
            all.select_nth_unstable_by(k - 1, by);
            all.truncate(k);
        }
        all.sort_unstable_by(by);
        all.into_iter().map(|(r, d)| (r, dist.score(d))).collect()
    }

    pub(crate) fn text_search(
        &self,
        text: &str,
        k: usize,
        filter: Option<&Filter>,
    ) -> Result<Vec<(u32, f32)>> {
        match &self.text {
            Some(ix) => ix.search(text, k, &|r| self.accepts(r, filter)),
            None => Ok(Vec::new()),
        }
    }

    fn hit(&self, f: Fused) -> Hit {
        let r = f.row as usize;
        Hit {
            id: self.rows.ids[r].clone(),
            score: f.score,
            vector_score: f.vector,
            text_score: f.text,
            metadata: self.rows.metadata[r].clone(),
            text: self.rows.texts[r].clone(),
        }
    }
}
