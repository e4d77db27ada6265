//! Copies a database directory while it may be in use: what a crash at this moment would
//! leave on disk. Shared by the tests and the benchmarks (`#[path]`-included), so there is
//! one copy routine.
//!
//! The database may be live, and Tantivy's background merges may delete or replace files
//! while we copy; a copy during which a file vanished mixes two states, so it is taken
//! again (up to 50 times, 20 ms apart). Any error other than a vanished file panics with
//! the path.

use std::fs;
use std::path::Path;

/// Copies `from` (a directory tree) to `to`, retrying while files vanish mid-copy.
pub fn copy_dir(from: &Path, to: &Path) {
    for _ in 0..50 {
        if try_copy_dir(from, to) {
            return;
        }
        fs::remove_dir_all(to).unwrap_or_else(|e| panic!("removing {}: {e}", to.display()));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("{} keeps changing while being copied", from.display());
}

fn vanished(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound
}

/// Copies `from` to `to`; false when a file or directory vanished on the way.
fn try_copy_dir(from: &Path, to: &Path) -> bool {
    fs::create_dir_all(to).unwrap_or_else(|e| panic!("creating {}: {e}", to.display()));
    let entries = match fs::read_dir(from) {
        Ok(rd) => rd,
        Err(e) if vanished(&e) => return false,
        Err(e) => panic!("listing {}: {e}", from.display()),
    };
    for e in entries {
        let e = match e {
            Ok(e) => e,
            Err(err) if vanished(&err) => return false,
            Err(err) => panic!("listing {}: {err}", from.display()),
        };
        let dst = to.join(e.file_name());
        let kind = match e.file_type() {
            Ok(k) => k,
            Err(err) if vanished(&err) => return false,
            Err(err) => panic!("reading {}: {err}", e.path().display()),
        };
        if kind.is_dir() {
            if !try_copy_dir(&e.path(), &dst) {
                return false;
            }
        } else if let Err(err) = fs::copy(e.path(), &dst) {
            if vanished(&err) {
                return false;
            }
            panic!("copying {}: {err}", e.path().display());
        }
    }
    true
}
