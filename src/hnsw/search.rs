//! Best-first search on one layer of the graph, with a reusable visited set.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use super::{Hnsw, QueryDist, tally};
use crate::distance::PREFETCH;

/// A row and its distance to the query; ordered by distance, then row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Candidate {
    pub dist: f32,
    pub row: u32,
}

impl Eq for Candidate {}

impl PartialOrd for Candidate {
    #[inline(always)]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Candidate {
    /// The order as one integer: `f32::total_cmp`'s key of the distance, then the row
    /// (the heaps of a graph search compare candidates millions of times per build).
    #[inline(always)]
    fn key(&self) -> u64 {
        let bits = self.dist.to_bits() as i32;
        let ordered = (bits ^ ((((bits >> 31) as u32) >> 1) as i32)) as u32 ^ (1 << 31);
        ((ordered as u64) << 32) | self.row as u64
    }
}

impl Ord for Candidate {
    #[inline(always)]
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// Per-thread search state: a visited set stamped with an epoch, so that clearing it
/// costs nothing, and buffers reused between searches.
#[derive(Default)]
pub(crate) struct SearchScratch {
    marks: Vec<u32>,
    epoch: u32,
    links: Vec<u32>,
    cands: BinaryHeap<Reverse<Candidate>>,
    top: BinaryHeap<Candidate>,
    /// A neighbour's links while a new node links itself in (see `Hnsw::add_link`).
    pub(super) link_ids: Vec<u32>,
    pub(super) link_cands: Vec<Candidate>,
}

/// Bytes of every thread's visited marks, in the whole process (for memory statistics).
static SCRATCH_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Heap bytes of the search buffers of every thread (shared by every graph in the
/// process: each searching thread keeps a visited mark per row of the largest graph it
/// searched).
pub(crate) fn scratch_bytes() -> usize {
    SCRATCH_BYTES.load(Relaxed)
}

impl Drop for SearchScratch {
    fn drop(&mut self) {
        SCRATCH_BYTES.fetch_sub(self.marks.capacity() * 4, Relaxed);
    }
}

impl SearchScratch {
    fn reset(&mut self, n: usize) {
        if self.marks.len() < n {
            let before = self.marks.capacity();
            self.marks.resize(n, 0);
            SCRATCH_BYTES.fetch_add((self.marks.capacity() - before) * 4, Relaxed);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.fill(0);
            self.epoch = 1;
        }
    }

    /// Marks `row` visited; returns false if it already was.
    #[inline(always)]
    fn visit(&mut self, row: u32) -> bool {
        let m = &mut self.marks[row as usize];
        if *m == self.epoch {
            false
        } else {
            *m = self.epoch;
            true
        }
    }
}

/// Searches `layer` from the entry points `eps`, keeping the `ef` nearest rows that
/// `accept` allows (all rows are traversed). Returns them in no particular order.
///
/// The inner loop reads a node's links in place (no copy), keeps the not yet visited ones,
/// and asks for their vectors to be prefetched before computing any distance, so
/// that the memory latency of one neighbour overlaps the arithmetic of the previous.
#[allow(clippy::too_many_arguments)]
pub(super) fn search_layer<Q: QueryDist + ?Sized>(
    h: &Hnsw,
    qd: &Q,
    eps: &[Candidate],
    ef: usize,
    layer: u8,
    accept: &dyn Fn(u32) -> bool,
    s: &mut SearchScratch,
) -> Vec<Candidate> {
    s.reset(h.len());
    // The heaps are the thread's, reused (a graph build runs thousands of these searches).
    let mut cands = std::mem::take(&mut s.cands);
    let mut top = std::mem::take(&mut s.top);
    cands.clear();
    top.clear();
    for &ep in eps {
        if !s.visit(ep.row) {
            continue;
        }
        cands.push(Reverse(ep));
        if accept(ep.row) {
            top.push(ep);
            if top.len() > ef {
                top.pop();
            }
        }
    }
    let mut bound = top.peek().map_or(f32::INFINITY, |c| c.dist);
    let mut fresh = std::mem::take(&mut s.links);
    let mut measured = 0;
    while let Some(Reverse(cur)) = cands.pop() {
        if cur.dist > bound && top.len() >= ef {
            break;
        }
        // The next node to expand is most likely the nearest candidate left: start
        // loading its links now, so they arrive while this node's neighbours are measured.
        if let Some(Reverse(next)) = cands.peek() {
            h.prefetch_links(next.row, layer);
        }
        fresh.clear();
        // (Index loops here and below: the npm module is optimised for size, which leaves
        // iterator adaptors as calls.)
        let links = h.link_slots(cur.row, layer);
        let mut i = 0;
        while i < links.len() {
            let n = links[i].load(Relaxed);
            i += 1;
            if s.visit(n) {
                // (Checked here: `qd` reaches the vectors through a `dyn Space`, a call
                // that a no-op prefetch would still cost.)
                if PREFETCH {
                    qd.prefetch(n);
                }
                fresh.push(n);
            }
        }
        measured += fresh.len();
        let mut i = 0;
        while i < fresh.len() {
            let n = fresh[i];
            i += 1;
            let d = qd.dist(n);
            if top.len() < ef || d < bound {
                let c = Candidate { dist: d, row: n };
                cands.push(Reverse(c));
                if accept(n) {
                    if top.len() < ef {
                        top.push(c);
                    } else if let Some(mut worst) = top.peek_mut() {
                        // Full: the new candidate takes the farthest one's place (one
                        // sift instead of a push and a pop).
                        if c < *worst {
                            *worst = c;
                        }
                    }
                }
                if let Some(t) = top.peek() {
                    bound = t.dist;
                }
            }
        }
    }
    s.links = fresh;
    tally(measured);
    let found = top.as_slice().to_vec();
    (s.cands, s.top) = (cands, top);
    found
}

#[cfg(test)]
mod tests {
    use super::Candidate;

    #[test]
    fn candidates_order_by_distance_then_row() {
        let dists = [
            -3.5f32,
            -0.0,
            0.0,
            1e-30,
            -1e-30,
            2.25,
            2.25,
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ];
        let all: Vec<Candidate> = dists
            .iter()
            .enumerate()
            .flat_map(|(i, &dist)| {
                [7u32, 0, u32::MAX].map(|r| Candidate {
                    dist,
                    row: r ^ i as u32,
                })
            })
            .collect();
        for a in &all {
            for b in &all {
                let want = a.dist.total_cmp(&b.dist).then(a.row.cmp(&b.row));
                assert_eq!(a.cmp(b), want, "{a:?} vs {b:?}");
            }
        }
    }
}
