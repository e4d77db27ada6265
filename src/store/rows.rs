//! Rows: what each row number holds besides its vector — id, text, metadata, liveness —
//! and the codecs of their files (`rows.dat` and the liveness bitmap `live.<c>.bin`).
//!
//! Rows are append-only: a new document gets the next row number; a delete tombstones its
//! row (it stops being *live*) and compaction rewrites the rows without tombstones.
//!
//! ```text
//! rows.dat        per row, a frame (see `codec.rs`): len u32 | crc32 u32 | body
//!                 body = id string | text optional string | metadata (JSON object or none)
//! live.<c>.bin    one bit per row, row r at bit r % 8 of byte r / 8; 1 = live
//! ```

use std::borrow::Cow;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{LazyLock, OnceLock};

use serde_json::Value;

use crate::codec::{Decoded, Decoder, Encoder};

/// One document as it is written: validated, its vector in stored form (normalised under
/// cosine). What a write logs and appends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub(crate) id: String,
    pub(crate) vector: Vec<f32>,
    pub(crate) text: Option<String>,
    pub(crate) metadata: Option<Value>,
}

/// Per-row ids, texts, metadata and liveness.
///
/// Texts and metadata read from a file may stay in it: rows decoded from a *backing*
/// (natively, the memory map of `rows.dat`; [`Rows::decode_backed`]) point into it
/// instead of copying their strings, so a loaded database's texts take no heap and only
/// the pages that hits read are paged in. Rows written since own their strings until a
/// checkpoint has appended them to the file ([`Rows::adopt`]).
#[derive(Default, Debug)]
pub(crate) struct Rows {
    ids: Vec<Str>,
    /// Each id's [`hash_id`], for the id index: kept so that the index never reads an
    /// id to place or find a row's entry.
    id_hashes: Vec<u32>,
    texts: Vec<Str>,
    metadata: Vec<Metadata>,
    backing: Option<Backing>,
    /// Whether each row is live (not tombstoned).
    pub(crate) live: Vec<bool>,
    /// Heap bytes the rows' own strings and metadata hold (kept as rows come and go, for
    /// [`Rows::heap`]), but for metadata parsed since (`parsed`).
    owned: RowsHeap,
    /// Heap bytes of the metadata values parsed on first use.
    parsed: AtomicUsize,
}

/// Rows are equal when they hold the same rows (however their buffers grew, where their
/// strings live, and whether their metadata was parsed yet).
impl PartialEq for Rows {
    fn eq(&self, other: &Rows) -> bool {
        self.live == other.live
            && (0..self.len()).all(|r| {
                self.id(r) == other.id(r)
                    && self.text(r) == other.text(r)
                    && self.metadata(r) == other.metadata(r)
            })
    }
}

/// The id index's hash of an id (`ids.rs`). Seeded at random once per process, so that
/// no one can choose ids that collide.
pub(crate) fn hash_id(id: &str) -> u32 {
    static HASHER: LazyLock<hashbrown::DefaultHashBuilder> = LazyLock::new(Default::default);
    HASHER.hash_one(id) as u32
}

/// Heap bytes of metadata values parsed from stored text that rows keep (see
/// [`Rows::metadata`]).
#[cfg(not(test))]
pub(crate) const METADATA_CACHE_BYTES: usize = 64 << 20;
/// Small in unit tests, so that they reach it.
#[cfg(test)]
pub(crate) const METADATA_CACHE_BYTES: usize = 4 << 10;

/// Bytes that rows can point into (see [`Rows`]): natively the memory map of
/// `rows.dat` (`store/vectors.rs`), in tests a buffer.
pub(crate) trait Backed: Send + Sync {
    fn bytes(&self) -> &[u8];
    /// Called once the rows were decoded from the bytes (a pass over all of them): a map
    /// lets the kernel take back the pages that pass touched, so only those that hits and
    /// filters read later stay resident.
    fn decoded(&self) {}
}

impl Backed for Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }
}

struct Backing(Box<dyn Backed>);

impl std::fmt::Debug for Backing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Backing({} bytes)", self.0.bytes().len())
    }
}

/// An optional string of a row: owned, or a range of the backing (checked to be UTF-8
/// when read: a range that is not reads as no string, which only a file written by
/// something else than vjson with valid CRCs can hold).
#[derive(Debug, Default, Clone)]
enum Str {
    #[default]
    None,
    Owned(Box<str>),
    At(u64, u32),
}

impl Str {
    fn of(s: Option<String>) -> Str {
        s.map_or(Str::None, |s| Str::Owned(s.into_boxed_str()))
    }

    fn get<'a>(&'a self, backing: Option<&'a Backing>) -> Option<&'a str> {
        match self {
            Str::None => None,
            Str::Owned(s) => Some(s),
            Str::At(at, len) => {
                let bytes = backing
                    .expect("rows pointing into a backing have it")
                    .0
                    .bytes();
                let b = bytes.get(*at as usize..*at as usize + *len as usize)?;
                std::str::from_utf8(b).ok()
            }
        }
    }

    fn owned_bytes(&self) -> usize {
        match self {
            Str::Owned(s) => s.len(),
            _ => 0,
        }
    }

    fn is_none(&self) -> bool {
        matches!(self, Str::None)
    }
}

/// A row's metadata: given as a value (a written document), or kept as the JSON text it
/// was stored as (a row read from a file or a snapshot; owned, or in the backing) and
/// parsed on first use. A loaded database so holds no parsed object (hundreds of bytes
/// each) until a filter or a hit reads the row; the text was checked to be a JSON object
/// when it was read.
#[derive(Debug, Default, Clone)]
struct Metadata {
    /// The stored JSON text; `Str::None` when the value was given.
    json: Str,
    value: OnceLock<Option<Value>>,
}

impl Metadata {
    fn given(v: Option<Value>) -> Self {
        Metadata {
            json: Str::None,
            value: OnceLock::from(v),
        }
    }

    fn stored(json: Str) -> Self {
        match json {
            Str::None => Self::given(None),
            json => Metadata {
                json,
                value: OnceLock::new(),
            },
        }
    }

    /// The value: given, or parsed from the text. A parsed value is kept (its heap bytes
    /// added to `parsed`) while `parsed` is below [`METADATA_CACHE_BYTES`]; past it, each
    /// read parses anew, so memory stays bounded however many rows filters touch.
    fn get<'a>(
        &'a self,
        backing: Option<&'a Backing>,
        parsed: &AtomicUsize,
    ) -> Option<Cow<'a, Value>> {
        if let Some(v) = self.value.get() {
            return v.as_ref().map(Cow::Borrowed);
        }
        // Stored metadata is a JSON object; anything else (only a file written by
        // something else than vjson, with valid CRCs, could hold it) reads as none.
        let parse = || {
            self.json
                .get(backing)
                .and_then(|s| serde_json::from_str::<Value>(s).ok())
                .filter(Value::is_object)
        };
        if parsed.load(Relaxed) >= METADATA_CACHE_BYTES {
            return parse().map(Cow::Owned);
        }
        self.value
            .get_or_init(|| {
                let v = parse();
                parsed.fetch_add(v.as_ref().map_or(0, json_heap_bytes), Relaxed);
                v
            })
            .as_ref()
            .map(Cow::Borrowed)
    }

    /// Heap bytes of an owned JSON text or of a value given with the row.
    fn owned_bytes(&self) -> usize {
        if self.json.is_none() {
            self.value_bytes()
        } else {
            self.json.owned_bytes()
        }
    }

    /// Heap bytes of a value parsed from the text.
    fn parsed_bytes(&self) -> usize {
        if self.json.is_none() {
            0
        } else {
            self.value_bytes()
        }
    }

    fn value_bytes(&self) -> usize {
        self.value
            .get()
            .and_then(Option::as_ref)
            .map_or(0, json_heap_bytes)
    }
}

/// Heap bytes held by rows, by part: each includes its per-row slots.
#[derive(Default, Debug, Clone, Copy, PartialEq)]
pub(crate) struct RowsHeap {
    pub(crate) ids: usize,
    pub(crate) texts: usize,
    pub(crate) metadata: usize,
}

/// Heap bytes a JSON value holds beyond its own slot: strings' buffers, arrays' element
/// buffers, and objects' B-tree nodes (serde_json's `Map` is a `BTreeMap`: leaves of up to
/// 11 key/value pairs, about 24 + 32 bytes each plus a header). An estimate of the
/// allocator's view, close enough to say where memory goes.
pub(crate) fn json_heap_bytes(v: &Value) -> usize {
    const SLOT: usize = std::mem::size_of::<Value>();
    const NODE: usize = 11 * (std::mem::size_of::<String>() + SLOT) + 16;
    match v {
        Value::String(s) => s.capacity(),
        Value::Array(a) => a.capacity() * SLOT + a.iter().map(json_heap_bytes).sum::<usize>(),
        Value::Object(o) => {
            o.len().div_ceil(11) * NODE
                + o.iter()
                    .map(|(k, v)| k.capacity() + json_heap_bytes(v))
                    .sum::<usize>()
        }
        _ => 0,
    }
}

impl Rows {
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Appends a live row.
    pub(crate) fn push(&mut self, id: String, text: Option<String>, metadata: Option<Value>) {
        let hash = hash_id(&id);
        self.push_row(
            Str::of(Some(id)),
            hash,
            Str::of(text),
            Metadata::given(metadata),
        );
    }

    /// Appends a live row whose metadata is stored JSON text (checked to be an object),
    /// parsed when first read.
    pub(crate) fn push_stored(&mut self, id: String, text: Option<String>, json: Option<&str>) {
        let json = Str::of(json.map(str::to_owned));
        let hash = hash_id(&id);
        self.push_row(
            Str::of(Some(id)),
            hash,
            Str::of(text),
            Metadata::stored(json),
        );
    }

    fn push_row(&mut self, id: Str, hash: u32, text: Str, metadata: Metadata) {
        self.owned.ids += id.owned_bytes();
        self.owned.texts += text.owned_bytes();
        self.owned.metadata += metadata.owned_bytes();
        self.parsed.fetch_add(metadata.parsed_bytes(), Relaxed);
        self.ids.push(id);
        self.id_hashes.push(hash);
        self.texts.push(text);
        self.metadata.push(metadata);
        self.live.push(true);
    }

    /// Row `r`'s id (kept for dead rows too).
    pub(crate) fn id(&self, r: usize) -> &str {
        self.ids[r]
            .get(self.backing.as_ref())
            .expect("every row has an id")
    }

    /// [`hash_id`] of row `r`'s id.
    pub(crate) fn id_hash(&self, r: usize) -> u32 {
        self.id_hashes[r]
    }

    /// Row `r`'s text.
    pub(crate) fn text(&self, r: usize) -> Option<&str> {
        self.texts[r].get(self.backing.as_ref())
    }

    /// Row `r`'s metadata. Stored metadata is parsed on first read and kept, up to
    /// [`METADATA_CACHE_BYTES`] of parsed values for all rows; past that it is parsed on
    /// each read (an owned value).
    pub(crate) fn metadata(&self, r: usize) -> Option<Cow<'_, Value>> {
        self.metadata[r].get(self.backing.as_ref(), &self.parsed)
    }

    /// Writes row `r`'s metadata as [`Encoder::metadata`] does (stored text as it is).
    pub(crate) fn encode_metadata(&self, e: &mut Encoder, r: usize) {
        match self.metadata[r].json.get(self.backing.as_ref()) {
            None => e.metadata(self.metadata(r).as_deref()),
            json => e.opt_str(json),
        }
    }

    /// Tombstones `row`, dropping its text (returned) and metadata.
    pub(crate) fn kill(&mut self, row: u32) -> Option<String> {
        let r = row as usize;
        self.live[r] = false;
        let text = self.text(r).map(str::to_owned);
        let t = std::mem::take(&mut self.texts[r]);
        let metadata = std::mem::take(&mut self.metadata[r]);
        self.owned.texts -= t.owned_bytes();
        self.owned.metadata -= metadata.owned_bytes();
        self.parsed.fetch_sub(metadata.parsed_bytes(), Relaxed);
        text
    }

    /// Natively after a checkpoint appended rows `first..` to the row file at byte `base`:
    /// `backing` maps the whole file now, and those rows point into it from here on,
    /// dropping their own ids, texts and metadata values (parsed again when read) — so a
    /// database's heap after a checkpoint is what it is after an open.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn adopt(
        &mut self,
        backing: Box<dyn Backed>,
        first: usize,
        base: u64,
    ) -> Decoded<()> {
        let n = self.len();
        let bytes = backing.bytes();
        let tail = bytes.get(base as usize..).unwrap_or_default();
        let written = Self::decode_from(tail, n - first, true)?;
        let at = |s: &Str| match s {
            Str::At(at, len) => Str::At(at + base, *len),
            other => other.clone(),
        };
        for (i, r) in (first..n).enumerate() {
            let old = std::mem::replace(&mut self.ids[r], at(&written.ids[i]));
            self.owned.ids -= old.owned_bytes();
            if !self.live[r] {
                continue;
            }
            let old = std::mem::replace(&mut self.texts[r], at(&written.texts[i]));
            self.owned.texts -= old.owned_bytes();
            let m = Metadata::stored(at(&written.metadata[i].json));
            let old = std::mem::replace(&mut self.metadata[r], m);
            self.owned.metadata -= old.owned_bytes();
            self.parsed.fetch_sub(old.parsed_bytes(), Relaxed);
        }
        backing.decoded();
        self.backing = Some(Backing(backing));
        Ok(())
    }

    /// Bytes of the backing the rows point into (file-backed when mapped).
    pub(crate) fn backing_bytes(&self) -> usize {
        self.backing.as_ref().map_or(0, |b| b.0.bytes().len())
    }

    /// Heap bytes the rows hold, by part (each with its per-row slots; the liveness flags
    /// go with the ids).
    pub(crate) fn heap(&self) -> RowsHeap {
        RowsHeap {
            ids: self.owned.ids
                + self.ids.capacity() * std::mem::size_of::<Str>()
                + self.id_hashes.capacity() * 4
                + self.live.capacity(),
            texts: self.owned.texts + self.texts.capacity() * std::mem::size_of::<Str>(),
            metadata: self.owned.metadata
                + self.parsed.load(Relaxed)
                + self.metadata.capacity() * std::mem::size_of::<Metadata>(),
        }
    }

    /// Appends row `r` to `rows.dat` bytes.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn encode_row(&self, out: &mut Encoder, r: usize) {
        out.frame(|e| {
            e.str(self.id(r));
            e.opt_str(self.text(r));
            self.encode_metadata(e, r);
        })
        .expect("a row (id <= 1 KiB, one text, one metadata object) fits a frame");
    }

    /// Decodes `rows` rows from `rows.dat` bytes (all live; see [`Rows::apply_live`]).
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn decode(bytes: &[u8], rows: usize) -> Decoded<Rows> {
        Self::decode_from(bytes, rows, false)
    }

    /// As [`Rows::decode`], from bytes that the rows then keep and point into for their
    /// ids, texts and metadata (natively, the map of `rows.dat`: see the type's docs).
    /// Once the caller has read what it needs of every row (the id index), it calls
    /// [`Rows::decoded`].
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn decode_backed(backing: Box<dyn Backed>, rows: usize) -> Decoded<Rows> {
        let mut out = Self::decode_from(backing.bytes(), rows, true)?;
        out.backing = Some(Backing(backing));
        Ok(out)
    }

    /// Tells the backing that the pass over every row is over (see [`Backed::decoded`]).
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn decoded(&self) {
        if let Some(b) = &self.backing {
            b.0.decoded();
        }
    }

    /// Decodes rows; with `point`, their strings point into `bytes` (see [`Str::At`]),
    /// and texts and metadata are not checked here beyond their frame's CRC, but when
    /// read (each read checks the bytes it reads: so an open does not pass over every
    /// text twice).
    fn decode_from(bytes: &[u8], rows: usize, point: bool) -> Decoded<Rows> {
        let range = |s: &[u8]| {
            Str::At(
                (s.as_ptr() as usize - bytes.as_ptr() as usize) as u64,
                s.len() as u32,
            )
        };
        let keep = |s: Option<&str>| match s {
            None => Str::None,
            Some(s) if point => range(s.as_bytes()),
            Some(s) => Str::Owned(s.into()),
        };
        let mut d = Decoder::new(bytes, "rows.dat");
        // Each row takes at least 20 bytes (frame header and three string lengths): bound
        // the count before allocating for it.
        let rows = d.count(rows as u64, 20, "rows")?;
        let mut out = Rows {
            ids: Vec::with_capacity(rows),
            id_hashes: Vec::with_capacity(rows),
            texts: Vec::with_capacity(rows),
            metadata: Vec::with_capacity(rows),
            backing: None,
            live: Vec::with_capacity(rows),
            owned: RowsHeap::default(),
            parsed: AtomicUsize::new(0),
        };
        for r in 0..rows {
            let at = d.position();
            let body = d.frame("row").map_err(|mut e| {
                e.problem = format!("row {r}: {}", e.problem);
                e
            })?;
            let mut b = Decoder::new(body, "rows.dat");
            let row = (|| {
                let id = b.str("id")?;
                let hash = hash_id(id);
                let id = keep(Some(id));
                let (text, meta) = if point {
                    let text = b.opt_bytes("text")?.map_or(Str::None, range);
                    (text, b.opt_bytes("metadata")?.map_or(Str::None, range))
                } else {
                    (keep(b.opt_str("text")?), keep(b.metadata_json("metadata")?))
                };
                b.finish()?;
                Ok((id, hash, text, meta))
            })();
            let (id, hash, text, meta) = row.map_err(|e: crate::codec::DecodeError| {
                d.error(format!("row {r} (at byte {at}): {}", e.problem))
            })?;
            out.push_row(id, hash, text, Metadata::stored(meta));
        }
        d.finish()?;
        Ok(out)
    }

    /// The liveness bitmap of every row.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn encode_live(&self) -> Vec<u8> {
        let mut out = vec![0u8; self.live.len().div_ceil(8)];
        for (i, &l) in self.live.iter().enumerate() {
            if l {
                out[i / 8] |= 1 << (i % 8);
            }
        }
        out
    }

    /// Tombstones the rows a liveness bitmap marks dead; returns the live count.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn apply_live(&mut self, bitmap: &[u8]) -> Decoded<usize> {
        let n = self.len();
        if bitmap.len() != n.div_ceil(8) {
            return Err(Decoder::new(bitmap, "liveness bitmap")
                .error(format!("{} bytes do not hold {n} bits", bitmap.len())));
        }
        let mut live = 0;
        for r in 0..n {
            if bitmap[r / 8] & (1 << (r % 8)) != 0 {
                live += 1;
            } else {
                self.kill(r as u32);
            }
        }
        Ok(live)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Rows {
        let mut rows = Rows::default();
        rows.push("a".into(), Some("first text".into()), Some(json!({"n": 1})));
        rows.push("b".into(), None, None);
        rows.push(
            "ç".into(),
            Some(String::new()),
            Some(json!({"tags": ["x"]})),
        );
        rows
    }

    fn encode(rows: &Rows) -> Vec<u8> {
        let mut e = Encoder::new();
        for r in 0..rows.len() {
            rows.encode_row(&mut e, r);
        }
        e.into_bytes()
    }

    #[test]
    fn rows_and_liveness_round_trip() {
        let mut rows = sample();
        let bytes = encode(&rows);
        assert_eq!(Rows::decode(&bytes, 3).unwrap(), rows);
        rows.kill(1);
        let bitmap = rows.encode_live();
        let mut back = Rows::decode(&bytes, 3).unwrap();
        assert_eq!(back.apply_live(&bitmap).unwrap(), 2);
        assert_eq!(back.live, vec![true, false, true]);
        assert_eq!(back.text(1), None);
    }

    #[test]
    fn stored_metadata_is_parsed_once_and_kept_up_to_the_budget() {
        let mut rows = Rows::default();
        for i in 0..200 {
            let json = format!(r#"{{"n":{i},"tag":"t{i}","list":[1,2,3]}}"#);
            rows.push_stored(format!("r{i}"), Some(format!("text {i}")), Some(&json));
        }
        let bytes = encode(&rows);
        let back = Rows::decode_backed(Box::new(bytes), 200).unwrap();
        assert_eq!(back, rows);
        // Nothing was parsed by the decode; the equality check above parsed up to the
        // budget and then parsed on each read without keeping.
        let kept = back.parsed.load(Relaxed);
        assert!(
            (METADATA_CACHE_BYTES..METADATA_CACHE_BYTES + 1024).contains(&kept),
            "{kept}"
        );
        assert!(matches!(back.metadata(0), Some(Cow::Borrowed(_))));
        assert!(matches!(back.metadata(199), Some(Cow::Owned(_))));
        assert_eq!(back.metadata(199).unwrap()["n"], 199);
        assert_eq!(back.parsed.load(Relaxed), kept);
        // Texts and metadata point into the backing: only the slots are on the heap.
        let heap = back.heap();
        assert_eq!(
            heap.texts,
            back.texts.capacity() * std::mem::size_of::<Str>()
        );
        assert_eq!(back.text(150), Some("text 150"));
    }

    #[test]
    fn backed_rows_check_texts_and_metadata_when_read() {
        // CRCs that hold over a text that is not UTF-8 and metadata that is not an
        // object (no vjson writer makes them): a plain decode refuses the row; rows that
        // point into the bytes read them as none.
        let mut e = Encoder::new();
        e.frame(|e| {
            e.str("a");
            e.u32(2);
            e.bytes(&[0xff, 0xfe]);
            e.opt_str(Some("[1]"));
        })
        .unwrap();
        let bytes = e.into_bytes();
        assert!(Rows::decode(&bytes, 1).is_err());
        let rows = Rows::decode_backed(Box::new(bytes), 1).unwrap();
        assert_eq!(rows.id(0), "a");
        assert_eq!(rows.text(0), None);
        assert_eq!(rows.metadata(0), None);
        // A damaged id is refused either way: every row must have one.
        let mut e = Encoder::new();
        e.frame(|e| {
            e.u32(1);
            e.bytes(&[0xff]);
            e.opt_str(None);
            e.opt_str(None);
        })
        .unwrap();
        let bytes = e.into_bytes();
        assert!(Rows::decode_backed(Box::new(bytes), 1).is_err());
    }

    #[test]
    fn truncation_and_damage_are_errors() {
        let bytes = encode(&sample());
        for cut in 0..bytes.len() {
            assert!(Rows::decode(&bytes[..cut], 3).is_err(), "cut at {cut}");
        }
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(Rows::decode(&bad, 3).is_err(), "flip at {i}");
        }
        // A row count the bytes cannot hold, and bytes after the last row.
        assert!(Rows::decode(&bytes, 1_000_000_000).is_err());
        let err = Rows::decode(&bytes, 2).unwrap_err();
        assert!(err.problem.contains("trailing"), "{err}");
        // A bitmap of the wrong size.
        assert!(sample().apply_live(&[0xff, 0]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
            rows in 0usize..40,
        ) {
            let _ = Rows::decode(&bytes, rows);
            let _ = Rows::decode(&bytes, usize::MAX);
            let mut r = sample();
            let _ = r.apply_live(&bytes);
        }
    }
}
