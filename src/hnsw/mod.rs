//! The HNSW graph (Malkov & Yashunin): incremental and parallel insert, delete with
//! neighbour repair, per-query `ef`, filter-aware search, and a flat serialisable layout.
//!
//! The graph stores only links; vectors are read by row number through [`VectorSource`]
//! (the store owns them; natively they come from the memory map). Links live in flat arrays
//! of `AtomicU32` — layer 0 holds `1 + 2m` slots per node (count, then links), upper layers
//! `1 + m` slots per node and level — so that many threads can insert at once (a node's
//! list is rewritten under a striped lock) while searches read without locking, and so
//! that serialising the graph is a copy of those arrays.
//!
//! Node levels are drawn from a hash of the row number, so a node's level does not depend
//! on insertion order or thread scheduling.

mod codec;
mod search;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use crate::par::*;

use crate::distance::Distance;
use crate::options::HnswParams;
use crate::sync::{Mutex, MutexGuard};
use search::{Candidate, search_layer};
pub(crate) use search::{SearchScratch, scratch_bytes};

/// Distance computations made by graph searches, inserts and re-ranks in this process.
static DISTANCES: AtomicU64 = AtomicU64::new(0);

/// Adds `n` distance computations to the process's count (callers add a whole search's
/// or insert's worth at once, so the shared counter is touched rarely).
#[inline(always)]
pub(crate) fn tally(n: usize) {
    DISTANCES.fetch_add(n as u64, Relaxed);
}

/// How many distances the vector index has computed in this process so far: graph
/// searches, inserts (neighbour selection and pruning) and the exact re-rank of int8
/// walks; not exact scans. For benchmarks: read it before and after a piece of work to
/// see the work's cost in distance computations, which, unlike time, does not vary with
/// the machine.
pub fn distance_computations() -> u64 {
    DISTANCES.load(Relaxed)
}

/// The distance from one query to any row, as a search computes it (lower is closer).
/// [`Exact`] reads the stored f32 vectors; the state layer also searches through a
/// compact quantised copy. Searches are generic over it, so the distance inlines into the
/// search loop (measured: ~5-10% more QPS than a `&dyn` call, for ~5 KB of wasm).
pub(crate) trait QueryDist {
    /// Distance from the query to `row`.
    fn dist(&self, row: u32) -> f32;

    /// A hint that `row` is about to be measured.
    #[inline(always)]
    fn prefetch(&self, _row: u32) {}
}

/// Exact distances from the f32 query `q` to the stored vectors.
pub(crate) struct Exact<'a, V> {
    pub(crate) vecs: &'a V,
    pub(crate) dist: &'a Distance,
    pub(crate) q: &'a [f32],
}

impl<V: VectorSource> QueryDist for Exact<'_, V> {
    #[inline(always)]
    fn dist(&self, row: u32) -> f32 {
        self.dist.dist(self.q, self.vecs.vector(row))
    }

    #[inline(always)]
    fn prefetch(&self, row: u32) {
        self.vecs.prefetch(row);
    }
}

/// Distances between stored rows, as building and repairing the graph measure them: on
/// the f32 vectors ([`ExactSpace`]) or, in the state layer, on the int8 codes. Used as
/// `&dyn Space`: one copy of the insert code serves both (the call costs little next to
/// a distance, and the wasm module stays small).
pub(crate) trait Space: Sync {
    /// Distance between rows `a` and `b` (lower is closer).
    fn between(&self, a: u32, b: u32) -> f32;

    /// A hint that `row` is about to be measured.
    #[inline(always)]
    fn prefetch(&self, _row: u32) {}
}

/// Exact distances between the stored f32 vectors.
pub(crate) struct ExactSpace<'a, V> {
    pub(crate) vecs: &'a V,
    pub(crate) dist: &'a Distance,
}

impl<V: VectorSource> Space for ExactSpace<'_, V> {
    #[inline(always)]
    fn between(&self, a: u32, b: u32) -> f32 {
        self.dist.dist(self.vecs.vector(a), self.vecs.vector(b))
    }

    #[inline(always)]
    fn prefetch(&self, row: u32) {
        self.vecs.prefetch(row);
    }
}

/// Distances from a stored row to others: the query of an insert or a repair.
struct FromRow<'a, S: ?Sized> {
    space: &'a S,
    row: u32,
}

impl<S: Space + ?Sized> QueryDist for FromRow<'_, S> {
    #[inline(always)]
    fn dist(&self, row: u32) -> f32 {
        self.space.between(self.row, row)
    }

    #[inline(always)]
    fn prefetch(&self, row: u32) {
        self.space.prefetch(row);
    }
}

/// Where the graph reads vectors from: the store, by row number.
pub(crate) trait VectorSource: Sync {
    /// The (normalised, for cosine) vector of `row`.
    fn vector(&self, row: u32) -> &[f32];

    /// A hint that `row`'s vector is about to be read (a CPU prefetch where the source
    /// can issue one). Never required for correctness.
    #[inline(always)]
    fn prefetch(&self, _row: u32) {}
}

const NONE: u32 = u32::MAX;

const LOCK_STRIPES: usize = 1024;
const MAX_LEVEL: u8 = 16;
/// A parallel batch of at least `1 / REPAIR_RATIO` of the graph's size gets a
/// connectivity pass ([`Hnsw::repair_reachability`]) after it.
const REPAIR_RATIO: usize = 64;

/// The HNSW graph over rows `0..len()`.
pub(crate) struct Hnsw {
    m: usize,
    m0: usize,
    ef_construction: usize,
    /// Per row: its top layer.
    levels: Vec<u8>,
    /// Per row: `1 + m0` slots (count, then links) on layer 0.
    layer0: Vec<AtomicU32>,
    /// Per row: index into `upper` of its layer-1 block, `NONE` when its level is 0.
    upper_offset: Vec<u32>,
    /// For each row with level L > 0: L blocks of `1 + m` slots (layers 1..=L).
    upper: Vec<AtomicU32>,
    /// The entry point and the top level.
    entry: Mutex<Option<(u32, u8)>>,
    /// Per row: deleted by [`Hnsw::remove`] (or marked so when loaded). Removed rows keep
    /// their out-links but nothing links to them, and they are never re-linked.
    removed: Vec<bool>,
    locks: Vec<Mutex<()>>,
}

impl Hnsw {
    pub(crate) fn new(params: &HnswParams) -> Self {
        Hnsw {
            m: params.m,
            m0: params.m * 2,
            ef_construction: params.ef_construction,
            levels: Vec::new(),
            layer0: Vec::new(),
            upper_offset: Vec::new(),
            upper: Vec::new(),
            entry: Mutex::new(None),
            removed: Vec::new(),
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }

    /// Heap bytes: levels, links of every layer, offsets, removal flags and lock stripes.
    pub(crate) fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.levels.capacity()
            + (self.layer0.capacity() + self.upper.capacity() + self.upper_offset.capacity())
                * size_of::<u32>()
            + self.removed.capacity()
            + self.locks.len() * size_of::<Mutex<()>>()
    }

    /// Number of rows the graph has slots for.
    pub(crate) fn len(&self) -> usize {
        self.levels.len()
    }

    fn level_for(&self, row: u32) -> u8 {
        // splitmix64 of the row number -> uniform (0, 1] -> geometric level.
        let mut z = (row as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let u = ((z >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let ml = 1.0 / (self.m as f64).ln();
        ((-u.ln() * ml).floor() as u64).min(MAX_LEVEL as u64) as u8
    }

    /// Makes room for rows up to `n` (exclusive). Requires exclusive access.
    pub(crate) fn grow(&mut self, n: usize) {
        let old = self.levels.len();
        if n <= old {
            return;
        }
        self.layer0
            .resize_with(n * (1 + self.m0), || AtomicU32::new(0));
        self.removed.resize(n, false);
        for row in old..n {
            let level = self.level_for(row as u32);
            self.levels.push(level);
            if level > 0 {
                self.upper_offset.push(self.upper.len() as u32);
                let slots = level as usize * (1 + self.m);
                self.upper.extend((0..slots).map(|_| AtomicU32::new(0)));
            } else {
                self.upper_offset.push(NONE);
            }
        }
    }

    #[inline(always)]
    fn slot(&self, row: u32, layer: u8) -> &[AtomicU32] {
        if layer == 0 {
            let w = 1 + self.m0;
            let s = row as usize * w;
            &self.layer0[s..s + w]
        } else {
            let w = 1 + self.m;
            let s = self.upper_offset[row as usize] as usize + (layer as usize - 1) * w;
            &self.upper[s..s + w]
        }
    }

    /// The slots holding the links of `row` on `layer`, read in place: each slot once,
    /// atomically (a concurrent writer may change the list meanwhile, and every value read
    /// is a row).
    #[inline(always)]
    pub(crate) fn link_slots(&self, row: u32, layer: u8) -> &[AtomicU32] {
        let s = self.slot(row, layer);
        let n = (s[0].load(Relaxed) as usize).min(s.len() - 1);
        &s[1..=n]
    }

    /// Asks the CPU to start loading the link list of `row` on `layer` (a search is
    /// about to expand it).
    #[inline(always)]
    pub(crate) fn prefetch_links(&self, row: u32, layer: u8) {
        crate::distance::prefetch(|| self.slot(row, layer).as_ptr().cast());
    }

    /// Copies the links of `row` on `layer` into `out`.
    pub(crate) fn links_into(&self, row: u32, layer: u8, out: &mut Vec<u32>) {
        out.clear();
        out.extend(self.link_slots(row, layer).iter().map(|a| a.load(Relaxed)));
    }

    fn set_links(&self, row: u32, layer: u8, links: &[u32]) {
        let s = self.slot(row, layer);
        let n = links.len().min(s.len() - 1);
        for (a, &l) in s[1..=n].iter().zip(links) {
            a.store(l, Relaxed);
        }
        s[0].store(n as u32, Relaxed);
    }

    fn max_links(&self, layer: u8) -> usize {
        if layer == 0 { self.m0 } else { self.m }
    }

    fn lock(&self, row: u32) -> MutexGuard<'_, ()> {
        self.locks[row as usize % LOCK_STRIPES].lock()
    }

    /// The entry point and top level, if the graph has any node.
    pub(crate) fn entry(&self) -> Option<(u32, u8)> {
        *self.entry.lock()
    }

    /// Links rows `rows` (already grown, vectors already in `vecs`) into the graph, in
    /// parallel with rayon. Concurrent searches stay safe; they may or may not see the new
    /// nodes, and callers decide row visibility.
    pub(crate) fn insert_rows(&self, rows: std::ops::Range<u32>, space: &dyn Space) {
        let rows: Vec<u32> = rows.collect();
        if rows.is_empty() {
            return;
        }
        // Seed a small graph sequentially, so that parallel inserts have something to
        // navigate (and tiny batches skip the thread pool).
        let seed = if self.entry().is_none() {
            rows.len().min(64)
        } else {
            rows.len().min(8)
        };
        let mut scratch = SearchScratch::default();
        for &row in &rows[..seed] {
            self.insert_one(row, space, &mut scratch);
        }
        if seed == rows.len() {
            return;
        }
        rows[seed..]
            .par_iter()
            .for_each_init(SearchScratch::default, |s, &row| {
                self.insert_one(row, space, s)
            });
        // A batch large against the graph is worth a connectivity pass (one sweep over
        // layer 0); a small one into a large graph is left as sequential HNSW leaves it.
        if rows.len().saturating_mul(REPAIR_RATIO) >= self.len() {
            self.repair_reachability(space);
        }
    }

    /// Rows of layer 0 that no path from the entry point reaches (removed rows aside).
    #[cfg(test)]
    pub(crate) fn unreachable(&self) -> Vec<u32> {
        let seen = self.reachable();
        (0..self.len() as u32)
            .filter(|&r| !seen[r as usize] && !self.removed[r as usize])
            .collect()
    }

    /// Which rows a walk over layer 0 from the entry point reaches.
    fn reachable(&self) -> Vec<bool> {
        let mut seen = vec![false; self.len()];
        if let Some((entry, _)) = self.entry() {
            self.mark_reachable_from(entry, &mut seen);
        }
        seen
    }

    /// Marks in `seen` every row a walk over layer 0 from `start` reaches, not walking
    /// on from rows already marked.
    fn mark_reachable_from(&self, start: u32, seen: &mut [bool]) {
        if seen[start as usize] {
            return;
        }
        seen[start as usize] = true;
        let mut stack = vec![start];
        while let Some(r) = stack.pop() {
            let s = self.slot(r, 0);
            let count = (s[0].load(Relaxed) as usize).min(s.len() - 1);
            for a in &s[1..=count] {
                let x = a.load(Relaxed) as usize;
                if x < seen.len() && !seen[x] {
                    seen[x] = true;
                    stack.push(x as u32);
                }
            }
        }
    }

    /// Makes every row reachable again on layer 0. The pruning heuristic may drop a node's
    /// last incoming link — more often when many nodes are inserted at once, in parallel,
    /// and always around exact duplicates, which fill each other's lists and can close
    /// into an island. A node no walk from the entry point reaches can never be found by
    /// a search. Each unreachable node is linked from a nearby reachable node (appended to
    /// its list, or replacing a link to a node that keeps another in-link), which makes
    /// reachable at once everything the node itself links to; a few passes settle what a
    /// replacement cut off in turn. Costs one sweep over layer 0 when nothing is amiss.
    fn repair_reachability(&self, space: &dyn Space) {
        let mut scratch = SearchScratch::default();
        for _ in 0..8 {
            let mut seen = self.reachable();
            if (0..self.len()).all(|r| seen[r] || self.removed[r]) {
                return;
            }
            let mut indeg = self.in_degrees();
            for u in 0..self.len() as u32 {
                if seen[u as usize] || self.removed[u as usize] {
                    continue;
                }
                self.link_from_reachable(u, &seen, &mut indeg, space, &mut scratch);
                self.mark_reachable_from(u, &mut seen);
            }
        }
    }

    /// How many layer-0 lists link to each row.
    fn in_degrees(&self) -> Vec<u32> {
        let mut indeg = vec![0u32; self.len()];
        for r in 0..self.len() as u32 {
            let s = self.slot(r, 0);
            let count = (s[0].load(Relaxed) as usize).min(s.len() - 1);
            for a in &s[1..=count] {
                if let Some(d) = indeg.get_mut(a.load(Relaxed) as usize) {
                    *d += 1;
                }
            }
        }
        indeg
    }

    /// Adds a layer-0 link to `u` from a node in `seen`: the nearest one with room in its
    /// list, or else whose list links to some node that another list links to as well
    /// (that link, the farthest such, is replaced, so nobody loses their last in-link).
    fn link_from_reachable(
        &self,
        u: u32,
        seen: &[bool],
        indeg: &mut [u32],
        space: &dyn Space,
        scratch: &mut SearchScratch,
    ) {
        let mut own = Vec::new();
        self.links_into(u, 0, &mut own);
        let mut near: Vec<Candidate> = own
            .iter()
            .filter(|&&r| seen[r as usize] && r != u)
            .map(|&r| Candidate {
                dist: space.between(u, r),
                row: r,
            })
            .collect();
        let accept = |r: u32| seen[r as usize] && r != u;
        near.extend(
            self.search(
                &FromRow { space, row: u },
                8,
                self.ef_construction,
                &accept,
                scratch,
            )
            .into_iter()
            .map(|(row, d)| Candidate { dist: d, row }),
        );
        near.sort_unstable();
        near.dedup_by_key(|c| c.row);
        let mut cur = Vec::new();
        for from in near {
            let _g = self.lock(from.row);
            self.links_into(from.row, 0, &mut cur);
            if cur.contains(&u) {
                return;
            }
            if cur.len() < self.m0 {
                cur.push(u);
            } else {
                let Some((_, i)) = cur
                    .iter()
                    .enumerate()
                    .filter(|&(_, &r)| indeg[r as usize] >= 2)
                    .map(|(i, &r)| (space.between(from.row, r), i))
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                else {
                    continue;
                };
                indeg[cur[i] as usize] -= 1;
                cur[i] = u;
            }
            indeg[u as usize] += 1;
            self.set_links(from.row, 0, &cur);
            return;
        }
    }

    /// Marks `row` as removed without touching links (for graphs loaded from storage,
    /// whose removed rows were unlinked when they were deleted).
    pub(crate) fn mark_removed(&mut self, row: u32) {
        if let Some(r) = self.removed.get_mut(row as usize) {
            *r = true;
        }
    }

    fn insert_one(&self, q: u32, space: &dyn Space, scratch: &mut SearchScratch) {
        let level = self.levels[q as usize];
        let (mut ep, top) = {
            let mut e = self.entry.lock();
            match *e {
                None => {
                    *e = Some((q, level));
                    return;
                }
                Some(x) => x,
            }
        };
        let qd = FromRow { space, row: q };
        let mut ep_dist = qd.dist(ep);
        let mut links = Vec::new();
        // Greedy descent through the layers above the new node's level.
        for layer in (level.saturating_add(1)..=top).rev() {
            (ep, ep_dist) = self.greedy(&qd, ep, ep_dist, layer, &mut links);
        }
        let mut eps = vec![Candidate {
            dist: ep_dist,
            row: ep,
        }];
        for layer in (0..=level.min(top)).rev() {
            let found = search_layer(
                self,
                &qd,
                &eps,
                self.ef_construction,
                layer,
                &|_| true,
                scratch,
            );
            let mut cands: Vec<Candidate> = found.iter().copied().filter(|c| c.row != q).collect();
            cands.sort_unstable();
            // A new node keeps `m` links of its own on every layer, as in hnswlib: layer 0's
            // lists (2m slots) keep room for the back-links later nodes add, and searches
            // compute fewer distances per hop. (Keeping 2m own links on layer 0 gave lower
            // recall at every ef on rustdocs, and a slower build.)
            let chosen = self.select(space, &cands, self.m);
            self.set_own_links(q, layer, &chosen, space);
            for c in &chosen {
                self.add_link(c.row, q, c.dist, layer, space, scratch);
            }
            eps = found;
        }
        if level > top {
            let mut e = self.entry.lock();
            if e.is_none_or(|(_, t)| level > t) {
                *e = Some((q, level));
            }
        }
    }

    /// Writes the links a new node `q` chose on `layer`. Under parallel insert, another
    /// node may already have linked itself to `q` on this layer (it found `q` through an
    /// upper layer, or through a neighbour `q` was already linked from), and overwriting
    /// would silently drop that back-link — enough, now and then, to leave a node with no
    /// incoming link at all, unreachable by every search. So links already present are
    /// kept: merged with `chosen` and pruned by the same heuristic.
    fn set_own_links(&self, q: u32, layer: u8, chosen: &[Candidate], space: &dyn Space) {
        let _g = self.lock(q);
        let mut present = Vec::new();
        self.links_into(q, layer, &mut present);
        present.retain(|r| *r != q && chosen.iter().all(|c| c.row != *r));
        let ids: Vec<u32> = if present.is_empty() {
            chosen.iter().map(|c| c.row).collect()
        } else {
            let mut all = chosen.to_vec();
            all.extend(present.iter().map(|&r| Candidate {
                dist: space.between(q, r),
                row: r,
            }));
            all.sort_unstable();
            self.select(space, &all, self.max_links(layer))
                .iter()
                .map(|c| c.row)
                .collect()
        };
        self.set_links(q, layer, &ids);
    }

    fn greedy<Q: QueryDist + ?Sized>(
        &self,
        qd: &Q,
        mut ep: u32,
        mut ep_dist: f32,
        layer: u8,
        buf: &mut Vec<u32>,
    ) -> (u32, f32) {
        let mut measured = 0;
        loop {
            let mut changed = false;
            self.links_into(ep, layer, buf);
            measured += buf.len();
            for &n in buf.iter() {
                let d = qd.dist(n);
                if d < ep_dist {
                    ep_dist = d;
                    ep = n;
                    changed = true;
                }
            }
            if !changed {
                tally(measured);
                return (ep, ep_dist);
            }
        }
    }

    /// Adds `new` (at distance `d` from `to`) to `to`'s links, pruning with the heuristic
    /// when the list is full.
    fn add_link(
        &self,
        to: u32,
        new: u32,
        d: f32,
        layer: u8,
        space: &dyn Space,
        scratch: &mut SearchScratch,
    ) {
        if self.levels[to as usize] < layer {
            return;
        }
        let _g = self.lock(to);
        // The thread's buffers: a build calls this `m` times per node.
        let (cur, cands) = (&mut scratch.link_ids, &mut scratch.link_cands);
        self.links_into(to, layer, cur);
        if cur.contains(&new) {
            return;
        }
        if cur.len() < self.max_links(layer) {
            cur.push(new);
            self.set_links(to, layer, cur);
            return;
        }
        tally(cur.len());
        cands.clear();
        cands.extend(cur.iter().map(|&r| Candidate {
            dist: space.between(to, r),
            row: r,
        }));
        cands.push(Candidate { dist: d, row: new });
        cands.sort_unstable();
        let chosen = self.select(space, cands, self.max_links(layer));
        cur.clear();
        cur.extend(chosen.iter().map(|c| c.row));
        self.set_links(to, layer, cur);
    }

    /// The neighbour-selection heuristic (HNSW paper, algorithm 4, as in hnswlib): keep a
    /// candidate only if it is closer to the base than to every neighbour already kept,
    /// up to `max`. Pruned candidates are not put back: a sparse, diverse list is what
    /// makes the graph navigable (putting them back gave lower recall per distance
    /// computed). `cands` is sorted nearest first.
    fn select(&self, space: &dyn Space, cands: &[Candidate], max: usize) -> Vec<Candidate> {
        if cands.len() <= max {
            return cands.to_vec();
        }
        let mut kept: Vec<Candidate> = Vec::with_capacity(max);
        let mut measured = 0;
        for c in cands {
            if kept.len() >= max {
                break;
            }
            if kept.iter().all(|k| {
                measured += 1;
                space.between(c.row, k.row) >= c.dist
            }) {
                kept.push(*c);
            }
        }
        tally(measured);
        kept
    }

    /// Unlinks a deleted row: every neighbour that links to it gets its list repaired from
    /// the deleted row's own neighbours. The row keeps its out-links, so a search that
    /// still reaches it (through a stale link, or as the entry point) can pass through;
    /// callers exclude it from results.
    pub(crate) fn remove(&mut self, row: u32, space: &dyn Space) {
        if row as usize >= self.len() {
            return;
        }
        self.removed[row as usize] = true;
        let mut mine = Vec::new();
        let mut theirs = Vec::new();
        for layer in 0..=self.levels[row as usize] {
            self.links_into(row, layer, &mut mine);
            for &n in &mine {
                if n == row {
                    continue;
                }
                let _g = self.lock(n);
                self.links_into(n, layer, &mut theirs);
                if !theirs.contains(&row) {
                    continue;
                }
                let mut cands: Vec<Candidate> = theirs
                    .iter()
                    .chain(mine.iter())
                    .filter(|&&r| r != row && r != n)
                    .map(|&r| Candidate {
                        dist: space.between(n, r),
                        row: r,
                    })
                    .collect();
                cands.sort_unstable();
                cands.dedup_by_key(|c| c.row);
                let chosen = self.select(space, &cands, self.max_links(layer));
                let ids: Vec<u32> = chosen.iter().map(|c| c.row).collect();
                self.set_links(n, layer, &ids);
            }
        }
    }

    /// The `k` nearest accepted rows to `q` with their distances, nearest first.
    /// `accept` decides which rows may be returned (tombstones, visibility, filters); every
    /// row may still be traversed.
    pub(crate) fn search<Q: QueryDist + ?Sized>(
        &self,
        qd: &Q,
        k: usize,
        ef: usize,
        accept: &dyn Fn(u32) -> bool,
        scratch: &mut SearchScratch,
    ) -> Vec<(u32, f32)> {
        let Some((mut ep, top)) = self.entry() else {
            return Vec::new();
        };
        let mut ep_dist = qd.dist(ep);
        let mut buf = Vec::new();
        for layer in (1..=top).rev() {
            (ep, ep_dist) = self.greedy(qd, ep, ep_dist, layer, &mut buf);
        }
        let mut found = search_layer(
            self,
            qd,
            &[Candidate {
                dist: ep_dist,
                row: ep,
            }],
            ef.max(k),
            0,
            accept,
            scratch,
        );
        found.sort_unstable();
        found.truncate(k);
        found.into_iter().map(|c| (c.row, c.dist)).collect()
    }

    /// Parallel helper: inserts many rows; used by rebuilds.
    pub(crate) fn rebuild(
        params: &HnswParams,
        rows: u32,
        space: &dyn Space,
        skip: &(dyn Fn(u32) -> bool + Sync),
    ) -> Self {
        let mut h = Hnsw::new(params);
        h.grow(rows as usize);
        let keep: Vec<u32> = (0..rows).filter(|&r| !skip(r)).collect();
        let seed = keep.len().min(64);
        let mut s = SearchScratch::default();
        for &r in &keep[..seed] {
            h.insert_one(r, space, &mut s);
        }
        keep[seed..]
            .par_iter()
            .for_each_init(SearchScratch::default, |s, &r| h.insert_one(r, space, s));
        for r in (0..rows).filter(|&r| skip(r)) {
            h.removed[r as usize] = true;
        }
        h.repair_reachability(space);
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Metric;

    struct Flat {
        dim: usize,
        data: Vec<f32>,
    }
    impl VectorSource for Flat {
        fn vector(&self, row: u32) -> &[f32] {
            &self.data[row as usize * self.dim..(row as usize + 1) * self.dim]
        }
    }

    fn random_vectors(n: usize, dim: usize, seed: u64) -> Flat {
        let mut s = seed;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f32 / (1u64 << 53) as f32 - 0.5
        };
        Flat {
            dim,
            data: (0..n * dim).map(|_| next()).collect(),
        }
    }

    fn brute(
        f: &Flat,
        d: &Distance,
        q: &[f32],
        k: usize,
        skip: &(dyn Fn(u32) -> bool + Sync),
    ) -> Vec<u32> {
        let n = f.data.len() / f.dim;
        let mut all: Vec<(f32, u32)> = (0..n as u32)
            .filter(|r| !skip(*r))
            .map(|r| (d.dist(q, f.vector(r)), r))
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0));
        all.truncate(k);
        all.into_iter().map(|x| x.1).collect()
    }

    #[test]
    fn recall_on_random_data_and_after_deletes() {
        let (n, dim) = (3000, 32);
        let f = random_vectors(n, dim, 42);
        let d = Distance::new(Metric::L2);
        let mut h = Hnsw::new(&HnswParams::default());
        h.grow(n);
        h.insert_rows(0..n as u32, &ExactSpace { vecs: &f, dist: &d });
        let queries = random_vectors(100, dim, 7);
        let recall = |h: &Hnsw, dead: &(dyn Fn(u32) -> bool + Sync)| {
            let mut hit = 0;
            let mut s = SearchScratch::default();
            for i in 0..100u32 {
                let q = queries.vector(i);
                let exact = brute(&f, &d, q, 10, dead);
                let qd = Exact {
                    vecs: &f,
                    dist: &d,
                    q,
                };
                let got = h.search(&qd, 10, 64, &|r| !dead(r), &mut s);
                hit += got.iter().filter(|g| exact.contains(&g.0)).count();
            }
            hit as f64 / 1000.0
        };
        let r = recall(&h, &|_| false);
        assert!(r >= 0.95, "recall {r}");
        let dead = |r: u32| r.is_multiple_of(3);
        for row in (0..n as u32).filter(|&r| dead(r)) {
            h.remove(row, &ExactSpace { vecs: &f, dist: &d });
        }
        let r2 = recall(&h, &dead);
        assert!(r2 >= 0.93, "recall after deletes {r2}");
    }

    #[test]
    fn levels_are_deterministic_and_geometric() {
        let h = Hnsw::new(&HnswParams::default());
        let zero = (0..10_000).filter(|&r| h.level_for(r) == 0).count();
        // P(level 0) = 1 - 1/m = 0.9375
        assert!((9_200..9_550).contains(&zero), "{zero}");
        assert_eq!(h.level_for(123), h.level_for(123));
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod parallel_tests {
    use super::*;
    use crate::options::Metric;

    struct Flat {
        dim: usize,
        data: Vec<f32>,
    }
    impl VectorSource for Flat {
        fn vector(&self, row: u32) -> &[f32] {
            &self.data[row as usize * self.dim..(row as usize + 1) * self.dim]
        }
    }

    #[test]
    fn duplicates_and_deletes_leave_every_live_node_reachable() {
        // Exact duplicates are what the pruning heuristic drops most: 50 copies each of
        // 20 vectors among 1,000 random ones. Without the connectivity pass after a
        // parallel batch, builds of this set leave dozens of nodes unreachable.
        let dim = 16;
        let mut s = 0x9E37_79B9u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f32 / (1u64 << 53) as f32 - 0.5
        };
        let base: Vec<f32> = (0..1020 * dim).map(|_| next()).collect();
        let mut data = base[..1000 * dim].to_vec();
        for i in 0..1000 {
            let src = 1000 + i % 20;
            data.extend_from_slice(&base[src * dim..(src + 1) * dim]);
        }
        let f = Flat { dim, data };
        let dist = Distance::new(Metric::L2);
        let n = 2000;
        let mut h = Hnsw::new(&HnswParams::default());
        h.grow(n);
        h.insert_rows(
            0..n as u32,
            &ExactSpace {
                vecs: &f,
                dist: &dist,
            },
        );
        assert_eq!(h.unreachable(), Vec::<u32>::new());
        // Deleted rows are unlinked and stay so; a rebuild without them is whole too.
        for r in (0..n as u32).step_by(3) {
            h.remove(
                r,
                &ExactSpace {
                    vecs: &f,
                    dist: &dist,
                },
            );
        }
        let skip = |r: u32| r.is_multiple_of(3);
        let space = ExactSpace {
            vecs: &f,
            dist: &dist,
        };
        let rebuilt = Hnsw::rebuild(&HnswParams::default(), n as u32, &space, &skip);
        assert_eq!(rebuilt.unreachable(), Vec::<u32>::new());
    }

    #[test]
    fn parallel_insert_leaves_every_node_reachable() {
        // Before links of a new node were merged with back-links that concurrent inserts
        // had already added, a parallel build of the sample left 3-7 nodes unreachable.
        let d = crate::bundled_sample!();
        let f = Flat {
            dim: d.dim,
            data: d.doc_vectors.clone(),
        };
        let dist = Distance::new(Metric::Cosine);
        let n = d.docs.len();
        for _ in 0..4 {
            let mut h = Hnsw::new(&HnswParams::default());
            h.grow(n);
            h.insert_rows(
                0..n as u32,
                &ExactSpace {
                    vecs: &f,
                    dist: &dist,
                },
            );
            assert_eq!(h.unreachable(), Vec::<u32>::new());
        }
    }
}
