//! The `vjson` command-line tool (native only): translates arguments into library calls
//! and results into text. Errors print one line — what is wrong and what to do — and
//! exit non-zero.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use std::fs::File;
    use std::io::{BufRead, BufReader, Write};
    use std::path::{Path, PathBuf};
    use std::process::ExitCode;
    use std::time::Instant;

    use clap::{Parser, Subcommand};
    use indicatif::{ProgressBar, ProgressStyle};
    use serde_json::json;
    use vjson::dataset::{Dataset, Quality, mrr_recall_at_10};
    use vjson::{Document, Error, Filter, Fusion, Hit, Metric, Options, Query, VectorDB};

    #[derive(Parser)]
    #[command(
        name = "vjson",
        version,
        about = "Embedded vector database with hybrid (vector + full-text) search",
        after_help = "Start with `vjson demo`, or `vjson import ./db docs.jsonl` then `vjson search ./db --text \"...\"`."
    )]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Subcommand)]
    enum Command {
        /// Build an on-disk database from the bundled Rust-docs sample (in a temporary
        /// directory) and show vector, text and hybrid search, with MRR@10 and recall@10.
        Demo {
            /// Use this dataset directory (laid out like tests/data/sample) instead.
            #[arg(long)]
            data: Option<PathBuf>,
            /// How many sample queries to show in full.
            #[arg(long, default_value_t = 3)]
            show: usize,
            /// Where to build the demo database (replaced if it is an earlier demo's; kept
            /// afterwards, to try `vjson search` on). Default: vjson-demo in the system's
            /// temporary directory.
            #[arg(long)]
            db: Option<PathBuf>,
        },
        /// Import documents from a JSON-lines file: {"id", "vector", "text"?, "title"?,
        /// "metadata"?} per line. Creates the database when DB does not exist.
        Import {
            /// Database directory.
            db: PathBuf,
            /// The JSON-lines file.
            file: PathBuf,
            #[command(flatten)]
            options: ImportOptions,
        },
        /// Search by vector, by text, or both (hybrid).
        Search {
            /// Database directory.
            db: PathBuf,
            /// Query vector as a JSON array.
            #[arg(long, conflicts_with = "like")]
            vector: Option<String>,
            /// Use this document's vector as the query vector (the document itself is left
            /// out of the results).
            #[arg(long)]
            like: Option<String>,
            /// Full-text query.
            #[arg(long)]
            text: Option<String>,
            /// Metadata filter as JSON, e.g. '{"year": {"$gte": 2020}}'.
            #[arg(long)]
            filter: Option<String>,
            /// Number of hits.
            #[arg(long, short, default_value_t = 10)]
            k: usize,
            /// zscore:V,T | weighted:V,T | rrf | rrf:K | max | min | average | dbsf (default:
            /// zscore:0.5,0.5)
            #[arg(long, default_value = "zscore:0.5,0.5")]
            fusion: Fusion,
            /// HNSW ef_search for this query.
            #[arg(long)]
            ef: Option<usize>,
            /// Print hits as JSON lines.
            #[arg(long)]
            json: bool,
        },
        /// Print one document as JSON.
        Get {
            /// Database directory.
            db: PathBuf,
            /// Document id.
            id: String,
            /// Include the vector (left out by default: hundreds of numbers).
            #[arg(long)]
            vector: bool,
        },
        /// Delete documents by id.
        Delete {
            /// Database directory.
            db: PathBuf,
            /// Document ids.
            #[arg(required = true)]
            ids: Vec<String>,
        },
        /// Show counts, sizes and recovery information.
        Stats {
            /// Database directory.
            db: PathBuf,
            /// Print as JSON.
            #[arg(long)]
            json: bool,
        },
        /// Rewrite the database without deleted rows.
        Compact {
            /// Database directory.
            db: PathBuf,
        },
        /// Write a portable snapshot (opens in the npm package too).
        Export {
            /// Database directory.
            db: PathBuf,
            /// Snapshot file to write.
            out: PathBuf,
        },
        /// Create a database from a snapshot.
        Restore {
            /// Snapshot file.
            snapshot: PathBuf,
            /// New database directory (must not exist).
            db: PathBuf,
        },
        /// Measure search quality on a judged corpus: MRR@10, recall@10 and nDCG@10 of
        /// vector, text and hybrid search with each fusion, overall and per document kind,
        /// and the median query time of each.
        /// The corpus is a directory laid out like tests/data/sample: docs.jsonl
        /// ({"id","title","text","kind"?}), docs.f32, queries.jsonl ({"id","text"}),
        /// queries.f32 and qrels.jsonl ({"qid","docid"}, one relevant document per query).
        Eval {
            /// Corpus directory.
            corpus: PathBuf,
            /// Fusions to compare, separated by spaces (as --fusion of search).
            #[arg(
                long,
                default_value = "zscore weighted rrf rrf:10 zscore:0.7,0.3 zscore:0.3,0.7 max min dbsf"
            )]
            fusions: String,
            /// Candidates each side contributes to a hybrid query (default: the query default).
            #[arg(long)]
            candidates: Option<usize>,
            /// HNSW candidate-list size (default: the database default).
            #[arg(long)]
            ef: Option<usize>,
            /// Weight of a match in a document's title (default: the database default).
            #[arg(long)]
            title_boost: Option<f32>,
            /// Print one JSON object per mode instead of the table.
            #[arg(long)]
            json: bool,
            /// Build the database on disk in this new directory (write-ahead log, mmap'd
            /// vectors, Tantivy; flushed before the queries) instead of in memory.
            #[arg(long)]
            db: Option<PathBuf>,
        },
    }

    /// A CLI failure: a library error, or a message of the CLI's own.
    enum Failure {
        Db(Error),
        Usage(String),
        /// Stopped by Ctrl-C after a clean stop; the message says how to go on.
        Interrupted(String),
    }

    impl From<Error> for Failure {
        fn from(e: Error) -> Self {
            Failure::Db(e)
        }
    }

    type CliResult<T = ()> = Result<T, Failure>;

    /// Prints the library's warnings (a failed checkpoint on close, a log tail cut at
    /// open) on stderr, one line each: `vjson: warning: ...`.
    struct StderrLog;

    impl log::Log for StderrLog {
        fn enabled(&self, m: &log::Metadata<'_>) -> bool {
            m.level() <= log::Level::Warn
        }
        fn log(&self, r: &log::Record<'_>) {
            if self.enabled(r.metadata()) {
                eprintln!("vjson: {}: {}", r.level().as_str().to_lowercase(), r.args());
            }
        }
        fn flush(&self) {}
    }

    static LOGGER: StderrLog = StderrLog;

    pub fn main() -> ExitCode {
        let _ = log::set_logger(&LOGGER).map(|()| log::set_max_level(log::LevelFilter::Warn));
        let cli = Cli::parse();
        let result = match cli.command {
            Command::Demo { data, show, db } => demo(data, show, db),
            Command::Import { db, file, options } => import(&db, &file, options),
            Command::Search {
                db,
                vector,
                like,
                text,
                filter,
                k,
                fusion,
                ef,
                json,
            } => search(&db, vector, like, text, filter, k, fusion, ef, json),
            Command::Get { db, id, vector } => get(&db, &id, vector),
            Command::Delete { db, ids } => delete(&db, &ids),
            Command::Stats { db, json } => stats(&db, json),
            Command::Compact { db } => open(&db).and_then(|d| {
                let before = d.stats();
                d.compact()?;
                println!(
                    "compacted {}: {} rows -> {} rows",
                    db.display(),
                    before.rows,
                    d.stats().rows
                );
                Ok(d.close()?)
            }),
            Command::Export { db, out } => export(&db, &out),
            Command::Restore { snapshot, db } => restore(&snapshot, &db),
            Command::Eval {
                corpus,
                fusions,
                candidates,
                ef,
                title_boost,
                json,
                db,
            } => eval(
                &corpus,
                &fusions,
                candidates,
                ef,
                title_boost,
                json,
                db.as_deref(),
            ),
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(Failure::Db(e)) => {
                eprintln!("vjson: error [{}]: {e}{}", e.code(), hint(&e));
                ExitCode::FAILURE
            }
            Err(Failure::Interrupted(msg)) => {
                eprintln!("vjson: {msg}");
                ExitCode::from(130)
            }
            Err(Failure::Usage(msg)) => {
                eprintln!("vjson: error: {msg}");
                ExitCode::from(2)
            }
        }
    }

    /// What to do next, for the errors where the library message cannot know.
    fn hint(e: &Error) -> &'static str {
        match e.code() {
            "locked" => {
                "\n  hint: `vjson search`, `get`, `stats` and `export` work beside the writer"
            }
            "io" if e.to_string().contains("no vjson database") => {
                "\n  hint: create it with `vjson import DB FILE.jsonl` or `vjson restore SNAPSHOT DB`"
            }
            "invalid_filter" => {
                "\n  hint: filters are JSON like '{\"year\": {\"$gte\": 2020}, \"tags\": {\"$in\": [\"a\"]}}'"
            }
            _ => "",
        }
    }

    fn open(db: &Path) -> CliResult<VectorDB> {
        Ok(VectorDB::open_existing(db)?)
    }

    /// For the commands that only read: any number of them run beside one writer.
    fn open_read_only(db: &Path) -> CliResult<VectorDB> {
        Ok(VectorDB::open_read_only(db)?)
    }

    /// How `import` reads and writes.
    #[derive(clap::Args)]
    struct ImportOptions {
        /// Vector dimension of a new database (default: the first line's).
        #[arg(long)]
        dim: Option<usize>,
        /// Metric of a new database.
        #[arg(long, default_value = "cosine")]
        metric: Metric,
        /// Documents per write batch (each batch is one log record).
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Skip bad lines (the first ten are shown, then a count) instead of stopping
        /// at the first.
        #[arg(long)]
        skip_bad: bool,
        /// Skip documents whose id is already in the database (to resume an import).
        #[arg(long, conflicts_with = "upsert")]
        skip_existing: bool,
        /// Replace documents whose id is already in the database.
        #[arg(long)]
        upsert: bool,
        /// Do not index text for full-text search (new database only).
        #[arg(long)]
        no_fulltext: bool,
    }

    /// Set by Ctrl-C during an import: the current batch is finished, then it stops.
    static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    /// Bad lines shown one by one under --skip-bad before only counting them.
    const SHOWN_BAD_LINES: usize = 10;

    /// The longest JSONL line `import` reads: room for the largest text and metadata the
    /// default limits take (16 MiB each) and a long vector written out in full. A longer
    /// line is an error, read no further than this.
    const MAX_LINE_BYTES: u64 = 64 << 20;

    /// The lines of `r` (without `\n` or `\r\n`), each at most [`MAX_LINE_BYTES`].
    fn bounded_lines(mut r: impl BufRead) -> impl Iterator<Item = std::io::Result<String>> {
        std::iter::from_fn(move || {
            let mut buf = Vec::new();
            let mut line = std::io::Read::take(&mut r, MAX_LINE_BYTES + 1);
            let read = line.read_until(b'\n', &mut buf);
            match read {
                Ok(0) => None,
                Err(e) => Some(Err(e)),
                Ok(_) if buf.len() as u64 > MAX_LINE_BYTES => Some(Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "the line is longer than {} MiB; documents that large are refused",
                        MAX_LINE_BYTES >> 20
                    ),
                ))),
                Ok(_) => {
                    if buf.last() == Some(&b'\n') {
                        buf.pop();
                        if buf.last() == Some(&b'\r') {
                            buf.pop();
                        }
                    }
                    Some(String::from_utf8(buf).map_err(|_| {
                        std::io::Error::new(std::io::ErrorKind::InvalidData, "not valid UTF-8")
                    }))
                }
            }
        })
    }

    fn import(db_path: &Path, file: &Path, o: ImportOptions) -> CliResult {
        let ImportOptions {
            dim,
            metric,
            batch,
            skip_bad,
            skip_existing,
            upsert,
            no_fulltext,
        } = o;
        // Best effort: without a handler Ctrl-C still stops the process, and every batch
        // already written stays (each is one atomic log record).
        let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst));
        if batch == 0 {
            return Err(Failure::Usage("--batch must be at least 1".into()));
        }
        let f = File::open(file)
            .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", file.display())))?;
        let total = f.metadata().map(|m| m.len()).unwrap_or(0);
        let mut lines = bounded_lines(BufReader::new(f));
        let exists = db_path.join("manifest.json").exists();
        let mut pending_first: Option<(usize, String)> = None;
        let db = if exists {
            let db = VectorDB::open_existing(db_path)?;
            if let Some(d) = dim
                && d != db.options().dimension
            {
                return Err(Failure::Db(Error::InvalidOptions(format!(
                    "--dim {d} but {} has dimension {}",
                    db_path.display(),
                    db.options().dimension
                ))));
            }
            db
        } else {
            let dim = match dim {
                Some(d) => d,
                None => {
                    // Take the dimension from the first non-empty line.
                    let mut n = 0;
                    let mut found = None;
                    for line in lines.by_ref() {
                        n += 1;
                        let line = line.map_err(|e| {
                            Failure::Usage(format!("{}: line {n}: {e}", file.display()))
                        })?;
                        if line.trim().is_empty() {
                            continue;
                        }
                        let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| {
                            Failure::Usage(format!(
                                "{}: line {n}: not valid JSON ({e}); pass --dim to create the database",
                                file.display()
                            ))
                        })?;
                        let d = v.get("vector").and_then(|v| v.as_array()).map(Vec::len);
                        pending_first = Some((n, line));
                        found = d;
                        break;
                    }
                    found.filter(|&d| d > 0).ok_or_else(|| {
                        Failure::Usage(format!(
                            "cannot tell the dimension from {}: pass --dim N",
                            file.display()
                        ))
                    })?
                }
            };
            VectorDB::open(
                db_path,
                Options::new(dim).metric(metric).fulltext(!no_fulltext),
            )?
        };

        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg} ({bytes_per_sec}, ETA {eta})",
            )
            .expect("valid template"),
        );
        let started = Instant::now();
        let (mut imported, mut skipped, mut bytes) = (0usize, 0usize, 0u64);
        let (mut existing, mut replaced) = (0usize, 0usize);
        let mut first_bad: Option<(usize, String)> = None;
        let mut docs: Vec<Document> = Vec::with_capacity(batch);
        let mut in_batch = std::collections::HashSet::new();
        let mut line_no = pending_first.as_ref().map_or(0, |p| p.0 - 1);
        let first = pending_first.map(|(_, l)| Ok(l));
        let flush_batch = |docs: &mut Vec<Document>,
                           in_batch: &mut std::collections::HashSet<String>,
                           imported: &mut usize|
         -> CliResult {
            if docs.is_empty() {
                return Ok(());
            }
            let n = docs.len();
            if upsert {
                db.upsert_batch(std::mem::take(docs))?;
            } else {
                db.insert_batch(std::mem::take(docs))?;
            }
            in_batch.clear();
            *imported += n;
            Ok(())
        };
        for line in first.into_iter().chain(lines) {
            if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
                // Finish the batch read so far, then stop cleanly.
                flush_batch(&mut docs, &mut in_batch, &mut imported)?;
                bar.abandon();
                let total_docs = db.len();
                db.close()?;
                return Err(Failure::Interrupted(format!(
                    "interrupted after line {line_no}: {imported} documents imported into {} (it now holds {total_docs}); rerun with --skip-existing to continue",
                    db_path.display()
                )));
            }
            line_no += 1;
            let line = line
                .map_err(|e| Failure::Usage(format!("{}: line {line_no}: {e}", file.display())))?;
            bytes += line.len() as u64 + 1;
            bar.set_position(bytes.min(total));
            if line.trim().is_empty() {
                continue;
            }
            let checked = serde_json::from_str::<Document>(&line)
                .map_err(|e| format!("not a document ({e}); expected {{\"id\", \"vector\", \"text\"?, \"metadata\"?}}"))
                .and_then(|doc| {
                    db.validate(&doc).map_err(|e| format!("[{}] {e}", e.code()))?;
                    let in_db = db.contains(&doc.id);
                    if skip_existing && in_db {
                        return Ok(None);
                    }
                    if !upsert && (in_batch.contains(&doc.id) || in_db) {
                        return Err(format!(
                            "[duplicate_id] id {:?} is already in the database or earlier in this batch; pass --skip-existing to skip such documents or --upsert to replace them",
                            doc.id
                        ));
                    }
                    Ok(Some((doc, in_db)))
                });
            match checked {
                Ok(None) => existing += 1,
                Ok(Some((doc, in_db))) => {
                    if in_batch.contains(&doc.id) {
                        // --upsert and the id repeats within this batch: the later line
                        // wins, so write the batch so far first.
                        flush_batch(&mut docs, &mut in_batch, &mut imported)?;
                    }
                    replaced += usize::from(in_db);
                    in_batch.insert(doc.id.clone());
                    docs.push(doc);
                }
                Err(msg) if skip_bad => {
                    skipped += 1;
                    if first_bad.is_none() {
                        first_bad = Some((line_no, msg.clone()));
                    }
                    if skipped <= SHOWN_BAD_LINES {
                        bar.suspend(|| {
                            eprintln!("vjson: skipping {}:{line_no}: {msg}", file.display())
                        });
                    }
                }
                Err(msg) => {
                    bar.abandon();
                    db.close()?;
                    return Err(Failure::Usage(format!(
                        "{}:{line_no}: {msg}\n  {imported} documents from earlier batches were imported; this batch was not. Fix the line and import the rest, or pass --skip-bad",
                        file.display()
                    )));
                }
            }
            if docs.len() >= batch {
                flush_batch(&mut docs, &mut in_batch, &mut imported)?;
                bar.set_message(format!("{imported} docs"));
            }
        }
        flush_batch(&mut docs, &mut in_batch, &mut imported)?;
        bar.finish_and_clear();
        let secs = started.elapsed().as_secs_f64();
        let total_docs = db.len();
        db.close()?;
        let mut notes = Vec::new();
        if replaced > 0 {
            notes.push(format!("{replaced} replaced existing documents"));
        }
        if existing > 0 {
            notes.push(format!("skipped {existing} already present"));
        }
        if skipped > 0 {
            let (line, msg) = first_bad.unwrap_or_default();
            notes.push(format!(
                "skipped {skipped} bad lines (first: line {line}: {msg}{})",
                if skipped > SHOWN_BAD_LINES {
                    format!("; {} more not shown", skipped - SHOWN_BAD_LINES)
                } else {
                    String::new()
                }
            ));
        }
        println!(
            "imported {imported} documents into {} in {secs:.2}s ({:.0} docs/s){}; it now holds {total_docs}",
            db_path.display(),
            imported as f64 / secs.max(1e-9),
            if notes.is_empty() {
                String::new()
            } else {
                format!("; {}", notes.join("; "))
            }
        );
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn search(
        db_path: &Path,
        vector: Option<String>,
        like: Option<String>,
        text: Option<String>,
        filter: Option<String>,
        k: usize,
        fusion: Fusion,
        ef: Option<usize>,
        json_out: bool,
    ) -> CliResult {
        let db = open_read_only(db_path)?;
        let mut q = Query::new().k(k).fusion(fusion);
        if let Some(v) = vector {
            let v: Vec<f32> = serde_json::from_str(&v).map_err(|e| {
                Failure::Usage(format!("--vector must be a JSON array of numbers: {e}"))
            })?;
            q = q.vector(v);
        }
        if let Some(id) = &like {
            let doc = db.get(id)?.ok_or_else(|| Error::NotFound(id.clone()))?;
            q = q.vector(doc.vector).k(k + 1);
        }
        if let Some(t) = text {
            q = q.text(t);
        }
        if let Some(f) = filter {
            q = q.filter(Filter::parse(&f)?);
        }
        if let Some(ef) = ef {
            q = q.ef_search(ef);
        }
        let t = Instant::now();
        let mut hits = db.search(&q)?;
        let took = t.elapsed();
        if let Some(id) = &like {
            hits.retain(|h| &h.id != id);
            hits.truncate(k);
        }
        let mut out = std::io::stdout().lock();
        if json_out {
            for h in &hits {
                writeln!(out, "{}", serde_json::to_string(h).expect("hits serialise")).ok();
            }
        } else {
            print_hits(&mut out, &hits);
            writeln!(out, "{} hits in {took:.2?}", hits.len()).ok();
        }
        Ok(())
    }

    fn print_hits(out: &mut impl Write, hits: &[Hit]) {
        let fmt = |s: Option<f32>| s.map_or("-".to_string(), |s| format!("{s:.4}"));
        writeln!(
            out,
            "{:>4}  {:>8}  {:>8}  {:>8}  id",
            "rank", "score", "vector", "text"
        )
        .ok();
        for (i, h) in hits.iter().enumerate() {
            let snippet: String = h
                .text
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(60)
                .collect::<String>()
                .replace('\n', " ");
            writeln!(
                out,
                "{:>4}  {:>8.4}  {:>8}  {:>8}  {}  {}",
                i + 1,
                h.score,
                fmt(h.vector_score),
                fmt(h.text_score),
                h.id,
                snippet
            )
            .ok();
        }
    }

    fn get(db_path: &Path, id: &str, with_vector: bool) -> CliResult {
        let db = open_read_only(db_path)?;
        let doc = db.get(id)?.ok_or_else(|| Error::NotFound(id.to_owned()))?;
        let mut v = serde_json::to_value(&doc).expect("documents serialise");
        if !with_vector && let Some(o) = v.as_object_mut() {
            o.remove("vector");
        }
        println!("{v}");
        Ok(())
    }

    fn delete(db_path: &Path, ids: &[String]) -> CliResult {
        let db = open(db_path)?;
        // Check them all first, so that a typo deletes nothing.
        if let Some(missing) = ids.iter().find(|id| !db.contains(id)) {
            return Err(Error::NotFound(missing.clone()).into());
        }
        for id in ids {
            db.delete(id)?;
        }
        let left = db.len();
        db.close()?;
        println!("deleted {} documents; {left} remain", ids.len());
        Ok(())
    }

    fn stats(db_path: &Path, json_out: bool) -> CliResult {
        let db = open_read_only(db_path)?;
        let s = db.stats();
        if json_out {
            println!(
                "{}",
                serde_json::to_string_pretty(&s).expect("stats serialise")
            );
            return Ok(());
        }
        let v = serde_json::to_value(&s).expect("stats serialise");
        let mut out = std::io::stdout().lock();
        // `memory` holds only byte counts; elsewhere sizes end in `_bytes`.
        let mut print = |prefix: &str, obj: &serde_json::Map<String, serde_json::Value>| {
            for (k, val) in obj {
                if !val.is_object() {
                    let key = if prefix == "memory." {
                        format!("{k}_bytes")
                    } else {
                        k.clone()
                    };
                    writeln!(out, "{:<29} {}", format!("{prefix}{k}"), human(&key, val)).ok();
                }
            }
        };
        if let Some(o) = v.as_object() {
            print("", o);
            for part in ["memory", "disk"] {
                if let Some(d) = o.get(part).and_then(|d| d.as_object()) {
                    print(&format!("{part}."), d);
                }
            }
        }
        Ok(())
    }

    /// A stats value for people: sizes (`*_bytes`) in B / KB / MB / GB, counts with
    /// thousands separators, strings unquoted, null as "none". `--json` keeps the raw values.
    fn human(key: &str, v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::Null => "none".into(),
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => match n.as_u64() {
                Some(b) if key.ends_with("_bytes") => {
                    let units = ["B", "KB", "MB", "GB", "TB"];
                    let mut x = b as f64;
                    let mut u = 0;
                    while x >= 1024.0 && u + 1 < units.len() {
                        x /= 1024.0;
                        u += 1;
                    }
                    if u == 0 {
                        format!("{b} B")
                    } else {
                        format!("{x:.1} {}", units[u])
                    }
                }
                Some(c) => {
                    let digits = c.to_string();
                    let mut grouped = String::new();
                    for (i, ch) in digits.chars().enumerate() {
                        if i > 0 && (digits.len() - i) % 3 == 0 {
                            grouped.push(',');
                        }
                        grouped.push(ch);
                    }
                    grouped
                }
                None => n.to_string(),
            },
            other => other.to_string(),
        }
    }

    fn export(db_path: &Path, out: &Path) -> CliResult {
        let db = open_read_only(db_path)?;
        let bytes = db.export_snapshot()?;
        let tmp = out.with_extension("snap.tmp");
        std::fs::write(&tmp, &bytes)
            .and_then(|_| std::fs::rename(&tmp, out))
            .map_err(|e| Error::Io {
                context: Some(format!("writing {}", out.display())),
                source: e,
            })?;
        println!(
            "wrote {} ({} documents, {} bytes)",
            out.display(),
            db.len(),
            bytes.len()
        );
        Ok(())
    }

    fn restore(snapshot: &Path, db_path: &Path) -> CliResult {
        if db_path.exists() {
            return Err(Failure::Usage(format!(
                "{} already exists; restore into a new directory (or remove it first)",
                db_path.display()
            )));
        }
        let bytes = std::fs::read(snapshot).map_err(|e| Error::Io {
            context: Some(format!("reading {}", snapshot.display())),
            source: e,
        })?;
        let mem = VectorDB::import_snapshot(&bytes)?;
        let db = VectorDB::open(db_path, mem.options().clone())?;
        let ids = mem.ids();
        for chunk in ids.chunks(1000) {
            let mut docs = Vec::with_capacity(chunk.len());
            for id in chunk {
                docs.push(mem.get(id)?.ok_or_else(|| Error::NotFound(id.clone()))?);
            }
            db.insert_batch(docs)?;
        }
        let n = db.len();
        db.close()?;
        println!("restored {n} documents into {}", db_path.display());
        Ok(())
    }

    fn print_demo_hits(title: &str, hits: &[Hit], relevant: &str) {
        println!("  {title}");
        println!(
            "    {:>3} {:<7} {:>10} {:>11}  id",
            "#", "score", "vec", "text"
        );
        for (i, h) in hits.iter().enumerate() {
            let fmt = |s: Option<f32>| s.map_or("-".to_string(), |s| format!("{s:.3}"));
            println!(
                "    {:>2}. {:<7.4} {:>10} {:>11}  {}{}",
                i + 1,
                h.score,
                fmt(h.vector_score),
                fmt(h.text_score),
                h.id,
                if h.id == relevant {
                    "  <== relevant"
                } else {
                    ""
                }
            );
        }
    }

    fn eval(
        corpus: &Path,
        fusions: &str,
        candidates: Option<usize>,
        ef: Option<usize>,
        title_boost: Option<f32>,
        json_out: bool,
        on_disk: Option<&Path>,
    ) -> CliResult {
        let fusions: Vec<(String, Fusion)> = fusions
            .split_whitespace()
            .map(|f| Ok((f.to_string(), f.parse::<Fusion>()?)))
            .collect::<vjson::Result<_>>()?;
        let ds = Dataset::load(corpus, Dataset::dimension_of(corpus)?)?;
        let kinds: std::collections::HashMap<&str, &str> = ds
            .docs
            .iter()
            .map(|d| (d.id.as_str(), d.kind.as_str()))
            .collect();
        let mut opts = Options::new(ds.dim);
        if let Some(b) = title_boost {
            opts = opts.title_boost(b);
        }
        let db = match on_disk {
            Some(dir) if dir.exists() => {
                return Err(Failure::Usage(format!(
                    "{} exists; eval builds a new database there: give a path that does not exist yet",
                    dir.display()
                )));
            }
            Some(dir) => VectorDB::open(dir, opts)?,
            None => VectorDB::in_memory(opts)?,
        };
        let t = Instant::now();
        db.insert_batch(ds.documents())?;
        db.flush()?;
        eprintln!(
            "eval: {} documents ({}-d), {} queries; indexed {} in {:.2?}",
            ds.docs.len(),
            ds.dim,
            ds.queries.len(),
            on_disk.map_or("in memory".to_string(), |d| format!(
                "on disk in {}",
                d.display()
            )),
            t.elapsed()
        );
        let mut modes: Vec<(String, Option<Fusion>, bool, bool)> = vec![
            ("vector".into(), None, true, false),
            ("text".into(), None, false, true),
        ];
        modes.extend(
            fusions
                .into_iter()
                .map(|(name, f)| (format!("hybrid {name}"), Some(f), true, true)),
        );
        let mut groups: Vec<&str> = vec!["all"];
        for q in &ds.queries {
            let kind = kinds.get(q.relevant.as_str()).copied().unwrap_or("");
            if !kind.is_empty() && !groups.contains(&kind) {
                groups.push(kind);
            }
        }
        if !json_out {
            let head: Vec<String> = groups
                .iter()
                .map(|g| format!("{:>32}", format!("{g}: MRR@10 recall@10 nDCG@10")))
                .collect();
            println!("{:<24} {} {:>9}", "mode", head.join(" "), "p50");
        }
        for (name, fusion, vector, text) in modes {
            let mut quality = vec![Quality::default(); groups.len()];
            let mut times = Vec::with_capacity(ds.queries.len());
            for (i, q) in ds.queries.iter().enumerate() {
                let mut query = Query::new().k(10);
                if vector {
                    query = query.vector(ds.query_vector(i).to_vec());
                }
                if text {
                    query = query.text(q.text.clone());
                }
                if let Some(f) = fusion {
                    query = query.fusion(f);
                }
                if let Some(c) = candidates {
                    query = query.candidates(c);
                }
                if let Some(ef) = ef {
                    query = query.ef_search(ef);
                }
                let t = Instant::now();
                let hits = db.search(&query)?;
                times.push(t.elapsed());
                let pos = hits.iter().take(10).position(|h| h.id == q.relevant);
                quality[0].add(pos);
                let kind = kinds.get(q.relevant.as_str()).copied().unwrap_or("");
                if let Some(g) = groups.iter().position(|g| *g == kind) {
                    quality[g].add(pos);
                }
            }
            times.sort_unstable();
            let p50 = times.get(times.len() / 2).copied().unwrap_or_default();
            if json_out {
                let by: serde_json::Map<String, serde_json::Value> = groups
                    .iter()
                    .zip(&quality)
                    .map(|(g, q)| {
                        let (mrr, recall, ndcg) = (q.mrr(), q.recall(), q.ndcg());
                        (
                            g.to_string(),
                            json!({"queries": q.queries, "mrr@10": mrr, "recall@10": recall, "ndcg@10": ndcg}),
                        )
                    })
                    .collect();
                println!(
                    "{}",
                    json!({"mode": name, "groups": by, "p50_us": p50.as_secs_f64() * 1e6})
                );
            } else {
                let cells: Vec<String> = quality
                    .iter()
                    .map(|q| {
                        let (mrr, recall, ndcg) = (q.mrr(), q.recall(), q.ndcg());
                        format!("{:>32}", format!("{mrr:.4} {recall:.4} {ndcg:.4}"))
                    })
                    .collect();
                println!("{name:<24} {} {:>9.0?}", cells.join(" "), p50);
            }
        }
        Ok(())
    }

    fn demo(data: Option<PathBuf>, show: usize, db_dir: Option<PathBuf>) -> CliResult {
        let ds = match data {
            Some(dir) => Dataset::load(&dir, 384)?,
            None => vjson::bundled_sample!(),
        };
        println!(
            "vjson demo: {} Rust documentation sections, {} queries, all-MiniLM-L6-v2 ({}-d)",
            ds.docs.len(),
            ds.queries.len(),
            ds.dim
        );
        let path = db_dir.unwrap_or_else(|| std::env::temp_dir().join("vjson-demo"));
        // Only ever remove an earlier demo's database (it carries a marker file).
        const MARKER: &str = "vjson-demo.txt";
        if path.exists() {
            if !path.join(MARKER).is_file() {
                return Err(Failure::Usage(format!(
                    "{} exists and is not an earlier demo's database; pass --db NEW_DIR",
                    path.display()
                )));
            }
            std::fs::remove_dir_all(&path)
                .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
        }
        let db = VectorDB::open(&path, Options::new(ds.dim))?;
        std::fs::write(
            path.join(MARKER),
            "Built by `vjson demo`; the next demo run replaces this database.\n",
        )
        .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
        let t = Instant::now();
        db.insert_batch(ds.documents())?;
        db.flush()?;
        println!(
            "built an on-disk database of {} documents (HNSW + Tantivy, write-ahead logged) at {} in {:.2?}",
            db.len(),
            path.display(),
            t.elapsed()
        );
        db.close()?;
        let t = Instant::now();
        let db = VectorDB::open_existing(&path)?;
        println!("reopened it in {:.2?}\n", t.elapsed());
        println!(
            "Each hit: rank, fused score, then each side's own score: vec = cosine similarity \
             of the embeddings (-1..1), text = BM25 (0 and up; - = not found by that side).\n\
             hybrid fuses both lists ({}); \"<== relevant\" marks the judged answer.\n",
            Fusion::default()
        );
        let modes = ["vector", "text", "hybrid"];
        let query = |i: usize, mode: &str| {
            let q = &ds.queries[i];
            let base = Query::new().k(10).fusion(Fusion::default());
            match mode {
                "vector" => base.vector(ds.query_vector(i).to_vec()),
                "text" => base.text(q.text.clone()),
                _ => base
                    .vector(ds.query_vector(i).to_vec())
                    .text(q.text.clone()),
            }
        };
        for i in 0..show.min(ds.queries.len()) {
            let q = &ds.queries[i];
            println!("query {:?} ({}): {:?}", q.id, q.kind, q.text);
            for mode in modes {
                let hits = db.search(&query(i, mode).k(5))?;
                print_demo_hits(mode, &hits, &q.relevant);
            }
            println!();
        }
        let filtered = db.search(
            &query(0, "hybrid")
                .k(3)
                .filter(Filter::from_json(&json!({"kind": "book"}))?),
        )?;
        println!("hybrid search for query 0 with filter {{\"kind\": \"book\"}}:");
        print_demo_hits("hybrid + filter", &filtered, "");
        println!();
        println!(
            "quality over all {} sample queries (k = 10):",
            ds.queries.len()
        );
        println!(
            "  {:<8} {:>8} {:>10} {:>12}",
            "mode", "MRR@10", "recall@10", "mean time"
        );
        for mode in modes {
            let t = Instant::now();
            let runs: Vec<Vec<Hit>> = (0..ds.queries.len())
                .map(|i| db.search(&query(i, mode)))
                .collect::<vjson::Result<_>>()?;
            let per = t.elapsed() / ds.queries.len().max(1) as u32;
            let (mrr, recall) = mrr_recall_at_10(
                runs.iter()
                    .zip(&ds.queries)
                    .map(|(h, q)| (h.as_slice(), q.relevant.as_str())),
            );
            println!("  {mode:<8} {mrr:>8.4} {recall:>10.4} {per:>12.2?}");
        }
        db.close()?;
        let example = ds.queries.first().map_or("ownership", |q| q.text.as_str());
        println!(
            "\nThe database is kept at {p}. Try next:\n  vjson search {p} --text {example:?} --k 5\n  vjson stats {p}",
            p = path.display()
        );
        Ok(())
    }
}
