//! Rows: what each row number holds besides its vector — id, text, title, metadata,
//! liveness —
//! and the codecs of their files (`rows.dat` and the liveness bitmap `live.<c>.bin`).
//!
//! Rows are append-only: a new document gets the next row number; a delete tombstones its
//! row (it stops being *live*) and compaction rewrites the rows without tombstones.
//!
//! ```text
//! rows.dat        per row, a frame (see `codec.rs`): len u32 | crc32 u32 | body
//!                 body = id string | text optional string | metadata (JSON object or none)
//!                        [| title optional string: only when the row has a title, so a
//!                        row without one is written as before titles existed]
//! live.<c>.bin    one bit per row, row r at bit r % 8 of byte r / 8; 1 = live
//! rows.<c>.idx    the row index: magic "vjri" | version u32 | id seed u64 | seed check u32
//!                 | reserved u32 | rows u64 | each row's frame offset in rows.dat, u64
//!                 | each id's hash, u32
//! ```
//!
//! The row index lets an open skip the pass over `rows.dat` (every frame's CRC and id):
//! with it, an open reads 12 bytes per row instead of the whole file, and a frame's CRC
//! is checked when the row is read ([`Rows::check`] for reads that report damage).

use std::borrow::Cow;
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use serde_json::Value;

use crate::codec::{Decoded, Decoder, Encoder, is_json_object};

/// One document as it is written: validated, its vector in stored form (normalised under
/// cosine). What a write logs and appends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub(crate) id: String,
    pub(crate) vector: Vec<f32>,
    pub(crate) text: Option<String>,
    pub(crate) title: Option<String>,
    pub(crate) metadata: Option<Value>,
}

/// Per-row ids, texts, metadata and liveness.
///
/// Rows read from a file stay in it: rows decoded from a *backing* (natively, the memory
/// map of `rows.dat`; [`Rows::decode_backed`]) keep only where each row's frame starts
/// (8 bytes), and read its id, text and metadata from the frame when asked. So a loaded
/// database's rows take a few bytes each on the heap, an open allocates little, and only
/// the pages that hits and filters read are paged in. Rows written since own their
/// strings until a checkpoint has appended them to the file ([`Rows::adopt`]); so do
/// all rows of a database in memory or loaded from a snapshot.
#[derive(Default, Debug)]
pub(crate) struct Rows {
    /// Rows `0..stored.len()`: the offset of each one's frame in the backing.
    stored: Vec<u64>,
    /// Rows `stored.len()..`: their own strings.
    owned: Vec<OwnedRow>,
    /// Each id's [`Rows::hash_id`], for the id index: kept so that the index never reads
    /// an id to place or find a row's entry.
    id_hashes: Vec<u32>,
    /// The seed of [`Rows::hash_id`], random per database (the row index stores it with
    /// the hashes).
    seed: IdSeed,
    backing: Option<Backing>,
    /// The backing's file, for errors about it.
    path: Option<PathBuf>,
    /// Stored rows' metadata values, parsed on first read (the slots allocated on the
    /// first read of any).
    parsed: OnceLock<Box<[ParsedSlot]>>,
    /// Whether each row is live (not tombstoned).
    pub(crate) live: Vec<bool>,
    /// Heap bytes the owned rows' strings and metadata hold (kept as rows come and go,
    /// for [`Rows::heap`]), but for metadata parsed since (`parsed_bytes`).
    owned_bytes: RowsHeap,
    /// Heap bytes of the metadata values parsed on first use.
    parsed_bytes: AtomicUsize,
}

/// A stored row's metadata value, once parsed (16 bytes while empty).
type ParsedSlot = OnceLock<Option<Box<Value>>>;

/// Rows are equal when they hold the same rows (however their buffers grew, where their
/// strings live, and whether their metadata was parsed yet).
impl PartialEq for Rows {
    fn eq(&self, other: &Rows) -> bool {
        self.live == other.live
            && (0..self.len()).all(|r| {
                self.id(r) == other.id(r)
                    && self.text(r) == other.text(r)
                    && self.title(r) == other.title(r)
                    && self.metadata(r) == other.metadata(r)
            })
    }
}

/// The seed of the id hash: random for new rows (so that no one can choose ids that
/// collide), read from the row index for rows loaded with one.
#[derive(Debug, Clone, Copy, PartialEq)]
struct IdSeed(u64);

impl Default for IdSeed {
    fn default() -> Self {
        // A process-random hasher, freshly seeded per instance.
        IdSeed(hashbrown::DefaultHashBuilder::default().hash_one(0x76_6a_73_6f_6e_u64))
    }
}

impl IdSeed {
    fn hash(self, id: &str) -> u32 {
        foldhash::fast::FixedState::with_seed(self.0).hash_one(id) as u32
    }

    /// A value that changes if the hash function does (a new foldhash): hashes stored
    /// under another function are not used.
    fn check(self) -> u32 {
        self.hash("vjson row index")
    }
}

/// The row index's magic and version.
const INDEX_MAGIC: &[u8; 4] = b"vjri";
const INDEX_VERSION: u32 = 1;

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

/// A row written since the last checkpoint (or of a database without files).
#[derive(Debug)]
struct OwnedRow {
    id: Box<str>,
    text: Option<Box<str>>,
    title: Option<Box<str>>,
    metadata: Metadata,
}

/// An owned row's metadata: given as a value (a written document), or kept as the JSON
/// text it was stored as (a row read from a snapshot) and parsed on first use.
#[derive(Debug)]
enum Metadata {
    Given(Option<Value>),
    Json(Box<str>, OnceLock<Option<Value>>),
}

/// The fields of a stored row's frame body, as bytes (the decode checked the id to be
/// UTF-8 and the frame's CRC; texts and metadata are checked when read).
struct Fields<'a> {
    id: &'a [u8],
    text: Option<&'a [u8]>,
    metadata: Option<&'a [u8]>,
    title: Option<&'a [u8]>,
}

/// Reads the fields of a frame body: `body = id | text | metadata [| title]`.
fn fields(body: &[u8]) -> Decoded<Fields<'_>> {
    let mut b = Decoder::new(body, "rows.dat");
    let id = b.opt_bytes("id")?.ok_or_else(|| b.error("id is missing"))?;
    let text = b.opt_bytes("text")?;
    let metadata = b.opt_bytes("metadata")?;
    let title = optional_title(&mut b)?;
    b.finish()?;
    Ok(Fields {
        id,
        text,
        metadata,
        title,
    })
}

/// The title at the end of a frame body, if the row has one (written only then).
fn optional_title<'a>(b: &mut Decoder<'a>) -> Decoded<Option<&'a [u8]>> {
    if b.remaining() == 0 {
        return Ok(None);
    }
    match b.opt_bytes("title")? {
        None => Err(b.error("a title field that holds none")),
        some => Ok(some),
    }
}

/// Parses stored metadata text. Stored metadata is a JSON object; anything else (only a
/// file written by something else than vjson, with valid CRCs, could hold it) reads as
/// none.
fn parse_metadata(json: &str) -> Option<Value> {
    serde_json::from_str::<Value>(json)
        .ok()
        .filter(Value::is_object)
}

/// Keeps a value parsed from stored text in `slot` while fewer than
/// [`METADATA_CACHE_BYTES`] are kept in all (`kept`); past that, parses on each read, so
/// memory stays bounded however many rows filters touch.
fn cached<'a, T>(
    slot: &'a OnceLock<Option<T>>,
    kept: &AtomicUsize,
    parse: impl Fn() -> Option<Value>,
    wrap: impl FnOnce(Value) -> T,
    get: impl Fn(&'a T) -> &'a Value,
) -> Option<Cow<'a, Value>> {
    if let Some(v) = slot.get() {
        return v.as_ref().map(|v| Cow::Borrowed(get(v)));
    }
    if kept.load(Relaxed) >= METADATA_CACHE_BYTES {
        return parse().map(Cow::Owned);
    }
    slot.get_or_init(|| {
        let v = parse();
        kept.fetch_add(v.as_ref().map_or(0, json_heap_bytes), Relaxed);
        v.map(wrap)
    })
    .as_ref()
    .map(|v| Cow::Borrowed(get(v)))
}

impl OwnedRow {
    /// Heap bytes of its strings and of a value given with it.
    fn heap(&self) -> RowsHeap {
        RowsHeap {
            ids: self.id.len(),
            texts: self.text.as_ref().map_or(0, |t| t.len())
                + self.title.as_ref().map_or(0, |t| t.len()),
            metadata: match &self.metadata {
                Metadata::Given(v) => v.as_ref().map_or(0, json_heap_bytes),
                Metadata::Json(j, _) => j.len(),
            },
        }
    }

    /// Heap bytes of a value parsed from its JSON text.
    fn parsed_bytes(&self) -> usize {
        match &self.metadata {
            Metadata::Json(_, v) => v.get().and_then(Option::as_ref).map_or(0, json_heap_bytes),
            Metadata::Given(_) => 0,
        }
    }
}

/// Heap bytes held by rows, by part: each includes its per-row slots.
#[derive(Default, Debug, Clone, Copy, PartialEq)]
pub(crate) struct RowsHeap {
    pub(crate) ids: usize,
    pub(crate) texts: usize,
    pub(crate) metadata: usize,
}

impl RowsHeap {
    fn add(&mut self, o: RowsHeap) {
        self.ids += o.ids;
        self.texts += o.texts;
        self.metadata += o.metadata;
    }

    fn sub(&mut self, o: RowsHeap) {
        self.ids -= o.ids;
        self.texts -= o.texts;
        self.metadata -= o.metadata;
    }
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
        self.live.len()
    }

    /// Appends a live row.
    pub(crate) fn push(
        &mut self,
        id: String,
        text: Option<String>,
        title: Option<String>,
        metadata: Option<Value>,
    ) {
        self.push_owned(id, text, title, Metadata::Given(metadata));
    }

    /// Appends a live row whose metadata is stored JSON text (checked to be an object),
    /// parsed when first read.
    pub(crate) fn push_stored(
        &mut self,
        id: String,
        text: Option<String>,
        title: Option<String>,
        json: Option<&str>,
    ) {
        let metadata = match json {
            Some(j) => Metadata::Json(j.into(), OnceLock::new()),
            None => Metadata::Given(None),
        };
        self.push_owned(id, text, title, metadata);
    }

    fn push_owned(
        &mut self,
        id: String,
        text: Option<String>,
        title: Option<String>,
        metadata: Metadata,
    ) {
        self.id_hashes.push(self.hash_id(&id));
        let row = OwnedRow {
            id: id.into_boxed_str(),
            text: text.map(String::into_boxed_str),
            title: title.map(String::into_boxed_str),
            metadata,
        };
        self.owned_bytes.add(row.heap());
        self.owned.push(row);
        self.live.push(true);
    }

    /// How many rows are stored (read from the backing). On wasm32 there are no files and
    /// never a backing: none, a constant, so the code that reads frames is left out of
    /// the npm package's module.
    #[inline]
    fn stored_len(&self) -> usize {
        if cfg!(target_arch = "wasm32") {
            0
        } else {
            self.stored.len()
        }
    }

    /// The id index's hash of an id (`ids.rs`).
    pub(crate) fn hash_id(&self, id: &str) -> u32 {
        self.seed.hash(id)
    }

    /// The fields of stored row `r`'s frame, its CRC checked (rows loaded through the row
    /// index were not checked at open). A damaged frame reads as an empty row here;
    /// [`Rows::check`] says what is wrong.
    fn stored_fields(&self, r: usize) -> Option<Fields<'_>> {
        self.frame(r).ok().and_then(|body| fields(body).ok())
    }

    /// Stored row `r`'s frame body, CRC checked.
    fn frame(&self, r: usize) -> Decoded<&[u8]> {
        let bytes = self.backing.as_ref().map_or(&[][..], |b| b.0.bytes());
        let at = usize::try_from(self.stored[r]).unwrap_or(usize::MAX);
        let mut d = Decoder::new(bytes.get(at..).unwrap_or_default(), "rows.dat");
        d.frame("row").map_err(|mut e| {
            e.problem = format!("row {r} (at byte {at}): {}", e.problem);
            e
        })
    }

    /// Row `r`'s id, or what keeps it from reading whole: a stored row's frame must pass
    /// its CRC check and hold a UTF-8 id. Reads that return a row (hits, `get`, id
    /// lookups) go through it, so damage the open did not look for is reported, not read
    /// as an empty row.
    pub(crate) fn checked_id(&self, r: usize) -> Decoded<&str> {
        if let Some(o) = r.checked_sub(self.stored_len()) {
            return Ok(&self.owned[o].id);
        }
        let body = self.frame(r)?;
        let f = fields(body)?;
        std::str::from_utf8(f.id).map_err(|_| {
            Decoder::new(body, "rows.dat").error(format!("row {r}: id is not valid UTF-8"))
        })
    }

    /// Whether row `r` reads whole (see [`Rows::checked_id`]).
    pub(crate) fn check(&self, r: usize) -> Decoded<()> {
        self.checked_id(r).map(|_| ())
    }

    /// The file the stored rows are read from (for errors).
    pub(crate) fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new("rows.dat"))
    }

    /// Names the file the stored rows are read from.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn set_path(&mut self, path: &Path) {
        self.path = Some(path.to_owned());
    }

    /// Row `r`'s id (kept for dead rows too).
    pub(crate) fn id(&self, r: usize) -> &str {
        self.checked_id(r).unwrap_or_default()
    }

    /// [`Rows::hash_id`] of row `r`'s id.
    pub(crate) fn id_hash(&self, r: usize) -> u32 {
        self.id_hashes[r]
    }

    /// Row `r`'s text; none once the row is dead. (A stored text that is not UTF-8 —
    /// which only a file written by something else than vjson, with valid CRCs, can
    /// hold — reads as none.)
    pub(crate) fn text(&self, r: usize) -> Option<&str> {
        self.live_str(r, |o| o.text.as_deref(), |f| f.text)
    }

    /// Row `r`'s title; none once the row is dead (or not UTF-8, as for [`Rows::text`]).
    pub(crate) fn title(&self, r: usize) -> Option<&str> {
        self.live_str(r, |o| o.title.as_deref(), |f| f.title)
    }

    /// A string field of row `r` (none once the row is dead): `owned` picks it from an
    /// owned row, `stored` from a stored row's frame (read as none when not UTF-8).
    fn live_str(
        &self,
        r: usize,
        owned: for<'a> fn(&'a OwnedRow) -> Option<&'a str>,
        stored: for<'a> fn(Fields<'a>) -> Option<&'a [u8]>,
    ) -> Option<&str> {
        if !self.live[r] {
            return None;
        }
        match r.checked_sub(self.stored_len()) {
            Some(o) => owned(&self.owned[o]),
            None => std::str::from_utf8(stored(self.stored_fields(r)?)?).ok(),
        }
    }

    /// Row `r`'s stored metadata text, when it has one (a stored row's, or an owned row's
    /// read from a snapshot).
    fn metadata_json(&self, r: usize) -> Option<&str> {
        match r.checked_sub(self.stored_len()) {
            Some(o) => match &self.owned[o].metadata {
                Metadata::Json(j, _) => Some(j),
                Metadata::Given(_) => None,
            },
            None => std::str::from_utf8(self.stored_fields(r)?.metadata?).ok(),
        }
    }

    /// Row `r`'s metadata; none once the row is dead. Stored metadata is parsed on first
    /// read and kept, up to [`METADATA_CACHE_BYTES`] of parsed values for all rows; past
    /// that it is parsed on each read (an owned value).
    pub(crate) fn metadata(&self, r: usize) -> Option<Cow<'_, Value>> {
        if !self.live[r] {
            return None;
        }
        let parse = || self.metadata_json(r).and_then(parse_metadata);
        match r.checked_sub(self.stored_len()) {
            Some(o) => match &self.owned[o].metadata {
                Metadata::Given(v) => v.as_ref().map(Cow::Borrowed),
                Metadata::Json(_, slot) => cached(slot, &self.parsed_bytes, parse, |v| v, |v| v),
            },
            None => {
                let slots = self
                    .parsed
                    .get_or_init(|| (0..self.stored.len()).map(|_| OnceLock::new()).collect());
                cached(&slots[r], &self.parsed_bytes, parse, Box::new, |v| &**v)
            }
        }
    }

    /// Writes row `r`'s metadata as [`Encoder::metadata`] does (stored text as it is).
    pub(crate) fn encode_metadata(&self, e: &mut Encoder, r: usize) {
        // Stored text is written as it is, once checked (as `Rows::decode` will).
        match self.metadata_json(r) {
            Some(json) if self.live[r] && is_json_object(json) => e.opt_str(Some(json)),
            _ => e.metadata(self.metadata(r).as_deref()),
        }
    }

    /// Tombstones `row`, dropping its text and title (returned) and metadata.
    pub(crate) fn kill(&mut self, row: u32) -> (Option<String>, Option<String>) {
        let r = row as usize;
        let texts = (
            self.text(r).map(str::to_owned),
            self.title(r).map(str::to_owned),
        );
        self.tombstone(r);
        texts
    }

    fn tombstone(&mut self, r: usize) {
        self.live[r] = false;
        match r.checked_sub(self.stored_len()) {
            Some(o) => {
                let row = &mut self.owned[o];
                let parsed = row.parsed_bytes();
                let before = row.heap();
                row.text = None;
                row.title = None;
                row.metadata = Metadata::Given(None);
                let after = row.heap();
                self.owned_bytes.sub(before);
                self.owned_bytes.add(after);
                self.parsed_bytes.fetch_sub(parsed, Relaxed);
            }
            None => {
                if let Some(v) = self
                    .parsed
                    .get_mut()
                    .and_then(|slots| slots[r].take())
                    .flatten()
                {
                    self.parsed_bytes.fetch_sub(json_heap_bytes(&v), Relaxed);
                }
            }
        }
    }

    /// Natively after a checkpoint appended the owned rows (`first..`, all of them) to
    /// the row file, their frames at `offsets` ([`Rows::encode_appended`]): `backing`
    /// maps the whole file now, and those rows are read from it from here on, dropping
    /// their own strings and values — so a database's heap after a checkpoint is what it
    /// is after an open.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn adopt(
        &mut self,
        backing: Box<dyn Backed>,
        first: usize,
        offsets: &[u64],
    ) -> Decoded<()> {
        let n = self.len();
        if first != self.stored.len() || first + offsets.len() != n {
            return Err(Decoder::new(&[], "rows.dat").error(format!(
                "rows {first}..{} were appended, but {} were stored before and {n} are held",
                first + offsets.len(),
                self.stored.len()
            )));
        }
        self.stored.extend_from_slice(offsets);
        for row in self.owned.drain(..) {
            self.owned_bytes.sub(row.heap());
            self.parsed_bytes.fetch_sub(row.parsed_bytes(), Relaxed);
        }
        if let Some(slots) = self.parsed.take() {
            let mut slots = slots.into_vec();
            slots.resize_with(n, OnceLock::new);
            let _ = self.parsed.set(slots.into_boxed_slice());
        }
        backing.decoded();
        self.backing = Some(Backing(backing));
        Ok(())
    }

    /// Encodes rows `first..` as `rows.dat` frames for a file whose valid bytes end at
    /// `base`: the bytes, and each row's frame offset in the file.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn encode_appended(&self, first: usize, base: u64) -> (Vec<u8>, Vec<u64>) {
        let mut e = Encoder::new();
        let offsets = (first..self.len())
            .map(|r| {
                let at = base + e.len() as u64;
                self.encode_row(&mut e, r);
                at
            })
            .collect();
        (e.into_bytes(), offsets)
    }

    /// The row index (see the module docs) of every row, the stored rows' frames where
    /// they are and the rest at `appended` (from [`Rows::encode_appended`]). `None` when
    /// rows before those are not stored rows (a checkpoint appended them but failed before
    /// its rows could be adopted): their offsets are not known here, and the next open
    /// decodes the row file instead.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn encode_index(&self, appended: &[u64]) -> Option<Vec<u8>> {
        let n = self.len();
        if self.stored.len() + appended.len() != n {
            return None;
        }
        let mut e = Encoder::new();
        e.bytes(INDEX_MAGIC);
        e.u32(INDEX_VERSION);
        e.u64(self.seed.0);
        e.u32(self.seed.check());
        e.u32(0);
        e.u64(n as u64);
        for &at in self.stored.iter().chain(appended) {
            e.u64(at);
        }
        for &h in &self.id_hashes {
            e.u32(h);
        }
        Some(e.into_bytes())
    }

    /// Rows `0..rows` (all live; see [`Rows::apply_live`]) from a row index and the bytes
    /// of `rows.dat` its offsets point into, which the rows keep (see
    /// [`Rows::decode_backed`]). Nothing of `rows.dat` is read: frames are checked when
    /// read. `None` when the index's hashes were made by another hash function than this
    /// build's (then decode the file).
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn from_index(
        backing: Box<dyn Backed>,
        index: &[u8],
        rows: usize,
    ) -> Decoded<Option<Rows>> {
        let mut d = Decoder::new(index, "row index");
        if d.take(4, "magic")? != INDEX_MAGIC {
            return Err(d.error("not a row index"));
        }
        let version = d.u32("version")?;
        if version != INDEX_VERSION {
            return Err(d.error(format!(
                "version {version}; this build reads {INDEX_VERSION}"
            )));
        }
        let seed = IdSeed(d.u64("seed")?);
        let check = d.u32("seed check")?;
        d.u32("reserved")?;
        let n = d.u64("rows")?;
        if n != rows as u64 {
            return Err(d.error(format!("holds {n} rows, not {rows}")));
        }
        let n = d.count(n, 12, "rows")?;
        let len = backing.bytes().len() as u64;
        let offsets = d.take(n * 8, "offsets")?;
        let hashes = d.take(n * 4, "hashes")?;
        d.finish()?;
        if check != seed.check() {
            return Ok(None);
        }
        let mut stored = Vec::with_capacity(n);
        let mut next = 0u64;
        for (r, b) in offsets.chunks_exact(8).enumerate() {
            let at = u64::from_le_bytes(b.try_into().expect("8 bytes"));
            // Frames follow each other: each at least 8 bytes past the one before.
            if at < next || at.saturating_add(8) > len {
                return Err(Decoder::new(index, "row index").error(format!(
                    "row {r}'s frame offset {at} is out of order or past the file"
                )));
            }
            next = at + 8;
            stored.push(at);
        }
        let id_hashes = hashes
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect();
        Ok(Some(Rows {
            stored,
            id_hashes,
            seed,
            live: vec![true; n],
            backing: Some(Backing(backing)),
            ..Rows::default()
        }))
    }

    /// Bytes of the backing the rows point into (file-backed when mapped).
    pub(crate) fn backing_bytes(&self) -> usize {
        self.backing.as_ref().map_or(0, |b| b.0.bytes().len())
    }

    /// Heap bytes the rows hold, by part (each with its per-row slots; the liveness flags
    /// and stored rows' frame offsets go with the ids).
    pub(crate) fn heap(&self) -> RowsHeap {
        let parsed_slots = self
            .parsed
            .get()
            .map_or(0, |s| s.len() * std::mem::size_of::<ParsedSlot>());
        RowsHeap {
            ids: self.owned_bytes.ids
                + self.owned.capacity() * std::mem::size_of::<OwnedRow>()
                + self.stored.capacity() * 8
                + self.id_hashes.capacity() * 4
                + self.live.capacity(),
            texts: self.owned_bytes.texts,
            metadata: self.owned_bytes.metadata + self.parsed_bytes.load(Relaxed) + parsed_slots,
        }
    }

    /// Appends row `r` to `rows.dat` bytes.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn encode_row(&self, out: &mut Encoder, r: usize) {
        out.frame(|e| {
            e.str(self.id(r));
            e.opt_str(self.text(r));
            self.encode_metadata(e, r);
            if let Some(title) = self.title(r) {
                e.opt_str(Some(title));
            }
        })
        .expect("a row (id <= 1 KiB, a text, a title, a metadata object) fits a frame");
    }

    /// Decodes `rows` rows from `rows.dat` bytes (all live; see [`Rows::apply_live`]),
    /// each checked whole and copied.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn decode(bytes: &[u8], rows: usize) -> Decoded<Rows> {
        Self::decode_from(bytes, rows, false)
    }

    /// As [`Rows::decode`], from bytes that the rows then keep and read from (natively,
    /// the map of `rows.dat`: see the type's docs). Their ids are checked here, their
    /// texts and metadata when read. Once the caller has read what it needs of every row
    /// (the id index), it calls [`Rows::decoded`].
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

    /// Decodes rows; with `stored`, they are read from `bytes` later (the caller keeps
    /// them as the backing), else copied.
    fn decode_from(bytes: &[u8], rows: usize, stored: bool) -> Decoded<Rows> {
        let mut d = Decoder::new(bytes, "rows.dat");
        // Each row takes at least 20 bytes (frame header and three string lengths): bound
        // the count before allocating for it.
        let rows = d.count(rows as u64, 20, "rows")?;
        let mut out = Rows {
            live: Vec::with_capacity(rows),
            id_hashes: Vec::with_capacity(rows),
            ..Rows::default()
        };
        if stored {
            out.stored.reserve_exact(rows);
        } else {
            out.owned.reserve_exact(rows);
        }
        for r in 0..rows {
            let at = d.position();
            let body = d.frame("row").map_err(|mut e| {
                e.problem = format!("row {r}: {}", e.problem);
                e
            })?;
            let in_row = |e: crate::codec::DecodeError| {
                d.error(format!("row {r} (at byte {at}): {}", e.problem))
            };
            if stored {
                let f = fields(body).map_err(in_row)?;
                let id = std::str::from_utf8(f.id).map_err(|_| {
                    in_row(Decoder::new(body, "rows.dat").error("id is not valid UTF-8"))
                })?;
                out.id_hashes.push(out.seed.hash(id));
                out.stored.push(at as u64);
                out.live.push(true);
            } else {
                let mut b = Decoder::new(body, "rows.dat");
                let (id, text, json, title) = (|| {
                    let id = b.str("id")?.to_owned();
                    let text = b.opt_str("text")?.map(str::to_owned);
                    let json = b.metadata_json("metadata")?;
                    let title = match optional_title(&mut b)? {
                        Some(t) => Some(
                            std::str::from_utf8(t)
                                .map_err(|_| b.error("title is not valid UTF-8"))?
                                .to_owned(),
                        ),
                        None => None,
                    };
                    b.finish()?;
                    Ok((id, text, json, title))
                })()
                .map_err(in_row)?;
                out.push_stored(id, text, title, json);
            }
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
                self.tombstone(r);
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
        rows.push(
            "a".into(),
            Some("first text".into()),
            Some("A title".into()),
            Some(json!({"n": 1})),
        );
        rows.push("b".into(), None, None, None);
        rows.push(
            "ç".into(),
            Some(String::new()),
            None,
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
        assert_eq!(Rows::decode(&bytes, 3).unwrap().title(0), Some("A title"));
        // A row without a title is framed as before titles existed: header, id, no text,
        // no metadata.
        let mut b = Encoder::new();
        rows.encode_row(&mut b, 1);
        assert_eq!(b.len(), 8 + (4 + 1) + 4 + 4);
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
            rows.push_stored(
                format!("r{i}"),
                Some(format!("text {i}")),
                None,
                Some(&json),
            );
        }
        let bytes = encode(&rows);
        let back = Rows::decode_backed(Box::new(bytes), 200).unwrap();
        assert_eq!(back, rows);
        // Nothing was parsed by the decode; the equality check above parsed up to the
        // budget and then parsed on each read without keeping.
        let kept = back.parsed_bytes.load(Relaxed);
        assert!(
            (METADATA_CACHE_BYTES..METADATA_CACHE_BYTES + 1024).contains(&kept),
            "{kept}"
        );
        assert!(matches!(back.metadata(0), Some(Cow::Borrowed(_))));
        assert!(matches!(back.metadata(199), Some(Cow::Owned(_))));
        assert_eq!(back.metadata(199).unwrap()["n"], 199);
        assert_eq!(back.parsed_bytes.load(Relaxed), kept);
        // Ids, texts and metadata are read from the backing: no text is on the heap.
        assert_eq!(back.heap().texts, 0);
        assert_eq!(back.id(150), "r150");
        assert_eq!(back.text(150), Some("text 150"));
    }

    #[test]
    fn adopted_rows_read_from_the_backing() {
        // Rows 0..2 stored, row 2 written since, then appended by a checkpoint.
        let mut first = Rows::default();
        first.push(
            "a".into(),
            Some("first text".into()),
            Some("A title".into()),
            Some(json!({"n": 1})),
        );
        first.push("b".into(), None, None, None);
        let head = encode(&first);
        let mut rows = Rows::decode_backed(Box::new(head.clone()), 2).unwrap();
        rows.push(
            "ç".into(),
            Some(String::new()),
            None,
            Some(json!({"tags": ["x"]})),
        );
        rows.kill(1);
        assert!(rows.heap().texts > 0 || rows.heap().metadata > 0);
        let (appended, offsets) = rows.encode_appended(2, head.len() as u64);
        assert_eq!(offsets, vec![head.len() as u64]);
        let mut file = head.clone();
        file.extend_from_slice(&appended);
        // Appended rows must follow the stored ones.
        assert!(rows.adopt(Box::new(file.clone()), 1, &offsets).is_err());
        assert!(rows.adopt(Box::new(file.clone()), 2, &[]).is_err());
        rows.adopt(Box::new(file), 2, &offsets).unwrap();
        let mut want = sample();
        want.kill(1);
        assert_eq!(rows, want);
        assert_eq!(rows.id(2), "ç");
        assert_eq!(rows.id(1), "b");
        assert_eq!(rows.text(1), None);
        assert_eq!(rows.title(0), Some("A title"));
        assert_eq!(rows.title(2), None);
        assert_eq!(rows.metadata(2).unwrap()["tags"][0], "x");
        let heap = rows.heap();
        assert_eq!(heap.texts, 0);
        // What stays is the parsed values and their slots.
        assert!(heap.metadata > 0);
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
    fn rows_load_from_their_index_and_check_frames_when_read() {
        let rows = sample();
        let (file, offsets) = rows.encode_appended(0, 0);
        let index = rows.encode_index(&offsets).unwrap();
        assert!(rows.encode_index(&offsets[1..]).is_none());
        assert_eq!(index.len(), 32 + 3 * 12);
        let back = Rows::from_index(Box::new(file.clone()), &index, 3)
            .unwrap()
            .unwrap();
        assert_eq!(back, rows);
        // The hashes and their seed came with the index: ids hash as they did.
        assert_eq!(back.hash_id("ç"), rows.hash_id("ç"));
        assert_eq!(back.id_hash(2), rows.id_hash(2));
        assert_eq!(back.heap().texts, 0);
        assert!((0..3).all(|r| back.check(r).is_ok()));

        // A damaged frame is found when its row is read, not at load.
        let mut bad = file.clone();
        bad[offsets[2] as usize + 10] ^= 0x01;
        let back = Rows::from_index(Box::new(bad), &index, 3).unwrap().unwrap();
        assert_eq!(back.text(0), Some("first text"));
        let e = back.check(2).unwrap_err();
        assert!(
            e.problem.contains("row 2") && e.problem.contains("CRC"),
            "{e}"
        );
        assert_eq!(back.text(2), None);
        assert_eq!(back.id(2), "");

        // Damaged indexes are errors: cut short, another row count, offsets out of
        // order or past the file.
        for cut in [0, 4, 31, index.len() - 1] {
            assert!(Rows::from_index(Box::new(file.clone()), &index[..cut], 3).is_err());
        }
        assert!(Rows::from_index(Box::new(file.clone()), &index, 2).is_err());
        let mut swapped = index.clone();
        swapped[32..40].copy_from_slice(&offsets[1].to_le_bytes());
        assert!(Rows::from_index(Box::new(file.clone()), &swapped, 3).is_err());
        assert!(
            Rows::from_index(Box::new(file[..offsets[2] as usize].to_vec()), &index, 3).is_err()
        );
        // Hashes made by another hash function (the seed check fails) are not used.
        let mut other = index.clone();
        other[16] ^= 0xff;
        assert!(
            Rows::from_index(Box::new(file), &other, 3)
                .unwrap()
                .is_none()
        );
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
