//! A compact in-memory BM25 inverted index: term dictionary, postings `(row, tf)`, and
//! document lengths. Deletes drop the row from the statistics at once and from the
//! postings lazily (purged when dead postings outnumber live ones). Search is exact,
//! filters included: it skips only postings that provably cannot change the result
//! (see [`Bm25Index::search_weighted`]).

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use super::{
    Analyzed, BM25_B, BM25_K1, BODY, FIELDS, FieldTexts, Prepared, QueryTerm, TITLE, TermMap,
    Terms, TextIndex, idf, query_terms,
};
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

/// A term's postings: `(row, term frequency)`, by row.
type Postings = [(u32, u32)];

/// One field of the in-memory BM25 index: term dictionary, postings `(row, tf)`, and
/// per-row lengths.
#[derive(Default)]
struct Field {
    terms: TermMap<u32>,
    postings: Vec<Vec<(u32, u32)>>,
    df: Vec<u32>,
    /// Per term: the largest term frequency and the shortest length in this field of the
    /// rows holding it (kept through deletes: still bounds of the rows left), which bound
    /// what the term can add to a row's score.
    bounds: Vec<(u32, u32)>,
    /// Per row: number of tokens in this field, `0` when the row is not indexed (or has
    /// none here). A posting is live while its row's length in its field is not 0.
    doc_len: Vec<u32>,
    total_len: u64,
}

impl Field {
    fn heap_bytes(&self) -> usize {
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
            + self.bounds.capacity() * size_of::<(u32, u32)>()
    }

    /// The number of `term` in this field and its document frequency, if it was indexed.
    fn term(&self, term: &str) -> Option<(u32, u32)> {
        self.terms.get(term).map(|&id| (id, self.df[id as usize]))
    }

    /// The live postings of term number `id`, if any, and its bounds (largest tf, shortest
    /// length).
    fn postings(&self, id: u32) -> Option<(&Postings, (u32, u32))> {
        let id = id as usize;
        (self.df[id] > 0).then(|| (self.postings[id].as_slice(), self.bounds[id]))
    }
}

/// The in-memory BM25 index: one [`Field`] per field (see the module docs of `text`).
#[derive(Default)]
pub(crate) struct Bm25Index {
    fields: [Field; FIELDS],
    /// Indexed rows (with a term in any field).
    docs: u32,
    live_postings: usize,
    dead_postings: usize,
}

impl Bm25Index {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Heap bytes: per field, the term dictionary (hash slots and keys), the postings, and
    /// the per-term and per-row counts.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.fields.iter().map(Field::heap_bytes).sum()
    }

    fn indexed(&self, r: usize) -> bool {
        self.fields
            .iter()
            .any(|f| f.doc_len.get(r).is_some_and(|&l| l > 0))
    }

    fn purge(&mut self) {
        for f in &mut self.fields {
            let doc_len = &f.doc_len;
            for p in &mut f.postings {
                p.retain(|&(row, _)| doc_len.get(row as usize).is_some_and(|&l| l > 0));
            }
        }
        self.dead_postings = 0;
    }
}

impl TextIndex for Bm25Index {
    fn add_analyzed(&mut self, row: u32, texts: Analyzed) -> Result<()> {
        let r = row as usize;
        if texts.is_empty() || self.indexed(r) {
            // Nothing to index; or the row is indexed already (re-adding keeps it).
            return Ok(());
        }
        self.docs += 1;
        for (f, terms) in self.fields.iter_mut().zip(texts.fields) {
            if f.doc_len.len() <= r {
                f.doc_len.resize(r + 1, 0);
            }
            let Terms { tf: tfs, len } = terms;
            f.doc_len[r] = len;
            f.total_len += len as u64;
            for (term, tf) in tfs {
                let next = f.terms.len() as u32;
                let id = *f.terms.entry(term).or_insert(next) as usize;
                if id == f.postings.len() {
                    f.postings.push(Vec::new());
                    f.df.push(0);
                    f.bounds.push((0, u32::MAX));
                }
                let b = &mut f.bounds[id];
                *b = (b.0.max(tf), b.1.min(len));
                f.postings[id].push((row, tf));
                f.df[id] += 1;
                self.live_postings += 1;
            }
        }
        Ok(())
    }

    fn remove(&mut self, row: u32, texts: FieldTexts<'_>) -> Result<()> {
        let r = row as usize;
        if !self.indexed(r) {
            return Ok(());
        }
        self.docs -= 1;
        // The row's postings stay until the next purge; its terms' frequencies drop now.
        for (f, terms) in self.fields.iter_mut().zip(Analyzed::of(texts).fields) {
            let Some(len) = f.doc_len.get_mut(r) else {
                continue;
            };
            f.total_len -= *len as u64;
            *len = 0;
            for term in terms.tf.keys() {
                if let Some(&id) = f.terms.get(term.as_str()) {
                    f.df[id as usize] -= 1;
                    self.live_postings -= 1;
                    self.dead_postings += 1;
                }
            }
        }
        if self.dead_postings > self.live_postings.max(1024) {
            self.purge();
        }
        Ok(())
    }

    fn prepare(&self, query: &str, title_boost: f32) -> Result<Prepared> {
        if self.docs == 0 {
            return Ok(Prepared::nothing());
        }
        let n = self.docs as f32;
        let terms = query_terms(query);
        let mut weights: Vec<QueryTerm> = Vec::new();
        for (field, boost) in [(BODY, 1.0), (TITLE, title_boost)] {
            if boost <= 0.0 {
                continue;
            }
            for term in &terms {
                if let Some((id, df)) = self.term(field, term)
                    && df > 0
                {
                    weights.push(QueryTerm {
                        field,
                        id: Some(id),
                        weight: idf(n, df as f32) * (BM25_K1 + 1.0) * boost,
                    });
                }
            }
        }
        Ok(Prepared {
            terms: weights,
            avg: AvgLengths([BODY, TITLE].map(|f| self.fields[f].total_len as f32 / n)),
            #[cfg(not(target_arch = "wasm32"))]
            weight: None,
        })
    }

    fn search(
        &self,
        query: &Prepared,
        limit: usize,
        accept: &(dyn Fn(u32) -> bool + Sync),
    ) -> Result<Vec<(u32, f32)>> {
        Ok(self.search_weighted(&query.terms, &query.avg, limit, accept))
    }

    fn score_rows(&self, query: &Prepared, rows: &[u32]) -> Result<Vec<f32>> {
        Ok(self.score_rows_weighted(&query.terms, &query.avg, rows))
    }
}

/// BM25's length normalisation of a row's field, `k1 * (1 - b + b * len / avg_len)`.
pub(crate) trait LengthNorm {
    fn norm(&self, field: usize, len: u32) -> f32;
}

/// [`LengthNorm`] with each field's average length (in the field order).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AvgLengths(pub(crate) [f32; FIELDS]);

impl LengthNorm for AvgLengths {
    #[inline(always)]
    fn norm(&self, field: usize, len: u32) -> f32 {
        BM25_K1 * (1.0 - BM25_B + BM25_B * len as f32 / self.0[field])
    }
}

/// What one occurrence count `tf` of a term of weight `w` adds to a row whose `field` is
/// `len` terms long. Forced inline: it is the posting loop's body, which a size-optimised
/// build would otherwise call.
#[inline(always)]
fn contribution(norm: &impl LengthNorm, tf: u32, len: u32, w: f32, field: usize) -> f32 {
    let tf = tf as f32;
    w * tf / (tf + norm.norm(field, len))
}

impl Bm25Index {
    /// Indexed documents (rows with at least one term).
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn num_docs(&self) -> u32 {
        self.docs
    }

    /// Terms in `field` over all indexed documents.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn total_terms(&self, field: usize) -> u64 {
        self.fields[field].total_len
    }

    /// The number of the analysed term `term` in `field` (see [`QueryTerm::id`]) and the
    /// number of indexed documents whose `field` contains it, if it was ever indexed there.
    pub(crate) fn term(&self, field: usize, term: &str) -> Option<(u32, u32)> {
        self.fields[field].term(term)
    }

    /// Scores the rows holding any of `terms` (each a field, an analysed term and its
    /// weight `idf * (k1 + 1) * field boost`) as
    /// `sum weight * tf / (tf + norm(field, row's length in the field))`, and returns the
    /// `limit` best that `accept` allows. [`TextIndex::search`] calls it with this index's
    /// own statistics; natively, the rows Tantivy has not committed yet are scored with
    /// the whole collection's.
    ///
    /// Exact, but not exhaustive (the MaxScore idea, term at a time): terms are scored
    /// rarest first (highest weight), each adding at most its bound to a row (`weight *
    /// tf / (tf + norm)` at the term's largest tf and shortest length in its field). Once
    /// the bounds of the terms left add up to less than the `limit`-th best score so far,
    /// no row those terms alone reach can enter the result: the remaining terms then only
    /// add to the rows already scored, and after each term a row whose score plus what is
    /// left cannot reach the `limit`-th is dropped. A remaining term is looked up row by
    /// row (binary search) while few rows are left, else its list is read once, adding
    /// only to the rows still in. Common words ("the", "of") so cost a few hundred
    /// look-ups, or one pass without any new row, rather than a score for most of the
    /// collection. Every score is summed in the same term order either way, so the result
    /// is the exhaustive one, bit for bit.
    pub(crate) fn search_weighted(
        &self,
        terms: &[QueryTerm],
        norm: &impl LengthNorm,
        limit: usize,
        accept: &(dyn Fn(u32) -> bool + Sync),
    ) -> Vec<(u32, f32)> {
        if self.docs == 0 || limit == 0 {
            return Vec::new();
        }
        let lists = self.lists(terms, norm);
        // left[i]: the most that terms i.. can add to a row (with a margin for rounding).
        let mut left = vec![0f32; lists.len() + 1];
        for i in (0..lists.len()).rev() {
            left[i] = (left[i + 1] + lists[i].3) * (1.0 + 1e-6);
        }
        let rows = self.fields[BODY].doc_len.len();
        SCORES.with_borrow_mut(|scratch| {
            let Scratch { scores, touched } = scratch;
            // One score slot per row, zero between searches: only the slots this search
            // touches are written, and reset at the end.
            if scores.len() < rows {
                let before = scores.capacity();
                scores.resize(rows, 0.0);
                SCRATCH_BYTES.fetch_add((scores.capacity() - before) * 4, Relaxed);
            }
            let mut best = 0f32;
            let mut floor = 0f32;
            let mut next = lists.len();
            for (i, &(postings, w, f, _)) in lists.iter().enumerate() {
                let doc_len = &self.fields[f].doc_len;
                // Past the best score so far, check whether the rest can still bring in
                // a new row (`best` bounds the threshold: a cheap test first). A threshold
                // computed before is a floor of today's (scores only grow): below it, no
                // need to compute it again.
                if left[i] < best {
                    if below(left[i], floor) {
                        next = i;
                        break;
                    }
                    if let Some(t) = threshold(scores, touched, limit, floor, accept) {
                        floor = t;
                        if below(left[i], t) {
                            next = i;
                            break;
                        }
                    }
                }
                for &(row, tf) in postings {
                    let dl = doc_len[row as usize];
                    if dl == 0 {
                        continue;
                    }
                    let s = &mut scores[row as usize];
                    if *s == 0.0 {
                        touched.push(row);
                    }
                    *s += contribution(norm, tf, dl, w, f);
                    best = best.max(*s);
                }
            }
            // Rows that cannot reach the floor even with every remaining term are left out
            // before `accept` is asked about them.
            let rest = left[next];
            let mut hits: Vec<(u32, f32)> = touched
                .iter()
                .filter(|&&r| !below(scores[r as usize] + rest, floor) && accept(r))
                .map(|&r| (r, scores[r as usize]))
                .collect();
            for r in touched.drain(..) {
                scores[r as usize] = 0.0;
            }
            if next < lists.len() {
                // The remaining terms add only to the rows scored so far, term at a time, in
                // the order the first phase sums them. After each, the `limit`-th best partial
                // score is a floor of the final threshold: a row whose partial score plus what
                // the terms left can add stays below it is dropped. (With no term left, the
                // selection below is all there is to do.)
                let mut t = kth(&hits, limit);
                hits.retain(|h| !below(h.1 + rest, t));
                for (j, &(postings, w, f, _)) in lists.iter().enumerate().skip(next) {
                    let doc_len = &self.fields[f].doc_len;
                    if hits.len() * LOOKUP < postings.len() {
                        // Few rows left: find each in the list (binary search).
                        for h in &mut hits {
                            if let Ok(at) = postings.binary_search_by_key(&h.0, |p| p.0) {
                                h.1 +=
                                    contribution(norm, postings[at].1, doc_len[h.0 as usize], w, f);
                            }
                        }
                    } else {
                        // Many: one pass over the list, adding to the rows whose slot is set.
                        for h in &hits {
                            scores[h.0 as usize] = h.1;
                        }
                        for &(row, tf) in postings {
                            let s = &mut scores[row as usize];
                            if *s != 0.0 {
                                *s += contribution(norm, tf, doc_len[row as usize], w, f);
                            }
                        }
                        for h in &mut hits {
                            h.1 = std::mem::take(&mut scores[h.0 as usize]);
                        }
                    }
                    let rest = left[j + 1];
                    if rest > 0.0 {
                        t = t.max(kth(&hits, limit));
                        hits.retain(|h| !below(h.1 + rest, t));
                    }
                }
            }
            rank::top(&mut hits, limit, Best::Highest);
            hits
        })
    }
}

impl Bm25Index {
    /// The postings of the weighted `terms` that occur, in the order every score sums
    /// them: rarest (heaviest) first, ties by query order. Per list: its postings, weight,
    /// field, and the most it can add to a row (its largest tf at its shortest length: the
    /// contribution grows with tf and shrinks with length).
    fn lists<'a>(
        &'a self,
        terms: &[QueryTerm],
        norm: &impl LengthNorm,
    ) -> Vec<(&'a Postings, f32, usize, f32)> {
        let mut lists: Vec<(&Postings, f32, usize, f32)> = terms
            .iter()
            .filter_map(|t| {
                let (postings, (tf, len)) = self.fields[t.field].postings(t.id?)?;
                let (w, f) = (t.weight, t.field);
                Some((postings, w, f, contribution(norm, tf, len, w, f).min(w)))
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
        lists
    }

    /// The scores of `rows` for the weighted `terms`, in the order of `rows`: exactly what
    /// [`Bm25Index::search_weighted`] gives a row it returns (the same terms summed in the
    /// same order), and 0 for a row holding none of them. Each row is looked up in each
    /// term's postings (binary search): for a few dozen rows, much cheaper than a search.
    pub(crate) fn score_rows_weighted(
        &self,
        terms: &[QueryTerm],
        norm: &impl LengthNorm,
        rows: &[u32],
    ) -> Vec<f32> {
        let mut out = vec![0f32; rows.len()];
        for (postings, w, f, _) in self.lists(terms, norm) {
            let doc_len = &self.fields[f].doc_len;
            for (s, &row) in out.iter_mut().zip(rows) {
                if let Ok(at) = postings.binary_search_by_key(&row, |p| p.0) {
                    let dl = doc_len[row as usize];
                    if dl != 0 {
                        *s += contribution(norm, postings[at].1, dl, w, f);
                    }
                }
            }
        }
        out
    }
}

/// A binary search in a term's postings costs about as much as reading this many of them
/// in order: the remaining terms are looked up row by row while the rows left number less
/// than a list's length over this, and read through otherwise.
const LOOKUP: usize = 32;

/// True when a row scoring at most `bound` cannot reach `threshold` (with a margin for
/// the rounding of the sums, so that a row that could tie is never dropped).
fn below(bound: f32, threshold: f32) -> bool {
    bound < threshold * (1.0 - 1e-5)
}

/// The `limit`-th best score among the scored rows that `accept` allows, if there are
/// that many. `floor` is a threshold computed before (0 at first): scores only grow, so
/// at least `limit` allowed rows still reach it, and the rows below it do not count.
fn threshold(
    scores: &[f32],
    touched: &[u32],
    limit: usize,
    floor: f32,
    accept: &(dyn Fn(u32) -> bool + Sync),
) -> Option<f32> {
    if touched.len() < limit {
        return None;
    }
    let allowed: Vec<(u32, f32)> = touched
        .iter()
        .map(|&r| (r, scores[r as usize]))
        .filter(|&(r, s)| s >= floor && accept(r))
        .collect();
    rank::kth_highest(&allowed, limit)
}

/// The `limit`-th best score of `hits` (0 when there are fewer).
fn kth(hits: &[(u32, f32)], limit: usize) -> f32 {
    rank::kth_highest(hits, limit).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::search_text;

    fn body(text: &str) -> FieldTexts<'_> {
        FieldTexts {
            text: Some(text),
            title: None,
        }
    }

    fn index(docs: &[&str]) -> Bm25Index {
        let mut ix = Bm25Index::new();
        for (i, d) in docs.iter().enumerate() {
            ix.add(i as u32, body(d)).unwrap();
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
        let hits = search_text(&ix, "Ownership", 10, 0.5, &|_| true).unwrap();
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
        assert!(
            search_text(&ix, "zebra", 10, 0.5, &|_| true)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            search_text(&ix, "rust", 10, 0.5, &|r| r == 2).unwrap()[0].0,
            2
        );
    }

    #[test]
    fn a_title_match_adds_its_boosted_field_score() {
        let mut ix = Bm25Index::new();
        let docs = [
            ("the vec type holds values", Some("Vec")),
            ("a vec of values, and the vec grows", None),
            ("nothing to see", Some("Other")),
            ("", Some("Vec and more")),
        ];
        for (i, (text, title)) in docs.iter().enumerate() {
            let t = FieldTexts {
                text: Some(text),
                title: *title,
            };
            ix.add(i as u32, t).unwrap();
        }
        // Without the title, row 1 (tf 2) wins; the title lifts row 0 above it.
        let plain = search_text(&ix, "vec", 10, 0.0, &|_| true).unwrap();
        assert_eq!(plain.iter().map(|h| h.0).collect::<Vec<_>>(), vec![1, 0]);
        let titled = search_text(&ix, "vec", 10, 0.5, &|_| true).unwrap();
        assert_eq!(titled[0].0, 0);
        // Row 3 has only a title: found through it alone.
        assert!(titled.iter().any(|h| h.0 == 3));
        // Row 0's score: body BM25 plus half its title BM25 (N = 4 rows, shared).
        let n = 4.0;
        let body_avg = (5.0 + 8.0 + 3.0) / n;
        let title_avg = (1.0 + 1.0 + 3.0) / n;
        let bm25 = |df: f32, tf: f32, dl: f32, avg: f32| {
            idf(n, df) * 2.2 * tf / (tf + 1.2 * (0.25 + 0.75 * dl / avg))
        };
        let expect = bm25(2.0, 1.0, 5.0, body_avg) + 0.5 * bm25(2.0, 1.0, 1.0, title_avg);
        assert!(
            (titled[0].1 - expect).abs() < 1e-5,
            "{titled:?} vs {expect}"
        );
        // Removing a row drops both of its fields.
        ix.remove(
            0,
            FieldTexts {
                text: Some(docs[0].0),
                title: docs[0].1,
            },
        )
        .unwrap();
        let after = search_text(&ix, "vec", 10, 0.5, &|_| true).unwrap();
        assert!(after.iter().all(|h| h.0 != 0), "{after:?}");
        assert_eq!(ix.term(TITLE, "vec").map(|t| t.1), Some(1));
        assert_eq!(ix.num_docs(), 3);
    }

    /// Every row's score summed over all fields and terms (heaviest first, as the search
    /// sums), filtered, best first: what the pruned search must return exactly.
    fn exhaustive(
        ix: &Bm25Index,
        query: &str,
        limit: usize,
        title_boost: f32,
        accept: &dyn Fn(u32) -> bool,
    ) -> Vec<(u32, f32)> {
        let n = ix.docs as f32;
        let mut weights: Vec<(usize, u32, f32)> = Vec::new();
        for (f, boost) in [(BODY, 1.0), (TITLE, title_boost)] {
            if boost <= 0.0 {
                continue;
            }
            for t in query_terms(query) {
                let Some(&id) = ix.fields[f].terms.get(&t) else {
                    continue;
                };
                let df = ix.fields[f].df[id as usize];
                if df > 0 {
                    weights.push((f, id, idf(n, df as f32) * (BM25_K1 + 1.0) * boost));
                }
            }
        }
        weights.sort_by(|a, b| b.2.total_cmp(&a.2));
        let mut scores: std::collections::BTreeMap<u32, f32> = Default::default();
        for (f, id, w) in weights {
            let field = &ix.fields[f];
            let avgdl = field.total_len as f32 / n;
            for &(row, tf) in &field.postings[id as usize] {
                let dl = field.doc_len[row as usize];
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
                (proptest::collection::vec(0usize..40, 0..30),
                 proptest::option::of(proptest::collection::vec(0usize..40, 0..4))), 1..300),
            queries in proptest::collection::vec(
                proptest::collection::vec(0usize..40, 1..12), 1..8),
            limit in 1usize..40,
            deleted in proptest::collection::vec(0usize..300, 0..40),
            modulus in 1u32..5,
            title_boost in proptest::sample::select(vec![0.0f32, 0.5, 2.0]),
        ) {
            // A Zipf-like vocabulary: low word numbers are common, high ones rare.
            let word = |w: usize| format!("w{}", w * w / 40);
            let words = |d: &[usize]| d.iter().map(|&w| word(w)).collect::<Vec<_>>().join(" ");
            let texts: Vec<(String, Option<String>)> = docs
                .iter()
                .map(|(d, t)| (words(d), t.as_deref().map(words)))
                .collect();
            let fields = |i: usize| FieldTexts {
                text: Some(&texts[i].0),
                title: texts[i].1.as_deref(),
            };
            let mut ix = Bm25Index::new();
            for i in 0..texts.len() {
                ix.add(i as u32, fields(i)).unwrap();
            }
            for &d in &deleted {
                if d < texts.len() {
                    ix.remove(d as u32, fields(d)).unwrap();
                }
            }
            for q in &queries {
                let q = words(q);
                let accept = |r: u32| !r.is_multiple_of(modulus) || modulus == 1;
                let got = search_text(&ix, &q, limit, title_boost, &accept).unwrap();
                proptest::prop_assert_eq!(got, exhaustive(&ix, &q, limit, title_boost, &accept));
            }
        }
    }

    /// Large enough that the terms left after the first phase are both looked up row by
    /// row (few rows left against a common word's long list) and read through.
    #[test]
    fn pruned_search_is_exhaustive_on_a_larger_index() {
        let mut x = 7u64;
        let mut next = move |n: u64| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) % n
        };
        // Zipf-like: word w has about 1 / (w + 1) of the mass.
        let mut word = move || {
            let r = next(1 << 20) as f64 / (1u64 << 20) as f64;
            format!("w{}", (300f64.powf(r) - 1.0) as u64)
        };
        let mut ix = Bm25Index::new();
        for row in 0..3000u32 {
            let len = 5 + (row % 40) as usize;
            let body: Vec<String> = (0..len).map(|_| word()).collect();
            let title: Vec<String> = (0..2).map(|_| word()).collect();
            let (body, title) = (body.join(" "), title.join(" "));
            let texts = FieldTexts {
                text: Some(&body),
                title: Some(&title),
            };
            ix.add(row, texts).unwrap();
        }
        let all = |_: u32| true;
        for q in 0..40 {
            let query: Vec<String> = (0..2 + q % 10).map(|_| word()).collect();
            let query = query.join(" ");
            for limit in [1, 3, 10, 50, 150] {
                let got = search_text(&ix, &query, limit, 0.5, &all).unwrap();
                assert_eq!(
                    got,
                    exhaustive(&ix, &query, limit, 0.5, &all),
                    "{query} {limit}"
                );
            }
        }
    }

    #[test]
    fn delete_updates_statistics() {
        let docs = ["rust rust", "rust go", "go"];
        let mut ix = index(&docs);
        ix.remove(0, body(docs[0])).unwrap();
        let fresh = index(&["", "rust go", "go"]);
        let a = search_text(&ix, "rust go", 10, 0.5, &|_| true).unwrap();
        let b = search_text(&fresh, "rust go", 10, 0.5, &|_| true).unwrap();
        assert_eq!(a, b);
        for r in 1..3 {
            ix.remove(r, body(docs[r as usize])).unwrap();
        }
        assert!(
            search_text(&ix, "rust", 10, 0.5, &|_| true)
                .unwrap()
                .is_empty()
        );
    }
}
