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

/// Sorts `list` best first: a heapsort (in place, `O(n log n)` at worst, no allocation),
/// written here rather than taken from the standard library, whose sort brings sorting
/// networks for short slices (~6 KB of the npm package's module) to lists that are a
/// search's `k` results. The order is total (ties by row), so any sort gives this one.
pub(crate) fn sort(list: &mut [(u32, f32)], best: Best) {
    let cmp = best.compare();
    // A heap with the worst at the root; each round moves it behind the heap.
    let sift_down = |v: &mut [(u32, f32)], mut root: usize, end: usize| loop {
        let mut child = 2 * root + 1;
        if child >= end {
            break;
        }
        if child + 1 < end && cmp(&v[child], &v[child + 1]) == Ordering::Less {
            child += 1;
        }
        if cmp(&v[root], &v[child]) != Ordering::Less {
            break;
        }
        v.swap(root, child);
        root = child;
    };
    let n = list.len();
    for i in (0..n / 2).rev() {
        sift_down(list, i, n);
    }
    for end in (1..n).rev() {
        list.swap(0, end);
        sift_down(list, 0, end);
    }
}

/// The `k`-th highest value of `list` (ties counted), if it holds `k` (`k` >= 1). One pass
/// that keeps the `k` highest so far in a min-heap: most values cost one comparison with
/// the least of them (a selection over `(row, value)` pairs would copy the list and call
/// the row-breaking comparator through a pointer at every step).
pub(crate) fn kth_highest(list: &[(u32, f32)], k: usize) -> Option<f32> {
    if k == 0 {
        return None;
    }
    let mut heap: Vec<f32> = Vec::with_capacity(k);
    for &(_, v) in list {
        let mut i = if heap.len() < k {
            heap.push(v);
            heap.len() - 1
        } else if v > heap[0] {
            heap[0] = v;
            0
        } else {
            continue;
        };
        // Up from a new leaf, or down from a replaced root.
        while i > 0 && heap[(i - 1) / 2] > heap[i] {
            heap.swap(i, (i - 1) / 2);
            i = (i - 1) / 2;
        }
        loop {
            let l = 2 * i + 1;
            let c = if l + 1 < heap.len() && heap[l + 1] < heap[l] {
                l + 1
            } else {
                l
            };
            if c >= heap.len() || heap[i] <= heap[c] {
                break;
            }
            heap.swap(i, c);
            i = c;
        }
    }
    (heap.len() == k).then(|| heap[0])
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

    #[test]
    fn sort_is_the_standard_librarys() {
        let mut x = 777u32;
        let mut next = |m: u32| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 16) % m
        };
        for n in [0, 1, 2, 3, 7, 20, 21, 64, 500] {
            for best in [Best::Highest, Best::Lowest] {
                // Few distinct values, so ties (broken by row) are common.
                let list: Vec<(u32, f32)> = (0..n).map(|_| (next(1000), next(6) as f32)).collect();
                let mut want = list.clone();
                want.sort_by(best.compare());
                let mut got = list;
                sort(&mut got, best);
                assert_eq!(got, want, "n {n} {best:?}");
            }
        }
    }

    #[test]
    fn kth_highest_is_the_sorted_lists_kth() {
        let mut x = 12345u32;
        for n in [0usize, 1, 2, 7, 50, 300] {
            // Few distinct values, so ties are frequent.
            let list: Vec<(u32, f32)> = (0..n as u32)
                .map(|r| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (r, ((x >> 16) % 40) as f32 / 4.0)
                })
                .collect();
            let mut sorted: Vec<f32> = list.iter().map(|e| e.1).collect();
            sorted.sort_by(|a, b| b.total_cmp(a));
            for k in [0, 1, 2, 3, 10, 150, 299, 300, 301] {
                let want = (k >= 1).then(|| sorted.get(k - 1).copied()).flatten();
                assert_eq!(kth_highest(&list, k), want, "n {n} k {k}");
            }
        }
    }
}
