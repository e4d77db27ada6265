//! The graph's flat byte layout, shared by snapshots and the on-disk `hnsw.bin`.
//!
//! Little-endian: `m u32, n u64, entry u32 (u32::MAX: none), entry level u8`, then `n`
//! level bytes, the layer-0 slots (`n * (1 + 2m)` u32), the upper-layer slot count `u64`
//! and those slots. Decoding checks every length before allocating, every link against
//! `n`, and every upper-layer link against its target's level, so damaged bytes are an
//! error, never a panic or a cyclic mess.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use super::{Hnsw, MAX_LEVEL, NONE};
use crate::codec::{Decoded, Decoder, Encoder};
use crate::options::HnswParams;

/// Reads `count` u32 link slots, lists of `width` slots each (a count, then links), and
/// checks each list as it is copied (one pass over what can be a hundred megabytes): a
/// count of at most `width - 1`, and links below `n`.
fn slots(
    d: &mut Decoder<'_>,
    count: u64,
    width: usize,
    n: usize,
    what: &str,
) -> Decoded<Vec<AtomicU32>> {
    let count = d.count(count, 4, what)?;
    let raw = d.take(count * 4, what)?;
    if count % width != 0 {
        return Err(d.error(format!("{what}: {count} slots are not lists of {width}")));
    }
    let mut out = Vec::with_capacity(count);
    for list in raw.chunks_exact(width * 4) {
        let mut slots = list
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        let len = slots.next().expect("width >= 1");
        if len as usize > width - 1 {
            return Err(d.error(format!("{what} list too long")));
        }
        out.push(AtomicU32::new(len));
        for (i, link) in slots.enumerate() {
            if i < len as usize && link as usize >= n {
                return Err(d.error(format!("{what} link out of range")));
            }
            out.push(AtomicU32::new(link));
        }
    }
    Ok(out)
}

impl Hnsw {
    /// Serialises the graph.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let n = self.len();
        let mut out = Encoder::with_capacity(32 + n + (self.layer0.len() + self.upper.len()) * 4);
        out.u32(self.m as u32);
        out.u64(n as u64);
        let (er, el) = self.entry().unwrap_or((NONE, 0));
        out.u32(er);
        out.u8(el);
        out.bytes(&self.levels);
        for a in &self.layer0 {
            out.u32(a.load(Relaxed));
        }
        out.u64(self.upper.len() as u64);
        for a in &self.upper {
            out.u32(a.load(Relaxed));
        }
        out.into_bytes()
    }

    /// Rebuilds a graph from [`Hnsw::to_bytes`] output, checking everything.
    pub(crate) fn from_bytes(bytes: &[u8], params: &HnswParams, rows: usize) -> Decoded<Self> {
        let mut r = Decoder::new(bytes, "hnsw graph");
        let m = r.u32("m")? as usize;
        if m != params.m {
            return Err(r.error(format!(
                "hnsw graph was built with m = {m} but the options say m = {}",
                params.m
            )));
        }
        let n = r.u64("node count")?;
        if n != rows as u64 {
            return Err(r.error(format!(
                "hnsw graph has {n} nodes but there are {rows} rows"
            )));
        }
        let n = rows;
        let entry_row = r.u32("entry point")?;
        let entry_level = r.u8("entry level")?;
        let levels = r.take(n, "levels")?.to_vec();
        let mut h = Hnsw::new(params);
        let layer0 = slots(
            &mut r,
            (n as u64).saturating_mul(1 + h.m0 as u64),
            1 + h.m0,
            n,
            "layer 0",
        )?;
        let upper_len = r.u64("upper layer size")?;
        let mut upper_offset = Vec::with_capacity(n);
        let mut need = 0u64;
        for &l in &levels {
            if l > MAX_LEVEL {
                return Err(r.error(format!("level {l} exceeds {MAX_LEVEL}")));
            }
            if l == 0 {
                upper_offset.push(NONE);
            } else {
                upper_offset
                    .push(u32::try_from(need).map_err(|_| r.error("upper layers too large"))?);
                need += l as u64 * (1 + h.m) as u64;
            }
        }
        if upper_len != need {
            return Err(r.error(format!(
                "upper layers hold {upper_len} slots but the levels need {need}"
            )));
        }
        let upper = slots(&mut r, upper_len, 1 + h.m, n, "upper layer")?;
        r.finish()?;
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
                    return Err(r.error(format!(
                        "node {row} links on layer {layer} to a node below that layer"
                    )));
                }
            }
        }
        let entry = if entry_row == NONE {
            if layer0.iter().any(|a| a.load(Relaxed) > 0) {
                return Err(r.error("links but no entry point"));
            }
            None
        } else {
            if entry_row as usize >= n || levels[entry_row as usize] != entry_level {
                return Err(r.error("the entry point is invalid"));
            }
            Some((entry_row, entry_level))
        };
        h.removed = vec![false; n];
        h.levels = levels;
        h.layer0 = layer0;
        h.upper_offset = upper_offset;
        h.upper = upper;
        *h.entry.lock() = entry;
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distance::Distance;
    use crate::hnsw::VectorSource;
    use crate::options::Metric;

    struct Flat(Vec<[f32; 3]>);
    impl VectorSource for Flat {
        fn vector(&self, row: u32) -> &[f32] {
            &self.0[row as usize]
        }
    }

    fn graph(n: usize) -> (Hnsw, HnswParams) {
        let params = HnswParams {
            m: 4,
            ..HnswParams::default()
        };
        let v = Flat(
            (0..n)
                .map(|i| [(i as f32).sin(), (i as f32 * 0.7).cos(), 1.0])
                .collect(),
        );
        let mut h = Hnsw::new(&params);
        h.grow(n);
        let dist = Distance::new(Metric::Cosine);
        h.insert_rows(
            0..n as u32,
            &crate::hnsw::ExactSpace {
                vecs: &v,
                dist: &dist,
            },
        );
        (h, params)
    }

    #[test]
    fn round_trip_is_exact() {
        for n in [0, 1, 40] {
            let (h, params) = graph(n);
            let bytes = h.to_bytes();
            let back = Hnsw::from_bytes(&bytes, &params, n).unwrap();
            assert_eq!(back.to_bytes(), bytes);
            assert_eq!(back.entry(), h.entry());
        }
    }

    #[test]
    fn truncation_and_mismatches_are_errors() {
        let (h, params) = graph(40);
        let bytes = h.to_bytes();
        for cut in 0..bytes.len() {
            assert!(Hnsw::from_bytes(&bytes[..cut], &params, 40).is_err());
        }
        let err = Hnsw::from_bytes(&bytes, &params, 41).err().unwrap();
        assert!(err.problem.contains("40 nodes"), "{err}");
        let other = HnswParams { m: 8, ..params };
        assert!(Hnsw::from_bytes(&bytes, &other, 40).is_err());
        // A link past the last node (first link slot of node 0 on layer 0).
        let mut bad = bytes.clone();
        let at = 4 + 8 + 4 + 1 + 40 + 4;
        bad[at..at + 4].copy_from_slice(&1000u32.to_le_bytes());
        let err = Hnsw::from_bytes(&bad, &params, 40).err().unwrap();
        assert!(err.problem.contains("out of range"), "{err}");
    }

    proptest::proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..1024),
            rows in 0usize..64,
        ) {
            let params = HnswParams { m: 4, ..HnswParams::default() };
            let _ = Hnsw::from_bytes(&bytes, &params, rows);
            let _ = Hnsw::from_bytes(&bytes, &params, usize::MAX / 2);
        }
    }
}
