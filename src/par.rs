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
/// `rayon::join`. On any other thread (an application's, calling `search`), see
/// [`offload`]: `a` runs on the calling thread while `b` is offered to a helper thread,
/// and the caller takes `b` back if the helper has not started it by the time `a` is done.
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
    offload::join(a, b)
}

/// `join` from a thread outside the pool, built for a search's two halves (~50-300 µs
/// each), where waking a sleeping thread costs as much as the work.
///
/// `rayon::join` (or a scope) from outside the pool hands both halves to the pool and puts
/// the caller to sleep until both are done: two thread wake-ups per call (20-60 µs each on
/// a virtual machine), so a hybrid search took as long as its two halves one after the
/// other. Here the caller runs `a` itself and offers `b` to the *helper*, one thread of
/// vjson's own (started on first use, outside rayon's pool, so it never holds up the
/// pool's work): after running an offered half it polls for the next one until 200 µs
/// (`HOT`) after the last join in progress ended (at most 2 ms after its own half), then
/// sleeps until woken, so that searches in a row (a busy server, a benchmark) hand over in
/// about a microsecond instead of a wake-up. One offer waits at a time; a caller
/// that finds the helper's slot taken runs both halves itself.
///
/// When `a` is done the caller takes `b` back if the helper has not started it (a busy or
/// sleeping helper never delays the caller by more than running `b` itself), or waits for
/// it, spinning first (the other half is usually microseconds from done), then parking.
#[cfg(not(target_arch = "wasm32"))]
mod offload {
    use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
    use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
    use std::sync::{Arc, OnceLock};
    use std::thread::{self, Thread};
    use std::time::{Duration, Instant};

    use crate::sync::Mutex;

    /// `b` waits for the helper.
    const PENDING: u8 = 0;
    /// The helper runs `b`.
    const RUNNING: u8 = 1;
    /// The helper ran `b`; its result is in the job.
    const DONE: u8 = 2;
    /// The caller took `b` back; the helper, if it finds the task, has nothing to do.
    const RECLAIMED: u8 = 3;

    /// How long the helper polls for the next offered half before it sleeps.
    const HOT: Duration = Duration::from_micros(200);
    /// For how long after its own half a join in progress restarts the [`HOT`] window (the
    /// join's caller will offer the next half of a search soon after it ends; a slow first
    /// half would otherwise find the helper asleep at the next search, ~50 µs to wake).
    const HOT_IN_JOIN: Duration = Duration::from_millis(2);
    /// The caller spins (quick to notice) this long before yielding the CPU between checks.
    const SPIN: Duration = Duration::from_micros(50);
    /// Yielding between checks this long before sleeping until woken.
    const YIELD: Duration = Duration::from_micros(500);

    /// An offered half, shared by the caller and the helper.
    struct Task {
        state: AtomicU8,
        caller: Thread,
        /// The job on the caller's stack and the function that runs it; used only by
        /// the thread that moves `state` from PENDING to RUNNING.
        job: *mut (),
        run: unsafe fn(*mut ()),
    }

    // SAFETY: `job` is dereferenced only by the one thread that wins PENDING -> RUNNING,
    // while the caller waits for DONE (see `Settle`); the job's contents are `Send`.
    unsafe impl Send for Task {}
    unsafe impl Sync for Task {}

    impl Task {
        /// Runs the task here unless it was started or reclaimed already.
        fn try_run(&self) {
            if self
                .state
                .compare_exchange(PENDING, RUNNING, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                // SAFETY: see `Task`: this thread alone moved the state to RUNNING, and the
                // caller does not leave `join` until DONE.
                unsafe { (self.run)(self.job) };
                self.state.store(DONE, Ordering::Release);
                self.caller.unpark();
            }
        }
    }

    /// The offered half and its result, on the caller's stack.
    struct Job<B, RB> {
        b: Option<B>,
        out: Option<thread::Result<RB>>,
    }

    /// Runs the job at `job` (a `Job<B, RB>`).
    ///
    /// # Safety
    /// `job` points to a live `Job<B, RB>` that no other thread touches meanwhile.
    unsafe fn run_job<B: FnOnce() -> RB, RB>(job: *mut ()) {
        // SAFETY: as the function's contract says.
        let job = unsafe { &mut *(job as *mut Job<B, RB>) };
        let b = job.b.take().expect("a job runs once");
        job.out = Some(catch_unwind(AssertUnwindSafe(b)));
    }

    /// The half offered to the helper, if any. `OFFERED` says whether it is set (the helper
    /// polls the flag, not the lock); both change only under the slot's lock.
    static SLOT: Mutex<Option<Arc<Task>>> = Mutex::new(None);
    static OFFERED: AtomicBool = AtomicBool::new(false);
    /// Whether the helper sleeps (an offer then wakes it).
    static ASLEEP: AtomicBool = AtomicBool::new(false);
    /// Joins in progress on any thread (see [`HOT_IN_JOIN`]).
    static JOINING: AtomicUsize = AtomicUsize::new(0);
    /// The helper thread, started on first use; `None` if it could not be started (every
    /// join then runs its halves in turn).
    static HELPER: OnceLock<Option<Thread>> = OnceLock::new();

    /// The helper's loop: takes offered halves, polls for [`HOT`] after each (or after the
    /// end of a join in progress, see [`HOT_IN_JOIN`]), then sleeps.
    fn helper() {
        // The end of this thread's last half (or wake-up), and the start of its HOT window.
        let (mut ran, mut since) = (Instant::now(), Instant::now());
        let mut checks = 0u32;
        loop {
            if OFFERED.load(Ordering::SeqCst) {
                let task = {
                    let mut slot = SLOT.lock();
                    OFFERED.store(false, Ordering::SeqCst);
                    slot.take()
                };
                if let Some(task) = task {
                    task.try_run();
                }
                (ran, since) = (Instant::now(), Instant::now());
                continue;
            }
            checks = checks.wrapping_add(1);
            if !checks.is_multiple_of(64) {
                std::hint::spin_loop();
                continue;
            }
            // While a join is in progress (for up to HOT_IN_JOIN after this thread's last
            // half), the HOT window restarts: it then runs from the end of that join.
            if JOINING.load(Ordering::Relaxed) > 0 && ran.elapsed() < HOT_IN_JOIN {
                since = Instant::now();
            }
            if since.elapsed() > HOT {
                // Say so before looking once more: an offer made meanwhile either sees
                // ASLEEP and wakes this thread, or is seen here (both sequentially
                // consistent).
                ASLEEP.store(true, Ordering::SeqCst);
                while !OFFERED.load(Ordering::SeqCst) {
                    thread::park();
                }
                ASLEEP.store(false, Ordering::SeqCst);
                (ran, since) = (Instant::now(), Instant::now());
                continue;
            }
            std::hint::spin_loop();
        }
    }

    /// Offers `task` to the helper: false when there is no helper or another offer is
    /// still waiting in the slot.
    fn offer(task: &Arc<Task>) -> bool {
        let helper = HELPER.get_or_init(|| {
            thread::Builder::new()
                .name("vjson-search".into())
                .spawn(helper)
                .ok()
                .map(|h| h.thread().clone())
        });
        let Some(helper) = helper else {
            return false;
        };
        {
            let mut slot = SLOT.lock();
            if slot.is_some() {
                return false;
            }
            *slot = Some(Arc::clone(task));
            OFFERED.store(true, Ordering::SeqCst);
        }
        if ASLEEP.load(Ordering::SeqCst) {
            helper.unpark();
        }
        true
    }

    /// Takes `task` out of the slot if it is still there (the caller took it back).
    fn withdraw(task: &Arc<Task>) {
        let mut slot = SLOT.lock();
        if slot.as_ref().is_some_and(|t| Arc::ptr_eq(t, task)) {
            *slot = None;
            OFFERED.store(false, Ordering::SeqCst);
        }
    }

    /// On every way out of `join` (unwinding included): takes `b` back if the helper has
    /// not started it, else waits until the helper is done with the job.
    struct Settle<'a>(&'a Task);

    impl Drop for Settle<'_> {
        fn drop(&mut self) {
            let state = &self.0.state;
            let _ =
                state.compare_exchange(PENDING, RECLAIMED, Ordering::Acquire, Ordering::Acquire);
            let start = Instant::now();
            let mut checks = 0u32;
            while state.load(Ordering::Acquire) == RUNNING {
                checks = checks.wrapping_add(1);
                if !checks.is_multiple_of(64) {
                    std::hint::spin_loop();
                    continue;
                }
                let waited = start.elapsed();
                if waited < SPIN {
                    std::hint::spin_loop();
                } else if waited < YIELD {
                    thread::yield_now();
                } else {
                    // Woken by the helper when it is done (`unpark` after the store).
                    thread::park_timeout(Duration::from_millis(1));
                }
            }
        }
    }

    /// Counts a join in [`JOINING`] from [`Joining::enter`] until dropped.
    struct Joining;

    impl Joining {
        fn enter() -> Joining {
            JOINING.fetch_add(1, Ordering::Relaxed);
            Joining
        }
    }

    impl Drop for Joining {
        fn drop(&mut self) {
            JOINING.fetch_sub(1, Ordering::Relaxed);
        }
    }

    pub(super) fn join<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
    where
        A: FnOnce() -> RA + Send,
        B: FnOnce() -> RB + Send,
        RA: Send,
        RB: Send,
    {
        let mut job: Job<B, RB> = Job {
            b: Some(b),
            out: None,
        };
        let _joining = Joining::enter();
        let task = Arc::new(Task {
            state: AtomicU8::new(PENDING),
            caller: thread::current(),
            job: &mut job as *mut Job<B, RB> as *mut (),
            run: run_job::<B, RB>,
        });
        let settle = Settle(&task);
        let offered = offer(&task);
        let ra = a();
        let reclaimed = task
            .state
            .compare_exchange(PENDING, RECLAIMED, Ordering::Acquire, Ordering::Acquire)
            .is_ok();
        drop(settle);
        if reclaimed {
            if offered {
                withdraw(&task);
            }
            let b = job.b.take().expect("reclaimed before the helper ran it");
            return (ra, b());
        }
        match job.out.take() {
            Some(Ok(rb)) => (ra, rb),
            Some(Err(panic)) => resume_unwind(panic),
            None => unreachable!("the helper stores the result before DONE"),
        }
    }
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

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::join;

    #[test]
    fn join_from_outside_the_pool_returns_both_halves() {
        // Several application threads at once, each many joins in a row: every half runs
        // once, on whichever thread, and both results come back in place.
        std::thread::scope(|s| {
            for t in 0..4u64 {
                s.spawn(move || {
                    for i in 0..2000u64 {
                        let (a, b) = join(
                            || t * 10_000 + i,
                            || std::hint::black_box((0..100u64).sum::<u64>()) + i,
                        );
                        assert_eq!((a, b), (t * 10_000 + i, 4950 + i));
                    }
                });
            }
        });
    }

    #[test]
    fn a_panicking_half_reaches_the_caller_and_the_helper_carries_on() {
        for _ in 0..50 {
            let caught = std::panic::catch_unwind(|| {
                join(
                    || std::thread::sleep(std::time::Duration::from_micros(200)),
                    || panic!("the offered half fails"),
                )
            });
            let msg = caught.unwrap_err();
            assert_eq!(msg.downcast_ref::<&str>(), Some(&"the offered half fails"));
            assert_eq!(join(|| 1, || 2), (1, 2));
        }
    }
}
