//! Who may open a database directory, across processes (native only): every file lock
//! vjson takes is here.
//!
//! - `LOCK`: the writer's exclusive lock, held for as long as a writable database is
//!   open (one writer at a time, in this process or any other). The writer records in it
//!   who it is (process id, command line, since when), so that the next writer's
//!   `locked` error can say who holds the database.
//! - `READERS`: a shared lock each read-only open holds for its lifetime. Readers never
//!   wait for the writer nor the writer for them; the writer only asks whether readers
//!   are present before it removes files an older manifest names (see
//!   [`readers_present`]), so that a reader still opening from that manifest finds them.
//!
//! Locks are `flock`-style advisory locks (`std::fs::File::lock`), released by the OS
//! when the process ends, however it ends.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use super::file::io_err;
use crate::error::{Error, Result};

/// The writer's lock file.
pub(crate) const LOCK: &str = "LOCK";
/// The readers' lock file.
pub(crate) const READERS: &str = "READERS";

/// The writer's exclusive lock on a database directory; released when dropped.
pub(crate) struct WriterLock {
    _file: File,
}

impl WriterLock {
    /// Takes the writer's lock on `dir` (which exists), or a `locked` error that names
    /// the process holding it.
    pub(crate) fn acquire(dir: &Path) -> Result<WriterLock> {
        let path = dir.join(LOCK);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| match e.raw_os_error() {
                // EROFS, EACCES, EPERM: a writer cannot write here at all.
                Some(30 | 13 | 1) => io_err(
                    "opening for writing (the directory is read-only or not writable by this user; \
                     to search it, open it read-only: VectorDB::open_read_only, or the CLI's \
                     search, get, stats and export)",
                    &path,
                    e,
                ),
                _ => io_err("opening", &path, e),
            })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                return Err(Error::Locked(format!(
                    "database {} is open for writing by {}; only one writer at a time: wait for it to close, \
                     or read the database meanwhile through a read-only open",
                    dir.display(),
                    describe_holder(&holder, now_secs())
                )));
            }
            Err(TryLockError::Error(e)) => return Err(io_err("locking", &path, e)),
        }
        // Who holds the lock, for the next writer's error. Best effort: the lock itself
        // is what excludes other writers.
        let command: Vec<String> = std::env::args().collect();
        let note = format!(
            "pid {}\nsince {}\ncommand {}\n",
            std::process::id(),
            now_secs(),
            command.join(" ")
        );
        let _ = file
            .set_len(0)
            .and_then(|()| file.write_all(note.as_bytes()));
        Ok(WriterLock { _file: file })
    }
}

/// A read-only open's shared lock on a database directory; released when dropped.
pub(crate) struct ReaderLock {
    _file: Option<File>,
}

impl ReaderLock {
    /// Takes a shared lock on `dir`'s readers' file. Where the file cannot be created
    /// (a read-only directory, where no writer can run either) the reader goes without.
    pub(crate) fn acquire(dir: &Path) -> Result<ReaderLock> {
        let path = dir.join(READERS);
        let file = match OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
        {
            Ok(f) => f,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
                ) =>
            {
                return Ok(ReaderLock { _file: None });
            }
            Err(e) => return Err(io_err("opening", &path, e)),
        };
        file.lock_shared()
            .map_err(|e| io_err("taking a shared lock on", &path, e))?;
        Ok(ReaderLock { _file: Some(file) })
    }
}

/// Whether a read-only open holds `dir`'s readers' lock right now. The writer asks before
/// removing files an older manifest names; a reader that arrives just after the answer
/// and finds a file gone retries from the new manifest.
pub(crate) fn readers_present(dir: &Path) -> bool {
    let Ok(file) = File::open(dir.join(READERS)) else {
        return false;
    };
    match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            false
        }
        Err(_) => true,
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// "process 1234 (`vjson import db docs.jsonl`, for 2 min)" from a `LOCK` note.
fn describe_holder(note: &str, now: u64) -> String {
    let field = |key: &str| {
        note.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let Some(pid) = field("pid") else {
        return "another process".into();
    };
    let mut details = Vec::new();
    if let Some(cmd) = field("command") {
        details.push(format!("`{cmd}`"));
    }
    if let Some(since) = field("since").and_then(|s| s.parse::<u64>().ok()) {
        let secs = now.saturating_sub(since);
        details.push(match secs {
            0..60 => format!("for {secs} s"),
            60..3600 => format!("for {} min", secs / 60),
            _ => format!("for {} h {} min", secs / 3600, secs % 3600 / 60),
        });
    }
    if details.is_empty() {
        format!("process {pid}")
    } else {
        format!("process {pid} ({})", details.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_told_who_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let held = WriterLock::acquire(dir.path()).unwrap();
        let e = WriterLock::acquire(dir.path()).err().unwrap();
        assert_eq!(e.code(), "locked");
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("process {}", std::process::id())),
            "{msg}"
        );
        assert!(
            msg.contains("for 0 s") && msg.contains("read-only"),
            "{msg}"
        );
        drop(held);
        WriterLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn readers_share_their_lock_and_the_writer_sees_them() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!readers_present(dir.path()));
        let a = ReaderLock::acquire(dir.path()).unwrap();
        let b = ReaderLock::acquire(dir.path()).unwrap();
        // Readers and the writer do not exclude each other.
        let _w = WriterLock::acquire(dir.path()).unwrap();
        assert!(readers_present(dir.path()));
        drop(a);
        assert!(readers_present(dir.path()));
        drop(b);
        assert!(!readers_present(dir.path()));
    }

    #[test]
    fn holder_notes_read_back() {
        let note = "pid 42\nsince 1000\ncommand vjson import db x.jsonl\n";
        assert_eq!(
            describe_holder(note, 1150),
            "process 42 (`vjson import db x.jsonl`, for 2 min)"
        );
        assert_eq!(describe_holder("pid 7\n", 0), "process 7");
        assert_eq!(describe_holder("", 0), "another process");
        assert_eq!(
            describe_holder("pid 1\nsince 0\n", 7322),
            "process 1 (for 2 h 2 min)"
        );
    }
}
