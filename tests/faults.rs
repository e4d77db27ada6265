//! I/O faults (`cargo test --release --features failpoints --test faults`): every write,
//! fsync, rename and commit of the on-disk files failing (EIO, ENOSPC, EROFS, injected at
//! the file layer through the `fail` crate, src/fault.rs), a disk that is really full (a
//! small tmpfs), a read-only directory (a read-only bind mount), and files removed while
//! the database is open.
//!
//! After each fault: every error is typed (`io`, `text_index` or `corrupt`, never a
//! panic), searches go on, the database either takes writes again or refuses them saying
//! to reopen, and after a reopen every acknowledged write is there, every unacknowledged
//! one is there whole or not at all, and `get`, text search and filtered vector search
//! agree on what is there.
//!
//! The tmpfs and bind-mount tests run in a child process in a mount namespace of its own
//! (`unshare -r -m`), so nothing is mounted outside it; where namespaces are not allowed
//! they say so and check nothing.

use std::path::Path;
use std::process::Command;

use serde_json::json;
use vjson::{Document, Filter, Metric, Options, Query, VectorDB};

const DIM: usize = 8;

fn options() -> Options {
    Options::new(DIM).metric(Metric::Dot).ef_construction(32)
}

/// Document `i` of group `tag`, the same on every call.
fn doc(tag: &str, i: usize) -> Document {
    let seed = tag.bytes().fold(i as u64 + 1, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01B3)
    });
    let vector = (0..DIM)
        .map(|d| ((seed >> (d * 7)) & 0xFF) as f32 / 255.0 - 0.5)
        .collect();
    Document::new(format!("{tag}-{i}"), vector)
        .text(format!("group{tag} doc{tag}x{i} fault words"))
        .metadata(json!({"group": tag}))
}

fn group(tag: &str, n: usize) -> Vec<Document> {
    (0..n).map(|i| doc(tag, i)).collect()
}

/// How many documents of `tag` (of `n`) the database holds, checked three ways: `get`,
/// text search and filtered vector search must agree.
fn count(db: &VectorDB, tag: &str, n: usize) -> usize {
    let by_get = (0..n)
        .filter(|&i| match db.get(&format!("{tag}-{i}")).unwrap() {
            None => false,
            Some(d) => {
                // The stored vector is the written one (a misplaced append would show).
                assert_eq!(d.vector, doc(tag, i).vector, "{tag}-{i}: vector");
                true
            }
        })
        .count();
    let by_text = db
        .search(&Query::new().text(format!("group{tag}")).k(100))
        .unwrap()
        .len();
    let filter = Filter::from_json(&json!({"group": tag})).unwrap();
    let by_vector = db
        .search(&Query::new().vector(vec![0.1; DIM]).filter(filter).k(100))
        .unwrap()
        .len();
    assert_eq!(
        (by_text, by_vector),
        (by_get, by_get),
        "group {tag}: get finds {by_get}, text search {by_text}, filtered vector search {by_vector}"
    );
    by_get
}

/// A fault's error: typed, and saying what failed.
fn check_error(e: &vjson::Error, point: &str) {
    assert!(
        ["io", "text_index", "corrupt"].contains(&e.code()),
        "{point}: unexpected error code {}: {e}",
        e.code()
    );
    assert!(!e.to_string().is_empty());
}

/// The outcome of one call under a fault: acknowledged or not.
fn outcome(r: vjson::Result<()>, point: &str, errors: &mut Vec<String>) -> bool {
    match r {
        Ok(()) => true,
        Err(e) => {
            check_error(&e, point);
            errors.push(format!("{}: {e}", e.code()));
            false
        }
    }
}

/// One round: an acknowledged checkpointed group `a` and a logged group `b`, then with
/// the fault set a batch `c`, a checkpoint and an upsert, then without it a batch `d`;
/// then a reopen. Returns a line for the report.
fn round(point: &str, action: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = VectorDB::open(&path, options()).unwrap();
    db.insert_batch(group("a", 10)).unwrap();
    db.flush().unwrap();
    db.insert_batch(group("b", 10)).unwrap();

    fail::cfg(point, action).unwrap();
    let mut errors = Vec::new();
    let c_ok = outcome(db.insert_batch(group("c", 10)), point, &mut errors);
    let _flushed = outcome(db.flush(), point, &mut errors);
    let up = doc("a", 0).text("groupa rewritten");
    let up_ok = outcome(db.upsert(up.clone()), point, &mut errors);
    fail::remove(point);

    // Searches go on, over everything acknowledged.
    assert_eq!(count(&db, "a", 10), 10, "{point} {action}: group a");
    assert_eq!(count(&db, "b", 10), 10, "{point} {action}: group b");
    if c_ok {
        assert_eq!(count(&db, "c", 10), 10, "{point} {action}: group c");
    }
    // The fault is gone: writes go on, or are refused until a reopen, saying so.
    let d_ok = match db.insert_batch(group("d", 5)) {
        Ok(()) => true,
        Err(e) => {
            check_error(&e, point);
            assert!(
                e.to_string().contains("reopen"),
                "{point} {action}: a write after the fault is refused without saying what to do: {e}"
            );
            false
        }
    };
    drop(db);

    let db = VectorDB::open(&path, options())
        .unwrap_or_else(|e| panic!("{point} {action}: reopening after the fault failed: {e}"));
    assert_eq!(
        count(&db, "a", 10),
        10,
        "{point} {action}: group a after reopen"
    );
    assert_eq!(
        count(&db, "b", 10),
        10,
        "{point} {action}: group b after reopen"
    );
    let c = count(&db, "c", 10);
    assert!(
        c == 10 || (!c_ok && c == 0),
        "{point} {action}: batch c (acknowledged: {c_ok}) has {c} of 10 documents after reopen"
    );
    let d = count(&db, "d", 5);
    assert!(
        d == 5 || (!d_ok && d == 0),
        "{point} {action}: batch d (acknowledged: {d_ok}) has {d} of 5 after reopen"
    );
    let a0 = db.get("a-0").unwrap().unwrap();
    if up_ok {
        assert_eq!(
            a0.text, up.text,
            "{point} {action}: acknowledged upsert lost"
        );
    }
    assert_eq!(db.len(), 20 + c + d, "{point} {action}: len()");
    // And it takes writes and checkpoints again.
    db.insert_batch(group("e", 3)).unwrap();
    db.flush().unwrap();
    assert_eq!(count(&db, "e", 3), 3);
    format!(
        "{point:<13} {action:<22} c {:<5} upsert {:<5} d {:<5} after reopen c {c:>2} d {d}; {}",
        if c_ok { "ok" } else { "error" },
        if up_ok { "ok" } else { "error" },
        if d_ok { "ok" } else { "error" },
        errors.first().map_or("no error".to_string(), |e| {
            e.chars().take(110).collect::<String>()
        })
    )
}

#[test]
fn every_io_point_failing_keeps_acknowledged_writes_and_the_database_usable() {
    let scenario = fail::FailScenario::setup();
    let points = [
        "wal.write",
        "wal.sync",
        "wal.reset",
        "file.write",
        "file.sync",
        "file.replace",
        "dir.sync",
        "text.commit",
    ];
    // Failing every time, failing once, and failing once on the second call.
    let actions = ["return(EIO)", "1*return(ENOSPC)", "1*off->1*return(EROFS)"];
    let mut failed_calls = 0;
    for point in points {
        for action in actions {
            let line = round(point, action);
            if !line.ends_with("no error") {
                failed_calls += 1;
            }
            println!("{line}");
        }
    }
    // Every point is reached by the calls of a round (else the round tested nothing).
    assert!(
        failed_calls >= points.len() * 2,
        "only {failed_calls} rounds saw an injected fault"
    );
    scenario.teardown();
}

/// Files removed while the database is open: writes and checkpoints are refused (typed,
/// saying what to do), `compact` writes every file anew from memory, and nothing is lost.
#[test]
fn a_file_removed_while_open_is_noticed_and_compaction_saves_everything() {
    // Fault points are process-wide: holding the scenario lock, no test here runs while
    // another has a point set.
    let _faults = fail::FailScenario::setup();
    for victim in ["wal/current.log", "vectors", "rows"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let db = VectorDB::open(&path, options()).unwrap();
        db.insert_batch(group("a", 10)).unwrap();
        db.flush().unwrap();
        db.insert_batch(group("b", 10)).unwrap();
        let file = find(&path, victim);
        std::fs::remove_file(&file).unwrap();

        let e = db.insert_batch(group("c", 10)).unwrap_err();
        assert_eq!(e.code(), "corrupt", "{victim}: {e}");
        assert!(
            e.to_string()
                .contains("removed while the database was open")
                && e.to_string().contains("compact"),
            "{victim}: {e}"
        );
        let e = db.flush().unwrap_err();
        assert_eq!(e.code(), "corrupt", "{victim}: {e}");
        assert_eq!(count(&db, "b", 10), 10);
        db.compact().unwrap();
        db.insert_batch(group("c", 10)).unwrap();
        drop(db);
        let db = VectorDB::open(&path, options()).unwrap();
        for tag in ["a", "b", "c"] {
            assert_eq!(count(&db, tag, 10), 10, "{victim}: group {tag}");
        }
        drop(db);

        // Closing without a compaction saves everything the same way.
        let db = VectorDB::open(&path, options()).unwrap();
        db.insert_batch(group("d", 10)).unwrap();
        std::fs::remove_file(find(&path, victim)).unwrap();
        drop(db);
        let db = VectorDB::open(&path, options()).unwrap();
        assert_eq!(count(&db, "d", 10), 10, "{victim}: group d after close");
        assert_eq!(db.len(), 40);
        println!(
            "{victim} removed while open: writes refused (corrupt), compaction and close save all 40 documents"
        );
    }
}

/// The file of the database whose name starts with `prefix` (or the path itself).
fn find(db: &Path, prefix: &str) -> std::path::PathBuf {
    if db.join(prefix).exists() {
        return db.join(prefix);
    }
    std::fs::read_dir(db)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix}* in {}", db.display()))
}

/// In a child run by [`in_mount_namespace`] (or the read-only test's writer): the
/// database's path; `None` in a normal test run, where the child entries do nothing.
fn child_db() -> Option<std::path::PathBuf> {
    std::env::var_os("VJSON_FAULT_CHILD").map(|d| Path::new(&d).join("db"))
}

/// Runs this test binary's `entry` test in a child process with a mount namespace of its
/// own, after `setup` (a shell snippet that mounts under `$D`), and prints the line of its
/// output that starts with `report`. False when this machine does not allow it (the reason
/// is printed).
fn in_mount_namespace(entry: &str, dir: &Path, setup: &str, report: &str) -> bool {
    let exe = std::env::current_exe().unwrap();
    let script = format!("set -e; {setup}; exec \"$0\" --exact {entry} --ignored --nocapture");
    let out = Command::new("unshare")
        .args(["-r", "-m", "sh", "-c", &script])
        .arg(&exe)
        .env("D", dir)
        .env("VJSON_FAULT_CHILD", dir)
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            println!("skipped {entry}: cannot run unshare ({e})");
            return false;
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() && !stdout.contains("running 1 test") {
        println!(
            "skipped {entry}: no mount namespace here ({})",
            stderr.trim()
        );
        return false;
    }
    assert!(out.status.success(), "{entry} failed:\n{stdout}\n{stderr}");
    let line = stdout.lines().find(|l| l.starts_with(report));
    println!("{}", line.expect("the child reports what it saw"));
    true
}

/// A real full disk: a 4 MiB tmpfs, filled up by batches with long texts.
#[test]
fn a_full_disk_refuses_writes_with_io_errors_and_loses_nothing() {
    // Fault points are process-wide: holding the scenario lock, no test here runs while
    // another has a point set.
    let _faults = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    in_mount_namespace(
        "full_disk_child",
        dir.path(),
        "mount -t tmpfs -o size=4m tmpfs \"$D\"",
        "disk full:",
    );
}

#[test]
#[ignore = "run by a_full_disk_refuses_writes_with_io_errors_and_loses_nothing"]
fn full_disk_child() {
    let Some(path) = child_db() else {
        return;
    };
    let db = VectorDB::open(&path, options()).unwrap();
    let long = "words ".repeat(2_000);
    let mut acked = 0;
    let mut refused = None;
    for b in 0..200 {
        let docs: Vec<Document> = group(&format!("g{b}"), 20)
            .into_iter()
            .map(|d| {
                let t = format!("{} {long}", d.text.as_deref().unwrap());
                d.text(t)
            })
            .collect();
        match db.insert_batch(docs) {
            Ok(()) => acked += 1,
            Err(e) => {
                check_error(&e, "disk full");
                refused = Some(e);
                break;
            }
        }
    }
    let e = refused.expect("4 MiB filled up");
    assert_eq!(e.code(), "io", "{e}");
    for b in 0..acked {
        assert_eq!(count(&db, &format!("g{b}"), 20), 20);
    }
    // A checkpoint needs room too: it fails typed, or succeeds.
    if let Err(e) = db.flush() {
        check_error(&e, "disk full flush");
    }
    drop(db);
    // Reopened on the full disk: every acknowledged batch is there, the refused one is not.
    let db = VectorDB::open(&path, options()).unwrap();
    for b in 0..acked {
        assert_eq!(count(&db, &format!("g{b}"), 20), 20, "batch g{b}");
    }
    assert_eq!(count(&db, &format!("g{acked}"), 20), 0);
    assert_eq!(db.len(), acked * 20);
    println!(
        "disk full: {acked} batches acknowledged, the next refused ({}: {}), all {} documents there after reopen",
        e.code(),
        e.to_string().chars().take(100).collect::<String>(),
        acked * 20
    );
}

/// A database in a read-only directory: opening it for writing fails with an `io` error
/// that says to open it read-only; a read-only open works, the log replayed in memory.
#[test]
fn a_read_only_directory_refuses_the_writer_and_serves_readers() {
    // Fault points are process-wide: holding the scenario lock, no test here runs while
    // another has a point set.
    let _faults = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    // First a writer process that leaves its second batch in the log only.
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "read_only_child", "--ignored"])
        .env("VJSON_FAULT_CHILD", dir.path())
        .env("VJSON_FAULT_WRITER", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    if in_mount_namespace(
        "read_only_child",
        dir.path(),
        "mount --bind \"$D\" \"$D\" && mount -o remount,bind,ro \"$D\"",
        "read-only:",
    ) {
        // Nothing changed it: once writable again, the writer finds everything.
        let db = VectorDB::open(dir.path().join("db"), options()).unwrap();
        assert_eq!(count(&db, "a", 10), 10);
        assert_eq!(count(&db, "b", 10), 10);
    }
}

#[test]
#[ignore = "run by a_read_only_directory_refuses_the_writer_and_serves_readers"]
fn read_only_child() {
    let Some(path) = child_db() else {
        return;
    };
    if std::env::var("VJSON_FAULT_WRITER").is_ok() {
        let db = VectorDB::open(&path, options()).unwrap();
        db.insert_batch(group("a", 10)).unwrap();
        db.flush().unwrap();
        db.insert_batch(group("b", 10)).unwrap();
        // Left open (no checkpoint on close): the second batch stays in the log only.
        std::mem::forget(db);
        return;
    }
    let Err(e) = VectorDB::open(&path, options()) else {
        panic!("a writer opened a database in a read-only directory");
    };
    assert_eq!(e.code(), "io", "{e}");
    assert!(e.to_string().contains("open_read_only"), "{e}");
    let db = VectorDB::open_read_only(&path).unwrap();
    assert_eq!(count(&db, "a", 10), 10);
    assert_eq!(count(&db, "b", 10), 10);
    let w = db.insert(doc("c", 0)).unwrap_err();
    assert_eq!(w.code(), "read_only", "{w}");
    println!(
        "read-only: the writer's open fails ({}: {}); a read-only open finds all 20 documents",
        e.code(),
        e.to_string().chars().take(150).collect::<String>()
    );
}
