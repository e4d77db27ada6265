//! [`State`]: what a database holds in memory and what searches read — rows, vectors,
//! the id map, the HNSW graph, the text index, and the visibility watermark — with the
//! operations on it: building it from stored parts, the three phases of applying a write,
//! and vector, text and exact search.
//!
//! `State` takes no lock and knows nothing of files: `db.rs` holds it in a `RwLock` and
//! calls each method under the lock its doc names; the durability layer (`durable/`)
//! reads it to checkpoint and builds a new one when it compacts.

use std::borrow::Cow;
use std::cell::RefCell;
use std::ops::Range;

use crate::par::*;
use crate::rank::{self, Best};

use crate::distance::Distance;
use crate::distance::dot_i8;
use crate::document::Hit;
use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::fusion::Fused;
use crate::hnsw::{Exact, ExactSpace, Hnsw, QueryDist, SearchScratch, Space, VectorSource, tally};
use crate::options::{Metric, Options, Quantization};
use crate::store::{IdIndex, Int8Code, Int8Vectors, MemoryVectors, Row, Rows, Vectors};
use crate::text::{Analyzed, Bm25Index, FieldTexts, Prepared, Text};

/// What the text index indexes of a row being written.
pub(crate) fn row_texts(row: &Row) -> FieldTexts<'_> {
    FieldTexts {
        text: row.text.as_deref(),
        title: row.title.as_deref(),
    }
}

/// What the text index indexes of stored row `r`.
pub(crate) fn stored_texts(rows: &Rows, r: usize) -> FieldTexts<'_> {
    FieldTexts {
        text: rows.text(r),
        title: rows.title(r),
    }
}

/// The default rule: scan exactly when the filter is estimated to match fewer than this
/// many times `max(ef, k)` documents, or less than this share of them.
const EXACT_SCAN_FACTOR: usize = 8;
const EXACT_SCAN_SELECTIVITY: f64 = 0.03;
const SELECTIVITY_SAMPLE: usize = 1024;

/// How many of an int8 walk's best candidates are re-ranked with the f32 vectors:
/// `REFINE_FACTOR * k`, at least `REFINE_MIN`, at most `ef`. Each exact distance reads
/// a vector from memory (1.5 KB at 384 dimensions, rarely in cache), so re-ranking all
/// `ef` candidates cost ~40% of a query at ef 100. Measured on rustdocs and a uniform set
/// on one graph, ef 20 to 400: re-ranking 2k gives the same recall@10 as re-ranking all
/// `ef` (k gives up to 0.007 less); 3k leaves a margin.
const REFINE_FACTOR: usize = 3;
const REFINE_MIN: usize = 16;

thread_local! {
    static SCRATCH: RefCell<SearchScratch> = RefCell::new(SearchScratch::default());
}

/// Everything a database holds in memory.
/// What a database holds in memory, in bytes, by part ([`crate::Stats::memory`]).
///
/// Heap parts are the process's own memory: they stay resident until the database is
/// dropped. `vectors_mapped` is different: natively the checkpointed vectors are a memory
/// map of `vectors.f32`, which the kernel pages in as searches touch them and may page
/// out again under memory pressure, so only part of it is resident at any time (the
/// process's RSS shows how much). Tantivy's committed segments are memory-mapped files
/// too, and are not counted here. Figures are estimates of what each structure has
/// allocated (capacities, not lengths), not the allocator's exact view.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MemoryStats {
    /// Float32 vectors in the heap: every vector of an in-memory database; natively only
    /// the rows written since the last checkpoint.
    pub vectors: u64,
    /// Float32 vectors served from the memory-mapped vector file (see above).
    pub vectors_mapped: u64,
    /// The int8 search copy of the vectors that graph searches walk on
    /// ([`crate::Quantization::Int8`]), in the heap: all of it in memory; natively only
    /// the rows written since the last checkpoint.
    pub codes: u64,
    /// Natively, the int8 copy served from the memory-mapped codes file (`vectors.i8`):
    /// paged in as searches touch it, like `vectors_mapped`. Graph searches read it on
    /// every step, so it is what should stay resident for speed (a quarter of the
    /// vectors' bytes); the f32 vectors are read only to re-rank a few candidates.
    pub codes_mapped: u64,
    /// The HNSW graph: links of every layer, levels, flags.
    pub graph: u64,
    /// Document ids, the id-to-row map, and the liveness flags.
    pub ids: u64,
    /// Stored texts in the heap: every text of an in-memory database; natively those of
    /// the rows written since the open (the others are read from `rows_mapped`).
    pub texts: u64,
    /// Stored metadata: JSON text, and the values parsed from it so far (a row's metadata
    /// is parsed when a filter or a hit first reads it, and kept up to 64 MiB of parsed
    /// values; past that it is parsed on each read).
    pub metadata: u64,
    /// Natively, the row file (`rows.dat`) as of the open, memory-mapped: the texts and
    /// metadata of the rows it holds are read from it, paged in as hits and filters touch
    /// them.
    pub rows_mapped: u64,
    /// The full-text index: the whole BM25 index in memory, or natively the part not yet
    /// committed to Tantivy.
    pub text_index: u64,
    /// Search buffers: every searching thread keeps a visited mark per row (4 bytes) of
    /// the largest graph it searched, and a score per row (4 bytes) of the largest
    /// in-memory text index; shared by every database in the process.
    pub search_buffers: u64,
    /// The sum of the heap parts (everything above but the `*_mapped` ones).
    pub heap_total: u64,
}

pub(crate) struct State {
    pub(crate) rows: Rows,
    pub(crate) vectors: Vectors,
    /// The compact copy graph searches walk on, with `Quantization::Int8`.
    pub(crate) codes: Option<Int8Vectors>,
    /// Live rows by id.
    pub(crate) ids: IdIndex,
    pub(crate) hnsw: Hnsw,
    pub(crate) text: Option<Text>,
    /// Live rows below `visible`.
    pub(crate) live_rows: usize,
    /// Rows `0..visible` are published; rows from `visible` on belong to a write still in
    /// progress and are invisible to searches.
    pub(crate) visible: u32,
}

impl State {
    /// An empty state.
    pub(crate) fn empty(opts: &Options) -> State {
        let vectors = Vectors::Memory(MemoryVectors::new(opts.dimension));
        State {
            codes: (opts.quantization == Quantization::Int8)
                .then(|| Int8Vectors::of(opts.dimension, 0, &vectors)),
            rows: Rows::default(),
            vectors,
            ids: IdIndex::default(),
            hnsw: Hnsw::new(&opts.hnsw),
            text: opts.fulltext.then(|| Text::Bm25(Bm25Index::new())),
            live_rows: 0,
            visible: 0,
        }
    }

    /// Write phase 1 (under the write lock, briefly): appends the rows and their vectors,
    /// unpublished, and grows the graph's arrays. Returns the new rows' numbers.
    pub(crate) fn append(&mut self, inserts: Vec<Row>) -> Range<u32> {
        let start = self.rows.len() as u32;
        let end = start + inserts.len() as u32;
        if inserts.is_empty() {
            return start..end;
        }
        self.vectors.reserve(inserts.len());
        for p in &inserts {
            self.vectors.push(&p.vector);
        }
        if let Some(c) = self.codes.as_mut() {
            c.reserve(inserts.len());
            for p in &inserts {
                c.push(&p.vector);
            }
        }
        self.hnsw.grow(end as usize);
        for p in inserts {
            self.rows.push(p.id, p.text, p.title, p.metadata);
        }
        start..end
    }

    /// Write phase 2 (under a *read* lock, concurrently with searches): links the new
    /// rows into the graph, in parallel.
    pub(crate) fn link(&self, rows: Range<u32>, dist: &Distance) {
        if rows.is_empty() {
            return;
        }
        match &self.codes {
            Some(codes) => self.hnsw.insert_rows(rows, &Int8Space::new(codes, dist)),
            None => self.hnsw.insert_rows(
                rows,
                &ExactSpace {
                    vecs: &self.vectors,
                    dist,
                },
            ),
        }
    }

    /// Write phase 3 (under the write lock, briefly): applies the deletes, indexes the
    /// new rows' analysed texts (`analyzed[i]` for row `rows.start + i`; empty when the
    /// text index already holds them), and publishes the rows.
    pub(crate) fn publish(
        &mut self,
        dist: &Distance,
        deletes: &[u32],
        rows: Range<u32>,
        mut analyzed: Vec<Option<Analyzed>>,
    ) -> Result<()> {
        for &row in deletes {
            self.delete_row(dist, row)?;
        }
        for (i, r) in rows.clone().enumerate() {
            if let (Some(ix), Some(a)) = (
                self.text.as_mut(),
                analyzed.get_mut(i).and_then(Option::take),
            ) {
                ix.add_analyzed(r, a)?;
            }
            self.ids.insert(&self.rows, r);
        }
        self.live_rows += rows.len();
        self.visible = rows.end;
        Ok(())
    }

    fn delete_row(&mut self, dist: &Distance, row: u32) -> Result<()> {
        if !self.rows.live[row as usize] {
            return Ok(());
        }
        self.ids.remove_row(&self.rows, row);
        let (text, title) = self.rows.kill(row);
        if let Some(ix) = self.text.as_mut() {
            let texts = FieldTexts {
                text: text.as_deref(),
                title: title.as_deref(),
            };
            ix.remove(row, texts)?;
        }
        match &self.codes {
            Some(codes) => self.hnsw.remove(row, &Int8Space::new(codes, dist)),
            None => self.hnsw.remove(
                row,
                &ExactSpace {
                    vecs: &self.vectors,
                    dist,
                },
            ),
        }
        self.live_rows -= 1;
        Ok(())
    }

    /// Copies of the published live documents, in row order (vectors as stored).
    pub(crate) fn clone_live(&self) -> Vec<Row> {
        let mut out = Vec::with_capacity(self.live_rows);
        for r in 0..self.visible as usize {
            if self.rows.live[r] {
                out.push(Row {
                    id: self.rows.id(r).to_owned(),
                    vector: self.vectors.vector(r as u32).to_vec(),
                    text: self.rows.text(r).map(str::to_owned),
                    title: self.rows.title(r).map(str::to_owned),
                    metadata: self.rows.metadata(r).map(Cow::into_owned),
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
        docs: Vec<Row>,
        graph: Option<Hnsw>,
    ) -> Result<State> {
        let mut data = Vec::with_capacity(docs.len() * opts.dimension);
        let mut rows = Rows::default();
        for p in docs {
            data.extend_from_slice(&p.vector);
            rows.push(p.id, p.text, p.title, p.metadata);
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
    ) -> Result<State> {
        let ids = IdIndex::build(&rows).map_err(Error::snapshot)?;
        let text = if opts.fulltext {
            let mut ix = Text::Bm25(Bm25Index::new());
            for r in 0..rows.len() {
                if rows.live[r] {
                    ix.add(r as u32, stored_texts(&rows, r))?;
                }
            }
            Some(ix)
        } else {
            None
        };
        let hnsw = match graph {
            Some(g) => g,
            None => {
                let dead = |r: u32| !rows.live[r as usize];
                let space = ExactSpace {
                    vecs: &vectors,
                    dist,
                };
                Hnsw::rebuild(&opts.hnsw, rows.len() as u32, &space, &dead)
            }
        };
        Ok(State::from_stored(rows, ids, vectors, hnsw, text).with_codes(opts))
    }

    /// Builds (or drops) the compact copy of the vectors `opts.quantization` asks for.
    pub(crate) fn with_codes(self, opts: &Options) -> State {
        self.with_stored_codes(opts, None)
    }

    /// Takes the compact copy `opts.quantization` asks for from `stored` (natively, the
    /// mapped codes file), else builds it from the vectors.
    pub(crate) fn with_stored_codes(
        mut self,
        opts: &Options,
        stored: Option<Int8Vectors>,
    ) -> State {
        self.codes = (opts.quantization == Quantization::Int8).then(|| {
            stored.unwrap_or_else(|| {
                Int8Vectors::of(opts.dimension, self.rows.len() as u32, &self.vectors)
            })
        });
        self
    }

    /// Puts stored parts together, every row published: `ids` indexes the live `rows`
    /// ([`IdIndex::build`]); marks the dead rows removed from the graph and counts the
    /// live ones.
    pub(crate) fn from_stored(
        rows: Rows,
        ids: IdIndex,
        vectors: Vectors,
        mut hnsw: Hnsw,
        text: Option<Text>,
    ) -> State {
        for r in 0..rows.len() {
            if !rows.live[r] {
                hnsw.mark_removed(r as u32);
            }
        }
        State {
            visible: rows.len() as u32,
            rows,
            codes: None,
            vectors,
            live_rows: ids.len(),
            ids,
            hnsw,
            text,
        }
    }

    /// What the state holds in memory, by part.
    pub(crate) fn memory(&self) -> MemoryStats {
        let rows = self.rows.heap();
        let id_map = self.ids.heap_bytes();
        let mut m = MemoryStats {
            vectors: self.vectors.heap_bytes() as u64,
            vectors_mapped: self.vectors.mapped_bytes() as u64,
            codes: self.codes.as_ref().map_or(0, Int8Vectors::heap_bytes) as u64,
            codes_mapped: self.codes.as_ref().map_or(0, Int8Vectors::mapped_bytes) as u64,
            graph: self.hnsw.heap_bytes() as u64,
            ids: (rows.ids + id_map) as u64,
            texts: rows.texts as u64,
            metadata: rows.metadata as u64,
            rows_mapped: self.rows.backing_bytes() as u64,
            text_index: self.text.as_ref().map_or(0, Text::heap_bytes) as u64,
            search_buffers: (crate::hnsw::scratch_bytes() + crate::text::scratch_bytes()) as u64,
            heap_total: 0,
        };
        m.heap_total = m.vectors
            + m.codes
            + m.graph
            + m.ids
            + m.texts
            + m.metadata
            + m.text_index
            + m.search_buffers;
        m
    }

    fn accepts(&self, row: u32, filter: Option<&Filter>) -> bool {
        let r = row as usize;
        row < self.visible
            && self.rows.live[r]
            && filter.is_none_or(|f| f.matches(self.rows.metadata(r).as_deref()))
    }

    /// Estimated share of live rows that pass `filter`, from an even sample.
    fn selectivity(&self, filter: &Filter) -> f64 {
        let n = self.visible as usize;
        let step = (n / SELECTIVITY_SAMPLE).max(1);
        let (mut seen, mut pass) = (0usize, 0usize);
        for r in (0..n).step_by(step) {
            if self.rows.live[r] {
                seen += 1;
                if filter.matches(self.rows.metadata(r).as_deref()) {
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
        if self.live_rows == 0 {
            return Vec::new();
        }
        if let Some(f) = filter {
            let sel = self.selectivity(f);
            let est = sel * self.live_rows as f64;
            if sel < EXACT_SCAN_SELECTIVITY || est < (EXACT_SCAN_FACTOR * ef.max(k)) as f64 {
                return self.exact_search(dist, q, k, filter);
            }
        }
        let accept = |r: u32| self.accepts(r, filter);
        let found = SCRATCH.with(|s| {
            let s = &mut s.borrow_mut();
            match &self.codes {
                None => {
                    let qd = Exact {
                        vecs: &self.vectors,
                        dist,
                        q,
                    };
                    self.hnsw.search(&qd, k, ef, &accept, s)
                }
                Some(codes) => {
                    // Walk on the compact copy, re-rank its best few exactly.
                    let qd = Int8Query {
                        codes,
                        q: Int8Code::of(q),
                        l2: dist.metric() == Metric::L2,
                    };
                    let depth = (REFINE_FACTOR * k).max(REFINE_MIN).min(ef.max(k));
                    let walked = self.hnsw.search(&qd, depth, ef, &accept, s);
                    self.rerank(dist, q, &walked, k)
                }
            }
        });
        // The graph can come back short only when few rows qualify or tombstones cut it
        // off; the exact scan then returns every qualifying row.
        if found.len() < k.min(self.live_rows) {
            return self.exact_search(dist, q, k, filter);
        }
        found.into_iter().map(|(r, d)| (r, dist.score(d))).collect()
    }

    /// The `k` nearest of `walked` (rows found on the int8 copy) by their exact
    /// distances to `q`. The vectors of the next few rows are prefetched while one is
    /// measured: they are scattered over memory, so each would otherwise start with a miss.
    fn rerank(
        &self,
        dist: &Distance,
        q: &[f32],
        walked: &[(u32, f32)],
        k: usize,
    ) -> Vec<(u32, f32)> {
        const AHEAD: usize = 4;
        for &(r, _) in walked.iter().take(AHEAD) {
            self.vectors.prefetch(r);
        }
        let mut found: Vec<(u32, f32)> = walked
            .iter()
            .enumerate()
            .map(|(i, &(r, _))| {
                if let Some(&(next, _)) = walked.get(i + AHEAD) {
                    self.vectors.prefetch(next);
                }
                (r, dist.dist(q, self.vectors.vector(r)))
            })
            .collect();
        tally(walked.len());
        rank::top(&mut found, k, Best::Lowest);
        found
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
        rank::top(&mut all, k, Best::Lowest);
        all.into_iter().map(|(r, d)| (r, dist.score(d))).collect()
    }

    /// `text` analysed and weighted over this database's text index (see [`Prepared`]):
    /// matches nothing without one.
    pub(crate) fn prepare_text(&self, text: &str, title_boost: f32) -> Result<Prepared> {
        match &self.text {
            Some(ix) => ix.prepare(text, title_boost),
            None => Ok(Prepared::nothing()),
        }
    }

    /// The `k` best rows for the prepared text query that pass `filter`, best first.
    pub(crate) fn text_search(
        &self,
        query: &Prepared,
        k: usize,
        filter: Option<&Filter>,
    ) -> Result<Vec<(u32, f32)>> {
        match &self.text {
            Some(ix) => ix.search(query, k, &|r| self.accepts(r, filter)),
            None => Ok(Vec::new()),
        }
    }

    /// The text scores of `rows` for the prepared query: what a text search gives each (0
    /// for a row without a query term), in the order of `rows`.
    pub(crate) fn text_scores(&self, query: &Prepared, rows: &[u32]) -> Result<Vec<f32>> {
        match &self.text {
            Some(ix) => ix.score_rows(query, rows),
            None => Ok(vec![0.0; rows.len()]),
        }
    }

    /// The exact vector scores of `rows` for the query vector `q`, in their order.
    pub(crate) fn vector_scores(
        &self,
        dist: &Distance,
        q: &[f32],
        rows: impl Iterator<Item = u32>,
    ) -> Vec<f32> {
        rows.map(|r| dist.score(dist.dist(q, self.vectors.vector(r))))
            .collect()
    }

    /// The live row holding `id`.
    pub(crate) fn row_of(&self, id: &str) -> crate::error::Result<Option<u32>> {
        self.ids
            .get(&self.rows, id)
            .map_err(|e| e.into_corrupt(self.rows.path()))
    }

    /// The hit for a fused result row; a damaged stored row is an error that names its file.
    pub(crate) fn hit(&self, f: Fused) -> crate::error::Result<Hit> {
        let r = f.row as usize;
        self.check_row(r)?;
        Ok(Hit {
            id: self.rows.id(r).to_owned(),
            score: f.score,
            vector_score: f.vector,
            text_score: f.text,
            metadata: self.rows.metadata(r).map(Cow::into_owned),
            text: self.rows.text(r).map(str::to_owned),
            title: self.rows.title(r).map(str::to_owned),
        })
    }

    /// Whether row `r` reads whole (see [`Rows::check`]), as an error naming its file.
    pub(crate) fn check_row(&self, r: usize) -> crate::error::Result<()> {
        self.rows
            .check(r)
            .map_err(|e| e.into_corrupt(self.rows.path()))
    }
}

/// Distances from a query to rows on the compact copy (see `Int8Vectors`): the exact
/// integer dot product of the codes times both scales; for L2 through the exact squared
/// norms, `|a|^2 + |b|^2 - 2 a.b`.
struct Int8Query<'a> {
    codes: &'a Int8Vectors,
    q: Int8Code,
    l2: bool,
}

impl QueryDist for Int8Query<'_> {
    #[inline(always)]
    fn dist(&self, row: u32) -> f32 {
        let (codes, scale, sq_norm) = self.codes.parts(row);
        let dot = dot_i8(&self.q.codes, codes) as f32 * (self.q.scale * scale);
        if self.l2 {
            self.q.sq_norm + sq_norm - 2.0 * dot
        } else {
            -dot
        }
    }

    #[inline(always)]
    fn prefetch(&self, row: u32) {
        self.codes.prefetch(row);
    }
}

/// Distances between stored rows on the compact copy, as building the graph measures
/// them (the same arithmetic as `Int8Query`).
struct Int8Space<'a> {
    codes: &'a Int8Vectors,
    l2: bool,
}

impl<'a> Int8Space<'a> {
    fn new(codes: &'a Int8Vectors, dist: &Distance) -> Self {
        Int8Space {
            codes,
            l2: dist.metric() == Metric::L2,
        }
    }
}

impl Space for Int8Space<'_> {
    #[inline(always)]
    fn between(&self, a: u32, b: u32) -> f32 {
        let ((ca, sa, na), (cb, sb, nb)) = (self.codes.parts(a), self.codes.parts(b));
        let dot = dot_i8(ca, cb) as f32 * (sa * sb);
        if self.l2 { na + nb - 2.0 * dot } else { -dot }
    }

    #[inline(always)]
    fn prefetch(&self, row: u32) {
        self.codes.prefetch(row);
    }
}
