//! A compact in-memory BM25 inverted index: term dictionary, postings `(row, tf)`, and
//! document lengths. Deletes drop the row from the statistics at once and from the
//! postings lazily (purged when dead postings outnumber live ones). Search is exact,
//! filters included: it skips only postings that provably cannot change the result
//! (see [`Bm25Index::search_weighted`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use super::{Analyzed, BM25_B, BM25_K1, TextIndex, idf, query_terms};
use crate::error::Result;
use crate::rank::{self, Best};

/// A search's score per row and the rows it scored, kept per thread between searches
/// (a fresh zeroed array per search cost a page fault per 4 KiB at a million rows).
#[derive(Default)]
struct Scratch {
    scores: Vec<f32>,
    touched: Vec<u32>,
}

thread_local! {
    static SCORES: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// Bytes of every thread's score slots, in the whole process (for memory statistics).
static SCRATCH_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Heap bytes of the text searches' score slots of every thread (each searching thread
/// keeps one per row of the largest index it searched).
pub(crate) fn scratch_bytes() -> usize {
    SCRATCH_BYTES.load(Relaxed)
}

impl Drop for Scratch {
    fn drop(&mut self) {
        SCRATCH_BYTES.fetch_sub(self.scores.capacity() * 4, Relaxed);
    }
}

/// The in-memory BM25 index.
#[derive(Default)]
pub(crate) struct Bm25Index {
    terms: HashMap<String, u32>,
    postings: Vec<Vec<(u32, u32)>>,
    df: Vec<u32>,
    /// Per row: number of tokens, `0` when the row is not indexed.
    doc_len: Vec<u32>,
    docs: u32,
    total_len: u64,
    live_postings: usize,
    dead_postings: usize,
}

impl Bm25Index {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Heap bytes: the term dictionary (hash slots and keys), the postings, and the
    /// per-term and per-row counts.
    pub(crate) fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.terms.capacity() * (size_of::<(String, u32)>() + 1)
            + self.terms.keys().map(String::capacity).sum::<usize>()
            + self.postings.capacity() * size_of::<Vec<(u32, u32)>>()
            + self
                .postings
                .iter()
                .map(|p| p.capacity() * size_of::<(u32, u32)>())
                .sum::<usize>()
            + (self.df.capacity() + self.doc_len.capacity()) * size_of::<u32>()
    }

    fn purge(&mut self) {
        let doc_len = &self.doc_len;
        for p in &mut self.postings {
            p.retain(|&(row, _)| doc_len.get(row as usize).is_some_and(|&l| l > 0));
        }
        self.dead_postings = 0;
    }
}

impl TextIndex for Bm25Index {
    fn add_analyzed(&mut self, row: u32, text: Analyzed) -> Result<()> {
        let Analyzed { tf: tfs, len } = text;
        if len == 0 {
            return Ok(());
        }
        let r = row as usize;
        if self.doc_len.len() <= r {
            self.doc_len.resize(r + 1, 0);
        }
        if self.doc_len[r] > 0 {
            // Re-adding a row replaces it.
            return Ok(());
        }
        self.doc_len[r] = len;
        self.docs += 1;
        self.total_len += len as u64;
        for (term, tf) in tfs {
            let next = self.terms.len() as u32;
            let id = *self.terms.entry(term).or_insert(next) as usize;
            if id == self.postings.len() {
                self.postings.push(Vec::new());
                self.df.push(0);
            }
            self.postings[id].push((row, tf));
            self.df[id] += 1;
            self.live_postings += 1;
        }
        Ok(())
    }

    fn remove(&mut self, row: u32, text: &str) -> Result<()> {
        let r = row as usize;
        let Some(&len) = self.doc_len.get(r) else {
            return Ok(());
        };
        if len == 0 {
            return Ok(());
        }
        self.doc_len[r] = 0;
        self.docs -= 1;
        self.total_len -= len as u64;
        // The row's postings stay until the next purge; its terms' frequencies drop now.
        let tfs = Analyzed::of(text).tf;
        for term in tfs.keys() {
            if let Some(&id) = self.terms.get(term) {
                self.df[id as usize] -= 1;
                self.live_postings -= 1;
                self.dead_postings += 1;
            }
        }
        if self.dead_postings > self.live_postings.max(1024) {
            self.purge();
        }
        Ok(())
    }

    fn search(
        &self,
        query: &str,
        limit: usize,
        accept: &(dyn Fn(u32) -> bool + Sync),
    ) -> Result<Vec<(u32, f32)>> {
        if self.docs == 0 || limit == 0 {
            return Ok(Vec::new());
        }
        let n = self.docs as f32;
        let avgdl = self.total_len as f32 / n;
        let weights: Vec<(String, f32)> = query_terms(query)
            .into_iter()
            .filter_map(|term| {
                let df = self.doc_freq(&term);
                (df > 0).then(|| {
                    let w = idf(n, df as f32) * (BM25_K1 + 1.0);
                    (term, w)
                })
            })
            .collect();
        let norm = |dl: u32| BM25_K1 * (1.0 - BM25_B + BM25_B * dl as f32 / avgdl);
        Ok(self.search_weighted(&weights, norm, limit, accept))
    }
}

impl Bm25Index {
    /// Indexed documents (rows with at least one term).
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn num_docs(&self) -> u32 {
        self.docs
    }

    /// Terms over all indexed documents.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn total_terms(&self) -> u64 {
        self.total_len
    }

    /// Indexed documents that contain the analysed term `term`.
    pub(crate) fn doc_freq(&self, term: &str) -> u32 {
        self.terms.get(term).map_or(0, |&id| self.df[id as usize])
    }

    /// Scores the rows holding any of `terms` (analysed, each with its weight
    /// `idf * (k1 + 1)`) as `sum weight * tf / (tf + norm(doc length))`, and returns the
    /// `limit` best that `accept` allows. [`TextIndex::search`] calls it with this index's
    /// own statistics; natively, the rows Tantivy has not committed yet are scored with
    /// the whole collection's.
    ///
    /// Exact, but not exhaustive (the MaxScore idea, term at a time): terms are scored
    /// rarest first (highest weight), each adding `weight * tf / (tf + norm) < weight` to
    /// a row. Once the weights of the terms left add up to less than the `limit`-th best
    /// score so far, no row those terms alone reach can enter the result: the remaining
    /// terms then only add to the rows already scored (looked up in their postings, not
    /// scanned), and a row whose score plus what is left cannot reach the `limit`-th is
    /// dropped. Common words ("the", "of") are so looked up for a few hundred rows rather
    /// than summed over most of the collection. Every score is summed in the same term
    /// order either way, so the result is the exhaustive one, bit for bit.
    pub(crate) fn search_weighted(
        &self,
        terms: &[(String, f32)],
        norm: impl Fn(u32) -> f32,
        limit: usize,
        accept: &(dyn Fn(u32) -> bool + Sync),
    ) -> Vec<(u32, f32)> {
        if self.docs == 0 || limit == 0 {
            return Vec::new();
        }
        // The query's terms that occur, rarest (heaviest) first; ties by query order.
        let mut lists: Vec<(&[(u32, u32)], f32)> = terms
            .iter()
            .filter_map(|(term, w)| {
                let id = *self.terms.get(term)? as usize;
                (self.df[id] > 0).then(|| (self.postings[id].as_slice(), *w))
            })
            .collect();
        // (An insertion sort: a query has a few terms, and a library sort would add its own
        // copy of the sort code to the wasm module.)
        for i in 1..lists.len() {
            let mut j = i;
            while j > 0 && lists[j - 1].1 < lists[j].1 {
                lists.swap(j - 1, j);
                j -= 1;
            }
        }
        // left[i]: the most that terms i.. can add to a row.
        let mut left = vec![0f32; lists.len() + 1];
        for i in (0..lists.len()).rev() {
            left[i] = left[i + 1] + lists[i].1;
        }
        let contribution = |tf: u32, dl: u32, w: f32| {
            let tf = tf as f32;
            w * tf / (tf + norm(dl))
        };
        SCORES.with_borrow_mut(|scratch| {
            let Scratch { scores, touched } = scratch;
            // One score slot per row, zero between searches: only the slots this search
            // touches are written, and reset at the end.
            if scores.len() < self.doc_len.len() {
                let before = scores.capacity();
                scores.resize(self.doc_len.len(), 0.0);
                SCRATCH_BYTES.fetch_add((scores.capacity() - before) * 4, Relaxed);
            }
            let mut best = 0f32;
            let mut next = lists.len();
            for (i, &(postings, w)) in lists.iter().enumerate() {
                // Past the best score so far, check whether the rest can still bring in
                // a new row (`best` bounds the threshold: a cheap test first).
                if left[i] < best
                    && let Some(t) = threshold(scores, touched, limit, accept)
                    && below(left[i], t)
                {
                    next = i;
                    break;
                }
                for &(row, tf) in postings {
                    let dl = self.doc_len[row as usize];
                    if dl == 0 {
                        continue;
                    }
                    let s = &mut scores[row as usize];
                    if *s == 0.0 {
                        touched.push(row);
                    }
                    *s += contribution(tf, dl, w);
                    best = best.max(*s);
                }
            }
            let mut hits: Vec<(u32, f32)> = touched
                .iter()
                .filter(|&&r| accept(r))
                .map(|&r| (r, scores[r as usize]))
                .collect();
            for r in touched.drain(..) {
                scores[r as usize] = 0.0;
            }
            if next < lists.len() {
                // The remaining terms add only to the rows scored so far, in row order.
                rank::sort_by_row(&mut hits);
                for (i, &(postings, w)) in lists.iter().enumerate().skip(next) {
                    let t = kth(&hits, limit);
                    hits.retain(|h| !below(h.1 + left[i], t));
                    let mut at = 0;
                    for h in hits.iter_mut() {
                        at += gallop(&postings[at..], h.0);
                        if let Some(&(row, tf)) = postings.get(at)
                            && row == h.0
                        {
                            h.1 += contribution(tf, self.doc_len[row as usize], w);
                        }
                    }
                }
            }
            rank::top(&mut hits, limit, Best::Highest);
            hits
        })
    }
}

/// True when a row scoring at most `bound` cannot reach `threshold` (with a margin for
/// the rounding of the sums, so that a row that could tie is never dropped).
fn below(bound: f32, threshold: f32) -> bool {
    bound < threshold * (1.0 - 1e-5)
}

/// The `limit`-th best score among the scored rows that `accept` allows, if there are
/// that many.
fn threshold(
    scores: &[f32],
    touched: &[u32],
    limit: usize,
    accept: &(dyn Fn(u32) -> bool + Sync),
) -> Option<f32> {
    if touched.len() < limit {
        return None;
    }
    let mut s: Vec<(u32, f32)> = touched
        .iter()
        .filter(|&&r| accept(r))
        .map(|&r| (r, scores[r as usize]))
        .collect();
    rank::kth(&mut s, limit, Best::Highest)
}

/// The `limit`-th best score of `hits` (0 when there are fewer).
fn kth(hits: &[(u32, f32)], limit: usize) -> f32 {
    rank::kth(&mut hits.to_vec(), limit, Best::Highest).unwrap_or(0.0)
}

/// How many postings of `list` (sorted by row) come before `row`: galloping, then a
/// binary search, so that looking up rows in order costs little per row.
fn gallop(list: &[(u32, u32)], row: u32) -> usize {
    let mut hi = 1;
    while hi < list.len() && list[hi - 1].0 < row {
        hi *= 2;
    }
    let lo = hi / 2;
    let hi = hi.min(list.len());
    lo + list[lo..hi].partition_point(|p| p.0 < row)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(docs: &[&str]) -> Bm25Index {
        let mut ix = Bm25Index::new();
        for (i, d) in docs.iter().enumerate() {
            ix.add(i as u32, d).unwrap();
        }
        ix
    }

    #[test]
    fn ranks_by_bm25() {
        let ix = index(&[
            "the quick brown fox",
            "ownership and borrowing in rust",
            "rust ownership rules: each value has an owner",
            "",
        ]);
        let hits = ix.search("Ownership", 10, &|_| true).unwrap();
        assert_eq!(hits.len(), 2);
        // Shorter document with the same tf ranks first.
        assert_eq!(hits[0].0, 1);
        // Exact BM25 value for doc 1: N=3, df=2, dl=5, avgdl=(4+5+8)/3.
        let avgdl = 17.0 / 3.0;
        let expect = idf(3.0, 2.0) * 2.2 * 1.0 / (1.0 + 1.2 * (0.25 + 0.75 * 5.0 / avgdl));
        assert!(
            (hits[0].1 - expect).abs() < 1e-5,
            "{} vs {expect}",
            hits[0].1
        );
        assert!(ix.search("zebra", 10, &|_| true).unwrap().is_empty());
        assert_eq!(ix.search("rust", 10, &|r| r == 2).unwrap()[0].0, 2);
    }

    /// Every row's score summed over all terms (heaviest first, as the search sums),
    /// filtered, best first: what the pruned search must return exactly.
    fn exhaustive(
        ix: &Bm25Index,
        query: &str,
        limit: usize,
        accept: &dyn Fn(u32) -> bool,
    ) -> Vec<(u32, f32)> {
        let n = ix.docs as f32;
        let avgdl = ix.total_len as f32 / n;
        let mut weights: Vec<(u32, f32)> = query_terms(query)
            .iter()
            .filter_map(|t| {
                let id = *ix.terms.get(t)?;
                let df = ix.df[id as usize];
                (df > 0).then(|| (id, idf(n, df as f32) * (BM25_K1 + 1.0)))
            })
            .collect();
        weights.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut scores: std::collections::BTreeMap<u32, f32> = Default::default();
        for (id, w) in weights {
            for &(row, tf) in &ix.postings[id as usize] {
                let dl = ix.doc_len[row as usize];
                if dl == 0 {
                    continue;
                }
                let norm = BM25_K1 * (1.0 - BM25_B + BM25_B * dl as f32 / avgdl);
                *scores.entry(row).or_insert(0.0) += w * tf as f32 / (tf as f32 + norm);
            }
        }
        let mut hits: Vec<(u32, f32)> = scores.into_iter().filter(|h| accept(h.0)).collect();
        rank::top(&mut hits, limit, Best::Highest);
        hits
    }

    proptest::proptest! {
        #[test]
        fn pruned_search_is_the_exhaustive_one(
            docs in proptest::collection::vec(
                proptest::collection::vec(0usize..40, 0..30), 1..300),
            queries in proptest::collection::vec(
                proptest::collection::vec(0usize..40, 1..12), 1..8),
            limit in 1usize..40,
            deleted in proptest::collection::vec(0usize..300, 0..40),
            modulus in 1u32..5,
        ) {
            // A Zipf-like vocabulary: low word numbers are common, high ones rare.
            let word = |w: usize| format!("w{}", w * w / 40);
            let texts: Vec<String> = docs
                .iter()
                .map(|d| d.iter().map(|&w| word(w)).collect::<Vec<_>>().join(" "))
                .collect();
            let mut ix = Bm25Index::new();
            for (i, t) in texts.iter().enumerate() {
                ix.add(i as u32, t).unwrap();
            }
            for &d in &deleted {
                if d < texts.len() {
                    ix.remove(d as u32, &texts[d]).unwrap();
                }
            }
            for q in &queries {
                let q = q.iter().map(|&w| word(w)).collect::<Vec<_>>().join(" ");
                let accept = |r: u32| !r.is_multiple_of(modulus) || modulus == 1;
                let got = ix.search(&q, limit, &accept).unwrap();
                proptest::prop_assert_eq!(got, exhaustive(&ix, &q, limit, &accept));
            }
        }
    }

    #[test]
    fn delete_updates_statistics() {
        let docs = ["rust rust", "rust go", "go"];
        let mut ix = index(&docs);
        ix.remove(0, docs[0]).unwrap();
        let fresh = index(&["", "rust go", "go"]);
        let a = ix.search("rust go", 10, &|_| true).unwrap();
        let b = fresh.search("rust go", 10, &|_| true).unwrap();
        assert_eq!(a, b);
        for r in 1..3 {
            ix.remove(r, docs[r as usize]).unwrap();
        }
        assert!(ix.search("rust", 10, &|_| true).unwrap().is_empty());
    }
}
