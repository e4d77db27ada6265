//! Ranked lists of `(row, value)` pairs: the one order every ranked list uses — best value
//! first, ties broken by the lower row, so results never depend on the order in which
//! rows were found — and the sort and top-k selection of such lists.
//!
//! Every caller sorts through the two functions below with a comparator passed as a plain
//! `fn` pointer: the standard library's sort is then compiled once, where a closure per
//! call site would compile it once per site (~10 KB of wasm each).

use std::cmp::Ordering;

/// Which values are best.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Best {
    /// Scores: the highest first.
    Highest,
    /// Distances: the lowest first.
    Lowest,
}

type Compare = fn(&(u32, f32), &(u32, f32)) -> Ordering;

fn highest_first(a: &(u32, f32), b: &(u32, f32)) -> Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

fn lowest_first(a: &(u32, f32), b: &(u32, f32)) -> Ordering {
    a.1.total_cmp(&b.1).then(a.0.cmp(&b.0))
}

impl Best {
    fn compare(self) -> Compare {
        match self {
            Best::Highest => highest_first,
            Best::Lowest => lowest_first,
        }
    }
}

/// Sorts `list` best first.
pub(crate) fn sort(list: &mut [(u32, f32)], best: Best) {
    list.sort_unstable_by(best.compare());
}

/// The value of the `k`-th best of `list` (which it reorders), if it holds `k` (`k` >= 1).
pub(crate) fn kth(list: &mut [(u32, f32)], k: usize, best: Best) -> Option<f32> {
    if k == 0 || list.len() < k {
        return None;
    }
    Some(list.select_nth_unstable_by(k - 1, best.compare()).1.1)
}

/// Keeps the `k` best of `list`, sorted best first.
pub(crate) fn top(list: &mut Vec<(u32, f32)>, k: usize, best: Best) {
    if k == 0 {
        list.clear();
        return;
    }
    if list.len() > k {
        list.select_nth_unstable_by(k - 1, best.compare());
        list.truncate(k);
    }
    sort(list, best);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_first_and_ties_by_row() {
        let mut v = vec![(5, 1.0), (2, 3.0), (9, 3.0), (1, -1.0), (7, 1.0)];
        top(&mut v, 3, Best::Highest);
        assert_eq!(v, vec![(2, 3.0), (9, 3.0), (5, 1.0)]);
        let mut v = vec![(5, 1.0), (2, 3.0), (9, 3.0), (1, -1.0), (7, 1.0)];
        top(&mut v, 10, Best::Lowest);
        assert_eq!(v, vec![(1, -1.0), (5, 1.0), (7, 1.0), (2, 3.0), (9, 3.0)]);
        top(&mut v, 0, Best::Lowest);
        assert!(v.is_empty());
    }
}
