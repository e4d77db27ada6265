//! The write-ahead log of a native database (native only): `wal/current.log`.
//!
//! Every write (`insert`, `insert_batch`, `upsert`, `delete`) is one record, appended — and
//! under [`Durability::Fsync`](crate::Durability) fsync'd — before the call returns:
//!
//! ```text
//! record  = len u32 | crc32 u32 | payload            (crc32 of the payload)
//! payload = seq u64 | kind u8 (1: write) | dimension u32 | deletes u32 | inserts u32
//!           then per delete: id; per insert: id, text?, metadata?, dimension x f32
//! string  = length u32 | UTF-8 bytes      (optional: length u32::MAX = none)
//! ```
//!
//! Little-endian. A record deletes the listed ids (which exist) and then inserts the listed
//! documents (validated, vectors in stored form), so replaying it on the state it was
//! written against reproduces the write exactly. Sequence numbers increase by one from
//! record to record. Reading stops at the first record that is cut short, fails its CRC,
//! does not decode or breaks the sequence: that record and everything after it are cut off
//! (the file is truncated there) and the number of bytes cut is reported — the log is
//! never guessed at. A checkpoint folds the log into the data files and empties it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::disk::{ByteReader, put_opt_str, put_str};
use crate::db::Prepared;
use crate::error::{Error, Result};

const KIND_WRITE: u8 = 1;
const HEADER: usize = 8;

/// One decoded log record.
pub(crate) struct WalRecord {
    pub(crate) seq: u64,
    pub(crate) deletes: Vec<String>,
    pub(crate) inserts: Vec<Prepared>,
}

/// What reading the log found.
pub(crate) struct Recovery {
    /// Records past the checkpoint, in order.
    pub(crate) records: Vec<WalRecord>,
    /// Bytes cut off the end (a torn or damaged tail).
    pub(crate) truncated_bytes: u64,
    /// The last sequence number in the log, or the checkpoint's when it is empty.
    pub(crate) last_seq: u64,
}

/// The open log file.
pub(crate) struct Wal {
    file: File,
    path: PathBuf,
    len: u64,
    records: u64,
    /// A failed append could not be cut back off the file: nothing may follow it.
    poisoned: bool,
    /// Bytes past the last good record, cut by [`Wal::cut_tail`].
    bad_tail: u64,
}

fn wal_io(path: &Path, what: &str, e: std::io::Error) -> Error {
    Error::io(format!("{what} {}", path.display()), e)
}

/// Encodes one framed record.
pub(crate) fn encode(
    seq: u64,
    deletes: &[&str],
    inserts: &[Prepared],
    dim: usize,
) -> Result<Vec<u8>> {
    let mut size = HEADER + 8 + 1 + 12;
    for d in deletes {
        size += 4 + d.len();
    }
    for p in inserts {
        size += 12 + p.id.len() + p.text.as_ref().map_or(0, String::len) + dim * 4 + 64;
    }
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&[0u8; HEADER]);
    out.extend_from_slice(&seq.to_le_bytes());
    out.push(KIND_WRITE);
    out.extend_from_slice(&(dim as u32).to_le_bytes());
    out.extend_from_slice(&(deletes.len() as u32).to_le_bytes());
    out.extend_from_slice(&(inserts.len() as u32).to_le_bytes());
    for d in deletes {
        put_str(&mut out, d);
    }
    for p in inserts {
        put_str(&mut out, &p.id);
        put_opt_str(&mut out, p.text.as_deref());
        let meta = p.metadata.as_ref().map(Value::to_string);
        put_opt_str(&mut out, meta.as_deref());
        debug_assert_eq!(p.vector.len(), dim);
        for x in &p.vector {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    let payload_len = out.len() - HEADER;
    let len = u32::try_from(payload_len).map_err(|_| {
        Error::Unsupported(format!(
            "a write of {payload_len} bytes does not fit one log record (4 GiB at most); split the batch"
        ))
    })?;
    let crc = crc32fast::hash(&out[HEADER..]);
    out[..4].copy_from_slice(&len.to_le_bytes());
    out[4..8].copy_from_slice(&crc.to_le_bytes());
    Ok(out)
}

fn decode(payload: &[u8], dim: usize) -> Option<WalRecord> {
    let mut r = ByteReader::new(payload);
    let seq = r.u64()?;
    if r.u8()? != KIND_WRITE || r.u32()? as usize != dim {
        return None;
    }
    let n_del = r.u32()? as usize;
    let n_ins = r.u32()? as usize;
    // Every delete takes at least 4 bytes and every insert 12 + 4 * dim: bound the counts
    // before allocating for them.
    if n_del.checked_mul(4)? > r.remaining() || n_ins.checked_mul(12 + 4 * dim)? > r.remaining() {
        return None;
    }
    let mut deletes = Vec::with_capacity(n_del);
    for _ in 0..n_del {
        deletes.push(r.str()?.to_owned());
    }
    let mut inserts = Vec::with_capacity(n_ins);
    for _ in 0..n_ins {
        let id = r.str()?.to_owned();
        let text = r.opt_str()?.map(str::to_owned);
        let metadata = match r.opt_str()? {
            None => None,
            Some(s) => match serde_json::from_str::<Value>(s) {
                Ok(v @ Value::Object(_)) => Some(v),
                _ => return None,
            },
        };
        let raw = r.take(dim * 4)?;
        let vector: Vec<f32> = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        inserts.push(Prepared {
            id,
            vector,
            text,
            metadata,
        });
    }
    if r.remaining() != 0 {
        return None;
    }
    Some(WalRecord {
        seq,
        deletes,
        inserts,
    })
}

impl Wal {
    /// Creates an empty log file at `path`.
    pub(crate) fn create(path: &Path) -> Result<()> {
        File::create(path)
            .and_then(|f| f.sync_all())
            .map_err(|e| wal_io(path, "creating", e))
    }

    /// Opens the log, reads every good record and returns the records past
    /// `checkpoint_seq`. A bad tail is cut off the file by [`Wal::cut_tail`] (called once
    /// the rest of the database checked out too).
    pub(crate) fn open(path: &Path, dim: usize, checkpoint_seq: u64) -> Result<(Wal, Recovery)> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(wal_io(path, "reading", e)),
        };
        let mut pos = 0usize;
        let mut prev: Option<u64> = None;
        let mut records = Vec::new();
        let mut count = 0u64;
        while bytes.len() - pos >= HEADER {
            let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("4 bytes")) as usize;
            let crc = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().expect("4 bytes"));
            let Some(payload) = bytes.get(pos + HEADER..pos + HEADER + len) else {
                break;
            };
            if crc32fast::hash(payload) != crc {
                break;
            }
            let Some(rec) = decode(payload, dim) else {
                break;
            };
            if prev.is_some_and(|p| rec.seq != p + 1) {
                break;
            }
            prev = Some(rec.seq);
            pos += HEADER + len;
            count += 1;
            if rec.seq > checkpoint_seq {
                records.push(rec);
            }
        }
        let truncated_bytes = (bytes.len() - pos) as u64;
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| wal_io(path, "opening", e))?;
        let last_seq = prev.unwrap_or(checkpoint_seq).max(checkpoint_seq);
        Ok((
            Wal {
                file,
                path: path.to_owned(),
                len: pos as u64,
                records: count,
                poisoned: false,
                bad_tail: truncated_bytes,
            },
            Recovery {
                records,
                truncated_bytes,
                last_seq,
            },
        ))
    }

    /// Cuts the bad tail found by [`Wal::open`] (before anything is appended).
    pub(crate) fn cut_tail(&mut self) -> Result<()> {
        if self.bad_tail > 0 {
            self.file
                .set_len(self.len)
                .and_then(|()| self.file.sync_all())
                .map_err(|e| wal_io(&self.path, "cutting the damaged tail of", e))?;
            self.bad_tail = 0;
        }
        Ok(())
    }

    /// Appends one framed record (from [`encode`]); with `sync`, fsyncs it. On failure the
    /// file is cut back to where it was, so that a failed record never precedes a good one;
    /// when even that fails the log is poisoned ([`Wal::poisoned`]).
    pub(crate) fn append(&mut self, record: &[u8], sync: bool) -> Result<()> {
        debug_assert_eq!(self.bad_tail, 0, "appending after a bad tail");
        if self.poisoned {
            return Err(wal_io(
                &self.path,
                "writing to the log",
                std::io::Error::other("an earlier failed write could not be undone"),
            ));
        }
        let res = self
            .file
            .write_all(record)
            .and_then(|()| if sync { self.file.sync_data() } else { Ok(()) });
        match res {
            Ok(()) => {
                self.len += record.len() as u64;
                self.records += 1;
                Ok(())
            }
            Err(e) => {
                if self.file.set_len(self.len).is_err() {
                    self.poisoned = true;
                }
                Err(wal_io(&self.path, "writing to the log", e))
            }
        }
    }

    /// Makes everything appended so far durable.
    pub(crate) fn sync(&mut self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| wal_io(&self.path, "syncing", e))
    }

    /// Empties the log (after a checkpoint covered it).
    pub(crate) fn reset(&mut self) -> Result<()> {
        self.file
            .set_len(0)
            .and_then(|()| self.file.sync_all())
            .map_err(|e| wal_io(&self.path, "truncating", e))?;
        self.len = 0;
        self.records = 0;
        Ok(())
    }

    /// True when a failed append could not be undone (see [`Wal::append`]).
    pub(crate) fn poisoned(&self) -> bool {
        self.poisoned
    }

    /// Bytes in the log.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Records in the log.
    pub(crate) fn records(&self) -> u64 {
        self.records
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str, x: f32) -> Prepared {
        Prepared {
            id: id.into(),
            vector: vec![x, 1.0],
            text: Some(format!("text {id}")),
            metadata: Some(serde_json::json!({"n": x})),
        }
    }

    #[test]
    fn round_trip_and_tail_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        Wal::create(&path).unwrap();
        let (mut w, rec) = Wal::open(&path, 2, 0).unwrap();
        assert!(rec.records.is_empty());
        for seq in 1..=3 {
            let r = encode(seq, &["old"], &[doc("a", seq as f32), doc("b", 0.5)], 2).unwrap();
            w.append(&r, true).unwrap();
        }
        let full = w.len();
        drop(w);
        let (_, rec) = Wal::open(&path, 2, 1).unwrap();
        assert_eq!(rec.records.len(), 2);
        assert_eq!(rec.records[0].seq, 2);
        assert_eq!(rec.records[0].deletes, vec!["old".to_string()]);
        assert_eq!(rec.records[1].inserts[0].vector, vec![3.0, 1.0]);
        assert_eq!(
            rec.records[1].inserts[1].metadata,
            Some(serde_json::json!({"n": 0.5}))
        );
        assert_eq!(rec.truncated_bytes, 0);
        // Tear the last record.
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(full - 5).unwrap();
        let (mut w, rec) = Wal::open(&path, 2, 0).unwrap();
        assert_eq!(rec.records.len(), 2);
        assert_eq!(rec.last_seq, 2);
        assert!(rec.truncated_bytes > 0);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), full - 5);
        w.cut_tail().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), w.len());
    }
}
