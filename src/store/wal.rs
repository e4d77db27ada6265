//! The write-ahead log of a native database (native only): `wal/current.log`.
//!
//! Every write (`insert`, `insert_batch`, `upsert`, `delete`) is one record, appended — and
//! under [`Durability::Fsync`](crate::Durability) fsync'd — before the call returns:
//!
//! ```text
//! record  = len u32 | crc32 u32 | payload            (crc32 of the payload)
//! payload = seq u64 | kind u8 (2: write) | dimension u32 | deletes u32 | inserts u32
//!           then per delete: id; per insert: id, text?, title?, metadata?, dimension x f32
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
//!
//! Kind 1, written before documents had titles, is kind 2 without the title; it is still
//! read (a log left by an older build replays).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use super::file::{append_or_cut_back, io_err, sync_dir, unlinked};
use super::rows::Row;
use crate::codec::{Decoded, Decoder, Encoder};
use crate::error::{Error, Result};
use crate::fault;

/// A write record (see the module docs).
const KIND_WRITE: u8 = 2;
/// A write record of a build from before titles: no title per insert.
const KIND_WRITE_UNTITLED: u8 = 1;

/// One decoded log record: delete these ids, then insert these rows.
#[derive(Debug, PartialEq)]
pub(crate) struct WalRecord {
    pub(crate) seq: u64,
    pub(crate) deletes: Vec<String>,
    pub(crate) inserts: Vec<Row>,
}

/// What reading the log found.
pub(crate) struct Recovery {
    /// Records past the checkpoint, in order.
    pub(crate) records: Vec<WalRecord>,
    /// Bytes cut off the end (a torn or damaged tail).
    pub(crate) truncated_bytes: u64,
    /// The last sequence number in the log, or the checkpoint's when it is empty.
    pub(crate) last_seq: u64,
    /// Good records in the log (the checkpoint's included, until the log is emptied).
    pub(crate) in_log: u64,
    /// Bytes of the good records.
    pub(crate) valid_bytes: u64,
    /// Why the log ended before the end of the file (a torn or damaged tail).
    pub(crate) cut: Option<String>,
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

/// Encodes one framed record: `deletes` (ids), then `inserts`.
pub(crate) fn encode(seq: u64, deletes: &[&str], inserts: &[Row], dim: usize) -> Result<Vec<u8>> {
    let mut size = 8 + 8 + 1 + 12;
    for d in deletes {
        size += 4 + d.len();
    }
    for p in inserts {
        size += 16
            + p.id.len()
            + p.text.as_ref().map_or(0, String::len)
            + p.title.as_ref().map_or(0, String::len)
            + dim * 4
            + 64;
    }
    let mut out = Encoder::with_capacity(size);
    out.frame(|e| {
        e.u64(seq);
        e.u8(KIND_WRITE);
        e.u32(dim as u32);
        e.u32(deletes.len() as u32);
        e.u32(inserts.len() as u32);
        for d in deletes {
            e.str(d);
        }
        for p in inserts {
            e.str(&p.id);
            e.opt_str(p.text.as_deref());
            e.opt_str(p.title.as_deref());
            e.metadata(p.metadata.as_ref());
            debug_assert_eq!(p.vector.len(), dim);
            e.f32s(&p.vector);
        }
    })
    .map_err(|len| {
        Error::Unsupported(format!(
            "a write of {len} bytes does not fit one log record (4 GiB at most); split the batch"
        ))
    })?;
    Ok(out.into_bytes())
}

/// Decodes a record's payload (the body of its frame).
pub(crate) fn decode(payload: &[u8], dim: usize) -> Decoded<WalRecord> {
    let mut d = Decoder::new(payload, "log record");
    let seq = d.u64("sequence number")?;
    let kind = d.u8("kind")?;
    if kind != KIND_WRITE && kind != KIND_WRITE_UNTITLED {
        return Err(d.error(format!("unknown record kind {kind}")));
    }
    let rec_dim = d.u32("dimension")?;
    if rec_dim as usize != dim {
        return Err(d.error(format!("dimension {rec_dim}, the database has {dim}")));
    }
    let n_del = d.u32("delete count")?;
    let n_ins = d.u32("insert count")?;
    let titled = kind == KIND_WRITE;
    // Every delete takes at least 4 bytes and every insert 12 (16 with a title) + 4 * dim:
    // bound the counts before allocating for them.
    let n_del = d.count(n_del as u64, 4, "deletes")?;
    let n_ins = d.count(n_ins as u64, 12 + 4 * titled as usize + 4 * dim, "inserts")?;
    let mut deletes = Vec::with_capacity(n_del);
    for _ in 0..n_del {
        deletes.push(d.str("deleted id")?.to_owned());
    }
    let mut inserts = Vec::with_capacity(n_ins);
    for _ in 0..n_ins {
        inserts.push(Row {
            id: d.str("id")?.to_owned(),
            text: d.opt_str("text")?.map(str::to_owned),
            title: match titled {
                true => d.opt_str("title")?.map(str::to_owned),
                false => None,
            },
            metadata: d.metadata("metadata")?,
            vector: d.f32s(dim, "vector")?,
        });
    }
    d.finish()?;
    Ok(WalRecord {
        seq,
        deletes,
        inserts,
    })
}

/// Reads every good record of the log at `path` (a missing log is empty) without
/// changing it: the records past `checkpoint_seq`, and where the good records end. The
/// log ends at the first damaged or torn record, or at a break in the sequence numbers
/// (a record left from before the log was last emptied).
pub(crate) fn read(path: &Path, dim: usize, checkpoint_seq: u64) -> Result<Recovery> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io_err("reading", path, e)),
    };
    Ok(parse(&bytes, dim, checkpoint_seq))
}

/// The good records of a log's bytes (see [`read`]).
pub(crate) fn parse(bytes: &[u8], dim: usize, checkpoint_seq: u64) -> Recovery {
    let mut d = Decoder::new(bytes, "wal/current.log");
    let mut pos = 0usize;
    let mut prev: Option<u64> = None;
    let mut records = Vec::new();
    let mut count = 0u64;
    let mut cut = None;
    while d.remaining() > 0 {
        let rec = d.frame("record").and_then(|payload| decode(payload, dim));
        let rec = match rec {
            Ok(rec) if prev.is_none_or(|p| rec.seq == p + 1) => rec,
            Ok(rec) => {
                cut = Some(format!(
                    "record {} follows record {prev:?}; the log ends there",
                    rec.seq
                ));
                break;
            }
            Err(e) => {
                cut = Some(format!("{e}; the log ends at byte {pos}"));
                break;
            }
        };
        prev = Some(rec.seq);
        pos = d.position();
        count += 1;
        if rec.seq > checkpoint_seq {
            records.push(rec);
        }
    }
    Recovery {
        records,
        truncated_bytes: (bytes.len() - pos) as u64,
        last_seq: prev.unwrap_or(checkpoint_seq).max(checkpoint_seq),
        in_log: count,
        valid_bytes: pos as u64,
        cut,
    }
}

impl Wal {
    /// Creates an empty log file at `path`.
    pub(crate) fn create(path: &Path) -> Result<()> {
        File::create(path)
            .and_then(|f| f.sync_all())
            .map_err(|e| io_err("creating", path, e))
    }

    /// Opens the log, reads every good record and returns the records past
    /// `checkpoint_seq`. A bad tail is cut off the file by [`Wal::cut_tail`] (called once
    /// the rest of the database checked out too).
    pub(crate) fn open(path: &Path, dim: usize, checkpoint_seq: u64) -> Result<(Wal, Recovery)> {
        let recovery = read(path, dim, checkpoint_seq)?;
        if let Some(why) = &recovery.cut {
            log::warn!("{}: {why}", path.display());
        }
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| io_err("opening", path, e))?;
        Ok((
            Wal {
                file,
                path: path.to_owned(),
                len: recovery.valid_bytes,
                records: recovery.in_log,
                poisoned: false,
                bad_tail: recovery.truncated_bytes,
            },
            recovery,
        ))
    }

    /// Cuts the bad tail found by [`Wal::open`] (before anything is appended).
    pub(crate) fn cut_tail(&mut self) -> Result<()> {
        if self.bad_tail > 0 {
            self.file
                .set_len(self.len)
                .and_then(|()| self.file.sync_all())
                .map_err(|e| io_err("cutting the damaged tail of", &self.path, e))?;
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
            return Err(io_err(
                "writing to the log",
                &self.path,
                std::io::Error::other("an earlier failed write could not be undone"),
            ));
        }
        let res = append_or_cut_back(
            &mut self.file,
            self.len,
            record,
            "wal.write",
            |f| match sync {
                true => fault::check("wal.sync").and_then(|()| f.sync_data()),
                false => Ok(()),
            },
        );
        if let Err((e, cut)) = res {
            self.poisoned |= !cut;
            return Err(io_err("writing to the log", &self.path, e));
        }
        self.len += record.len() as u64;
        self.records += 1;
        Ok(())
    }

    /// Makes everything appended so far durable.
    pub(crate) fn sync(&mut self) -> Result<()> {
        fault::check("wal.sync")
            .and_then(|()| self.file.sync_data())
            .map_err(|e| io_err("syncing", &self.path, e))
    }

    /// Empties the log (after a checkpoint covered it).
    pub(crate) fn reset(&mut self) -> Result<()> {
        if self.unlinked() {
            // Removed while open: a new, empty log takes its place.
            self.file = OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .truncate(false)
                .open(&self.path)
                .map_err(|e| io_err("creating", &self.path, e))?;
            if let Some(dir) = self.path.parent() {
                sync_dir(dir)?;
            }
        }
        fault::check("wal.reset")
            .and_then(|()| self.file.set_len(0))
            .and_then(|()| self.file.sync_all())
            .map_err(|e| io_err("truncating", &self.path, e))?;
        self.len = 0;
        self.records = 0;
        Ok(())
    }

    /// True when a failed append could not be undone (see [`Wal::append`]).
    pub(crate) fn poisoned(&self) -> bool {
        self.poisoned
    }

    /// True when the log file was removed while open (see [`unlinked`]).
    pub(crate) fn unlinked(&self) -> bool {
        unlinked(&self.file)
    }

    /// The log file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
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

    fn doc(id: &str, x: f32) -> Row {
        Row {
            id: id.into(),
            vector: vec![x, 1.0],
            text: Some(format!("text {id}")),
            title: (x > 1.0).then(|| format!("title {id}")),
            metadata: Some(serde_json::json!({"n": x})),
        }
    }

    #[test]
    fn records_of_builds_before_titles_still_decode() {
        // Kind 1: per insert id, text?, metadata?, vector (no title).
        let mut e = Encoder::new();
        e.u64(4);
        e.u8(KIND_WRITE_UNTITLED);
        e.u32(2);
        e.u32(1);
        e.u32(1);
        e.str("old");
        e.str("a");
        e.opt_str(Some("text a"));
        e.metadata(Some(&serde_json::json!({"n": 1.0})));
        e.f32s(&[1.0, 1.0]);
        let rec = decode(&e.into_bytes(), 2).unwrap();
        assert_eq!(rec.seq, 4);
        assert_eq!(rec.deletes, vec!["old".to_string()]);
        assert_eq!(rec.inserts, vec![doc("a", 1.0)]);
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

    #[test]
    fn damaged_records_never_decode() {
        let r = encode(9, &["gone"], &[doc("a", 1.0), doc("b", 2.0)], 2).unwrap();
        let mut d = Decoder::new(&r, "log");
        let rec = decode(d.frame("record").unwrap(), 2).unwrap();
        assert_eq!(rec.seq, 9);
        assert_eq!(rec.inserts, vec![doc("a", 1.0), doc("b", 2.0)]);
        for i in 0..r.len() {
            let mut bad = r.clone();
            bad[i] ^= 0x10;
            let got = Decoder::new(&bad, "log")
                .frame("record")
                .and_then(|p| decode(p, 2));
            assert!(got.is_err(), "flip at {i}");
        }
        // The payload of another dimension, or cut anywhere, is refused.
        let payload = &r[8..];
        assert!(decode(payload, 3).is_err());
        for cut in 0..payload.len() {
            assert!(decode(&payload[..cut], 2).is_err());
        }
    }

    #[test]
    fn a_gap_in_the_sequence_cuts_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        Wal::create(&path).unwrap();
        let (mut w, _) = Wal::open(&path, 2, 0).unwrap();
        for seq in [1, 2, 4] {
            w.append(&encode(seq, &[], &[doc("a", 0.0)], 2).unwrap(), false)
                .unwrap();
        }
        drop(w);
        let (_, rec) = Wal::open(&path, 2, 0).unwrap();
        assert_eq!(rec.last_seq, 2);
        assert_eq!(rec.records.len(), 2);
        assert!(rec.truncated_bytes > 0);
    }

    proptest::proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = decode(&bytes, 2);
            let _ = decode(&bytes, 0);
            let mut d = Decoder::new(&bytes, "log");
            let _ = d.frame("record").and_then(|p| decode(p, 2));
        }
    }
}
