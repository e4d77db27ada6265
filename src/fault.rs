//! Fault injection at the I/O layer, for tests: every write, fsync, rename and commit
//! of the on-disk files first asks [`check`] whether a test wants it to fail.
//!
//! Built only with the `failpoints` feature (`cargo test --features failpoints --test
//! faults`), through the `fail` crate: a test sets a point with `fail::cfg("wal.sync",
//! "return(EIO)")` (or `"2*off->return(ENOSPC)"` for the third call, and so on) and the
//! call fails with that OS error, as a real disk would. Without the feature [`check`] is
//! an empty inline function and the points cost nothing.
//!
//! The points: `wal.write`, `wal.sync`, `wal.reset` (the log), `file.write`, `file.sync`
//! (the append-only vector and row files), `file.replace` (a whole-file replacement,
//! before its rename), `dir.sync` (a directory fsync) and `text.commit` (Tantivy's
//! commit).

/// Fails with the OS error a test set at `point` (`EIO` unless the point's argument
/// names `ENOSPC`, `EROFS` or `EDQUOT`); `Ok` when none is set.
#[cfg(feature = "failpoints")]
pub(crate) fn check(point: &str) -> std::io::Result<()> {
    match fail::eval(point, |arg| arg) {
        None => Ok(()),
        Some(arg) => {
            let errno = match arg.as_deref() {
                Some("ENOSPC") => 28,
                Some("EROFS") => 30,
                Some("EDQUOT") => 122,
                _ => 5,
            };
            Err(std::io::Error::from_raw_os_error(errno))
        }
    }
}

/// Without the `failpoints` feature no point ever fails.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub(crate) fn check(_point: &str) -> std::io::Result<()> {
    Ok(())
}
