//! The portable snapshot format, written and read identically on every target.
//!
//! ```text
//! "VJSN" | version u32 | header length u32 | header crc32 u32 | header JSON {options, rows, live}
//! then seven sections, in order, each: tag u32 | length u64 | crc32 u32 | bytes
//!   1 ids       per row: length u32, UTF-8 bytes
//!   2 vectors   rows x dimension f32 (stored form: normalised under cosine)
//!   3 texts     per row: length u32 (u32::MAX: none), UTF-8 bytes
//!   4 metadata  per row: length u32 (u32::MAX: none), JSON object bytes
//!   5 live      per row: 1 live, 0 tombstone
//!   6 hnsw      the graph (see `hnsw/codec.rs`)
//!   7 titles    per row: length u32 (u32::MAX: none), UTF-8 bytes
//! ```
//! Version 1, written before documents had titles, has the first six sections only; it is
//! still read (no row has a title).
//! All integers little-endian. Every declared length is checked against the bytes present
//! before anything is allocated, and the header's and every section's CRC before it is
//! parsed, so any damaged byte is an `invalid_snapshot` error. The text
//! index is rebuilt on import; the graph is not. Encoding and decoding go through the
//! shared byte codec (`codec.rs`); decode errors become `invalid_snapshot`.

use serde::{Deserialize, Serialize};

use crate::codec::{Decoded, Decoder, Encoder, crc32};
use crate::distance::Distance;
use crate::error::{Error, Result};
use crate::hnsw::{Hnsw, VectorSource};
use crate::options::Options;
use crate::state::State;
use crate::store::{MemoryVectors, Rows, Vectors};

/// The snapshot magic bytes.
pub const MAGIC: &[u8; 4] = b"VJSN";
/// The snapshot format version this build writes (it reads this one and version 1).
pub const VERSION: u32 = 2;

const SECTIONS: [(u32, &str); 7] = [
    (1, "ids"),
    (2, "vectors"),
    (3, "texts"),
    (4, "metadata"),
    (5, "live"),
    (6, "hnsw"),
    (7, "titles"),
];

#[derive(Serialize, Deserialize)]
struct Header {
    options: Options,
    rows: u64,
    live: u64,
}

/// Encodes the row sections (ids, vectors, texts, metadata, live, titles) in snapshot
/// layout.
fn encode_rows(rows: &Rows, vectors: &Vectors, dim: usize) -> [Vec<u8>; 6] {
    let n = rows.len();
    let mut ids = Encoder::new();
    let mut vecs = Encoder::with_capacity(n * dim * 4);
    let mut texts = Encoder::new();
    let mut meta = Encoder::new();
    let mut live = Vec::with_capacity(n);
    let mut titles = Encoder::new();
    for r in 0..n {
        ids.str(rows.id(r));
        vecs.f32s(vectors.vector(r as u32));
        texts.opt_str(rows.text(r));
        rows.encode_metadata(&mut meta, r);
        live.push(rows.live[r] as u8);
        titles.opt_str(rows.title(r));
    }
    [
        ids.into_bytes(),
        vecs.into_bytes(),
        texts.into_bytes(),
        meta.into_bytes(),
        live,
        titles.into_bytes(),
    ]
}

/// Writes a snapshot of `state`.
pub(crate) fn write(opts: &Options, state: &State) -> Vec<u8> {
    let header = serde_json::to_vec(&Header {
        options: opts.clone(),
        rows: state.rows.len() as u64,
        live: state.live_rows as u64,
    })
    .expect("header serialises");
    let [ids, vecs, texts, meta, live, titles] =
        encode_rows(&state.rows, &state.vectors, opts.dimension);
    let graph = state.hnsw.to_bytes();
    let sections = [&ids, &vecs, &texts, &meta, &live, &graph, &titles];
    let mut out = Encoder::with_capacity(
        20 + header.len() + sections.iter().map(|s| s.len() + 16).sum::<usize>(),
    );
    out.bytes(MAGIC);
    out.u32(VERSION);
    out.u32(header.len() as u32);
    out.u32(crc32(&header));
    out.bytes(&header);
    for (bytes, (tag, _)) in sections.into_iter().zip(SECTIONS) {
        out.u32(tag);
        out.long_frame(bytes);
    }
    out.into_bytes()
}

/// Decodes the row sections written by [`encode_rows`] for `rows` rows (the titles
/// section `None` in a version 1 snapshot).
fn decode_rows(
    opts: &Options,
    rows: usize,
    sections: [&[u8]; 5],
    titles_b: Option<&[u8]>,
) -> Decoded<(Rows, MemoryVectors)> {
    let [ids_b, vec_b, texts_b, meta_b, live_b] = sections;
    let mut titles = titles_b.map(|b| Decoder::new(b, "titles section"));
    let dim = opts.dimension;
    let mut ids = Decoder::new(ids_b, "ids section");
    let mut vecs = Decoder::new(vec_b, "vectors section");
    let mut texts = Decoder::new(texts_b, "texts section");
    let mut meta = Decoder::new(meta_b, "metadata section");
    let live = Decoder::new(live_b, "live section");
    // Each id takes at least 4 bytes: bound the row count before allocating for it.
    let rows = ids.count(rows as u64, 4, "rows")?;
    if rows != live_b.len() {
        return Err(live.error(format!(
            "the header declares {rows} rows but the live section holds {}",
            live_b.len()
        )));
    }
    let expect = (rows as u64).checked_mul(dim as u64 * 4);
    if expect != Some(vec_b.len() as u64) {
        return Err(vecs.error(format!(
            "{} bytes; {rows} rows x {dim} dimensions need {}",
            vec_b.len(),
            expect.map_or("more".into(), |e| e.to_string())
        )));
    }
    let mut out = Rows::default();
    for (r, &live_byte) in live_b.iter().enumerate() {
        let id = ids.str("id")?;
        let text = texts.opt_str("text")?.map(str::to_owned);
        let metadata = meta.metadata_json("metadata")?;
        let title = match titles.as_mut() {
            Some(t) => t.opt_str("title")?.map(str::to_owned),
            None => None,
        };
        let is_live = match live_byte {
            0 => false,
            1 => true,
            b => return Err(live.error(format!("row {r} has live flag {b}"))),
        };
        if is_live && id.is_empty() {
            return Err(ids.error(format!("live row {r} has an empty id")));
        }
        out.push_stored(id.to_owned(), text, title, metadata);
        out.live[r] = is_live;
    }
    ids.finish()?;
    texts.finish()?;
    meta.finish()?;
    if let Some(t) = &titles {
        t.finish()?;
    }
    let data = vecs.f32s(rows * dim, "vectors")?;
    if data.iter().any(|x| !x.is_finite()) {
        return Err(vecs.error("a vector holds NaN or infinity"));
    }
    Ok((out, MemoryVectors::from_vec(dim, data)))
}

/// Reads a snapshot into options and state.
pub(crate) fn read(bytes: &[u8]) -> Result<(Options, State)> {
    let mut c = Decoder::new(bytes, "snapshot");
    if bytes.get(..4) != Some(MAGIC.as_slice()) {
        return Err(Error::snapshot(
            "not a vjson snapshot (missing VJSN magic); export one with export_snapshot or `vjson export`",
        ));
    }
    c.take(4, "magic").map_err(|e| e.into_snapshot())?;
    let (header, sections, titled) = read_sections(&mut c).map_err(|e| e.into_snapshot())?;
    let rows = usize::try_from(header.rows)
        .map_err(|_| Error::snapshot("row count does not fit this platform"))?;
    let opts = header.options;
    let [ids, vecs, texts, meta, live, graph, titles] = sections;
    let titles = titled.then_some(titles);
    let (rows_data, vectors) = decode_rows(&opts, rows, [ids, vecs, texts, meta, live], titles)
        .map_err(|e| e.into_snapshot())?;
    let graph = Hnsw::from_bytes(graph, &opts.hnsw, rows).map_err(|e| e.into_snapshot())?;
    let dist = Distance::new(opts.metric);
    let state = State::assemble(
        &opts,
        &dist,
        rows_data,
        Vectors::Memory(vectors),
        Some(graph),
    )?;
    if state.live_rows as u64 != header.live {
        return Err(Error::snapshot(format!(
            "header declares {} live rows, the rows hold {}",
            header.live, state.live_rows
        )));
    }
    Ok((opts, state))
}

/// The version, the header (CRC checked) and the sections (tags and CRCs checked): the
/// first six, and the titles section (`None` in a version 1 snapshot).
fn read_sections<'a>(c: &mut Decoder<'a>) -> Decoded<(Header, [&'a [u8]; 7], bool)> {
    let version = c.u32("version")?;
    if version != VERSION && version != 1 {
        return Err(c.error(format!(
            "snapshot format version {version}; this build reads versions 1 and {VERSION}"
        )));
    }
    let hlen = c.u32("header length")?;
    let hcrc = c.u32("header CRC")?;
    let hbytes = c.take(hlen as usize, "header")?;
    if crc32(hbytes) != hcrc {
        return Err(c.error("the header fails its CRC check; the snapshot is damaged"));
    }
    // Parsed as text, the way metadata is: one instance of serde_json's parser in the wasm
    // module instead of a second one for bytes (~2 KB gzipped).
    let htext = std::str::from_utf8(hbytes).map_err(|_| c.error("the header is not UTF-8 text"))?;
    let header: Header = serde_json::from_str(htext).map_err(|e| {
        // Where it failed, not serde_json's message, which quotes the offending value.
        c.error(format!(
            "header is not valid ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    header
        .options
        .validate()
        .map_err(|e| c.error(format!("header options: {e}")))?;
    let titled = version != 1;
    let mut sections: [&[u8]; 7] = [&[]; 7];
    let present = if titled { 7 } else { 6 };
    for (slot, (tag, name)) in sections.iter_mut().zip(SECTIONS).take(present) {
        let got = c.u32("section tag")?;
        if got != tag {
            return Err(c.error(format!(
                "expected the {name} section (tag {tag}), found tag {got}"
            )));
        }
        *slot = c.long_frame(&format!("the {name} section"))?;
    }
    c.finish()?;
    Ok((header, sections, titled))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Row;
    use serde_json::json;

    fn state(opts: &Options) -> State {
        let rows = (0..30)
            .map(|i| Row {
                id: format!("doc{i}"),
                vector: vec![(i as f32).sin(), (i as f32).cos(), 0.5],
                text: (i % 3 != 0).then(|| format!("text number {i}")),
                title: (i % 5 != 0).then(|| format!("title {i}")),
                metadata: (i % 2 == 0).then(|| json!({"i": i})),
            })
            .collect();
        let mut s = State::from_rows(opts, &Distance::new(opts.metric), rows, None).unwrap();
        s.ids.remove_row(&s.rows, 4);
        s.rows.kill(4);
        s.live_rows -= 1;
        s
    }

    #[test]
    fn round_trip_keeps_every_row() {
        let opts = Options::new(3);
        let s = state(&opts);
        let bytes = write(&opts, &s);
        let (back_opts, back) = read(&bytes).unwrap();
        assert_eq!(back_opts, opts);
        assert_eq!(back.rows, s.rows);
        assert_eq!(back.rows.title(1), Some("title 1"));
        assert_eq!(back.live_rows, 29);
        assert_eq!(back.hnsw.to_bytes(), s.hnsw.to_bytes());
        assert_eq!(
            write(&back_opts, &back),
            bytes,
            "a re-export is byte-identical"
        );
    }

    #[test]
    fn truncation_and_damage_are_invalid_snapshot_errors() {
        let opts = Options::new(3);
        let bytes = write(&opts, &state(&opts));
        for cut in (0..bytes.len()).step_by(7) {
            let e = read(&bytes[..cut]).err().expect("a cut snapshot fails");
            assert_eq!(e.code(), "invalid_snapshot");
        }
        for i in (4..bytes.len()).step_by(5) {
            let mut bad = bytes.clone();
            bad[i] ^= 0x21;
            let e = read(&bad).err().expect("a damaged snapshot fails");
            assert_eq!(e.code(), "invalid_snapshot", "flip at {i}: {e}");
        }
        let mut wrong_version = bytes.clone();
        wrong_version[4] = 9;
        let e = read(&wrong_version).err().unwrap();
        assert!(e.to_string().contains("version 9"), "{e}");
    }

    #[test]
    fn sections_that_disagree_with_the_header_are_refused() {
        // Valid CRCs, wrong contents: the live section says 2 for one row.
        let opts = Options::new(3);
        let s = state(&opts);
        let [ids, vecs, texts, meta, mut live, titles] = encode_rows(&s.rows, &s.vectors, 3);
        let t = Some(titles.as_slice());
        let e = decode_rows(
            &opts,
            30,
            [&ids, &vecs, &texts, &meta, &live],
            Some(&titles[4..]),
        )
        .err()
        .unwrap();
        assert_eq!(e.section, "titles section");
        live[0] = 2;
        let e = decode_rows(&opts, 30, [&ids, &vecs, &texts, &meta, &live], t)
            .err()
            .unwrap();
        assert!(e.problem.contains("live flag 2"), "{e}");
        let e = decode_rows(&opts, 31, [&ids, &vecs, &texts, &meta, &live], t)
            .err()
            .unwrap();
        assert!(e.problem.contains("31 rows"), "{e}");
        let e = decode_rows(&opts, 30, [&ids, &vecs[4..], &texts, &meta, &live], t)
            .err()
            .unwrap();
        assert_eq!(e.section, "vectors section");
    }

    proptest::proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..1024)) {
            let _ = read(&bytes);
            let mut with_magic = MAGIC.to_vec();
            with_magic.extend_from_slice(&bytes);
            let _ = read(&with_magic);
        }
    }
}
