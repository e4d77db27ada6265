//! Data parallelism, and the one place where the targets differ in it: natively the
//! calls below are rayon's; on wasm32, which runs one thread, the same calls run in order
//! on the caller's thread, so rayon (its pool, deques and epochs) is not linked into the
//! npm package's module. Callers write `par_iter()`, `into_par_iter()`, `with_min_len`,
//! `for_each_init`, `join` and `current_thread_index` as with rayon, on both targets.

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use rayon::current_thread_index;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use rayon::prelude::*;

/// Runs `a` and `b` in parallel and returns both results. On a pool thread this is
/// `rayon::join`. On any other thread (an application's, calling `search`), `rayon::join`
/// would hand both halves to the pool and put the caller to sleep until they are done:
/// two thread wake-ups on every call (~30 µs each here), and often one pool thread running
/// both halves in turn before a second one woke. Instead `a` runs on the calling thread
/// while `b` is offered to the pool, and the caller waits only for `b`.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn join<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    if current_thread_index().is_some() {
        return rayon::join(a, b);
    }
    let mut rb = None;
    let ra = rayon::in_place_scope(|s| {
        s.spawn(|_| rb = Some(b()));
        a()
    });
    // The scope returns once the spawned half has run.
    (ra, rb.expect("the scope waits for its spawned half"))
}

#[cfg(target_arch = "wasm32")]
pub(crate) use sequential::*;

#[cfg(target_arch = "wasm32")]
mod sequential {
    /// Runs `a`, then `b`.
    pub(crate) fn join<RA, RB>(a: impl FnOnce() -> RA, b: impl FnOnce() -> RB) -> (RA, RB) {
        (a(), b())
    }

    /// There are no pool threads: always `None`.
    pub(crate) fn current_thread_index() -> Option<usize> {
        None
    }

    /// `par_iter()` on slices (and, through deref, vectors): the plain iterator.
    pub(crate) trait ParallelSlice<T> {
        fn par_iter(&self) -> std::slice::Iter<'_, T>;
    }

    impl<T> ParallelSlice<T> for [T] {
        fn par_iter(&self) -> std::slice::Iter<'_, T> {
            self.iter()
        }
    }

    /// `into_par_iter()` on anything iterable: the plain iterator.
    pub(crate) trait IntoParallelIterator: IntoIterator + Sized {
        fn into_par_iter(self) -> Self::IntoIter {
            self.into_iter()
        }
    }

    impl<I: IntoIterator> IntoParallelIterator for I {}

    /// rayon's adaptors that plain iterators lack.
    pub(crate) trait ParallelIterator: Iterator + Sized {
        /// A hint for splitting work; nothing to split here.
        fn with_min_len(self, _min: usize) -> Self {
            self
        }

        /// `for_each` with one state value, made by `init`, for every item.
        fn for_each_init<S>(
            self,
            init: impl FnOnce() -> S,
            mut op: impl FnMut(&mut S, Self::Item),
        ) {
            let mut state = init();
            for item in self {
                op(&mut state, item);
            }
        }
    }

    impl<I: Iterator> ParallelIterator for I {}
}
