//! The directory layout of a native database and `manifest.json`, the file that names
//! every data file and the checkpoint they hold (native only).
//!
//! ```text
//! db/
//!   LOCK               held (flock) by the one writer that has the database open (`lock.rs`)
//!   READERS            shared (flock) by the read-only opens (`lock.rs`)
//!   manifest.json      format version, options, checkpoint number and the log sequence
//!                      number it covers, row counts, and the data files below
//!   wal/current.log    the write-ahead log (`wal.rs`)
//!   vectors.f32        row-major f32 in stored form (`vectors.rs`); append-only
//!   vectors.i8         with int8 quantisation: each vector's int8 code, scale and squared
//!                      norm (`vectors.rs`, `Int8Vectors`), row for row; append-only
//!   rows.dat           per row: id, text, metadata (`rows.rs`); append-only
//!   live.<c>.bin       liveness bitmap (`rows.rs`), rewritten by checkpoint c
//!   rows.<c>.idx       the row index: each row's frame offset in rows.dat and id hash
//!                      (`rows.rs`), rewritten by checkpoint c; an open reads it instead of
//!                      rows.dat (databases written before it had none: they decode rows.dat)
//!   hnsw.<c>.bin       the HNSW graph's flat bytes (`hnsw/codec.rs`), rewritten by checkpoint c
//!   tantivy/           the full-text index; its commit payload is the log sequence number
//! ```
//!
//! Compaction writes a new generation of every file (`vectors.<c>.f32`, `vectors.<c>.i8`, `rows.<c>.dat`,
//! `tantivy.<c>/`). The manifest is replaced atomically (temporary file, fsync, rename,
//! fsync of the directory) and last, so a crash at any point leaves the previous
//! checkpoint intact; files of ours that it does not name are strays, removed at open.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::file::{Checked, corrupt, io_err, read_checked, sync_dir, write_replace};
use super::lock::{LOCK, READERS};
use crate::codec::crc32;
use crate::error::Result;
use crate::options::Options;

/// The manifest's `format` value.
pub(crate) const FORMAT: &str = "vjson";
/// The on-disk format version this build writes. It reads it and version 1, from before
/// titles: version 2 rows may end with a title, and its log records are of kind 2 (see
/// `rows.rs` and `wal.rs`).
pub(crate) const FORMAT_VERSION: u32 = 2;

pub(crate) const MANIFEST: &str = "manifest.json";
pub(crate) const WAL_DIR: &str = "wal";
pub(crate) const WAL_FILE: &str = "current.log";

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
    /// An append-only file: name and valid length, no CRC.
    pub(crate) fn appended(name: String, bytes: u64) -> Self {
        FileRef {
            name,
            bytes,
            crc32: None,
        }
    }

    /// Writes a whole file (atomically replaced; the caller syncs the directory) and
    /// returns its entry, with its CRC.
    pub(crate) fn write(dir: &Path, name: String, bytes: &[u8]) -> Result<Self> {
        write_replace(dir, &name, bytes)?;
        Ok(FileRef {
            name,
            bytes: bytes.len() as u64,
            crc32: Some(crc32(bytes)),
        })
    }

    /// Reads the file, checking its length and CRC.
    pub(crate) fn read(&self, dir: &Path) -> Result<Checked> {
        read_checked(&dir.join(&self.name), self.bytes, self.crc32)
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
    /// Rows not tombstoned.
    #[serde(rename = "live")]
    pub(crate) live_rows: u64,
    pub(crate) vectors: FileRef,
    pub(crate) rows_file: FileRef,
    pub(crate) live_file: FileRef,
    pub(crate) hnsw: FileRef,
    /// The int8 codes of the vectors, when the database was last checkpointed with
    /// `Quantization::Int8` (absent in databases written before they were stored: such a
    /// database gets them at its next writable open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) codes: Option<FileRef>,
    /// The Tantivy directory, when full text is on.
    pub(crate) text: Option<String>,
    /// The row index of `rows_file` (absent in databases written before there was one:
    /// such a database decodes `rows_file` at open, and gets one at its next checkpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) row_index: Option<FileRef>,
}

impl Manifest {
    /// The data files and directories it names.
    pub(crate) fn names(&self) -> Vec<&str> {
        let mut v = vec![
            self.vectors.name.as_str(),
            self.rows_file.name.as_str(),
            self.live_file.name.as_str(),
            self.hnsw.name.as_str(),
        ];
        v.extend(self.codes.as_ref().map(|c| c.name.as_str()));
        v.extend(self.row_index.as_ref().map(|c| c.name.as_str()));
        v.extend(self.text.as_deref());
        v
    }

    /// Reads and checks `dir/manifest.json`.
    pub(crate) fn read(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST);
        let bytes = fs::read(&path).map_err(|e| io_err("reading", &path, e))?;
        Self::parse(&bytes).map_err(|detail| corrupt(&path, detail))
    }

    /// Parses and checks manifest bytes; the error says what is wrong.
    pub(crate) fn parse(bytes: &[u8]) -> std::result::Result<Manifest, String> {
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|e| format!("not a valid manifest: {e}"))?;
        if m.format != FORMAT {
            return Err(format!("format {:?} is not {FORMAT:?}", m.format));
        }
        if m.version != FORMAT_VERSION && m.version != 1 {
            return Err(format!(
                "on-disk format version {}; this build reads versions 1 and {FORMAT_VERSION}",
                m.version
            ));
        }
        m.options
            .validate()
            .map_err(|e| format!("stored options: {e}"))?;
        if let Some(bad) = m.names().into_iter().find(|n| !is_plain_name(n)) {
            return Err(format!("names the data file {bad:?}"));
        }
        if m.live_rows > m.rows {
            return Err("more live rows than rows".into());
        }
        if m.text.is_some() != m.options.fulltext {
            return Err("full text setting and text index disagree".into());
        }
        Ok(m)
    }

    /// Replaces `dir/manifest.json` atomically and durably.
    pub(crate) fn write(&self, dir: &Path) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(self).expect("manifest serialises");
        write_replace(dir, MANIFEST, &bytes)?;
        sync_dir(dir)
    }

    /// The options stored in the database at `dir`, if there is one.
    pub(crate) fn stored_options(dir: &Path) -> Result<Option<Options>> {
        if !dir.join(MANIFEST).is_file() {
            return Ok(None);
        }
        Self::read(dir).map(|m| Some(m.options))
    }
}

/// The error for a directory that holds no database (no manifest).
pub(crate) fn no_database(dir: &Path) -> crate::error::Error {
    crate::error::Error::io(
        format!("opening {}", dir.display()),
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no vjson database here (no manifest.json): create one first",
        ),
    )
}

fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\'])
        && ![LOCK, READERS, MANIFEST, WAL_DIR].contains(&name)
}

/// True for the names of data files and directories vjson writes (and `*.tmp` leftovers).
pub(crate) fn is_ours(name: &str) -> bool {
    name.ends_with(".tmp")
        || ["vectors.", "rows.", "live.", "hnsw.", "tantivy"]
            .iter()
            .any(|p| name.starts_with(p))
}

/// Removes data files and directories of ours that `keep` does not name, best effort.
pub(crate) fn remove_strays(dir: &Path, keep: &[&str]) {
    let Ok(rd) = fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !is_ours(&name) || keep.contains(&name.as_str()) {
            continue;
        }
        let p = e.path();
        let r = if p.is_dir() {
            fs::remove_dir_all(&p)
        } else {
            fs::remove_file(&p)
        };
        if let Err(e) = r {
            log::warn!("could not remove the stray {}: {e}", p.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            options: Options::new(4),
            checkpoint: 2,
            checkpoint_seq: 17,
            rows: 10,
            live_rows: 9,
            vectors: FileRef::appended("vectors.f32".into(), 160),
            rows_file: FileRef::appended("rows.dat".into(), 300),
            live_file: FileRef {
                name: "live.2.bin".into(),
                bytes: 2,
                crc32: Some(7),
            },
            hnsw: FileRef {
                name: "hnsw.2.bin".into(),
                bytes: 99,
                crc32: Some(8),
            },
            codes: None,
            text: Some("tantivy".into()),
            row_index: None,
        }
    }

    #[test]
    fn round_trip_keeps_the_stored_field_names() {
        let dir = tempfile::tempdir().unwrap();
        let m = manifest();
        m.write(dir.path()).unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.path().join(MANIFEST)).unwrap()).unwrap();
        assert_eq!(json["live"], 9, "format 1 calls the live row count `live`");
        let back = Manifest::read(dir.path()).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), json);
        assert_eq!(
            Manifest::stored_options(dir.path()).unwrap(),
            Some(Options::new(4))
        );
    }

    #[test]
    fn bad_manifests_say_what_is_wrong() {
        let good = serde_json::to_vec(&manifest()).unwrap();
        for cut in 0..good.len() {
            assert!(Manifest::parse(&good[..cut]).is_err());
        }
        let with = |f: &dyn Fn(&mut Manifest)| {
            let mut m = manifest();
            f(&mut m);
            Manifest::parse(&serde_json::to_vec(&m).unwrap()).unwrap_err()
        };
        assert!(with(&|m| m.version = 3).contains("version 3"));
        assert!(with(&|m| m.version = 0).contains("version 0"));
        assert!(with(&|m| m.format = "x".into()).contains("format"));
        assert!(with(&|m| m.live_rows = 11).contains("more live rows"));
        assert!(with(&|m| m.hnsw.name = "../x".into()).contains("../x"));
        assert!(with(&|m| m.text = None).contains("full text"));
        assert!(with(&|m| m.options.dimension = 0).contains("stored options"));
    }

    proptest::proptest! {
        #[test]
        fn parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = Manifest::parse(&bytes);
        }
    }
}
