//! Opening an on-disk database (native only): creating the layout in an empty
//! directory, or loading and checking every data file against the manifest, opening or
//! rebuilding the text index, and reading the write-ahead log. The records past the
//! checkpoint are returned for `db.rs` to replay through the write path.
//!
//! No data file or log byte is changed until the whole database checked out: only then
//! are the bytes past the checkpoint and the log's bad tail cut, and stray files removed.
//! (Before that, open may create the empty `wal/` directory, and rebuild the text index,
//! which is derived data, from the stored texts. After it, a database stored without int8
//! codes gets its codes file, derived from the vectors, named in a rewritten manifest.)
//! Damaged data files are a `corrupt` error; the text index is derived data and is
//! rebuilt from the stored texts when it is missing or does not match the log.

use std::fs;
use std::path::Path;

use memmap2::Mmap;

use super::Journal;
use super::disk::{DiskJournal, remove_superseded};
use crate::error::{Error, Result};
use crate::hnsw::Hnsw;
use crate::hnsw::VectorSource;
use crate::options::{Options, Quantization};
use crate::state::{State, stored_texts};
use crate::store::file::{AppendFile, corrupt, disk_size, io_err, sync_dir};
use crate::store::lock::{LOCK, READERS, WriterLock};
use crate::store::manifest::{
    FORMAT, FORMAT_VERSION, FileRef, MANIFEST, Manifest, WAL_DIR, WAL_FILE, is_ours, remove_strays,
};
use crate::store::wal::{Recovery, Wal, WalRecord};
use crate::store::{
    Backed, IdIndex, Int8Vectors, MappedVectors, Rows, VectorFile, Vectors, map_valid,
};
use crate::text::{TantivyWriter, Text};

/// A write that leaves the log larger than this triggers a checkpoint.
pub const CHECKPOINT_WAL_BYTES: u64 = 64 << 20;

/// What [`open`] returns: the state to search, the writer's side, the log records to
/// replay on top, and the options in effect.
pub(crate) struct Opened {
    pub(crate) state: State,
    pub(crate) journal: Journal,
    pub(crate) records: Vec<WalRecord>,
    pub(crate) options: Options,
}

/// Compares stored and requested options; dimension, metric, `m` and full text must agree.
fn check_options(dir: &Path, stored: &Options, given: &Options) -> Result<()> {
    let mut diffs = Vec::new();
    if stored.dimension != given.dimension {
        diffs.push(format!(
            "dimension {} (asked for {})",
            stored.dimension, given.dimension
        ));
    }
    if stored.metric != given.metric {
        diffs.push(format!(
            "metric {} (asked for {})",
            stored.metric.name(),
            given.metric.name()
        ));
    }
    if stored.hnsw.m != given.hnsw.m {
        diffs.push(format!(
            "hnsw m {} (asked for {})",
            stored.hnsw.m, given.hnsw.m
        ));
    }
    if stored.fulltext != given.fulltext {
        diffs.push(format!(
            "full text {} (asked for {})",
            if stored.fulltext { "on" } else { "off" },
            if given.fulltext { "on" } else { "off" }
        ));
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(Error::InvalidOptions(format!(
            "the database at {} was created with {}; open it with the same options, or create a new database",
            dir.display(),
            diffs.join(", ")
        )))
    }
}

/// Lays out an empty database in `dir` (which holds no manifest).
fn create(dir: &Path, opts: &Options) -> Result<Manifest> {
    // Only what a creation that crashed before its manifest leaves behind may be here.
    let entries = fs::read_dir(dir).map_err(|e| io_err("listing", dir, e))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == LOCK || name == READERS {
            continue;
        }
        let holds_data = match name.as_str() {
            WAL_DIR => disk_size(&e.path()) > 0,
            n if n.starts_with("vectors.") || n.starts_with("rows.") => disk_size(&e.path()) > 0,
            n if is_ours(n) => false,
            _ => {
                return Err(Error::InvalidOptions(format!(
                    "{} is not empty and holds no vjson database (no {MANIFEST}); use a new or empty directory",
                    dir.display()
                )));
            }
        };
        if holds_data {
            return Err(corrupt(
                &dir.join(MANIFEST),
                "missing, but the directory holds database files; restore the manifest or the database from a backup",
            ));
        }
    }
    remove_strays(dir, &[]);
    let wal_dir = dir.join(WAL_DIR);
    fs::create_dir_all(&wal_dir).map_err(|e| io_err("creating", &wal_dir, e))?;
    Wal::create(&wal_dir.join(WAL_FILE))?;
    sync_dir(&wal_dir)?;
    AppendFile::create(dir.join("vectors.f32"))?.sync()?;
    AppendFile::create(dir.join("rows.dat"))?.sync()?;
    let live = FileRef::write(dir, "live.0.bin".into(), &[])?;
    let graph = Hnsw::new(&opts.hnsw).to_bytes();
    let hnsw = FileRef::write(dir, "hnsw.0.bin".into(), &graph)?;
    let text = if opts.fulltext {
        TantivyWriter::create(&dir.join("tantivy"))?.commit(0)?;
        Some("tantivy".to_string())
    } else {
        None
    };
    let m = Manifest {
        format: FORMAT.into(),
        version: FORMAT_VERSION,
        options: opts.clone(),
        checkpoint: 0,
        checkpoint_seq: 0,
        rows: 0,
        live_rows: 0,
        vectors: FileRef::appended("vectors.f32".into(), 0),
        rows_file: FileRef::appended("rows.dat".into(), 0),
        live_file: live,
        hnsw,
        codes: None,
        text,
        row_index: None,
    };
    m.write(dir)?;
    Ok(m)
}

/// Opens (creating if needed) the database at `dir`: takes the lock, loads and checks the
/// data files, opens or rebuilds the text index and reads the log. The caller replays
/// the returned records.
pub(crate) fn open(dir: &Path, given: &Options) -> Result<Opened> {
    match fs::metadata(dir) {
        Ok(m) if !m.is_dir() => {
            return Err(io_err(
                "opening database directory",
                dir,
                std::io::Error::new(
                    std::io::ErrorKind::NotADirectory,
                    "the path exists and is not a directory",
                ),
            ));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(|e| io_err("creating database directory", dir, e))?;
        }
        Err(e) => return Err(io_err("opening database directory", dir, e)),
    }
    let lock = WriterLock::acquire(dir)?;

    let mut manifest = if dir.join(MANIFEST).exists() {
        Manifest::read(dir)?
    } else {
        create(dir, given)?
    };
    // Limits are not stored: this open's are the database's (and not a change of its
    // options that a checkpoint should record).
    manifest.options.limits = given.limits.clone();
    check_options(dir, &manifest.options, given)?;
    // Stored: dimension, metric, m, full text. Taken from this open: the rest.
    let mut opts = given.clone();
    opts.hnsw.m = manifest.options.hnsw.m;
    let dim = opts.dimension;
    let Checkpointed {
        vec_file,
        map,
        codes,
        rows_file,
        rows,
        ids,
        hnsw,
    } = load(dir, &manifest, &opts, true)?;
    let rows_n = rows.len();
    let vectors = Vectors::Mapped(MappedVectors::new(dim, map, rows_n));
    let (codes_file, codes) = match codes {
        Some((f, map)) => (Some(f), Some(Int8Vectors::mapped(dim, map, rows_n))),
        None => (None, None),
    };

    // The log.
    let wal_dir = dir.join(WAL_DIR);
    fs::create_dir_all(&wal_dir).map_err(|e| io_err("creating", &wal_dir, e))?;
    let (
        wal,
        Recovery {
            records,
            truncated_bytes,
            last_seq,
            ..
        },
    ) = Wal::open(&wal_dir.join(WAL_FILE), dim, manifest.checkpoint_seq)?;

    // Text. Its commit must lie between the checkpoint and the end of the log; otherwise
    // (missing, damaged payload, or ahead of a log that lost its tail) it is rebuilt as of
    // the checkpoint and the whole log is replayed into it.
    let mut text_rebuilt = false;
    let text = match &manifest.text {
        None => None,
        Some(name) => {
            let tdir = dir.join(name);
            match TantivyWriter::open(&tdir)? {
                Some(w) if (manifest.checkpoint_seq..=last_seq).contains(&w.committed_seq()) => {
                    Some(w)
                }
                other => {
                    if let Some(w) = other {
                        w.close()?;
                    }
                    text_rebuilt = true;
                    Some(rebuild_text(&tdir, &rows, manifest.checkpoint_seq)?)
                }
            }
        }
    };

    let text_index = match &text {
        Some(w) => Some(Text::Tantivy(w.text_index(rows_n as u32)?)),
        None => None,
    };
    let mut state =
        State::from_stored(rows, ids, vectors, hnsw, text_index).with_stored_codes(&opts, codes);

    // Everything checked out: only now cut what lies past the checkpoint and the last good
    // log record, and remove the files the manifest does not name. (Cutting the vector
    // file while it is mapped is sound: the cut lies past the mapped range; see
    // `MappedVectors`.)
    let (mut vec_file, mut rows_file, mut wal, mut codes_file) =
        (vec_file, rows_file, wal, codes_file);
    vec_file.file.cut_extra()?;
    if let Some(f) = codes_file.as_mut() {
        f.file.cut_extra()?;
    }
    if codes_file.is_none() && opts.quantization == Quantization::Int8 {
        let (f, c) = store_codes(dir, &mut manifest, &state.vectors)?;
        codes_file = Some(f);
        state.codes = Some(c);
    }
    rows_file.cut_extra()?;
    wal.cut_tail()?;
    remove_superseded(dir, &manifest);
    let journal = Journal::Disk(Box::new(DiskJournal {
        dir: dir.to_owned(),
        _lock: lock,
        manifest,
        opts: opts.clone(),
        wal,
        vec_file,
        codes_file,
        rows_file,
        text,
        last_seq,
        broken: None,
        replayed: records.len() as u64,
        truncated: truncated_bytes,
        text_rebuilt,
        last_error: None,
        retired_text: None,
    }));
    Ok(Opened {
        state,
        journal,
        records,
        options: opts,
    })
}

/// Writes the int8 codes of every checkpointed row to a new codes file and names it in
/// the manifest (rewritten at once): for a database stored before codes were, or last
/// checkpointed without int8 quantisation. Returns the file and the codes, mapped.
fn store_codes(
    dir: &Path,
    manifest: &mut Manifest,
    vectors: &Vectors,
) -> Result<(VectorFile, Int8Vectors)> {
    let dim = manifest.options.dimension;
    let rows = usize::try_from(manifest.rows).expect("checked by load");
    // A name no manifest has used for other bytes: each checkpoint names its own.
    let name = format!("vectors.{}.i8", manifest.checkpoint);
    let mut f = VectorFile::new(AppendFile::create(dir.join(&name))?);
    for r in 0..rows {
        f.append_code(vectors.vector(r as u32))?;
    }
    f.sync()?;
    sync_dir(dir)?;
    let bytes = f.len();
    manifest.codes = Some(FileRef::appended(name, bytes));
    manifest.write(dir)?;
    let map = f.map(bytes)?;
    Ok((f, Int8Vectors::mapped(dim, map, rows)))
}

/// The data files a manifest names, opened and checked: what a writer's and a reader's
/// open share.
pub(super) struct Checkpointed {
    pub(super) vec_file: VectorFile,
    pub(super) map: Option<Mmap>,
    /// The int8 codes file and its map, when stored and `opts` asks for int8.
    pub(super) codes: Option<(VectorFile, Option<Mmap>)>,
    pub(super) rows_file: AppendFile,
    pub(super) rows: Rows,
    /// The live rows' ids.
    pub(super) ids: IdIndex,
    pub(super) hnsw: Hnsw,
}

/// Opens (for appending when `writable`) and checks the vector, row, liveness and graph
/// files `manifest` names, maps the vectors and indexes the ids. The graph is read on
/// another thread while the rows are.
pub(super) fn load(
    dir: &Path,
    manifest: &Manifest,
    opts: &Options,
    writable: bool,
) -> Result<Checkpointed> {
    let open = if writable {
        AppendFile::open
    } else {
        AppendFile::open_read_only
    };
    let dim = opts.dimension;
    let rows_n = usize::try_from(manifest.rows)
        .map_err(|_| corrupt(&dir.join(MANIFEST), "row count too large"))?;

    // Vectors.
    let vec_bytes = manifest.rows.checked_mul(dim as u64 * 4);
    if vec_bytes != Some(manifest.vectors.bytes) {
        return Err(corrupt(
            &dir.join(MANIFEST),
            format!(
                "{} rows of dimension {dim} do not take {} bytes",
                manifest.rows, manifest.vectors.bytes
            ),
        ));
    }
    let vec_file = VectorFile::new(open(
        dir.join(&manifest.vectors.name),
        manifest.vectors.bytes,
    )?);
    let map = vec_file.map(manifest.vectors.bytes)?;

    // Int8 codes, when stored and wanted.
    let codes = match (&manifest.codes, opts.quantization) {
        (Some(c), Quantization::Int8) => {
            let want = manifest
                .rows
                .checked_mul(Int8Vectors::row_bytes(dim) as u64);
            if want != Some(c.bytes) {
                return Err(corrupt(
                    &dir.join(MANIFEST),
                    format!(
                        "{} rows of dimension {dim} do not take {} bytes of int8 codes",
                        manifest.rows, c.bytes
                    ),
                ));
            }
            let f = VectorFile::new(open(dir.join(&c.name), c.bytes)?);
            let map = f.map(c.bytes)?;
            Some((f, map))
        }
        _ => None,
    };

    // The rows and liveness on this thread, the graph on another.
    let hnsw_path = dir.join(&manifest.hnsw.name);
    let (rows, graph) = crate::par::join(
        || load_rows(dir, manifest, open, rows_n),
        || -> Result<Hnsw> {
            let graph = manifest.hnsw.read(dir)?;
            Hnsw::from_bytes(&graph, &opts.hnsw, rows_n).map_err(|e| e.into_corrupt(&hnsw_path))
        },
    );
    let (rows_file, rows, ids) = rows?;
    Ok(Checkpointed {
        vec_file,
        map,
        codes,
        rows_file,
        rows,
        ids,
        hnsw: graph?,
    })
}

/// The row file and liveness bitmap `manifest` names, checked, and the live rows' ids.
fn load_rows(
    dir: &Path,
    manifest: &Manifest,
    open: fn(std::path::PathBuf, u64) -> Result<AppendFile>,
    rows_n: usize,
) -> Result<(AppendFile, Rows, IdIndex)> {
    let rows_file = open(dir.join(&manifest.rows_file.name), manifest.rows_file.bytes)?;
    let indexed = match &manifest.row_index {
        Some(ix) => {
            let map = map_valid(&rows_file)?;
            let bytes = ix.read(dir)?;
            let backing: Box<dyn Backed> = match map {
                Some(m) => Box::new(m),
                None => Box::new(Vec::new()),
            };
            Rows::from_index(backing, &bytes, rows_n)
                .map_err(|e| e.into_corrupt(&dir.join(&ix.name)))?
        }
        None => None,
    };
    let mut rows = match indexed {
        Some(mut rows) => {
            rows.set_path(&rows_file.path);
            rows
        }
        // No index (or one made by another hash function): decode the file.
        None => map_rows(&rows_file, rows_n)?,
    };
    let live_path = dir.join(&manifest.live_file.name);
    let live_rows = rows
        .apply_live(&manifest.live_file.read(dir)?)
        .map_err(|e| e.into_corrupt(&live_path))?;
    if live_rows as u64 != manifest.live_rows {
        return Err(corrupt(
            &live_path,
            format!(
                "marks {live_rows} rows live but the manifest says {}",
                manifest.live_rows
            ),
        ));
    }
    let ids = index_rows(&rows, &rows_file.path)?;
    Ok((rows_file, rows, ids))
}

/// Indexes the ids of `rows`, just decoded from `path`, then lets the backing release
/// the pages the decode touched. Two live rows with one id are a damaged file.
pub(super) fn index_rows(rows: &Rows, path: &Path) -> Result<IdIndex> {
    let ids = IdIndex::build(rows).map_err(|detail| corrupt(path, detail));
    rows.decoded();
    ids
}

/// Decodes the `n` rows of a row file, all live, keeping its map: their texts and
/// metadata stay in the file.
pub(super) fn map_rows(rows_file: &AppendFile, n: usize) -> Result<Rows> {
    let mut rows = match map_valid(rows_file)? {
        Some(map) => Rows::decode_backed(Box::new(map), n),
        None => Rows::decode(&[], n),
    }
    .map_err(|e| e.into_corrupt(&rows_file.path))?;
    rows.set_path(&rows_file.path);
    Ok(rows)
}

/// Builds a fresh Tantivy index in `tdir` from the live rows' texts, committed as `seq`.
pub(super) fn rebuild_text(tdir: &Path, rows: &Rows, seq: u64) -> Result<TantivyWriter> {
    if tdir.exists() {
        fs::remove_dir_all(tdir).map_err(|e| io_err("removing", tdir, e))?;
    }
    let mut w = TantivyWriter::create(tdir)?;
    for r in 0..rows.len() {
        if rows.live[r] {
            w.add(r as u32, stored_texts(rows, r))?;
        }
    }
    w.commit(seq)?;
    Ok(w)
}
