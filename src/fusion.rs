//! Fusion of the vector and text result lists into one ranking.
//!
//! - [`Fusion::Rrf`] fuses ranks: `sum over lists of 1 / (k + rank)`, rank counted from 1.
//! - [`Fusion::Weighted`], [`Fusion::Max`], [`Fusion::Min`] and [`Fusion::Average`] fuse
//!   scores after min-max normalising each list to `[0, 1]` (a list whose scores are all
//!   equal normalises to 1). A document missing from one list counts 0 for that list in
//!   `Weighted`, `Min` and `Average`; `Max` takes the larger of the scores it has.
//! - [`Fusion::Zscore`], the default, fuses scores after standardising each list: a score
//!   becomes its distance from the list's mean in standard deviations, so a side whose top
//!   stands far above the rest of its list (a title match, a near-duplicate vector) weighs
//!   more than one whose scores are all alike. In a search, each side first scores the
//!   other side's candidates (see "Both scores of every candidate" below), so both lists
//!   hold every candidate; in lists given to [`Fusion::fuse`], a document missing from one
//!   list counts that list's lowest standardised score.
//! - [`Fusion::Dbsf`] (distribution-based score fusion) normalises each list by its
//!   mean ± 3 standard deviations, clamps to `[0, 1]`, and sums.
//!
//! Both scores of every candidate. Under the default, [`crate::VectorDB::search`] gives
//! the text side's candidates their exact vector similarity (a dot product each) and the
//! vector side's candidates their BM25 score (a look-up per query term; 0 without one),
//! and standardises each side over all the candidates. A candidate one side did not return
//! is not "just below that side's last": its real score may be far below it or close, and
//! with the real one the fusion needs far fewer candidates per side — `max(k, 10)` by
//! default rank about as well as 150 did with the placeholder (the figures at [`Fusion::default`]),
//! for a fraction of the cost. Each half of a hybrid search scores its own candidates on
//! the other side while the halves run in parallel (the vector half looks its rows up in
//! the text index after its search, the text half measures its rows' vectors), and the
//! query's text is analysed once for both. [`crate::VectorDB::sides`] returns both lists
//! as the search fuses them. The other modes fuse the lists as the sides return them (as the
//! engines they reproduce do): a document found by one side has no score from the other.
//!
//! A document found by only one side still appears in the fused list. Equal fused scores
//! are ordered by the sum of the normalised scores (RRF: the better side's reciprocal
//! rank), then by row number, so the order is deterministic and meaningful.
//!
//! Which to use. [`Fusion::Zscore`] (the default) is the general-purpose mode: on every
//! corpus measured it ranks above both sides except where one side alone is near perfect
//! (see [`Fusion::default`]). The others are special-purpose modes: none ranks as well as
//! the default, and some rank below the text side alone (MRR@10 with titles on rustdocs /
//! the Python docs at the default depth: text alone 0.521 / 0.594, the default 0.528 / 0.615):
//!
//! - [`Fusion::Weighted`] (0.511 / 0.601) and [`Fusion::Average`] (the same at
//!   0.5 / 0.5): an explicit trade-off on a fixed `[0, 1]` scale per list, where each
//!   list's best counts 1 however far it stands above the rest; for reproducing other
//!   systems' linear combination (Orama's hybrid, LanceDB's linear-combination reranker),
//!   or a UI slider between "by meaning" and "by words".
//! - [`Fusion::Rrf`] (0.494 / 0.587): ranks only, scores ignored; for sides whose scores
//!   are not comparable or not trusted (scores from another system, a re-ranker, a list
//!   fused outside vjson), and for parity with engines that fuse by RRF (Elasticsearch's
//!   RRF retriever, LanceDB's default reranker, Qdrant's `rrf`).
//! - [`Fusion::Dbsf`] (0.516 / 0.601): Qdrant's distribution-based score fusion, for
//!   parity with Qdrant's rankings.
//! - [`Fusion::Max`] (0.512 / 0.597): "either side is sure" — a row ranks by its better
//!   side; for recall (a union of two searches) rather than for ranking.
//! - [`Fusion::Min`] (0.501 / 0.591): "both sides agree" — a row ranks by its weaker side
//!   (a side that did not find it counts 0); a soft AND of the two searches.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Num, Result};
use crate::rank;

/// How vector and text results are combined.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Fusion {
    /// Reciprocal rank fusion with constant `k` (60 by default).
    Rrf {
        /// The rank constant.
        k: f32,
    },
    /// `vector * norm(vector score) + text * norm(text score)`.
    Weighted {
        /// Weight of the vector side.
        vector: f32,
        /// Weight of the text side.
        text: f32,
    },
    /// `vector * z(vector score) + text * z(text score)`, where `z` standardises a score
    /// by its list's mean and standard deviation (see the module docs). The default, with
    /// 0.5 / 0.5.
    Zscore {
        /// Weight of the vector side.
        vector: f32,
        /// Weight of the text side.
        text: f32,
    },
    /// The larger normalised score: a row ranks high when either side is sure of it
    /// (special purpose: favours rows that one side alone finds, at the other's expense).
    Max,
    /// The smaller normalised score (a missing side counts 0): a row ranks high only when
    /// both sides agree (special purpose: a strict "both" filter; rows found by one side
    /// only all score 0 and are ordered by the sum of their normalised scores).
    Min,
    /// The mean of the normalised scores (a missing side counts 0).
    Average,
    /// Distribution-based score fusion: mean ± 3σ normalisation, then the sum.
    Dbsf,
}

/// The default: an even convex combination of standardised scores,
/// `0.5 * z(vector) + 0.5 * z(text)` (with [`DEFAULT_CANDIDATES`](crate::Query::DEFAULT_CANDIDATES)
/// candidates per side), and titles in their own field at
/// [`DEFAULT_TITLE_BOOST`](crate::DEFAULT_TITLE_BOOST).
///
/// Chosen on two real corpora of technical documentation with known-item queries
/// (`vjson eval`, MiniLM embeddings, text = title + body, title also as its own field):
/// rustdocs (19,132 documents, 2,000 queries) and the Python 3.11 documentation (11,345
/// documents, 2,000 queries), each also split into its API and prose halves. MRR@10 of
/// the default against each side and the previous default (`weighted:0.5,0.5`, min-max
/// normalised, without a title field), all at the same depth:
///
/// | corpus | vector | text | default | previous default |
/// |---|---:|---:|---:|---:|
/// | rustdocs, all | 0.4065 | 0.5206 | **0.5309** (+2.0 %) | 0.4912 |
/// | rustdocs, API | 0.2188 | 0.2198 | **0.2588** (+17.7 %) | 0.2591 |
/// | rustdocs, book | 0.6891 | **0.9736** | 0.9408 (−3.4 %) | 0.8409 |
/// | Python, all | 0.5071 | 0.5939 | **0.6144** (+3.5 %) | 0.5760 |
/// | Python, API | 0.2907 | 0.2904 | **0.3395** (+16.8 %) | 0.3294 |
/// | Python, prose | 0.7627 | **0.9524** | 0.9391 (−1.4 %) | 0.8672 |
///
/// (That table: 150 candidates per side, a candidate missing from a side counting that
/// side's lowest score. With both scores of every candidate and the default 10 candidates,
/// the same corpora give: rustdocs 0.5284 (+1.5 %; API 0.2614, +17.7 %; book 0.9306,
/// −4.4 %), Python 0.6147 (+3.5 %; API 0.3416, +17.1 %; prose 0.9371, −1.6 %); the vector
/// side measured with it 0.4100 / 0.5083.)
///
/// The prose halves' queries are section headings, which the title field now matches
/// almost always: there the text side alone is near perfect and the hybrid gives a little
/// of that back to the vector side. Without titles (`title_boost` 0, or documents without
/// one) the default beats both sides everywhere: rustdocs 0.4981 against text 0.4527
/// (+10.0 %; API +16.8 %, book +7.1 %), Python 0.5808 against 0.5201 (+11.7 %; API
/// +14.9 %, prose +5.9 %), and the previous default by 1.4 % / 0.8 %.
///
/// Why standardised scores: min-max normalisation maps every list's best score to 1,
/// however far above the rest it stands, so a side that is sure of one document (a title
/// match, a near-duplicate vector) counts no more than one that is not; standardising keeps
/// that confidence (a top score four deviations above its list's mean outweighs one at
/// two), it does not depend on the list's worst score, and it beat min-max at every weight
/// and depth tried. RRF throws the scores away altogether; a convex combination of
/// normalised scores beats it in and out of domain (Bruch, Gai & Ingber, "An Analysis of
/// Fusion Functions for Hybrid Retrieval", ACM TOIS 2023). Even weights: 0.4 / 0.6 was a
/// little better overall with titles and worse on the API halves, and a vector-strong
/// corpus measured elsewhere preferred the vector side; the even split is never far from
/// the best.
///
/// Depth (candidates per side), with both scores of every candidate, rustdocs / Python
/// (`vjson eval CORPUS --fusions zscore --candidates N`; MRR@10, recall@10, hybrid p50):
///
/// | depth | MRR@10 | recall@10 | p50 (µs) |
/// |---:|---:|---:|---:|
/// | **10** | 0.5283 / **0.6147** | 0.6815 / **0.8130** | **105 / 98** |
/// | 20 | 0.5310 / 0.6122 | **0.6845** / 0.8055 | 111 / 105 |
/// | 30 | 0.5336 / 0.6135 | 0.6825 / 0.8060 | 123 / 126 |
/// | 50 | **0.5350** / 0.6142 | 0.6825 / 0.8060 | 143 / 134 |
/// | 150 | 0.5297 / 0.6145 | — | ~275 (before) |
///
/// (Each side alone: p50 ~75-82 µs.) The default depth is 10 (a search fetches at least
/// `k` per side): on
/// the Python docs the best MRR and recall, on rustdocs 1.3 % below the best depth's MRR
/// and 0.003 below its recall, without titles as good as 20 on both (rustdocs 0.4981 vs
/// 0.4982, Python 0.5808 vs 0.5786), and the cheapest. (With the old placeholder for a
/// missing score MRR@10 rose up to ~150 candidates: 0.5173 at 10, 0.5303 at 150 on
/// rustdocs.)
impl Default for Fusion {
    fn default() -> Self {
        Fusion::Zscore {
            vector: 0.5,
            text: 0.5,
        }
    }
}

impl Fusion {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Fusion::Rrf { k } if !(k.is_finite() && k >= 0.0) => Err(Error::InvalidQuery(format!(
                "rrf k must be a finite number >= 0, got {}",
                Num(k as f64)
            ))),
            Fusion::Weighted { vector, text } | Fusion::Zscore { vector, text }
                if !(vector.is_finite() && text.is_finite() && vector >= 0.0 && text >= 0.0)
                    || vector + text == 0.0 =>
            {
                Err(Error::InvalidQuery(format!(
                    "fusion weights must be finite numbers >= 0, not both 0; got vector {}, text {}",
                    Num(vector as f64),
                    Num(text as f64)
                )))
            }
            _ => Ok(()),
        }
    }
}

impl Fusion {
    /// RRF's customary rank constant: what `rrf` means without one.
    pub const RRF_K: f32 = 60.0;

    /// Fuses two ranked lists of `(key, score)` pairs, each best first, into one list of
    /// `(key, fused score)`, best first, ties broken by key: exactly what
    /// [`crate::VectorDB::search`] does with its vector and text sides (keys are row
    /// numbers there). A key may appear in one list or in both; a key repeated within one
    /// list counts at its first (best) position only.
    ///
    /// ```
    /// use vjson::Fusion;
    /// let fused = Fusion::Rrf { k: 60.0 }.fuse(&[(7, 0.9), (8, 0.5)], &[(8, 3.2)])?;
    /// assert_eq!(fused[0].0, 8); // found by both sides
    /// assert!((fused[0].1 - (1.0 / 62.0 + 1.0 / 61.0)).abs() < 1e-6);
    /// # Ok::<(), vjson::Error>(())
    /// ```
    ///
    /// Fails with `invalid_query` when the fusion's parameters are out of range or a score
    /// is not finite.
    pub fn fuse(&self, vector: &[(u32, f32)], text: &[(u32, f32)]) -> Result<Vec<(u32, f32)>> {
        self.validate()?;
        for (side, list) in [("vector", vector), ("text", text)] {
            if let Some(&(key, score)) = list.iter().find(|x| !x.1.is_finite()) {
                return Err(Error::InvalidQuery(format!(
                    "{side} score of key {key} is not finite ({score})"
                )));
            }
        }
        Ok(fuse(*self, vector, text)
            .into_iter()
            .map(|f| (f.row, f.score))
            .collect())
    }
}

/// The name [`FromStr`](std::str::FromStr) reads back: `rrf:K`, `weighted:V,T`,
/// `zscore:V,T`, `max`, `min`, `average`, `dbsf`.
impl std::fmt::Display for Fusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fusion::Rrf { k } => write!(f, "rrf:{k}"),
            Fusion::Weighted { vector, text } => write!(f, "weighted:{vector},{text}"),
            Fusion::Zscore { vector, text } => write!(f, "zscore:{vector},{text}"),
            Fusion::Max => f.write_str("max"),
            Fusion::Min => f.write_str("min"),
            Fusion::Average => f.write_str("average"),
            Fusion::Dbsf => f.write_str("dbsf"),
        }
    }
}

impl std::str::FromStr for Fusion {
    type Err = Error;

    /// Parses `rrf`, `rrf:K`, `weighted`, `weighted:V,T`, `zscore`, `zscore:V,T`, `max`,
    /// `min`, `average` (or `avg`, `mean`) and `dbsf`.
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_lowercase();
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (s.as_str(), None),
        };
        let bad = || {
            Error::InvalidQuery(format!(
                "unknown fusion {s:?}; use zscore, zscore:V,T, rrf, rrf:K, weighted:V,T (e.g. weighted:0.7,0.3), max, min, average or dbsf"
            ))
        };
        // Numbers in JSON's grammar, read by serde_json (already linked): core's own float
        // parser would add ~10 KB of tables to the wasm module for this one call.
        let num = |x: &str| serde_json::from_str::<f32>(x.trim()).map_err(|_| bad());
        let f = match (name, arg) {
            ("rrf", None) => Fusion::Rrf { k: Fusion::RRF_K },
            ("rrf", Some(k)) => Fusion::Rrf { k: num(k)? },
            ("weighted", None) => Fusion::Weighted {
                vector: 0.5,
                text: 0.5,
            },
            ("zscore", None) => Fusion::Zscore {
                vector: 0.5,
                text: 0.5,
            },
            (name @ ("weighted" | "zscore"), Some(w)) => {
                let (v, t) = w.split_once(',').ok_or_else(bad)?;
                let (vector, text) = (num(v)?, num(t)?);
                match name {
                    "weighted" => Fusion::Weighted { vector, text },
                    _ => Fusion::Zscore { vector, text },
                }
            }
            ("max", None) => Fusion::Max,
            ("min", None) => Fusion::Min,
            ("average" | "avg" | "mean", None) => Fusion::Average,
            ("dbsf", None) => Fusion::Dbsf,
            _ => return Err(bad()),
        };
        f.validate()?;
        Ok(f)
    }
}

/// One fused entry: row, fused score, vector score, text score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Fused {
    pub row: u32,
    pub score: f32,
    pub vector: Option<f32>,
    pub text: Option<f32>,
}

/// How one side's scores are normalised before a score fusion: `s -> (s - offset) /
/// spread` (min-max: the list's lowest and its range; z-score: its mean and standard
/// deviation; DBSF: mean - 3 sd and 6 sd, clamped to `[0, 1]`), or 1 for every score when
/// the list's scores are all equal; a row missing from the list counts `missing` (the
/// list's lowest under z-score, else 0).
struct Norm {
    offset: f64,
    spread: f64,
    clamp: bool,
    missing: f32,
}

impl Norm {
    fn of(fusion: Fusion, list: &[(u32, f32)]) -> Norm {
        let n = list.len().max(1) as f64;
        let mean = list.iter().map(|x| x.1 as f64).sum::<f64>() / n;
        let sd = (list
            .iter()
            .map(|x| (x.1 as f64 - mean).powi(2))
            .sum::<f64>()
            / n)
            .sqrt();
        let lo = list.iter().map(|x| x.1).fold(f32::INFINITY, f32::min);
        let hi = list.iter().map(|x| x.1).fold(f32::NEG_INFINITY, f32::max);
        let (offset, spread, clamp) = match fusion {
            Fusion::Dbsf => (mean - 3.0 * sd, 6.0 * sd, true),
            Fusion::Zscore { .. } => (mean, sd, false),
            _ => (lo as f64, hi as f64 - lo as f64, false),
        };
        let mut norm = Norm {
            offset,
            spread,
            clamp,
            missing: 0.0,
        };
        if matches!(fusion, Fusion::Zscore { .. }) && spread > 0.0 {
            norm.missing = norm.apply(lo);
        }
        norm
    }

    fn apply(&self, s: f32) -> f32 {
        if self.spread > 0.0 {
            let x = (s as f64 - self.offset) / self.spread;
            (if self.clamp { x.clamp(0.0, 1.0) } else { x }) as f32
        } else {
            1.0
        }
    }
}

/// Fuses two ranked lists (best first) of `(row, score)` into one list, best first. A row
/// repeated within one list counts at its first position.
pub(crate) fn fuse(fusion: Fusion, vector: &[(u32, f32)], text: &[(u32, f32)]) -> Vec<Fused> {
    fuse_top(fusion, vector, text, usize::MAX)
}

/// A row and its entry `(rank from 1, score)` in each list, if any.
pub(crate) type Sides = (u32, Option<(u32, f32)>, Option<(u32, f32)>);

/// The rows of two ranked lists, by row, each with its first (best) entry in each list.
/// One sort (cheaper than hashing at these sizes), shared by every caller so that the
/// npm package's module holds one copy of it.
pub(crate) fn group(vector: &[(u32, f32)], text: &[(u32, f32)]) -> Vec<Sides> {
    let mut all: Vec<(u32, u8, u32, f32)> = Vec::with_capacity(vector.len() + text.len());
    all.extend(
        vector
            .iter()
            .enumerate()
            .map(|(i, &(row, s))| (row, 0, i as u32 + 1, s)),
    );
    all.extend(
        text.iter()
            .enumerate()
            .map(|(i, &(row, s))| (row, 1, i as u32 + 1, s)),
    );
    all.sort_unstable_by_key(|e| (e.0, e.1, e.2));
    // (row, vector (rank, score), text (rank, score))
    let mut rows: Vec<Sides> = Vec::with_capacity(all.len());
    for (row, side, rank, score) in all {
        if rows.last().is_none_or(|r| r.0 != row) {
            rows.push((row, None, None));
        }
        let r = rows.last_mut().expect("pushed above");
        let slot = if side == 0 { &mut r.1 } else { &mut r.2 };
        if slot.is_none() {
            *slot = Some((rank, score));
        }
    }
    rows
}

/// Gives each hybrid side the other side's candidates it lacks, with their scores on
/// this side (appended after its own, in row order), so that both lists hold every
/// candidate (see "Both scores of every candidate" in the module docs). `text_of_vector[i]`
/// is the text score of `vector[i]`'s row, `vector_of_text[i]` the vector score of
/// `text[i]`'s row. A row a side found keeps the score that side gave it.
pub(crate) fn complete(
    vector: &mut Vec<(u32, f32)>,
    text: &mut Vec<(u32, f32)>,
    text_of_vector: &[f32],
    vector_of_text: &[f32],
) {
    let (mut to_text, mut to_vector) = (Vec::new(), Vec::new());
    for (row, v, t) in group(vector, text) {
        match (v, t) {
            (Some((rank, _)), None) => to_text.push((row, text_of_vector[rank as usize - 1])),
            (None, Some((rank, _))) => to_vector.push((row, vector_of_text[rank as usize - 1])),
            _ => {}
        }
    }
    text.extend(to_text);
    vector.extend(to_vector);
}

/// The first `keep` entries of [`fuse`]'s list (a search keeps `k` of the rows its sides
/// found: only those are sorted).
pub(crate) fn fuse_top(
    fusion: Fusion,
    vector: &[(u32, f32)],
    text: &[(u32, f32)],
    keep: usize,
) -> Vec<Fused> {
    let rows = group(vector, text);
    let firsts = |side: u8| -> Vec<(u32, f32)> {
        rows.iter()
            .filter_map(|r| if side == 0 { r.1 } else { r.2 })
            .collect()
    };
    // Each fused row with its tie-breaker (see the sort below).
    let mut out: Vec<(Fused, f32)> = match fusion {
        Fusion::Rrf { k } => {
            let rr = |x: Option<(u32, f32)>| x.map_or(0.0, |(rank, _)| 1.0 / (k + rank as f32));
            rows.iter()
                .map(|&(row, v, t)| {
                    let f = Fused {
                        row,
                        score: rr(v) + rr(t),
                        vector: v.map(|x| x.1),
                        text: t.map(|x| x.1),
                    };
                    (f, rr(v).max(rr(t)))
                })
                .collect()
        }
        _ => {
            // Normalisation statistics over each list's rows (first occurrences only).
            let (lv, lt) = (firsts(0), firsts(1));
            let (nv, nt) = (Norm::of(fusion, &lv), Norm::of(fusion, &lt));
            rows.iter()
                .map(|&(row, v, t)| {
                    let (v, t) = (v.map(|x| x.1), t.map(|x| x.1));
                    let v0 = v.map_or(nv.missing, |s| nv.apply(s));
                    let t0 = t.map_or(nt.missing, |s| nt.apply(s));
                    let score = match fusion {
                        Fusion::Weighted { vector, text } | Fusion::Zscore { vector, text } => {
                            vector * v0 + text * t0
                        }
                        Fusion::Max => v0.max(t0),
                        Fusion::Min => v0.min(t0),
                        Fusion::Average => (v0 + t0) / 2.0,
                        Fusion::Dbsf => v0 + t0,
                        Fusion::Rrf { .. } => unreachable!("handled above"),
                    };
                    let f = Fused {
                        row,
                        score,
                        vector: v,
                        text: t,
                    };
                    (f, v0 + t0)
                })
                .collect()
        }
    };
    // Rows below the `keep`-th best fused score cannot be among the first `keep`: only
    // the rest (with any ties at that score) is sorted.
    if out.len() > keep {
        let scores: Vec<(u32, f32)> = out.iter().map(|(f, _)| (f.row, f.score)).collect();
        if let Some(kth) = rank::kth_highest(&scores, keep) {
            out.retain(|(f, _)| f.score >= kth);
        }
    }
    // Best score first. Equal scores (common with `min`, where every row found by one side
    // only scores 0, and with `max`) are ordered by the tie-breaker — the sum of the
    // normalised scores (RRF: the better side's reciprocal rank) — so a row ranked well by
    // either side comes first; then by row, so the order never depends on input order.
    out.sort_unstable_by(|(a, ta), (b, tb)| {
        b.score
            .total_cmp(&a.score)
            .then(tb.total_cmp(ta))
            .then(a.row.cmp(&b.row))
    });
    out.truncate(keep);
    out.into_iter().map(|(f, _)| f).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of each mode: z-score at the default weights, RRF and weighted with parameters
    /// other than their defaults.
    const EVERY_MODE: [Fusion; 7] = [
        Fusion::Rrf { k: 10.0 },
        Fusion::Zscore {
            vector: 0.5,
            text: 0.5,
        },
        Fusion::Weighted {
            vector: 0.7,
            text: 0.3,
        },
        Fusion::Max,
        Fusion::Min,
        Fusion::Average,
        Fusion::Dbsf,
    ];

    #[test]
    fn complete_gives_each_side_the_rows_it_lacks_in_row_order() {
        let mut vector = vec![(7, 0.9), (3, 0.8), (5, 0.7)];
        let mut text = vec![(5, 4.0), (9, 2.0), (1, 1.5)];
        // Text scores of the vector side's rows, vector scores of the text side's.
        complete(&mut vector, &mut text, &[0.5, 0.0, 3.9], &[0.71, 0.2, 0.1]);
        // Row 5 was on both sides: each keeps its own score and gains nothing.
        assert_eq!(
            vector,
            vec![(7, 0.9), (3, 0.8), (5, 0.7), (1, 0.1), (9, 0.2)]
        );
        assert_eq!(text, vec![(5, 4.0), (9, 2.0), (1, 1.5), (3, 0.0), (7, 0.5)]);
        // Nothing to add when both sides found the same rows.
        let (mut v, mut t) = (vec![(1, 0.5), (2, 0.4)], vec![(2, 3.0), (1, 1.0)]);
        complete(&mut v, &mut t, &[9.0, 9.0], &[9.0, 9.0]);
        assert_eq!((v.len(), t.len()), (2, 2));
    }

    #[test]
    fn fuse_top_is_the_head_of_the_full_list() {
        let mut x = 99u32;
        let mut next = |m: u32| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 16) % m
        };
        for round in 0..200 {
            // Few distinct scores and overlapping rows, so ties and shared rows are common.
            let v: Vec<(u32, f32)> = (0..next(40))
                .map(|_| (next(60), next(8) as f32 / 8.0))
                .collect();
            let t: Vec<(u32, f32)> = (0..next(40)).map(|_| (next(60), next(5) as f32)).collect();
            for f in EVERY_MODE {
                let all = fuse(f, &v, &t);
                for keep in [0, 1, 3, 10, 100] {
                    let head = &all[..keep.min(all.len())];
                    assert_eq!(
                        fuse_top(f, &v, &t, keep),
                        head,
                        "round {round} {f} keep {keep}"
                    );
                }
            }
        }
    }

    #[test]
    fn parses_every_name() {
        assert_eq!("rrf".parse::<Fusion>().unwrap(), Fusion::Rrf { k: 60.0 });
        // Display writes what parsing reads back.
        for f in EVERY_MODE {
            assert_eq!(f.to_string().parse::<Fusion>().unwrap(), f, "{f}");
        }
        assert_eq!(Fusion::default().to_string(), "zscore:0.5,0.5");
        assert_eq!("rrf:10".parse::<Fusion>().unwrap(), Fusion::Rrf { k: 10.0 });
        assert_eq!(
            "weighted:0.7,0.3".parse::<Fusion>().unwrap(),
            Fusion::Weighted {
                vector: 0.7,
                text: 0.3
            }
        );
        assert_eq!("max".parse::<Fusion>().unwrap(), Fusion::Max);
        assert_eq!("min".parse::<Fusion>().unwrap(), Fusion::Min);
        assert_eq!("average".parse::<Fusion>().unwrap(), Fusion::Average);
        assert_eq!("dbsf".parse::<Fusion>().unwrap(), Fusion::Dbsf);
        for bad in ["", "nope", "weighted:1", "weighted:-1,1", "rrf:x", "max:3"] {
            assert_eq!(bad.parse::<Fusion>().unwrap_err().code(), "invalid_query");
        }
    }

    #[test]
    fn rrf_sums_reciprocal_ranks() {
        let v = [(1, 0.9), (2, 0.8)];
        let t = [(2, 7.0), (3, 1.0)];
        let out = fuse(Fusion::Rrf { k: 60.0 }, &v, &t);
        assert_eq!(out[0].row, 2);
        assert!((out[0].score - (1.0 / 62.0 + 1.0 / 61.0)).abs() < 1e-6);
        assert_eq!(out.len(), 3);
        let three = out.iter().find(|f| f.row == 3).unwrap();
        assert_eq!(three.vector, None);
        assert_eq!(three.text, Some(1.0));
    }

    #[test]
    fn normalised_fusions() {
        let v = [(1, 0.9), (2, 0.5)];
        let t = [(2, 4.0), (3, 2.0)];
        let w = fuse(
            Fusion::Weighted {
                vector: 1.0,
                text: 0.0,
            },
            &v,
            &t,
        );
        assert_eq!(w[0].row, 1);
        let mx = fuse(Fusion::Max, &v, &t);
        assert_eq!(mx[0].score, 1.0);
        let mn = fuse(Fusion::Min, &v, &t);
        assert!(mn.iter().all(|f| f.row == 2 || f.score == 0.0));
        let avg = fuse(Fusion::Average, &v, &t);
        assert_eq!(avg[0].row, 1);
        assert!((avg[0].score - 0.5).abs() < 1e-6);
    }

    #[test]
    fn zscore_standardises_each_list_and_keeps_a_sides_confidence() {
        // Vector: rows 1..=10 alike; text: row 20 far above rows 21..=29.
        let v: Vec<(u32, f32)> = (1..=10).map(|i| (i, 0.6 - 0.01 * i as f32)).collect();
        let mut t: Vec<(u32, f32)> = vec![(20, 9.0)];
        t.extend((21..30).map(|i| (i, 1.0 - 0.01 * (i - 20) as f32)));
        let z = fuse(Fusion::default(), &v, &t);
        // Min-max gives the vector side's best (row 1) and the text side's best (row 20) the
        // same 1 (a tie, then row order); standardised, row 20 stands out further in its
        // list and comes first.
        let mm = fuse(
            Fusion::Weighted {
                vector: 0.5,
                text: 0.5,
            },
            &v,
            &t,
        );
        assert_eq!(mm[0].row, 1);
        assert_eq!(z[0].row, 20);
        // Exact values: a row missing from a list counts that list's lowest.
        let stats = |l: &[(u32, f32)]| {
            let n = l.len() as f64;
            let m = l.iter().map(|x| x.1 as f64).sum::<f64>() / n;
            let sd = (l.iter().map(|x| (x.1 as f64 - m).powi(2)).sum::<f64>() / n).sqrt();
            (m, sd)
        };
        let ((mv, sv), (mt, st)) = (stats(&v), stats(&t));
        let zv = |s: f32| (s as f64 - mv) / sv;
        let zt = |s: f32| (s as f64 - mt) / st;
        let want20 = 0.5 * zv(v[9].1) + 0.5 * zt(9.0);
        let want1 = 0.5 * zv(v[0].1) + 0.5 * zt(t[9].1);
        assert!(
            (z[0].score as f64 - want20).abs() < 1e-5,
            "{z:?} vs {want20}"
        );
        let one = z.iter().find(|f| f.row == 1).unwrap();
        assert!((one.score as f64 - want1).abs() < 1e-5, "{z:?} vs {want1}");
        // A list of equal scores (or one) standardises to 1, its missing rows to 0.
        let single = fuse(Fusion::default(), &[(1, 0.3)], &[(2, 5.0), (3, 1.0)]);
        let r1 = single.iter().find(|f| f.row == 1).unwrap();
        // 0.5 * 1 (the only vector score) + 0.5 * -1 (the text list's lowest).
        assert!(r1.score.abs() < 1e-6, "{single:?}");
    }

    #[test]
    fn equal_scores_are_ordered_by_the_sides_then_by_row() {
        // Every row found by one side only: `min` scores them all 0. They come in the order
        // of their normalised scores (the sides' own order), not of their row numbers.
        let v = [(7, 0.9), (3, 0.6), (5, 0.1)];
        let t = [(9, 8.0), (1, 5.0), (4, 2.0)];
        let rows = |f: Fusion| fuse(f, &v, &t).iter().map(|x| x.row).collect::<Vec<_>>();
        let min = rows(Fusion::Min);
        assert!(fuse(Fusion::Min, &v, &t).iter().all(|x| x.score == 0.0));
        // Normalised: 7 and 9 score 1, 3 0.625 (vector), 1 0.5 (text), 5 and 4 score 0.
        assert_eq!(min, vec![7, 9, 3, 1, 4, 5]);
        // The same inputs in another order give the same ranking.
        let (mut v2, mut t2) = (v.to_vec(), t.to_vec());
        v2.reverse();
        t2.reverse();
        let again: Vec<u32> = fuse(Fusion::Min, &v2, &t2).iter().map(|x| x.row).collect();
        // (Reversed lists change the ranks, not the scores: the order must not move.)
        assert_eq!(again, min);
        // RRF ties (mirrored ranks) go to the row with the better single rank, then row.
        let rrf = fuse(
            Fusion::default(),
            &[(1, 0.9), (2, 0.8)],
            &[(2, 3.0), (1, 1.0)],
        );
        assert_eq!(rrf[0].score, rrf[1].score);
        assert_eq!([rrf[0].row, rrf[1].row], [1, 2]);
    }
}
