//! The on-disk layout of a native database (native only): files, checkpoints, recovery.
//!
//! ```text
//! db/
//!   LOCK               held (flock) by the one process that has the database open
//!   manifest.json      format version, options, checkpoint number and the log sequence
//!                      number it covers, row counts, and the list of data files below
//!   wal/current.log    the write-ahead log (see `wal.rs`)
//!   vectors.f32        row-major f32 in stored form; appended through a 512 KiB buffer,
//!                      read through a memory map
//!   rows.dat           per row: len u32 | crc32 u32 | id, text?, metadata? (append-only)
//!   live.<c>.bin       liveness bitmap, one bit per row (rewritten by checkpoint c)
//!   hnsw.<c>.bin       the HNSW graph's flat bytes (rewritten by checkpoint c)
//!   tantivy/           the full-text index; its commit payload is the sequence number
//! ```
//!
//! The manifest names every data file; it is replaced atomically (temp file, fsync,
//! rename, fsync of the directory) and last, so a crash at any point leaves the previous
//! checkpoint intact. `vectors.f32` and `rows.dat` are only appended to: the manifest
//! records their valid length and anything past it (a checkpoint that did not finish) is
//! cut at open. Per-checkpoint files get new names; compaction writes a new generation of
//! every file (`vectors.<c>.f32`, `rows.<c>.dat`, `tantivy.<c>/`) and switches to it by the
//! manifest alike. Files the manifest does not name are removed at open.
//!
//! A checkpoint runs under the writer lock while searches continue: it fsyncs the vector
//! file, appends the new rows to `rows.dat`, writes the graph and the bitmap, commits
//! Tantivy with the sequence number as payload, writes the manifest, empties the log, and
//! finally (under a brief write lock) remaps the vectors and hands the new Tantivy searcher
//! to the search side. Vectors, rows, liveness and graph must check out against the
//! manifest (lengths, CRCs, graph links) or opening fails with a `corrupt` error; the text
//! index is derived data and is rebuilt from the stored texts when it is missing.
//!
//! Vectors are mapped as native `f32`: the on-disk format is little-endian, and so is
//! every platform vjson runs natively on.

#[cfg(target_endian = "big")]
compile_error!(
    "vjson's on-disk format maps little-endian f32 directly; big-endian hosts are not supported"
);

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use memmap2::{Mmap, MmapOptions};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::wal::{Recovery, Wal, WalRecord};
use super::{Rows, Vectors};
use crate::db::{DiskStats, Inner};
use crate::distance::Distance;
use crate::error::{Error, Result};
use crate::hnsw::{Hnsw, VectorSource};
use crate::options::{Durability, Options};
use crate::text::TextIndex;
use crate::text::tantivy::TantivyWriter;

/// The manifest's `format` value.
pub(crate) const FORMAT: &str = "vjson";
/// The on-disk format version this build writes and reads.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// Vector bytes gathered before one write to `vectors.f32`.
pub(crate) const VECTOR_BUFFER_BYTES: usize = 512 * 1024;
/// A write that leaves the log larger than this triggers a checkpoint.
pub const CHECKPOINT_WAL_BYTES: u64 = 64 << 20;

const LOCK: &str = "LOCK";
const MANIFEST: &str = "manifest.json";
const WAL_DIR: &str = "wal";
const WAL_FILE: &str = "current.log";
const NONE: u32 = u32::MAX;

// ---------------------------------------------------------------------------------------
// Byte helpers shared with the log.

pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

pub(crate) fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => put_str(out, s),
        None => out.extend_from_slice(&NONE.to_le_bytes()),
    }
}

/// A bounds-checked little-endian reader; `None` means "cut short or malformed".
pub(crate) struct ByteReader<'a> {
    buf: &'a [u8],
}

impl<'a> ByteReader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        ByteReader { buf }
    }
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.buf.len() < n {
            return None;
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Some(a)
    }
    pub(crate) fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    pub(crate) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    pub(crate) fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    pub(crate) fn opt_str(&mut self) -> Option<Option<&'a str>> {
        let len = self.u32()?;
        if len == NONE {
            return Some(None);
        }
        std::str::from_utf8(self.take(len as usize)?).ok().map(Some)
    }
    pub(crate) fn str(&mut self) -> Option<&'a str> {
        self.opt_str()?
    }
}

fn io_err(what: impl std::fmt::Display, path: &Path, e: std::io::Error) -> Error {
    Error::io(format!("{what} {}", path.display()), e)
}

fn corrupt(path: &Path, detail: impl Into<String>) -> Error {
    Error::Corrupt {
        path: path.display().to_string(),
        detail: detail.into(),
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err("syncing directory", dir, e))
}

/// Writes `bytes` to `dir/name` through `name.tmp`, fsync and rename (the caller syncs
/// the directory).
fn write_replace(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let dst = dir.join(name);
    let mut f = File::create(&tmp).map_err(|e| io_err("creating", &tmp, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| io_err("writing", &tmp, e))?;
    fs::rename(&tmp, &dst).map_err(|e| io_err("renaming into place", &dst, e))
}

/// Total size of the files under `path` (a file or a directory).
fn disk_size(path: &Path) -> u64 {
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => fs::read_dir(path)
            .map(|rd| rd.flatten().map(|e| disk_size(&e.path())).sum())
            .unwrap_or(0),
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}

// ---------------------------------------------------------------------------------------
// The manifest.

/// A data file the manifest names: its name in the database directory, its valid length
/// and, for files rewritten whole, its CRC32.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct FileRef {
    pub(crate) name: String,
    pub(crate) bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) crc32: Option<u32>,
}

impl FileRef {
    fn new(name: String, bytes: u64, crc32: Option<u32>) -> Self {
        FileRef { name, bytes, crc32 }
    }
}

/// `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub(crate) format: String,
    pub(crate) version: u32,
    pub(crate) options: Options,
    /// Checkpoints taken so far (names the per-checkpoint files).
    pub(crate) checkpoint: u64,
    /// The last log sequence number the data files hold.
    pub(crate) checkpoint_seq: u64,
    pub(crate) rows: u64,
    pub(crate) live: u64,
    pub(crate) vectors: FileRef,
    pub(crate) rows_file: FileRef,
    pub(crate) live_file: FileRef,
    pub(crate) hnsw: FileRef,
    /// The Tantivy directory, when full text is on.
    pub(crate) text: Option<String>,
}

impl Manifest {
    fn names(&self) -> Vec<&str> {
        let mut v = vec![
            self.vectors.name.as_str(),
            self.rows_file.name.as_str(),
            self.live_file.name.as_str(),
            self.hnsw.name.as_str(),
        ];
        v.extend(self.text.as_deref());
        v
    }
}

fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\'])
        && ![LOCK, MANIFEST, WAL_DIR].contains(&name)
}

fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST);
    let bytes = fs::read(&path).map_err(|e| io_err("reading", &path, e))?;
    let m: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| corrupt(&path, format!("not a valid manifest: {e}")))?;
    if m.format != FORMAT {
        return Err(corrupt(
            &path,
            format!("format {:?} is not {FORMAT:?}", m.format),
        ));
    }
    if m.version != FORMAT_VERSION {
        return Err(corrupt(
            &path,
            format!(
                "on-disk format version {}; this build reads version {FORMAT_VERSION}",
                m.version
            ),
        ));
    }
    m.options
        .validate()
        .map_err(|e| corrupt(&path, format!("stored options: {e}")))?;
    if let Some(bad) = m.names().into_iter().find(|n| !is_plain_name(n)) {
        return Err(corrupt(&path, format!("names the data file {bad:?}")));
    }
    if m.live > m.rows {
        return Err(corrupt(&path, "more live rows than rows"));
    }
    if m.text.is_some() != m.options.fulltext {
        return Err(corrupt(&path, "full text setting and text index disagree"));
    }
    Ok(m)
}

fn write_manifest(dir: &Path, m: &Manifest) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(m).expect("manifest serialises");
    write_replace(dir, MANIFEST, &bytes)?;
    sync_dir(dir)
}

/// The options stored in the database at `dir`, if there is one.
pub(crate) fn stored_options(dir: &Path) -> Result<Option<Options>> {
    if !dir.join(MANIFEST).is_file() {
        return Ok(None);
    }
    read_manifest(dir).map(|m| Some(m.options))
}

// ---------------------------------------------------------------------------------------
// Vectors.

/// Vectors of an on-disk database: rows `0..mapped` read from the memory-mapped
/// `vectors.f32`, later rows from `tail` until the next checkpoint maps them. Only the
/// writer changes it, under the database's write lock, so no reader ever holds a slice
/// of a map that is being replaced.
pub(crate) struct DiskVectors {
    dim: usize,
    map: Option<Mmap>,
    mapped: usize,
    tail: Vec<f32>,
}

impl DiskVectors {
    fn new(dim: usize, map: Option<Mmap>, rows: usize) -> Self {
        debug_assert_eq!(map.as_ref().map_or(0, |m| m.len()), rows * dim * 4);
        DiskVectors {
            dim,
            map,
            mapped: rows,
            tail: Vec::new(),
        }
    }

    #[inline]
    pub(crate) fn vector(&self, row: u32) -> &[f32] {
        let r = row as usize;
        if r < self.mapped {
            let map = self.map.as_ref().expect("rows below `mapped` are mapped");
            // SAFETY: the map is page-aligned (so f32-aligned) and holds exactly
            // `mapped * dim` little-endian f32 (checked at construction); `r < mapped`. The
            // file is only appended to while mapped (nothing shrinks it: the LOCK file
            // keeps other vjson processes out), and the map outlives `&self`.
            unsafe {
                std::slice::from_raw_parts(map.as_ptr().cast::<f32>().add(r * self.dim), self.dim)
            }
        } else {
            let s = (r - self.mapped) * self.dim;
            &self.tail[s..s + self.dim]
        }
    }

    pub(crate) fn push(&mut self, v: &[f32]) {
        debug_assert_eq!(v.len(), self.dim);
        self.tail.extend_from_slice(v);
    }

    pub(crate) fn reserve(&mut self, rows: usize) {
        self.tail.reserve(rows * self.dim);
    }

    fn rows(&self) -> usize {
        self.mapped + self.tail.len() / self.dim
    }

    /// Replaces the map by one covering every row, and drops the tail.
    fn install(&mut self, map: Option<Mmap>, rows: usize) {
        debug_assert_eq!(rows, self.rows());
        debug_assert_eq!(map.as_ref().map_or(0, |m| m.len()), rows * self.dim * 4);
        self.map = map;
        self.mapped = rows;
        self.tail = Vec::new();
    }
}

/// An append-only file whose first `len` bytes are valid.
struct AppendFile {
    file: File,
    path: PathBuf,
    len: u64,
    /// Bytes past `len` (an unfinished checkpoint), cut by [`AppendFile::cut_extra`].
    extra: u64,
}

impl AppendFile {
    fn create(path: PathBuf) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io_err("creating", &path, e))?;
        file.set_len(0).map_err(|e| io_err("creating", &path, e))?;
        Ok(AppendFile {
            file,
            path,
            len: 0,
            extra: 0,
        })
    }

    /// Opens a file that must hold at least `valid` bytes. What lies beyond is cut by
    /// [`AppendFile::cut_extra`], once the whole database checked out.
    fn open(path: PathBuf, valid: u64) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    corrupt(&path, "missing")
                } else {
                    io_err("opening", &path, e)
                }
            })?;
        let have = file
            .metadata()
            .map_err(|e| io_err("reading the size of", &path, e))?
            .len();
        if have < valid {
            return Err(corrupt(
                &path,
                format!("holds {have} bytes but the manifest says {valid}"),
            ));
        }
        Ok(AppendFile {
            file,
            path,
            len: valid,
            extra: have - valid,
        })
    }

    /// Cuts the bytes past the valid length (before anything is appended).
    fn cut_extra(&mut self) -> Result<()> {
        if self.extra > 0 {
            self.file
                .set_len(self.len)
                .map_err(|e| io_err("cutting an unfinished checkpoint off", &self.path, e))?;
            self.extra = 0;
        }
        Ok(())
    }

    fn append(&mut self, bytes: &[u8]) -> Result<()> {
        debug_assert_eq!(self.extra, 0, "appending after unchecked bytes");
        self.file
            .write_all(bytes)
            .map_err(|e| io_err("writing", &self.path, e))?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    fn cut_to(&mut self, len: u64) -> Result<()> {
        if self.len != len {
            self.file
                .set_len(len)
                .map_err(|e| io_err("truncating", &self.path, e))?;
            self.len = len;
        }
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| io_err("syncing", &self.path, e))
    }

    fn read_all(&self) -> Result<Vec<u8>> {
        let mut f = File::open(&self.path).map_err(|e| io_err("opening", &self.path, e))?;
        let mut buf = Vec::with_capacity(self.len as usize);
        std::io::Read::read_to_end(&mut std::io::Read::take(&mut f, self.len), &mut buf)
            .map_err(|e| io_err("reading", &self.path, e))?;
        Ok(buf)
    }
}

/// `vectors.f32` for writing: appends go through a 512 KiB buffer.
struct VectorFile {
    file: AppendFile,
    buf: Vec<u8>,
}

impl VectorFile {
    fn new(file: AppendFile) -> Self {
        VectorFile {
            file,
            buf: Vec::with_capacity(VECTOR_BUFFER_BYTES),
        }
    }

    fn append(&mut self, v: &[f32]) -> Result<()> {
        for x in v {
            self.buf.extend_from_slice(&x.to_le_bytes());
        }
        if self.buf.len() >= VECTOR_BUFFER_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            self.file.append(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        self.flush()?;
        self.file.sync()
    }

    /// Maps the first `bytes` bytes (which must have been flushed).
    fn map(&self, bytes: u64) -> Result<Option<Mmap>> {
        if bytes == 0 {
            return Ok(None);
        }
        let len = usize::try_from(bytes)
            .map_err(|_| corrupt(&self.file.path, "too large to map on this platform"))?;
        // SAFETY: the file is ours (LOCK) and only ever appended to while mapped; the map
        // is read-only.
        unsafe { MmapOptions::new().len(len).map(&self.file.file) }
            .map(Some)
            .map_err(|e| io_err("mapping", &self.file.path, e))
    }
}

// ---------------------------------------------------------------------------------------
// Rows and liveness.

fn encode_row(out: &mut Vec<u8>, rows: &Rows, r: usize) {
    let start = out.len();
    out.extend_from_slice(&[0u8; 8]);
    put_str(out, &rows.ids[r]);
    put_opt_str(out, rows.texts[r].as_deref());
    let meta = rows.metadata[r].as_ref().map(Value::to_string);
    put_opt_str(out, meta.as_deref());
    let len = (out.len() - start - 8) as u32;
    let crc = crc32fast::hash(&out[start + 8..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn decode_rows(path: &Path, bytes: &[u8], rows: usize) -> Result<Rows> {
    let mut out = Rows::default();
    let mut r = ByteReader::new(bytes);
    let bad = |row: usize, what: &str| corrupt(path, format!("row {row}: {what}"));
    // Each row takes at least 20 bytes: bound the count before allocating for it.
    if rows.saturating_mul(20) > bytes.len() {
        return Err(corrupt(
            path,
            format!("{} bytes cannot hold {rows} rows", bytes.len()),
        ));
    }
    out.ids.reserve(rows);
    for row in 0..rows {
        let len = r.u32().ok_or_else(|| bad(row, "cut short"))? as usize;
        let crc = r.u32().ok_or_else(|| bad(row, "cut short"))?;
        let body = r.take(len).ok_or_else(|| bad(row, "cut short"))?;
        if crc32fast::hash(body) != crc {
            return Err(bad(row, "fails its CRC check"));
        }
        let mut b = ByteReader::new(body);
        let id = b.str().ok_or_else(|| bad(row, "malformed id"))?;
        let text = b.opt_str().ok_or_else(|| bad(row, "malformed text"))?;
        let meta = match b.opt_str().ok_or_else(|| bad(row, "malformed metadata"))? {
            None => None,
            Some(s) => match serde_json::from_str::<Value>(s) {
                Ok(v @ Value::Object(_)) => Some(v),
                _ => return Err(bad(row, "metadata is not a JSON object")),
            },
        };
        if b.remaining() != 0 {
            return Err(bad(row, "trailing bytes"));
        }
        out.push(id.to_owned(), text.map(str::to_owned), meta);
    }
    if r.remaining() != 0 {
        return Err(corrupt(path, "bytes after the last row"));
    }
    Ok(out)
}

fn encode_live(live: &[bool]) -> Vec<u8> {
    let mut out = vec![0u8; live.len().div_ceil(8)];
    for (i, &l) in live.iter().enumerate() {
        if l {
            out[i / 8] |= 1 << (i % 8);
        }
    }
    out
}

/// Reads a whole file the manifest names with a CRC, checking length and CRC.
fn read_checked(dir: &Path, f: &FileRef) -> Result<Vec<u8>> {
    let path = dir.join(&f.name);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(corrupt(&path, "missing"));
        }
        Err(e) => return Err(io_err("reading", &path, e)),
    };
    if bytes.len() as u64 != f.bytes {
        return Err(corrupt(
            &path,
            format!(
                "holds {} bytes but the manifest says {}",
                bytes.len(),
                f.bytes
            ),
        ));
    }
    if f.crc32.is_some_and(|c| c != crc32fast::hash(&bytes)) {
        return Err(corrupt(&path, "fails its CRC check"));
    }
    Ok(bytes)
}

/// Writes a per-checkpoint file and returns its manifest entry.
fn write_checked(dir: &Path, name: String, bytes: &[u8]) -> Result<FileRef> {
    write_replace(dir, &name, bytes)?;
    Ok(FileRef::new(
        name,
        bytes.len() as u64,
        Some(crc32fast::hash(bytes)),
    ))
}

// ---------------------------------------------------------------------------------------
// The database's disk state.

/// Everything the writer of an on-disk database holds: the lock, the manifest, the log,
/// the append handles of the data files and Tantivy's writer.
pub(crate) struct DiskState {
    dir: PathBuf,
    _lock: File,
    manifest: Manifest,
    opts: Options,
    wal: Wal,
    vec_file: VectorFile,
    rows_file: AppendFile,
    text: Option<TantivyWriter>,
    /// The last sequence number written to the log.
    last_seq: u64,
    /// Set when a failure left memory and disk out of step: writes are refused until the
    /// database is reopened (which recovers from the log).
    broken: Option<String>,
    replayed: u64,
    truncated: u64,
    text_rebuilt: bool,
    last_error: Option<String>,
}

impl Drop for DiskState {
    fn drop(&mut self) {
        if let Some(t) = self.text.take() {
            // Nothing may write to the directory once the database is closed (the lock is
            // released right after).
            if let Err(e) = t.close() {
                eprintln!(
                    "vjson: closing the full-text index of {}: {e}",
                    self.dir.display()
                );
            }
        }
    }
}

/// What [`open`] returns: the state to search, the writer's state, and the log records
/// to replay on top.
pub(crate) struct Opened {
    pub(crate) inner: Inner,
    pub(crate) state: DiskState,
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

fn is_ours(name: &str) -> bool {
    name.ends_with(".tmp")
        || ["vectors.", "rows.", "live.", "hnsw.", "tantivy"]
            .iter()
            .any(|p| name.starts_with(p))
}

/// Removes data files and directories of ours that `keep` does not name.
fn remove_strays(dir: &Path, keep: &[&str]) {
    let Ok(rd) = fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !is_ours(&name) || keep.contains(&name.as_str()) {
            continue;
        }
        let p = e.path();
        let _ = if p.is_dir() {
            fs::remove_dir_all(&p)
        } else {
            fs::remove_file(&p)
        };
    }
}

/// Lays out an empty database in `dir` (which holds no manifest).
fn create(dir: &Path, opts: &Options) -> Result<Manifest> {
    // Only what a creation that crashed before its manifest leaves behind may be here.
    let entries = fs::read_dir(dir).map_err(|e| io_err("listing", dir, e))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == LOCK {
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
    let live = write_checked(dir, "live.0.bin".into(), &[])?;
    let graph = Hnsw::new(&opts.hnsw).to_bytes();
    let hnsw = write_checked(dir, "hnsw.0.bin".into(), &graph)?;
    let text = if opts.fulltext {
        TantivyWriter::create(&dir.join("tantivy"), 0)?;
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
        live: 0,
        vectors: FileRef::new("vectors.f32".into(), 0, None),
        rows_file: FileRef::new("rows.dat".into(), 0, None),
        live_file: live,
        hnsw,
        text,
    };
    write_manifest(dir, &m)?;
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
    let lock_path = dir.join(LOCK);
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|e| io_err("opening", &lock_path, e))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(Error::Locked(dir.display().to_string()));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io_err("locking", &lock_path, e)),
    }

    let manifest = if dir.join(MANIFEST).exists() {
        read_manifest(dir)?
    } else {
        create(dir, given)?
    };
    check_options(dir, &manifest.options, given)?;
    // Stored: dimension, metric, m, full text. Taken from this open: the rest.
    let mut opts = given.clone();
    opts.hnsw.m = manifest.options.hnsw.m;
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
    let vec_file = VectorFile::new(AppendFile::open(
        dir.join(&manifest.vectors.name),
        manifest.vectors.bytes,
    )?);
    let map = vec_file.map(manifest.vectors.bytes)?;

    // Rows and liveness.
    let rows_file = AppendFile::open(dir.join(&manifest.rows_file.name), manifest.rows_file.bytes)?;
    let mut rows = decode_rows(&rows_file.path, &rows_file.read_all()?, rows_n)?;
    let live_path = dir.join(&manifest.live_file.name);
    let live = read_checked(dir, &manifest.live_file)?;
    if live.len() != rows_n.div_ceil(8) {
        return Err(corrupt(&live_path, format!("does not hold {rows_n} bits")));
    }
    let mut live_count = 0u64;
    for r in 0..rows_n {
        if live[r / 8] & (1 << (r % 8)) != 0 {
            live_count += 1;
        } else {
            rows.kill(r as u32);
        }
    }
    if live_count != manifest.live {
        return Err(corrupt(
            &live_path,
            format!(
                "marks {live_count} rows live but the manifest says {}",
                manifest.live
            ),
        ));
    }

    // Graph.
    let hnsw_path = dir.join(&manifest.hnsw.name);
    let graph = read_checked(dir, &manifest.hnsw)?;
    let hnsw = Hnsw::from_bytes(&graph, &opts.hnsw, rows_n).map_err(|e| {
        let detail = match e {
            Error::InvalidSnapshot(d) => d,
            other => other.to_string(),
        };
        corrupt(&hnsw_path, detail)
    })?;

    // The log.
    let wal_dir = dir.join(WAL_DIR);
    fs::create_dir_all(&wal_dir).map_err(|e| io_err("creating", &wal_dir, e))?;
    let (
        wal,
        Recovery {
            records,
            truncated_bytes,
            last_seq,
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

    let text_index: Option<Box<dyn TextIndex>> = match &text {
        Some(w) => Some(Box::new(w.text_index(rows_n as u32)?)),
        None => None,
    };
    let vectors = Vectors::Disk(DiskVectors::new(dim, map, rows_n));
    let inner = Inner::from_stored(rows, vectors, hnsw, text_index)
        .map_err(|detail| corrupt(&rows_file.path, detail))?;

    // Everything checked out: only now cut what lies past the checkpoint and the last good
    // log record, and remove the files the manifest does not name.
    let (mut vec_file, mut rows_file, mut wal) = (vec_file, rows_file, wal);
    vec_file.file.cut_extra()?;
    rows_file.cut_extra()?;
    wal.cut_tail()?;
    remove_strays(dir, &manifest.names());
    let state = DiskState {
        dir: dir.to_owned(),
        _lock: lock,
        manifest,
        opts: opts.clone(),
        wal,
        vec_file,
        rows_file,
        text,
        last_seq,
        broken: None,
        replayed: records.len() as u64,
        truncated: truncated_bytes,
        text_rebuilt,
        last_error: None,
    };
    Ok(Opened {
        inner,
        state,
        records,
        options: opts,
    })
}

/// Builds a fresh Tantivy index in `tdir` from the live rows' texts, committed as `seq`.
fn rebuild_text(tdir: &Path, rows: &Rows, seq: u64) -> Result<TantivyWriter> {
    if tdir.exists() {
        fs::remove_dir_all(tdir).map_err(|e| io_err("removing", tdir, e))?;
    }
    let mut w = TantivyWriter::create(tdir, seq)?;
    for r in 0..rows.len() {
        if let (true, Some(t)) = (rows.live[r], rows.texts[r].as_deref()) {
            w.add(r as u32, t)?;
        }
    }
    w.commit(seq)?;
    Ok(w)
}

impl DiskState {
    /// The log sequence number the text index has committed (records up to it are
    /// already in Tantivy), or `u64::MAX` without full text.
    pub(crate) fn text_seq(&self) -> u64 {
        self.text.as_ref().map_or(u64::MAX, |t| t.committed_seq())
    }

    /// Refuses writes after a failure that left memory and disk out of step.
    pub(crate) fn usable(&self) -> Result<()> {
        match &self.broken {
            None => Ok(()),
            Some(why) => Err(Error::io(
                format!("database {} needs reopening", self.dir.display()),
                std::io::Error::other(format!(
                    "an earlier failure ({why}) left it out of step with its files; reopen it to recover from the log"
                )),
            )),
        }
    }

    /// Marks the state broken (see [`DiskState::usable`]) and passes `e` on.
    pub(crate) fn fail(&mut self, e: Error) -> Error {
        if self.broken.is_none() {
            self.broken = Some(e.to_string());
        }
        e
    }

    /// Appends one write to the log (fsync'd under `Durability::Fsync`) and returns its
    /// sequence number.
    pub(crate) fn log(&mut self, deletes: &[&str], inserts: &[crate::db::Prepared]) -> Result<u64> {
        self.usable()?;
        let seq = self.last_seq + 1;
        let record = super::wal::encode(seq, deletes, inserts, self.opts.dimension)?;
        if let Err(e) = self
            .wal
            .append(&record, self.opts.durability == Durability::Fsync)
        {
            // A write the log refused changed nothing; one it could not undo stops writes.
            return Err(if self.wal.poisoned() { self.fail(e) } else { e });
        }
        self.last_seq = seq;
        Ok(seq)
    }

    /// Writes a logged write's vectors to the vector file and queues its text changes in
    /// Tantivy (`index_text` false: Tantivy already has them, for replayed records).
    pub(crate) fn stage(
        &mut self,
        first_row: u32,
        inserts: &[crate::db::Prepared],
        deletes: &[u32],
        index_text: bool,
    ) -> Result<()> {
        let res = (|| {
            for p in inserts {
                self.vec_file.append(&p.vector)?;
            }
            if let (Some(t), true) = (&self.text, index_text) {
                for &row in deletes {
                    t.delete(row);
                }
                for (i, p) in inserts.iter().enumerate() {
                    if let Some(text) = p.text.as_deref() {
                        t.add(first_row + i as u32, text)?;
                    }
                }
            }
            Ok(())
        })();
        res.map_err(|e| self.fail(e))
    }

    /// True when the log has grown past [`CHECKPOINT_WAL_BYTES`].
    pub(crate) fn wants_checkpoint(&self) -> bool {
        self.wal.len() >= CHECKPOINT_WAL_BYTES
    }

    /// Remembers a failed automatic checkpoint (reported in stats).
    pub(crate) fn note_error(&mut self, e: &Error) {
        self.last_error = Some(e.to_string());
    }

    /// Folds the log into the data files (see the module docs). A no-op when the log is
    /// empty and nothing changed since the last checkpoint.
    pub(crate) fn checkpoint(&mut self, inner: &RwLock<Inner>) -> Result<()> {
        self.usable()?;
        if self.last_seq == self.manifest.checkpoint_seq
            && self.wal.len() == 0
            && self.opts == self.manifest.options
        {
            return Ok(());
        }
        let r = self.checkpoint_now(inner);
        match &r {
            Ok(()) => self.last_error = None,
            Err(e) => self.last_error = Some(e.to_string()),
        }
        r
    }

    fn checkpoint_now(&mut self, inner: &RwLock<Inner>) -> Result<()> {
        let seq = self.last_seq;
        let c = self.manifest.checkpoint + 1;
        let dim = self.opts.dimension as u64;
        // Tantivy's commit below is durable at once: the log it covers must be too
        // (under `Durability::Buffered` it may not be yet).
        self.wal.sync()?;
        self.vec_file.sync()?;
        let (row_bytes, live, graph, n, live_count) = {
            let g = inner.read();
            let n = g.rows.len();
            let mut rb = Vec::new();
            for r in self.manifest.rows as usize..n {
                encode_row(&mut rb, &g.rows, r);
            }
            (
                rb,
                encode_live(&g.rows.live),
                g.hnsw.to_bytes(),
                n,
                g.live as u64,
            )
        };
        if self.vec_file.file.len != n as u64 * dim * 4 {
            let e = corrupt(
                &self.vec_file.file.path,
                format!(
                    "holds {} bytes for {n} rows of dimension {dim}",
                    self.vec_file.file.len
                ),
            );
            return Err(self.fail(e));
        }
        self.rows_file.cut_to(self.manifest.rows_file.bytes)?;
        self.rows_file.append(&row_bytes)?;
        self.rows_file.sync()?;
        let live_ref = write_checked(&self.dir, format!("live.{c}.bin"), &live)?;
        let hnsw_ref = write_checked(&self.dir, format!("hnsw.{c}.bin"), &graph)?;
        drop(graph);
        let searcher = match self.text.as_mut() {
            Some(t) => match t.commit(seq) {
                Ok(s) => Some(s),
                Err(e) => return Err(self.fail(e)),
            },
            None => None,
        };
        let mut m = self.manifest.clone();
        m.options = self.opts.clone();
        m.checkpoint = c;
        m.checkpoint_seq = seq;
        m.rows = n as u64;
        m.live = live_count;
        m.vectors.bytes = n as u64 * dim * 4;
        m.rows_file.bytes = self.rows_file.len;
        m.live_file = live_ref;
        m.hnsw = hnsw_ref;
        write_manifest(&self.dir, &m)?;
        let old = std::mem::replace(&mut self.manifest, m);
        self.wal.reset()?;
        let map = self.vec_file.map(n as u64 * dim * 4)?;
        {
            let mut g = inner.write();
            if let Vectors::Disk(d) = &mut g.vectors {
                d.install(map, n);
            }
            if let (Some(s), Some(t)) = (searcher, g.text.as_mut()) {
                t.committed(s, n as u32)?;
            }
        }
        for f in [&old.live_file, &old.hnsw] {
            if !self.manifest.names().contains(&f.name.as_str()) {
                let _ = fs::remove_file(self.dir.join(&f.name));
            }
        }
        Ok(())
    }

    /// Rewrites every data file without tombstones as a new generation, rebuilding the
    /// graph and the text index, and switches to it (searches continue meanwhile on the
    /// old state, which is swapped out under a brief write lock at the end).
    pub(crate) fn compact(&mut self, inner: &RwLock<Inner>, dist: &Distance) -> Result<()> {
        self.usable()?;
        self.wal.sync()?;
        let seq = self.last_seq;
        let c = self.manifest.checkpoint + 1;
        let dim = self.opts.dimension;
        let vec_name = format!("vectors.{c}.f32");
        let rows_name = format!("rows.{c}.dat");
        let mut vf = VectorFile::new(AppendFile::create(self.dir.join(&vec_name))?);
        let mut rows = Rows::default();
        let mut row_bytes = Vec::new();
        {
            let g = inner.read();
            for r in 0..g.rows.len() {
                if !g.rows.live[r] {
                    continue;
                }
                vf.append(g.vectors.vector(r as u32))?;
                rows.push(
                    g.rows.ids[r].clone(),
                    g.rows.texts[r].clone(),
                    g.rows.metadata[r].clone(),
                );
                encode_row(&mut row_bytes, &rows, rows.len() - 1);
            }
        }
        let n = rows.len();
        vf.sync()?;
        let mut rf = AppendFile::create(self.dir.join(&rows_name))?;
        rf.append(&row_bytes)?;
        rf.sync()?;
        drop(row_bytes);
        let vectors = Vectors::Disk(DiskVectors::new(dim, vf.map((n * dim * 4) as u64)?, n));
        let hnsw = Hnsw::rebuild(&self.opts.hnsw, n as u32, &vectors, dist, &|_| false);
        let live_ref = write_checked(&self.dir, format!("live.{c}.bin"), &encode_live(&rows.live))?;
        let hnsw_ref = write_checked(&self.dir, format!("hnsw.{c}.bin"), &hnsw.to_bytes())?;
        let (text, text_name) = if self.opts.fulltext {
            let name = format!("tantivy.{c}");
            (
                Some(rebuild_text(&self.dir.join(&name), &rows, seq)?),
                Some(name),
            )
        } else {
            (None, None)
        };
        let m = Manifest {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            options: self.opts.clone(),
            checkpoint: c,
            checkpoint_seq: seq,
            rows: n as u64,
            live: n as u64,
            vectors: FileRef::new(vec_name, (n * dim * 4) as u64, None),
            rows_file: FileRef::new(rows_name, rf.len, None),
            live_file: live_ref,
            hnsw: hnsw_ref,
            text: text_name,
        };
        sync_dir(&self.dir)?;
        write_manifest(&self.dir, &m)?;
        // From here on the new generation is the database.
        self.manifest = m;
        self.wal.reset()?;
        let text_index: Option<Box<dyn TextIndex>> = match &text {
            Some(w) => Some(Box::new(w.text_index(n as u32)?)),
            None => None,
        };
        let fresh = Inner::from_stored(rows, vectors, hnsw, text_index)
            .map_err(|d| corrupt(&rf.path, d))?;
        let old = std::mem::replace(&mut *inner.write(), fresh);
        drop(old);
        self.vec_file = vf;
        self.rows_file = rf;
        if let Some(old) = std::mem::replace(&mut self.text, text) {
            // Let its merges finish before its directory goes.
            let _ = old.close();
        }
        remove_strays(&self.dir, &self.manifest.names());
        Ok(())
    }

    /// The on-disk figures for [`crate::Stats`].
    pub(crate) fn stats(&self) -> DiskStats {
        let size = |name: &str| disk_size(&self.dir.join(name));
        let vectors_bytes = size(&self.manifest.vectors.name);
        let rows_bytes = size(&self.manifest.rows_file.name) + size(&self.manifest.live_file.name);
        let graph_bytes = size(&self.manifest.hnsw.name);
        let text_bytes = self.manifest.text.as_deref().map_or(0, size);
        DiskStats {
            path: self.dir.display().to_string(),
            checkpoint_seq: self.manifest.checkpoint_seq,
            last_seq: self.last_seq,
            wal_bytes: self.wal.len(),
            wal_records: self.wal.records(),
            wal_records_replayed: self.replayed,
            wal_bytes_truncated: self.truncated,
            text_index_rebuilt: self.text_rebuilt,
            vectors_bytes,
            rows_bytes,
            graph_bytes,
            text_bytes,
            total_bytes: vectors_bytes + rows_bytes + graph_bytes + text_bytes + self.wal.len(),
            last_error: self.last_error.clone().or_else(|| self.broken.clone()),
        }
    }
}
