//! Fusion of the vector and text result lists into one ranking.
//!
//! - [`Fusion::Rrf`] fuses ranks: `sum over lists of 1 / (k + rank)`, rank counted from 1.
//! - [`Fusion::Weighted`], [`Fusion::Max`], [`Fusion::Min`] and [`Fusion::Average`] fuse
//!   scores after min-max normalising each list to `[0, 1]` (a list whose scores are all
//!   equal normalises to 1). A document missing from one list counts 0 for that list in
//!   `Weighted`, `Min` and `Average`; `Max` takes the larger of the scores it has.
//! - [`Fusion::Dbsf`] (distribution-based score fusion) normalises each list by its
//!   mean ± 3 standard deviations, clamps to `[0, 1]`, and sums.
//!
//! A document found by only one side still appears in the fused list. Equal fused scores
//! are ordered by the sum of the normalised scores (RRF: the better side's reciprocal
//! rank), then by row number, so the order is deterministic and meaningful.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

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

/// The default: an even convex combination of min-max normalised scores,
/// `0.5 * vector + 0.5 * text` (with [`DEFAULT_CANDIDATES`](crate::Query::DEFAULT_CANDIDATES)
/// candidates per side).
///
/// Chosen on two real corpora of technical documentation with known-item queries
/// (`vjson eval`, MiniLM embeddings, text = title + body): rustdocs (19,132 documents,
/// 2,000 queries) and the Python 3.11 documentation (11,345 documents, 2,000 queries), each
/// also split into its API and prose halves. MRR@10 of the default against the better
/// single side, and RRF (k = 60), the previous default, at the same depth:
///
/// | corpus | better side | default | RRF |
/// |---|---:|---:|---:|
/// | rustdocs, all | text 0.4527 | 0.4907 (+8.4 %) | 0.47 (+4 %) |
/// | rustdocs, API | text 0.2277 | 0.2595 (+14 %) | 0.25 |
/// | rustdocs, book | text 0.7916 | 0.8388 (+6.0 %) | 0.80 (+1 %) |
/// | Python, all | text 0.5201 | 0.5760 (+10.8 %) | 0.56 (+7.6 %) |
/// | Python, API | vector 0.2918 | 0.3294 (+12.9 %) | 0.31 |
/// | Python, prose | text 0.8222 | 0.8672 (+5.5 %) | 0.85 (+3.3 %) |
///
/// RRF throws the scores away and keeps only ranks, so a side that is sure of one
/// document (a title match, a near-duplicate vector) counts no more than one that is not;
/// a convex combination of normalised scores keeps that confidence, and beats RRF in and
/// out of domain (Bruch, Gai & Ingber, "An Analysis of Fusion Functions for Hybrid
/// Retrieval", ACM TOIS 2023). Even weights: 0.4 / 0.6 was better on rustdocs, 0.6 / 0.4
/// on the Python API half, and a third, vector-strong corpus measured elsewhere preferred
/// 0.7 / 0.3; the even split is the one that is never far from the best. Min-max
/// normalisation depends on each list's worst score, so deeper lists normalise better:
/// MRR@10 rose with the candidates per side up to ~150 and flattens after (rustdocs:
/// 50: 0.4834, 100: 0.4861, 150: 0.4907, 200: 0.4935, 400: 0.4976).
impl Default for Fusion {
    fn default() -> Self {
        Fusion::Weighted {
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
                "rrf k must be a finite number >= 0, got {k}"
            ))),
            Fusion::Weighted { vector, text }
                if !(vector.is_finite() && text.is_finite() && vector >= 0.0 && text >= 0.0)
                    || vector + text == 0.0 =>
            {
                Err(Error::InvalidQuery(format!(
                    "weighted fusion needs finite weights >= 0, not both 0; got vector {vector}, text {text}"
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

/// The name [`FromStr`](std::str::FromStr) reads back: `rrf:K`, `weighted:V,T`, `max`, `min`,
/// `average`, `dbsf`.
impl std::fmt::Display for Fusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fusion::Rrf { k } => write!(f, "rrf:{k}"),
            Fusion::Weighted { vector, text } => write!(f, "weighted:{vector},{text}"),
            Fusion::Max => f.write_str("max"),
            Fusion::Min => f.write_str("min"),
            Fusion::Average => f.write_str("average"),
            Fusion::Dbsf => f.write_str("dbsf"),
        }
    }
}

impl std::str::FromStr for Fusion {
    type Err = Error;

    /// Parses `rrf`, `rrf:K`, `weighted:V,T`, `max`, `min`, `average` (or `avg`, `mean`)
    /// and `dbsf`.
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_lowercase();
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (s.as_str(), None),
        };
        let bad = || {
            Error::InvalidQuery(format!(
                "unknown fusion {s:?}; use rrf, rrf:K, weighted:V,T (e.g. weighted:0.7,0.3), max, min, average or dbsf"
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
            ("weighted", Some(w)) => {
                let (v, t) = w.split_once(',').ok_or_else(bad)?;
                Fusion::Weighted {
                    vector: num(v)?,
                    text: num(t)?,
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

fn min_max(list: &[(u32, f32)]) -> impl Fn(f32) -> f32 + use<> {
    let lo = list.iter().map(|x| x.1).fold(f32::INFINITY, f32::min);
    let hi = list.iter().map(|x| x.1).fold(f32::NEG_INFINITY, f32::max);
    move |s| {
        if hi > lo { (s - lo) / (hi - lo) } else { 1.0 }
    }
}

fn mean_std(list: &[(u32, f32)]) -> impl Fn(f32) -> f32 + use<> {
    let n = list.len().max(1) as f64;
    let mean = list.iter().map(|x| x.1 as f64).sum::<f64>() / n;
    let var = list
        .iter()
        .map(|x| (x.1 as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    let sd = var.sqrt();
    let lo = mean - 3.0 * sd;
    move |s| {
        if sd > 0.0 {
            (((s as f64 - lo) / (6.0 * sd)).clamp(0.0, 1.0)) as f32
        } else {
            1.0
        }
    }
}

/// Fuses two ranked lists (best first) of `(row, score)` into one list, best first. A row
/// repeated within one list counts at its first position.
pub(crate) fn fuse(fusion: Fusion, vector: &[(u32, f32)], text: &[(u32, f32)]) -> Vec<Fused> {
    // Group the entries by row with one sort (cheaper than hashing at these sizes): per row,
    // its vector entry (side 0) then its text entry (side 1), each at its best rank.
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
    type Sides = (u32, Option<(u32, f32)>, Option<(u32, f32)>);
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
            type Norm = Box<dyn Fn(f32) -> f32>;
            let (nv, nt): (Norm, Norm) = if fusion == Fusion::Dbsf {
                (Box::new(mean_std(&lv)), Box::new(mean_std(&lt)))
            } else {
                (Box::new(min_max(&lv)), Box::new(min_max(&lt)))
            };
            rows.iter()
                .map(|&(row, v, t)| {
                    let (v, t) = (v.map(|x| x.1), t.map(|x| x.1));
                    let v0 = v.map(&nv).unwrap_or(0.0);
                    let t0 = t.map(&nt).unwrap_or(0.0);
                    let score = match fusion {
                        Fusion::Weighted { vector, text } => vector * v0 + text * t0,
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
    out.into_iter().map(|(f, _)| f).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_name() {
        assert_eq!("rrf".parse::<Fusion>().unwrap(), Fusion::Rrf { k: 60.0 });
        // Display writes what parsing reads back.
        for f in [
            Fusion::Rrf { k: 10.0 },
            Fusion::default(),
            Fusion::Weighted {
                vector: 0.7,
                text: 0.3,
            },
            Fusion::Max,
            Fusion::Min,
            Fusion::Average,
            Fusion::Dbsf,
        ] {
            assert_eq!(f.to_string().parse::<Fusion>().unwrap(), f, "{f}");
        }
        assert_eq!(Fusion::default().to_string(), "weighted:0.5,0.5");
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
