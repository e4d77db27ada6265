//! The portable snapshot format, written and read identically on every target.
//!
//! ```text
//! "VJSN" | version u32 | header length u32 | header crc32 u32 | header JSON {options, rows, live}
//! then six sections, in order, each: tag u32 | length u64 | crc32 u32 | bytes
//!   1 ids       per row: length u32, UTF-8 bytes
//!   2 vectors   rows x dimension f32 (stored form: normalised under cosine)
//!   3 texts     per row: length u32 (u32::MAX: none), UTF-8 bytes
//!   4 metadata  per row: length u32 (u32::MAX: none), JSON object bytes
//!   5 live      per row: 1 live, 0 tombstone
//!   6 hnsw      the graph (see `hnsw/codec.rs`)
//! ```
//! All integers little-endian. Every declared length is checked against the bytes present
//! before anything is allocated, and the header's and every section's CRC before it is
//! parsed, so any damaged byte is an `invalid_snapshot` error. The text
//! index is rebuilt on import; the graph is not.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::db::Inner;
use crate::distance::Distance;
use crate::error::{Error, Result};
use crate::hnsw::{Hnsw, VectorSource};
use crate::options::Options;
use crate::store::{MemoryVectors, Rows, Vectors};

/// The snapshot magic bytes.
pub const MAGIC: &[u8; 4] = b"VJSN";
/// The snapshot format version this build writes and reads.
pub const VERSION: u32 = 1;
const NONE: u32 = u32::MAX;

const SECTIONS: [(u32, &str); 6] = [
    (1, "ids"),
    (2, "vectors"),
    (3, "texts"),
    (4, "metadata"),
    (5, "live"),
    (6, "hnsw"),
];

#[derive(Serialize, Deserialize)]
struct Header {
    options: Options,
    rows: u64,
    live: u64,
}

fn put_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        None => out.extend_from_slice(&NONE.to_le_bytes()),
    }
}

fn put_section(out: &mut Vec<u8>, tag: u32, bytes: &[u8]) {
    out.extend_from_slice(&tag.to_le_bytes());
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(bytes).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Encodes the row sections (ids, vectors, texts, metadata, live) in snapshot layout.
pub(crate) fn encode_rows(rows: &Rows, vectors: &Vectors, dim: usize) -> [Vec<u8>; 5] {
    let n = rows.len();
    let mut ids = Vec::new();
    let mut vecs = Vec::with_capacity(n * dim * 4);
    let mut texts = Vec::new();
    let mut meta = Vec::new();
    let mut live = Vec::with_capacity(n);
    for r in 0..n {
        put_str(&mut ids, Some(&rows.ids[r]));
        for x in vectors.vector(r as u32) {
            vecs.extend_from_slice(&x.to_le_bytes());
        }
        put_str(&mut texts, rows.texts[r].as_deref());
        let m = rows.metadata[r].as_ref().map(|m| m.to_string());
        put_str(&mut meta, m.as_deref());
        live.push(rows.live[r] as u8);
    }
    [ids, vecs, texts, meta, live]
}

/// Writes a snapshot of `inner`.
pub(crate) fn write(opts: &Options, inner: &Inner) -> Vec<u8> {
    let header = serde_json::to_vec(&Header {
        options: opts.clone(),
        rows: inner.rows.len() as u64,
        live: inner.live as u64,
    })
    .expect("header serialises");
    let [ids, vecs, texts, meta, live] = encode_rows(&inner.rows, &inner.vectors, opts.dimension);
    let graph = inner.hnsw.to_bytes();
    let mut out = Vec::with_capacity(
        20 + header.len()
            + ids.len()
            + vecs.len()
            + texts.len()
            + meta.len()
            + live.len()
            + graph.len()
            + 6 * 16,
    );
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&header).to_le_bytes());
    out.extend_from_slice(&header);
    for (bytes, (tag, _)) in [&ids, &vecs, &texts, &meta, &live, &graph]
        .into_iter()
        .zip(SECTIONS)
    {
        put_section(&mut out, tag, bytes);
    }
    out
}

/// A bounds-checked little-endian reader.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Cursor { buf, what }
    }

    fn err(&self, msg: impl std::fmt::Display) -> Error {
        Error::snapshot(format!("{}: {msg}", self.what))
    }

    pub(crate) fn take(&mut self, n: u64) -> Result<&'a [u8]> {
        if (self.buf.len() as u64) < n {
            return Err(self.err(format!(
                "truncated: {n} bytes declared, {} present",
                self.buf.len()
            )));
        }
        let (a, b) = self.buf.split_at(n as usize);
        self.buf = b;
        Ok(a)
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn opt_str(&mut self) -> Result<Option<&'a str>> {
        let len = self.u32()?;
        if len == NONE {
            return Ok(None);
        }
        let bytes = self.take(len as u64)?;
        std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|_| self.err("a string is not valid UTF-8"))
    }

    pub(crate) fn done(&self) -> Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(self.err(format!("{} unexpected trailing bytes", self.buf.len())))
        }
    }
}

/// Decodes the row sections written by [`encode_rows`] for `rows` rows.
pub(crate) fn decode_rows(
    opts: &Options,
    rows: usize,
    sections: [&[u8]; 5],
) -> Result<(Rows, MemoryVectors)> {
    let [ids_b, vec_b, texts_b, meta_b, live_b] = sections;
    let dim = opts.dimension;
    // Each id takes at least 4 bytes: bound the row count before allocating for it.
    if (rows as u64).saturating_mul(4) > ids_b.len() as u64 || rows != live_b.len() {
        return Err(Error::snapshot(format!(
            "the header declares {rows} rows but the ids and live sections disagree"
        )));
    }
    let expect = (rows as u64)
        .checked_mul(dim as u64 * 4)
        .ok_or_else(|| Error::snapshot("vector section size overflows"))?;
    if vec_b.len() as u64 != expect {
        return Err(Error::snapshot(format!(
            "vectors section holds {} bytes; {rows} rows x {dim} dimensions need {expect}",
            vec_b.len()
        )));
    }
    let mut out = Rows::default();
    let mut c_ids = Cursor::new(ids_b, "ids section");
    let mut c_txt = Cursor::new(texts_b, "texts section");
    let mut c_meta = Cursor::new(meta_b, "metadata section");
    for (r, &live_byte) in live_b.iter().enumerate() {
        let id = c_ids
            .opt_str()?
            .ok_or_else(|| Error::snapshot(format!("row {r} has no id")))?;
        let text = c_txt.opt_str()?.map(str::to_owned);
        let meta = match c_meta.opt_str()? {
            None => None,
            Some(s) => match serde_json::from_str::<Value>(s) {
                Ok(v @ Value::Object(_)) => Some(v),
                _ => {
                    return Err(Error::snapshot(format!(
                        "metadata of row {r} is not a JSON object"
                    )));
                }
            },
        };
        let live = match live_byte {
            0 => false,
            1 => true,
            b => return Err(Error::snapshot(format!("row {r} has live flag {b}"))),
        };
        if live && id.is_empty() {
            return Err(Error::snapshot(format!("live row {r} has an empty id")));
        }
        out.push(id.to_owned(), text, meta);
        out.live[r] = live;
    }
    c_ids.done()?;
    c_txt.done()?;
    c_meta.done()?;
    let data: Vec<f32> = vec_b
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect();
    if data.iter().any(|x| !x.is_finite()) {
        return Err(Error::snapshot("a vector holds NaN or infinity"));
    }
    Ok((out, MemoryVectors::from_vec(dim, data)))
}

/// Reads a snapshot into options and state.
pub(crate) fn read(bytes: &[u8]) -> Result<(Options, Inner)> {
    let mut c = Cursor::new(bytes, "snapshot");
    if c.take(4).ok() != Some(MAGIC.as_slice()) {
        return Err(Error::snapshot(
            "not a vjson snapshot (missing VJSN magic); export one with export_snapshot or `vjson export`",
        ));
    }
    let version = c.u32()?;
    if version != VERSION {
        return Err(Error::snapshot(format!(
            "snapshot format version {version}; this build reads version {VERSION}"
        )));
    }
    let hlen = c.u32()?;
    let hcrc = c.u32()?;
    let hbytes = c.take(hlen as u64)?;
    if crc32fast::hash(hbytes) != hcrc {
        return Err(Error::snapshot(
            "the header fails its CRC check; the snapshot is damaged",
        ));
    }
    let header: Header = serde_json::from_slice(hbytes)
        .map_err(|e| Error::snapshot(format!("header is not valid: {e}")))?;
    header
        .options
        .validate()
        .map_err(|e| Error::snapshot(format!("header options: {e}")))?;
    let mut sections: Vec<&[u8]> = Vec::with_capacity(6);
    for (tag, name) in SECTIONS {
        let got = c.u32()?;
        if got != tag {
            return Err(Error::snapshot(format!(
                "expected the {name} section (tag {tag}), found tag {got}"
            )));
        }
        let len = c.u64()?;
        let crc = c.u32()?;
        let body = c.take(len)?;
        if crc32fast::hash(body) != crc {
            return Err(Error::snapshot(format!(
                "the {name} section fails its CRC check; the snapshot is damaged"
            )));
        }
        sections.push(body);
    }
    c.done()?;
    let rows = usize::try_from(header.rows)
        .map_err(|_| Error::snapshot("row count does not fit this platform"))?;
    let opts = header.options;
    let (rows_data, vectors) = decode_rows(
        &opts,
        rows,
        [
            sections[0],
            sections[1],
            sections[2],
            sections[3],
            sections[4],
        ],
    )?;
    let graph = Hnsw::from_bytes(sections[5], &opts.hnsw, rows)?;
    let dist = Distance::new(opts.metric);
    let inner = Inner::assemble(
        &opts,
        &dist,
        rows_data,
        Vectors::Memory(vectors),
        Some(graph),
    )?;
    if inner.live as u64 != header.live {
        return Err(Error::snapshot(format!(
            "header declares {} live rows, the rows hold {}",
            header.live, inner.live
        )));
    }
    Ok((opts, inner))
}
