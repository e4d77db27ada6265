//! The graph's flat byte layout, shared by snapshots and the on-disk `hnsw.bin`.
//!
//! Little-endian: `m u32, n u64, entry u32 (u32::MAX: none), entry level u8`, then `n`
//! level bytes, the layer-0 slots (`n * (1 + 2m)` u32), the upper-layer slot count `u64`
//! and those slots. Decoding checks every length before allocating, every link against
//! `n`, and every upper-layer link against its target's level, so damaged bytes are an
//! error, never a panic or a cyclic mess.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use super::{Hnsw, MAX_LEVEL, NONE};
use crate::error::{Error, Result};
use crate::options::HnswParams;

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if self.buf.len() < n {
            return Err(Error::snapshot(format!(
                "hnsw graph truncated while reading {what}: need {n} bytes, have {}",
                self.buf.len()
            )));
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4, what)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8, what)?.try_into().expect("8 bytes"),
        ))
    }
    fn u32s(&mut self, count: u64, what: &str) -> Result<Vec<AtomicU32>> {
        let bytes = count
            .checked_mul(4)
            .and_then(|b| usize::try_from(b).ok())
            .ok_or_else(|| Error::snapshot(format!("hnsw {what} length overflows")))?;
        let raw = self.take(bytes, what)?;
        Ok(raw
            .chunks_exact(4)
            .map(|c| AtomicU32::new(u32::from_le_bytes(c.try_into().expect("4 bytes"))))
            .collect())
    }
}

impl Hnsw {
    /// Serialises the graph.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let n = self.len();
        let mut out = Vec::with_capacity(32 + n + (self.layer0.len() + self.upper.len()) * 4);
        out.extend_from_slice(&(self.m as u32).to_le_bytes());
        out.extend_from_slice(&(n as u64).to_le_bytes());
        let (er, el) = self.entry().unwrap_or((NONE, 0));
        out.extend_from_slice(&er.to_le_bytes());
        out.push(el);
        out.extend_from_slice(&self.levels);
        for a in &self.layer0 {
            out.extend_from_slice(&a.load(Relaxed).to_le_bytes());
        }
        out.extend_from_slice(&(self.upper.len() as u64).to_le_bytes());
        for a in &self.upper {
            out.extend_from_slice(&a.load(Relaxed).to_le_bytes());
        }
        out
    }

    /// Rebuilds a graph from [`Hnsw::to_bytes`] output, checking everything.
    pub(crate) fn from_bytes(bytes: &[u8], params: &HnswParams, rows: usize) -> Result<Self> {
        let mut r = Reader { buf: bytes };
        let m = r.u32("m")? as usize;
        if m != params.m {
            return Err(Error::snapshot(format!(
                "hnsw graph was built with m = {m} but the options say m = {}",
                params.m
            )));
        }
        let n = r.u64("node count")?;
        if n != rows as u64 {
            return Err(Error::snapshot(format!(
                "hnsw graph has {n} nodes but there are {rows} rows"
            )));
        }
        let n = rows;
        let entry_row = r.u32("entry point")?;
        let entry_level = r.take(1, "entry level")?[0];
        let levels = r.take(n, "levels")?.to_vec();
        let mut h = Hnsw::new(params);
        let layer0 = r.u32s((n * (1 + h.m0)) as u64, "layer 0")?;
        let upper_len = r.u64("upper layer size")?;
        let mut upper_offset = Vec::with_capacity(n);
        let mut need = 0u64;
        for &l in &levels {
            if l > MAX_LEVEL {
                return Err(Error::snapshot(format!(
                    "hnsw level {l} exceeds {MAX_LEVEL}"
                )));
            }
            if l == 0 {
                upper_offset.push(NONE);
            } else {
                upper_offset.push(
                    u32::try_from(need)
                        .map_err(|_| Error::snapshot("hnsw upper layers too large"))?,
                );
                need += l as u64 * (1 + h.m) as u64;
            }
        }
        if upper_len != need {
            return Err(Error::snapshot(format!(
                "hnsw upper layers hold {upper_len} slots but the levels need {need}"
            )));
        }
        let upper = r.u32s(upper_len, "upper layers")?;
        if !r.buf.is_empty() {
            return Err(Error::snapshot(format!(
                "{} unexpected bytes after the hnsw graph",
                r.buf.len()
            )));
        }
        let check = |slots: &[AtomicU32], width: usize, what: &str| -> Result<()> {
            for block in slots.chunks_exact(width) {
                let count = block[0].load(Relaxed) as usize;
                if count > width - 1 {
                    return Err(Error::snapshot(format!("hnsw {what} list too long")));
                }
                if block[1..=count]
                    .iter()
                    .any(|a| a.load(Relaxed) as usize >= n)
                {
                    return Err(Error::snapshot(format!("hnsw {what} link out of range")));
                }
            }
            Ok(())
        };
        check(&layer0, 1 + h.m0, "layer 0")?;
        check(&upper, 1 + h.m, "upper layer")?;
        // A link on layer L must lead to a node that exists on layer L: searches read the
        // target's layer-L list, which a lower node does not have.
        for (row, &level) in levels.iter().enumerate() {
            for layer in 1..=level as usize {
                let s = upper_offset[row] as usize + (layer - 1) * (1 + h.m);
                let count = upper[s].load(Relaxed) as usize;
                if upper[s + 1..=s + count]
                    .iter()
                    .any(|a| (levels[a.load(Relaxed) as usize] as usize) < layer)
                {
                    return Err(Error::snapshot(format!(
                        "hnsw node {row} links on layer {layer} to a node below that layer"
                    )));
                }
            }
        }
        let entry = if entry_row == NONE {
            if layer0.iter().any(|a| a.load(Relaxed) > 0) {
                return Err(Error::snapshot("hnsw graph has links but no entry point"));
            }
            None
        } else {
            if entry_row as usize >= n || levels[entry_row as usize] != entry_level {
                return Err(Error::snapshot("hnsw entry point is invalid"));
            }
            Some((entry_row, entry_level))
        };
        h.levels = levels;
        h.layer0 = layer0;
        h.upper_offset = upper_offset;
        h.upper = upper;
        *h.entry.lock() = entry;
        Ok(h)
    }
}
