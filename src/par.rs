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
/// [`offload`]: `a` runs on the calling thread while `b` is offered to the pool, and the
/// caller takes `b` back if no pool thread has started it by the time `a` is done.
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
/// other. Here the caller runs `a` itself and offers `b`:
///
/// - to a *hot helper* if one is waiting: a pool thread that ran an offered half moments
///   ago and polls for the next one for [`HOT`] before it goes back to the pool, so that
///   searches in a row (a busy server, a benchmark) hand over in a microsecond instead of
///   a wake-up;
/// - else to the pool, as a task that becomes such a helper.
///
/// When `a` is done the caller takes `b` back if no helper has started it (a busy or
/// sleeping pool never delays the caller by more than running `b` itself), or waits for
/// it, spinning first (the other half is usually microseconds from done), then parking.
#[cfg(not(target_arch = "wasm32"))]
mod offload {
    use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
    use std::thread::{self, Thread};
    use std::time::{Duration, Instant};

    use crate::sync::Mutex;

    /// `b` waits for a helper.
    const PENDING: u8 = 0;
    /// A helper runs `b`.
    const RUNNING: u8 = 1;
    /// A helper ran `b`; its result is in the job.
    const DONE: u8 = 2;
    /// The caller took `b` back; whoever finds the task has nothing to do.
    const RECLAIMED: u8 = 3;

    /// How long a helper polls for the next offered half before it returns to the pool.
    const HOT: Duration = Duration::from_micros(200);
    /// How long a helper may stay out of the pool's queue, offers or not.
    const LIFETIME: Duration = Duration::from_millis(2);
    /// The caller spins (quick to notice) this long before yielding the CPU between checks.
    const SPIN: Duration = Duration::from_micros(50);
    /// Yielding between checks this long before sleeping until woken.
    const YIELD: Duration = Duration::from_micros(500);

    /// An offered half, shared by the caller and whichever thread finds it.
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

    /// The half offered to a hot helper, if any; `OFFERED` says whether it is set, so
    /// that helpers poll a flag rather than the lock.
    static SLOT: Mutex<Option<Arc<Task>>> = Mutex::new(None);
    static OFFERED: AtomicBool = AtomicBool::new(false);
    /// Helpers polling `SLOT`.
    static HOT_HELPERS: AtomicUsize = AtomicUsize::new(0);

    thread_local! {
        /// Whether this pool thread is in a helper's polling loop.
        static IN_HELPER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// A pool task: runs `first`, then the halves offered to it while it stays hot. It
    /// never keeps the pool from other work: between offers it runs any job waiting in
    /// the pool (`rayon::yield_now`), and it returns to the pool after [`LIFETIME`] however
    /// busy (the next offer then queues behind the pool's other jobs).
    fn helper(first: Arc<Task>) {
        let born = Instant::now();
        first.try_run();
        drop(first);
        // A helper started inside another's wait (`rayon::yield_now` runs queued jobs,
        // this task among them) only runs its half: helpers do not nest.
        if IN_HELPER.get() {
            return;
        }
        IN_HELPER.set(true);
        HOT_HELPERS.fetch_add(1, Ordering::AcqRel);
        let mut since = Instant::now();
        let mut checks = 0u32;
        loop {
            if OFFERED.load(Ordering::Acquire) {
                let task = {
                    let mut slot = SLOT.lock();
                    OFFERED.store(false, Ordering::Release);
                    slot.take()
                };
                if let Some(task) = task {
                    task.try_run();
                    since = Instant::now();
                }
                continue;
            }
            checks = checks.wrapping_add(1);
            if checks.is_multiple_of(64) {
                if since.elapsed() > HOT || born.elapsed() > LIFETIME {
                    break;
                }
                if rayon::yield_now() == Some(rayon::Yield::Executed) {
                    continue;
                }
            }
            std::hint::spin_loop();
        }
        HOT_HELPERS.fetch_sub(1, Ordering::AcqRel);
        IN_HELPER.set(false);
        // An offer made while this helper was leaving: run it rather than strand it (the
        // caller would take it back, but later than a helper can start it).
        if OFFERED.load(Ordering::Acquire) {
            let task = SLOT.lock().take();
            OFFERED.store(false, Ordering::Release);
            if let Some(task) = task {
                task.try_run();
            }
        }
    }

    /// Offers `task` to a hot helper, or to the pool when none is polling (or another
    /// offer is still waiting in the slot).
    fn offer(task: Arc<Task>) {
        if HOT_HELPERS.load(Ordering::Acquire) > 0 {
            let mut slot = SLOT.lock();
            if slot.is_none() {
                *slot = Some(task);
                OFFERED.store(true, Ordering::Release);
                return;
            }
        }
        rayon::spawn(move || helper(task));
    }

    /// On every way out of `join` (unwinding included): takes `b` back if no helper has
    /// started it, else waits until the helper running it is done with the job.
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
        let task = Arc::new(Task {
            state: AtomicU8::new(PENDING),
            caller: thread::current(),
            job: &mut job as *mut Job<B, RB> as *mut (),
            run: run_job::<B, RB>,
        });
        let settle = Settle(&task);
        offer(Arc::clone(&task));
        let ra = a();
        let reclaimed = task
            .state
            .compare_exchange(PENDING, RECLAIMED, Ordering::Acquire, Ordering::Acquire)
            .is_ok();
        drop(settle);
        if reclaimed {
            let b = job.b.take().expect("reclaimed before any helper ran it");
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
