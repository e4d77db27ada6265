//! The `vjson` command-line tool, end to end: every subcommand and its error paths.
#![cfg(not(target_arch = "wasm32"))]

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::{Value, json};

fn vjson() -> Command {
    Command::cargo_bin("vjson").expect("the vjson binary is built")
}

/// Writes `n` documents of dimension 4 as JSON lines; doc i points along axis i % 4.
fn write_docs(path: &Path, n: usize, start: usize) {
    let mut s = String::new();
    for i in start..start + n {
        let mut v = vec![0.05f32; 4];
        v[i % 4] = 1.0;
        let doc = json!({
            "id": format!("doc{i}"),
            "vector": v,
            "text": format!("document number {i} about {}", ["ownership", "borrowing", "lifetimes", "traits"][i % 4]),
            "metadata": {"i": i, "group": if i % 2 == 0 { "even" } else { "odd" }},
        });
        s.push_str(&doc.to_string());
        s.push('\n');
    }
    std::fs::write(path, s).unwrap();
}

fn imported(dir: &Path, n: usize) -> std::path::PathBuf {
    let file = dir.join("docs.jsonl");
    write_docs(&file, n, 0);
    let db = dir.join("db");
    vjson()
        .args([
            "import",
            db.to_str().unwrap(),
            file.to_str().unwrap(),
            "--batch",
            "7",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("imported {n} documents")));
    db
}

/// Runs `vjson ARGS`, which must succeed, and parses its output: one JSON value per line.
fn json_lines<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Vec<Value> {
    let out = vjson()
        .args(args)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn search_json(db: &Path, args: &[&str]) -> Vec<Value> {
    let db = db.to_str().unwrap();
    json_lines(&[&["search", db], args, &["--json"]].concat())
}

#[test]
fn import_search_get_delete_stats_compact() {
    let dir = tempfile::tempdir().unwrap();
    let db = imported(dir.path(), 40);

    let hits = search_json(&db, &["--text", "borrowing", "--k", "5"]);
    assert_eq!(hits.len(), 5);
    assert!(
        hits.iter()
            .all(|h| h["text"].as_str().unwrap().contains("borrowing"))
    );

    let hits = search_json(&db, &["--vector", "[0,0,1,0]", "--k", "3"]);
    assert_eq!(hits.len(), 3);
    for h in &hits {
        let i: usize = h["id"].as_str().unwrap()[3..].parse().unwrap();
        assert_eq!(i % 4, 2, "{h}");
    }

    let hits = search_json(
        &db,
        &[
            "--like",
            "doc1",
            "--text",
            "borrowing",
            "--filter",
            r#"{"group": "odd", "i": {"$lt": 20}}"#,
            "--fusion",
            "weighted:0.5,0.5",
        ],
    );
    assert!(!hits.is_empty());
    for h in &hits {
        assert_ne!(h["id"], "doc1", "--like leaves the document itself out");
        assert_eq!(h["metadata"]["group"], "odd");
        assert!(h["metadata"]["i"].as_u64().unwrap() < 20);
    }

    vjson()
        .args(["search", db.to_str().unwrap(), "--text", "traits"])
        .assert()
        .success()
        .stdout(predicate::str::contains("rank").and(predicate::str::contains("hits in")));

    let out = vjson()
        .args(["get", db.to_str().unwrap(), "doc3"])
        .assert()
        .success();
    let doc: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(doc["id"], "doc3");
    assert_eq!(doc["metadata"]["i"], 3);
    assert!(
        doc.get("vector").is_none(),
        "the vector only with --vector: {doc}"
    );
    let out = vjson()
        .args(["get", db.to_str().unwrap(), "doc3", "--vector"])
        .assert()
        .success();
    let doc: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(doc["vector"].as_array().map(Vec::len), Some(4));

    vjson()
        .args(["delete", db.to_str().unwrap(), "doc3", "doc4"])
        .assert()
        .success()
        .stdout(predicate::str::contains("38 remain"));
    vjson()
        .args(["get", db.to_str().unwrap(), "doc3"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("[not_found]"));

    let out = vjson()
        .args(["stats", db.to_str().unwrap(), "--json"])
        .assert()
        .success();
    let stats: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(stats["documents"], 38);
    assert_eq!(stats["deleted"], 2);
    // For people: sizes with units (the text index is over a kilobyte), no JSON quoting.
    let total = stats["disk"]["total_bytes"].as_u64().unwrap();
    assert!(total > 1024, "{total}");
    let human = vjson()
        .args(["stats", db.to_str().unwrap()])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let human = String::from_utf8(human).unwrap();
    let line = |key: &str| {
        human
            .lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("no {key} in {human}"))
            .to_string()
    };
    assert!(line("documents").ends_with(" 38"), "{human}");
    let size = line("disk.total_bytes");
    assert!(size.ends_with(" KB") || size.ends_with(" MB"), "{size}");
    assert!(line("metric").ends_with(" cosine"), "{human}");

    vjson()
        .args(["compact", db.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains("40 rows -> 38 rows"));
    let out = vjson()
        .args(["stats", db.to_str().unwrap(), "--json"])
        .assert()
        .success();
    let stats: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(stats["deleted"], 0);
    assert_eq!(stats["documents"], 38);
}

#[test]
fn export_and_restore_answer_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let db = imported(dir.path(), 30);
    let snap = dir.path().join("db.snap");
    vjson()
        .args(["export", db.to_str().unwrap(), snap.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains("30 documents"));
    let restored = dir.path().join("restored");
    vjson()
        .args([
            "restore",
            snap.to_str().unwrap(),
            restored.to_str().unwrap(),
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("restored 30 documents"));
    for args in [
        vec!["--text", "lifetimes ownership"],
        vec!["--vector", "[0.3,0.1,0.9,0.2]", "--text", "document"],
    ] {
        let ids = |db: &Path| -> Vec<Value> {
            search_json(db, &args)
                .into_iter()
                .map(|h| h["id"].clone())
                .collect()
        };
        assert_eq!(ids(&db), ids(&restored), "{args:?}");
    }
    // Restoring over an existing directory is refused.
    vjson()
        .args([
            "restore",
            snap.to_str().unwrap(),
            restored.to_str().unwrap(),
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("already exists"));
    // A damaged snapshot is reported, not half-restored.
    let mut bytes = std::fs::read(&snap).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&snap, bytes).unwrap();
    let target = dir.path().join("never");
    vjson()
        .args(["restore", snap.to_str().unwrap(), target.to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicate::str::contains("[invalid_snapshot]"));
    assert!(!target.exists());
}

#[test]
fn import_reports_bad_lines_and_writes_no_partial_batch() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("docs.jsonl");
    write_docs(&file, 10, 0);
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("{\"id\": \"bad\", \"vector\": [1, 2]}\n");
    std::fs::write(&file, &text).unwrap();
    let db = dir.path().join("db");
    // Batch of 4: lines 1-8 go in as two batches, lines 9-10 + the bad line 11 do not.
    vjson()
        .args([
            "import",
            db.to_str().unwrap(),
            file.to_str().unwrap(),
            "--batch",
            "4",
        ])
        .assert()
        .failure()
        .stderr(
            predicate::str::contains(":11:").and(predicate::str::contains("dimension_mismatch")),
        );
    let out = vjson()
        .args(["stats", db.to_str().unwrap(), "--json"])
        .assert()
        .success();
    let stats: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(stats["documents"], 8);

    // --skip-bad imports the rest and skips the bad line (and a duplicate id).
    let more = dir.path().join("more.jsonl");
    write_docs(&more, 4, 8);
    let mut t = std::fs::read_to_string(&more).unwrap();
    t.push_str("not json\n");
    t.push_str(text.lines().next().unwrap());
    t.push('\n');
    std::fs::write(&more, t).unwrap();
    vjson()
        .args([
            "import",
            db.to_str().unwrap(),
            more.to_str().unwrap(),
            "--skip-bad",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("skipped 2 bad lines"))
        .stderr(predicate::str::contains("duplicate_id"));
    let out = vjson()
        .args(["stats", db.to_str().unwrap(), "--json"])
        .assert()
        .success();
    let stats: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(stats["documents"], 12);

    // An unknown key is an error with its line and name, never silently dropped data.
    let unknown = dir.path().join("unknown.jsonl");
    std::fs::write(
        &unknown,
        "{\"id\": \"u1\", \"vector\": [1, 0, 0, 0]}\n{\"id\": \"u2\", \"vector\": [0, 1, 0, 0], \"meta\": {\"a\": 1}}\n",
    )
    .unwrap();
    vjson()
        .args(["import", db.to_str().unwrap(), unknown.to_str().unwrap()])
        .assert()
        .failure()
        .stderr(
            predicate::str::contains(":2:").and(predicate::str::contains("unknown field `meta`")),
        );
    assert!(
        !search_json(&db, &["--vector", "[1,0,0,0]", "--k", "20"])
            .iter()
            .any(|h| h["id"] == "u1"),
        "nothing of the failed batch was written"
    );
}

#[test]
fn errors_are_one_line_with_a_code_and_a_nonzero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let db = imported(dir.path(), 8);
    let d = db.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["search", d, "--vector", "[1,2]"],
            "[dimension_mismatch]",
        ),
        (
            vec![
                "search",
                d,
                "--text",
                "x",
                "--filter",
                r#"{"i": {"$bogus": 1}}"#,
            ],
            "[invalid_filter]",
        ),
        (
            vec!["search", d, "--text", "x", "--filter", "{nope"],
            "[invalid_filter]: invalid filter: not valid JSON",
        ),
        (vec!["search", d, "--vector", "oops"], "JSON array"),
        (vec!["search", d], "[invalid_query]"),
        (
            vec!["search", d, "--text", "x", "--k", "0"],
            "[invalid_query]",
        ),
        (vec!["search", d, "--like", "missing"], "[not_found]"),
        (
            vec!["search", d, "--text", "x", "--fusion", "nope"],
            "unknown fusion",
        ),
        (vec!["delete", d, "doc1", "missing"], "[not_found]"),
        (vec!["get", d, "missing"], "[not_found]"),
    ];
    for (args, expect) in cases {
        let out = vjson().args(&args).assert().failure();
        let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
        assert!(err.contains(expect), "{args:?}: {err}");
    }
    // The failed `delete doc1 missing` deleted nothing.
    vjson().args(["get", d, "doc1"]).assert().success();

    let nowhere = dir.path().join("nowhere");
    vjson()
        .args(["stats", nowhere.to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicate::str::contains("[io]").and(predicate::str::contains("hint")));
    vjson()
        .args([
            "import",
            d,
            dir.path().join("missing.jsonl").to_str().unwrap(),
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read"));
    let file = dir.path().join("docs.jsonl");
    vjson()
        .args(["import", d, file.to_str().unwrap(), "--dim", "5"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("[invalid_options]"));
    vjson()
        .args([
            "import",
            dir.path().join("x").to_str().unwrap(),
            file.to_str().unwrap(),
            "--metric",
            "hamming",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown metric"));
    vjson()
        .args([
            "export",
            d,
            dir.path().join("no/such/dir/x.snap").to_str().unwrap(),
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("[io]"));
}

#[test]
fn demo_runs_on_the_bundled_sample() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo");
    for _ in 0..2 {
        // The second run replaces the first's database.
        vjson()
            .args(["demo", "--show", "1", "--db", db.to_str().unwrap()])
            .assert()
            .success()
            .stdout(
                predicate::str::contains("MRR@10")
                    .and(predicate::str::contains("hybrid"))
                    .and(predicate::str::contains("2000 documents"))
                    .and(predicate::str::contains("# score"))
                    .and(predicate::str::contains(format!(
                        "vjson search {}",
                        db.display()
                    ))),
            );
    }
    // The database is kept and answers the command the demo suggests.
    let hits = search_json(&db, &["--text", "ownership", "--k", "3"]);
    assert_eq!(hits.len(), 3);
    // A directory that is not an earlier demo's is never removed.
    let other = dir.path().join("mine");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("keep.txt"), "x").unwrap();
    vjson()
        .args(["demo", "--db", other.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not an earlier demo"));
    assert!(other.join("keep.txt").exists());
}

#[test]
fn eval_reports_every_mode_per_kind_on_a_judged_corpus() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sample");
    let rows = json_lines(&[
        "eval",
        sample.to_str().unwrap(),
        "--fusions",
        "rrf weighted:0.3,0.7",
        "--json",
    ]);
    let modes: Vec<&str> = rows.iter().map(|r| r["mode"].as_str().unwrap()).collect();
    assert_eq!(
        modes,
        ["vector", "text", "hybrid rrf", "hybrid weighted:0.3,0.7"]
    );
    for r in &rows {
        let groups = r["groups"].as_object().unwrap();
        // The sample's queries judge api and book documents; "all" counts every query.
        assert!(
            groups.contains_key("api") && groups.contains_key("book"),
            "{r}"
        );
        let n = |g: &str| groups[g]["queries"].as_u64().unwrap();
        assert_eq!(n("all"), n("api") + n("book"));
        for g in groups.values() {
            let (mrr, recall, ndcg) = (
                g["mrr@10"].as_f64().unwrap(),
                g["recall@10"].as_f64().unwrap(),
                g["ndcg@10"].as_f64().unwrap(),
            );
            // One relevant document per query: 1/(p+1) <= 1/log2(p+2) <= 1 at every rank.
            assert!(mrr <= ndcg + 1e-9 && ndcg <= recall + 1e-9, "{r}");
        }
        // Real retrieval, not noise: every mode finds most sample queries' documents.
        assert!(groups["all"]["recall@10"].as_f64().unwrap() > 0.5, "{r}");
    }
    // A corpus whose vectors do not match its documents is refused in one line.
    let dir = tempfile::tempdir().unwrap();
    for f in ["docs.jsonl", "queries.jsonl", "queries.f32", "qrels.jsonl"] {
        std::fs::copy(sample.join(f), dir.path().join(f)).unwrap();
    }
    std::fs::write(dir.path().join("docs.f32"), [0u8; 12]).unwrap();
    vjson()
        .args(["eval", dir.path().to_str().unwrap()])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("[invalid_options]").and(predicate::str::contains("docs.f32")),
        );
}

#[test]
fn eval_on_disk_ranks_as_in_memory_and_never_reuses_a_directory() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sample");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let run = |extra: &[&str]| {
        let sample = sample.to_str().unwrap();
        json_lines(&[&["eval", sample, "--fusions", "zscore", "--json"], extra].concat())
    };
    let mrr = |rows: &[Value], mode: &str| -> f64 {
        let r = rows.iter().find(|r| r["mode"] == mode).unwrap();
        r["groups"]["all"]["mrr@10"].as_f64().unwrap()
    };
    let memory = run(&[]);
    let disk = run(&["--db", db.to_str().unwrap()]);
    // Tantivy on disk ranks text as the in-memory BM25 does but for its quantised document
    // lengths, and the graphs are built apart: every mode measures the same within a little.
    for mode in ["vector", "text", "hybrid zscore"] {
        let (d, m) = (mrr(&disk, mode), mrr(&memory, mode));
        assert!(
            (d - m).abs() < 0.02 && d > 0.5,
            "{mode}: {d} on disk, {m} in memory"
        );
    }
    // The database it built is an ordinary one, flushed.
    vjson()
        .args(["stats", db.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains("2,000"));
    // An existing path is refused, and left alone.
    vjson()
        .args([
            "eval",
            sample.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("exists"));
    assert!(db.join("manifest.json").exists());
}

#[test]
fn imports_resume_with_skip_existing_and_replace_with_upsert() {
    let dir = tempfile::tempdir().unwrap();
    let (part, all) = (dir.path().join("part.jsonl"), dir.path().join("all.jsonl"));
    write_docs(&part, 10, 0);
    write_docs(&all, 30, 0);
    let db = dir.path().join("db");
    let d = db.to_str().unwrap();
    vjson()
        .args(["import", d, part.to_str().unwrap()])
        .assert()
        .success();
    // Rerunning the whole file stops at the first id already present, and says what to do.
    vjson()
        .args(["import", d, all.to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicate::str::contains(":1:").and(predicate::str::contains("--skip-existing")));
    vjson()
        .args(["import", d, all.to_str().unwrap(), "--skip-existing"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("imported 20 documents")
                .and(predicate::str::contains("skipped 10 already present"))
                .and(predicate::str::contains("now holds 30")),
        );
    // --upsert replaces: new texts for the first five ids, and one new id.
    let mut s = String::new();
    for i in 0..6 {
        let doc = json!({"id": format!("doc{i}"), "vector": [0.0, 0.0, 0.0, 1.0], "text": format!("rewritten {i}")});
        s.push_str(&format!("{doc}\n"));
    }
    s.push_str(&format!(
        "{}\n",
        json!({"id": "new", "vector": [1.0, 1.0, 0.0, 0.0]})
    ));
    let up = dir.path().join("up.jsonl");
    std::fs::write(&up, s).unwrap();
    vjson()
        .args(["import", d, up.to_str().unwrap(), "--upsert"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("6 replaced").and(predicate::str::contains("now holds 31")),
        );
    let out = vjson().args(["get", d, "doc3"]).assert().success();
    let doc: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(doc["text"], "rewritten 3");
    // The two cannot be combined.
    vjson()
        .args([
            "import",
            d,
            up.to_str().unwrap(),
            "--upsert",
            "--skip-existing",
        ])
        .assert()
        .code(2);
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_an_import_after_a_whole_batch_and_it_resumes() {
    let dir = tempfile::tempdir().unwrap();
    // Batches of 10, each fsynced: the import takes a while. Where the disk is so fast that
    // it ends before the signal comes, the same again with four times the documents.
    for n in [15_000usize, 60_000, 240_000] {
        let file = dir.path().join(format!("many{n}.jsonl"));
        let mut s = String::with_capacity(n * 80);
        for i in 0..n {
            let v: Vec<f32> = (0..8)
                .map(|j| ((i * 7 + j * 13) % 17) as f32 + 1.0)
                .collect();
            s.push_str(&format!(
                "{}\n",
                json!({"id": format!("d{i}"), "vector": v})
            ));
        }
        std::fs::write(&file, s).unwrap();
        let db = dir.path().join(format!("db{n}"));
        let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("vjson"))
            .args([
                "import",
                db.to_str().unwrap(),
                file.to_str().unwrap(),
                "--batch",
                "10",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Wait until the database exists and the first batches are in, then press Ctrl-C.
        let t = std::time::Instant::now();
        while !db.join("manifest.json").exists() && t.elapsed().as_secs() < 30 {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        let kill = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() == Some(0) && n < 240_000 {
            continue; // finished before the signal: try a longer import
        }
        assert_eq!(out.status.code(), Some(130), "stderr: {stderr}");
        assert!(
            stderr.contains("rerun with --skip-existing to continue"),
            "{stderr}"
        );
        check_resume(&db, &file, n);
        return;
    }
}

/// After an interrupted import of `file` (`n` documents) into `db`: part of it is in, and
/// rerunning with --skip-existing imports exactly the rest.
#[cfg(unix)]
fn check_resume(db: &Path, file: &Path, n: usize) {
    let stats = vjson()
        .args(["stats", db.to_str().unwrap(), "--json"])
        .assert()
        .success();
    let stats: Value = serde_json::from_slice(&stats.get_output().stdout).unwrap();
    let done = stats["documents"].as_u64().unwrap() as usize;
    assert!(
        done > 0 && done < n,
        "{done} of {n} imported before the interrupt"
    );
    vjson()
        .args([
            "import",
            db.to_str().unwrap(),
            file.to_str().unwrap(),
            "--skip-existing",
        ])
        .assert()
        .success()
        .stdout(
            predicate::str::contains(format!("skipped {done} already present"))
                .and(predicate::str::contains(format!("now holds {n}"))),
        );
}

#[test]
fn eight_reader_processes_search_while_a_writer_process_imports() {
    // The writer imports batches of BATCH documents; every document of batch b carries the
    // token "tokb" and metadata {"batch": b}. Eight threads keep starting `vjson search`
    // and `vjson stats` processes on the same directory meanwhile: none may fail, and
    // each must see whole batches only.
    const BATCH: usize = 200;
    const N: usize = 8_000;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("docs.jsonl");
    let mut s = String::new();
    for i in 0..N {
        let b = i / BATCH;
        let v: Vec<f32> = (0..16)
            .map(|j| ((i * 31 + j * 17) % 23) as f32 - 11.0)
            .collect();
        let doc = json!({"id": format!("d{i}"), "vector": v, "text": format!("tok{b} shared words"), "metadata": {"batch": b}});
        s.push_str(&format!("{doc}\n"));
    }
    std::fs::write(&file, s).unwrap();
    let db = dir.path().join("db");
    let bin = assert_cmd::cargo::cargo_bin("vjson");
    let mut writer = std::process::Command::new(&bin)
        .args(["import", db.to_str().unwrap(), file.to_str().unwrap()])
        .args(["--batch", &BATCH.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    while !db.join("manifest.json").exists() && t.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let writing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let readers: Vec<_> = (0..8)
        .map(|r| {
            let (bin, db, writing) = (bin.clone(), db.clone(), writing.clone());
            std::thread::spawn(move || {
                // (runs started while the writer was writing, documents seen)
                let mut during = 0;
                let mut seen = Vec::new();
                let mut i = r;
                let mut last = false;
                while !last {
                    let started_during = writing.load(std::sync::atomic::Ordering::SeqCst);
                    // Once the writer is done, one last `stats`.
                    if !started_during && i % 2 == 0 {
                        i += 1;
                    }
                    last = !started_during;
                    let b = (i * 7) % (N / BATCH);
                    let out = if i % 2 == 0 {
                        std::process::Command::new(&bin)
                            .args(["search", db.to_str().unwrap(), "--text"])
                            .arg(format!("tok{b}"))
                            .args(["-k", "1000", "--json"])
                            .output()
                            .unwrap()
                    } else {
                        std::process::Command::new(&bin)
                            .args(["stats", db.to_str().unwrap(), "--json"])
                            .output()
                            .unwrap()
                    };
                    let stdout = String::from_utf8_lossy(&out.stdout);
                    assert!(
                        out.status.success(),
                        "reader {r} failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    if i % 2 == 0 {
                        let hits: Vec<Value> = stdout
                            .lines()
                            .map(|l| serde_json::from_str(l).unwrap())
                            .collect();
                        assert!(
                            hits.len() == BATCH || hits.is_empty(),
                            "batch {b} half visible: {} hits",
                            hits.len()
                        );
                        assert!(hits.iter().all(|h| h["metadata"]["batch"] == json!(b)));
                    } else {
                        let stats: Value = serde_json::from_str(&stdout).unwrap();
                        let docs = stats["documents"].as_u64().unwrap() as usize;
                        assert_eq!(docs % BATCH, 0, "part of a batch: {docs} documents");
                        assert_eq!(stats["disk"]["read_only"], json!(true));
                        seen.push(docs);
                    }
                    during += started_during as usize;
                    i += 1;
                }
                (during, seen)
            })
        })
        .collect();
    let out = writer.wait().unwrap();
    writing.store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(out.success(), "the writer failed");
    let mut during = 0;
    let mut seen = Vec::new();
    for r in readers {
        let (d, s) = r.join().unwrap();
        during += d;
        seen.extend(s);
    }
    println!(
        "{during} reader processes ran while the writer imported; documents seen: {:?}..{:?}",
        seen.iter().min(),
        seen.iter().max()
    );
    assert!(during >= 8, "the readers did not run beside the writer");
    assert_eq!(
        seen.iter().max(),
        Some(&N),
        "a reader after the import sees it all"
    );
}

#[test]
fn import_refuses_an_overlong_line_and_reads_crlf_lines() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("docs.jsonl");
    write_docs(&file, 3, 0);
    // Windows line ends read the same.
    let crlf = std::fs::read_to_string(&file)
        .unwrap()
        .replace('\n', "\r\n");
    std::fs::write(&file, crlf).unwrap();
    let db = dir.path().join("db");
    vjson()
        .args(["import", db.to_str().unwrap(), file.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains("imported 3 documents"));
    // A 65 MiB line (a runaway text field): refused with its line number, nothing of its
    // batch written.
    let long = dir.path().join("long.jsonl");
    let mut f = std::fs::File::create(&long).unwrap();
    use std::io::Write as _;
    writeln!(f, "{{\"id\": \"ok\", \"vector\": [1, 0, 0, 0]}}").unwrap();
    write!(
        f,
        "{{\"id\": \"big\", \"vector\": [1, 0, 0, 0], \"text\": \""
    )
    .unwrap();
    let chunk = "x".repeat(1 << 20);
    for _ in 0..65 {
        f.write_all(chunk.as_bytes()).unwrap();
    }
    writeln!(f, "\"}}").unwrap();
    drop(f);
    vjson()
        .args(["import", db.to_str().unwrap(), long.to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicate::str::contains("line 2").and(predicate::str::contains("64 MiB")));
    let out = vjson()
        .args(["stats", db.to_str().unwrap(), "--json"])
        .assert()
        .success();
    let stats: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(stats["documents"], 3);
}
