//! [`VectorDB`]: the one orchestrator of the row store, the HNSW graph and the text index.
//!
//! Writes validate everything before touching state, so a bad document rejects its whole
//! batch and changes nothing. Searches take a shared lock and run concurrently with each
//! other; each search runs its vector half and its text half with `rayon::join`.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use parking_lot::RwLock;
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
use crate::text::{Bm25Index, TextIndex};

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
}

/// Everything behind the lock.
pub(crate) struct Inner {
    pub(crate) rows: Rows,
    pub(crate) vectors: Vectors,
    pub(crate) ids: HashMap<String, u32>,
    pub(crate) hnsw: Hnsw,
    pub(crate) text: Option<Box<dyn TextIndex>>,
    pub(crate) live: usize,
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
        };
        Ok(Self::from_parts(opts, inner))
    }

    pub(crate) fn from_parts(opts: Options, inner: Inner) -> Self {
        VectorDB {
            dist: Distance::new(opts.metric),
            opts,
            inner: RwLock::new(inner),
        }
    }

    /// The database's options.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Number of live documents.
    pub fn len(&self) -> usize {
        self.inner.read().live
    }

    /// True when the database holds no document.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counts that describe the database.
    pub fn stats(&self) -> Stats {
        let inner = self.inner.read();
        Stats {
            documents: inner.live,
            rows: inner.rows.len(),
            deleted: inner.rows.len() - inner.live,
            dimension: self.opts.dimension,
            metric: self.opts.metric,
            fulltext: self.opts.fulltext,
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
    /// The document is searchable when this returns.
    pub fn insert(&self, doc: Document) -> Result<()> {
        let p = self.prepare(doc)?;
        let mut inner = self.inner.write();
        if inner.ids.contains_key(&p.id) {
            return Err(Error::DuplicateId(p.id));
        }
        inner.apply(&self.dist, vec![p], Vec::new())
    }

    /// Inserts many documents at once, all or nothing: one bad document (or an id that
    /// exists or repeats) rejects the batch and changes nothing. The graph links the new
    /// documents in parallel.
    pub fn insert_batch(&self, docs: Vec<Document>) -> Result<()> {
        let prepared = self.prepare_all(docs)?;
        let mut inner = self.inner.write();
        if let Some(p) = prepared.iter().find(|p| inner.ids.contains_key(&p.id)) {
            return Err(Error::DuplicateId(p.id.clone()));
        }
        inner.apply(&self.dist, prepared, Vec::new())
    }

    /// Inserts a document, replacing any document with the same id.
    pub fn upsert(&self, doc: Document) -> Result<()> {
        let p = self.prepare(doc)?;
        let mut inner = self.inner.write();
        let old: Vec<u32> = inner.ids.get(&p.id).copied().into_iter().collect();
        inner.apply(&self.dist, vec![p], old)
    }

    /// Deletes a document.
    pub fn delete(&self, id: &str) -> Result<()> {
        let mut inner = self.inner.write();
        let row = *inner
            .ids
            .get(id)
            .ok_or_else(|| Error::NotFound(id.to_owned()))?;
        inner.apply(&self.dist, Vec::new(), vec![row])
    }

    /// Fetches a document by id (its vector as stored: normalised under cosine).
    pub fn get(&self, id: &str) -> Result<Option<Document>> {
        let inner = self.inner.read();
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
        let inner = self.inner.read();
        let filter = q.filter.as_ref().filter(|f| !f.is_all());
        let (vec_hits, text_hits) = rayon::join(
            || {
                qv.as_deref()
                    .map(|v| inner.vector_search(&self.dist, v, fetch, ef, filter))
            },
            || {
                q.text
                    .as_deref()
                    .map(|t| inner.text_search(t, fetch, filter))
                    .transpose()
            },
        );
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

    /// Rewrites the rows without tombstones and rebuilds the graph and text index.
    pub fn compact(&self) -> Result<()> {
        let mut inner = self.inner.write();
        let fresh = Inner::from_rows(&self.opts, &self.dist, inner.take_live(), None)?;
        *inner = fresh;
        Ok(())
    }

    /// Makes every acknowledged write durable (a no-op in memory).
    pub fn flush(&self) -> Result<()> {
        Ok(())
    }

    /// Serialises the database into the portable snapshot format.
    pub fn export_snapshot(&self) -> Result<Vec<u8>> {
        let inner = self.inner.read();
        Ok(crate::snapshot::write(&self.opts, &inner))
    }

    /// Opens a snapshot (from either target) as an in-memory database. The HNSW graph is
    /// taken as is; the text index is rebuilt.
    pub fn import_snapshot(bytes: &[u8]) -> Result<Self> {
        let (opts, inner) = crate::snapshot::read(bytes)?;
        Ok(Self::from_parts(opts, inner))
    }
}

/// The default rule: scan exactly when the filter is estimated to match fewer than this
/// many times `max(ef, k)` documents, or less than this share of them.
const EXACT_SCAN_FACTOR: usize = 8;
const EXACT_SCAN_SELECTIVITY: f64 = 0.03;
const SELECTIVITY_SAMPLE: usize = 1024;

impl Inner {
    /// Applies deletes, then inserts. Cannot fail half-way: everything was validated.
    pub(crate) fn apply(
        &mut self,
        dist: &Distance,
        inserts: Vec<Prepared>,
        deletes: Vec<u32>,
    ) -> Result<()> {
        for row in deletes {
            self.delete_row(dist, row)?;
        }
        if inserts.is_empty() {
            return Ok(());
        }
        let start = self.rows.len() as u32;
        self.vectors.reserve(inserts.len());
        for p in inserts {
            let row = self.rows.len() as u32;
            self.vectors.push(&p.vector)?;
            if let (Some(ix), Some(t)) = (self.text.as_mut(), p.text.as_deref()) {
                ix.add(row, t)?;
            }
            self.ids.insert(p.id.clone(), row);
            self.rows.push(p.id, p.text, p.metadata);
            self.live += 1;
        }
        let end = self.rows.len() as u32;
        self.hnsw.grow(end as usize);
        self.hnsw.insert_rows(start..end, &self.vectors, dist);
        Ok(())
    }

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

    /// The live documents, in row order (vectors as stored).
    pub(crate) fn take_live(&mut self) -> Vec<Prepared> {
        let mut out = Vec::with_capacity(self.live);
        for r in 0..self.rows.len() {
            if self.rows.live[r] {
                out.push(Prepared {
                    id: std::mem::take(&mut self.rows.ids[r]),
                    vector: self.vectors.vector(r as u32).to_vec(),
                    text: self.rows.texts[r].take(),
                    metadata: self.rows.metadata[r].take(),
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
        let mut ids = HashMap::with_capacity(rows.len());
        let mut text: Option<Box<dyn TextIndex>> = opts
            .fulltext
            .then(|| Box::new(Bm25Index::new()) as Box<dyn TextIndex>);
        let mut live = 0;
        for r in 0..rows.len() {
            if !rows.live[r] {
                continue;
            }
            if ids.insert(rows.ids[r].clone(), r as u32).is_some() {
                return Err(Error::snapshot(format!(
                    "id {:?} appears on two live rows",
                    rows.ids[r]
                )));
            }
            if let (Some(ix), Some(t)) = (text.as_mut(), rows.texts[r].as_deref()) {
                ix.add(r as u32, t)?;
            }
            live += 1;
        }
        let hnsw = match graph {
            Some(g) => g,
            None => {
                let dead = |r: u32| !rows.live[r as usize];
                Hnsw::rebuild(&opts.hnsw, rows.len() as u32, &vectors, dist, &dead)
            }
        };
        Ok(Inner {
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
        self.rows.live[r] && filter.is_none_or(|f| f.matches(self.rows.metadata[r].as_ref()))
    }

    /// Estimated share of live rows that pass `filter`, from an even sample.
    fn selectivity(&self, filter: &Filter) -> f64 {
        let n = self.rows.len();
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
        let mut all: Vec<(u32, f32)> = (0..self.rows.len() as u32)
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
