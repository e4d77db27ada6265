//! Locks: every lock vjson takes is one of these two types. Natively they are
//! parking_lot's (small, fast, fair under contention). On wasm32, which runs one thread,
//! they wrap the standard library's, whose single-threaded build is a flag check:
//! parking_lot's wait queues and thread parking would be ~9 KB of the npm package's module
//! that never runs. The same API on both targets: `lock`, `read`, `write`, no poisoning.

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use parking_lot::{Mutex, MutexGuard, RwLock, RwLockReadGuard};

#[cfg(target_arch = "wasm32")]
pub(crate) use one_thread::*;

#[cfg(target_arch = "wasm32")]
mod one_thread {
    use std::sync::PoisonError;

    pub(crate) use std::sync::{MutexGuard, RwLockReadGuard, RwLockWriteGuard};

    /// A mutual-exclusion lock (the module is built with `panic = "abort"`: nothing is
    /// ever poisoned).
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(std::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) const fn new(value: T) -> Self {
            Mutex(std::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(PoisonError::into_inner)
        }
    }

    /// A reader-writer lock.
    #[derive(Debug, Default)]
    pub(crate) struct RwLock<T>(std::sync::RwLock<T>);

    impl<T> RwLock<T> {
        pub(crate) const fn new(value: T) -> Self {
            RwLock(std::sync::RwLock::new(value))
        }

        pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
            self.0.read().unwrap_or_else(PoisonError::into_inner)
        }

        /// Shared access that never waits behind a writer: with one thread, `read`.
        pub(crate) fn read_recursive(&self) -> RwLockReadGuard<'_, T> {
            self.read()
        }

        pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
            self.0.write().unwrap_or_else(PoisonError::into_inner)
        }
    }
}
