//! Database options: dimension, distance metric, HNSW parameters, full text, durability.
//!
//! Options are fixed when a database is created; they travel inside snapshots and the
//! on-disk manifest, and reopening with a different dimension or metric is an error.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The largest dimension vjson accepts.
pub const MAX_DIMENSION: usize = 65_536;
/// The longest document id, in bytes, by default ([`Limits::max_id_bytes`]).
pub const MAX_ID_BYTES: usize = 1024;
/// The largest `k` a search may ask for, by default ([`Limits::max_k`]).
pub const MAX_K: usize = 10_000;
/// How deeply metadata may nest objects and arrays (the top object is level 1). Deeper
/// metadata is an `invalid_metadata` error: what is stored must read back.
pub const MAX_METADATA_DEPTH: usize = 64;
/// How deeply `$and`, `$or` and `$not` may nest in a filter (the top object is level 1).
pub const MAX_FILTER_DEPTH: usize = 32;
/// How many conditions (field tests, `$and` / `$or` / `$not` nodes) one filter may hold.
pub const MAX_FILTER_CONDITIONS: usize = 1024;

/// How vectors are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Cosine similarity. Vectors are normalised once at insert; the score is the cosine.
    #[default]
    Cosine,
    /// Inner product. The score is the dot product.
    Dot,
    /// Euclidean distance. The score is `1 / (1 + distance)`.
    L2,
}

impl Metric {
    /// The metric's name as used in options and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Cosine => "cosine",
            Metric::Dot => "dot",
            Metric::L2 => "l2",
        }
    }
}

impl std::str::FromStr for Metric {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "cosine" | "cos" => Ok(Metric::Cosine),
            "dot" | "ip" | "inner_product" => Ok(Metric::Dot),
            "l2" | "euclidean" => Ok(Metric::L2),
            other => Err(Error::InvalidOptions(format!(
                "unknown metric {other:?}; use \"cosine\", \"dot\" or \"l2\""
            ))),
        }
    }
}

/// Parameters of the HNSW graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default = "HnswParams::stored_default")]
pub struct HnswParams {
    /// Links per node on the upper layers (layer 0 keeps `2 * m`). Default 16.
    pub m: usize,
    /// Candidate list size while building. Default 200 natively, 100 on wasm32 (below).
    pub ef_construction: usize,
    /// Candidate list size while searching (raised to `k` when smaller). Default 100
    /// natively, 150 on wasm32: recall@10 ≈ 0.963 / 0.964 on rustdocs (19 K MiniLM
    /// vectors) with the default int8 walk.
    pub ef_search: usize,
}

impl Default for HnswParams {
    /// `m` 16. The build depth depends on whether the build can run in parallel. Natively
    /// (rayon) it does, and `ef_construction` 200 buys the graph that reaches a recall with
    /// the fewest distance computations per query. On wasm32 one thread builds the graph
    /// (the npm package's insert is ~70 % graph build), and `ef_construction` 100 (Qdrant's
    /// default) builds rustdocs with 826 instead of 1,495 distance computations per insert,
    /// for ~15 % more per query at the same recall; `ef_search` 150 keeps the default
    /// recall@10 at 0.964 there (100 gives 0.935). Options are stored with the database and
    /// its snapshots, so a database keeps the parameters it was built with on any target.
    fn default() -> Self {
        if cfg!(target_arch = "wasm32") {
            HnswParams {
                ef_construction: 100,
                ef_search: 150,
                ..Self::stored_default()
            }
        } else {
            Self::stored_default()
        }
    }
}

impl HnswParams {
    /// What a field missing from stored options (a manifest, a snapshot's header) means,
    /// the same on every target, so that a file opens with the same parameters anywhere.
    fn stored_default() -> Self {
        HnswParams {
            m: 16,
            ef_construction: 200,
            ef_search: 100,
        }
    }
}

/// When a write is acknowledged (native on-disk databases only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Each write's log record is fsync'd before the call returns.
    #[default]
    Fsync,
    /// Log records are written to the OS but not fsync'd: survives a process crash,
    /// not a power cut.
    Buffered,
}

impl std::str::FromStr for Durability {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "fsync" => Ok(Durability::Fsync),
            "buffered" => Ok(Durability::Buffered),
            other => Err(Error::InvalidOptions(format!(
                "unknown durability {other:?}; use \"fsync\" or \"buffered\""
            ))),
        }
    }
}

/// How graph searches measure distances (see [`Options::quantization`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quantization {
    /// Searches read the f32 vectors.
    None,
    /// The default: searches walk the graph on an in-memory copy of the vectors as signed
    /// bytes (a quarter of the size, one scale per vector) and re-rank their candidates
    /// with the f32 vectors, so scores stay exact. Costs `dimension + 8` bytes of RAM per
    /// row; on rustdocs it answers ~1.6x the queries per second at the same recall.
    #[default]
    Int8,
}

/// Options of a database: fixed when it is created (a disk database keeps them in its
/// manifest, a snapshot in its header), except `ef_search`, which a query may override.
///
/// ```
/// use vjson::{Metric, Options, Quantization, VectorDB};
///
/// let opts = Options::new(384)           // the dimension; everything else has a default
///     .metric(Metric::Cosine)             // cosine (default), dot or l2
///     .m(16)                              // HNSW links per node (default 16)
///     .ef_construction(200)               // build-time candidate list (default 200; wasm32 100)
///     .ef_search(100)                     // query-time candidate list (default 100; wasm32 150)
///     .quantization(Quantization::Int8)   // walk the graph on int8 codes (default)
///     .fulltext(true);                    // index document texts (default)
/// let db = VectorDB::in_memory(opts)?;
/// assert_eq!(db.options().dimension, 384);
/// // Bad options are an `invalid_options` error, not a panic.
/// assert_eq!(VectorDB::in_memory(Options::new(0)).err().map(|e| e.code()), Some("invalid_options"));
/// # Ok::<(), vjson::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// Vector dimension.
    pub dimension: usize,
    /// Distance metric.
    #[serde(default)]
    pub metric: Metric,
    /// HNSW parameters.
    #[serde(default)]
    pub hnsw: HnswParams,
    /// Whether document text is indexed for full-text search.
    #[serde(default = "yes")]
    pub fulltext: bool,
    /// Write durability (native on-disk only; ignored in memory).
    #[serde(default)]
    pub durability: Durability,
    /// How graph searches measure distances (a search setting: it may change between
    /// opens of a database).
    #[serde(default)]
    pub quantization: Quantization,
    /// How much a query term found in a document's title counts, relative to the same
    /// term in its text: the text score adds `title_boost` times the title field's BM25
    /// score (default [`DEFAULT_TITLE_BOOST`]; 0 ignores titles). A search setting: it may
    /// change between opens of a database.
    #[serde(default = "default_title_boost", serialize_with = "f32_as_f64")]
    pub title_boost: f32,
    /// Caps on what one request may ask (a runtime setting: not stored with the
    /// database; give it at every open).
    #[serde(skip)]
    pub limits: Limits,
}

/// Caps that keep one bad request from taking the process down (memory, stack, time):
/// each is checked before any work is done, and a request past one fails with a typed
/// error that names the cap. Runtime settings, given with [`Options::limits`] at each
/// open; not stored with the database.
///
/// ```
/// use vjson::{Document, Limits, Options, VectorDB};
///
/// let limits = Limits { max_text_bytes: 1_000, ..Limits::default() };
/// let db = VectorDB::in_memory(Options::new(2).limits(limits))?;
/// let long = Document::new("a", vec![1.0, 0.0]).text("x".repeat(2_000));
/// assert_eq!(db.insert(long).unwrap_err().code(), "limit_exceeded");
/// # Ok::<(), vjson::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The longest document id, in bytes (`id_too_long`). Default [`MAX_ID_BYTES`].
    pub max_id_bytes: usize,
    /// The longest document text, in bytes (`limit_exceeded`). Default 16 MiB.
    pub max_text_bytes: usize,
    /// The largest metadata object, in bytes of compact JSON (`limit_exceeded`).
    /// Default 16 MiB.
    pub max_metadata_bytes: usize,
    /// How deeply metadata may nest objects and arrays (`invalid_metadata`). Default and
    /// most [`MAX_METADATA_DEPTH`].
    pub max_metadata_depth: usize,
    /// The most documents in one `insert_batch` / `upsert_batch` (`limit_exceeded`).
    /// Default 1,000,000.
    pub max_batch_docs: usize,
    /// The largest snapshot `import_snapshot` takes, in bytes (`limit_exceeded`).
    /// Default 16 GiB.
    pub max_snapshot_bytes: u64,
    /// The largest `k`, `candidates` and `ef_search` a query may ask for
    /// (`invalid_query`). Default [`MAX_K`].
    pub max_k: usize,
    /// How deeply a filter may nest `$and`, `$or` and `$not` (`invalid_filter`). Default
    /// and most [`MAX_FILTER_DEPTH`] (the parser's own cap).
    pub max_filter_depth: usize,
    /// The most conditions one filter may hold (`invalid_filter`). Default and most
    /// [`MAX_FILTER_CONDITIONS`] (the parser's own cap).
    pub max_filter_conditions: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_id_bytes: MAX_ID_BYTES,
            max_text_bytes: 16 << 20,
            max_metadata_bytes: 16 << 20,
            max_metadata_depth: MAX_METADATA_DEPTH,
            max_batch_docs: 1_000_000,
            max_snapshot_bytes: 16 << 30,
            max_k: MAX_K,
            max_filter_depth: MAX_FILTER_DEPTH,
            max_filter_conditions: MAX_FILTER_CONDITIONS,
        }
    }
}

impl Limits {
    /// Checks that every cap is at least 1 and the capped ones within their hard caps.
    pub fn validate(&self) -> Result<()> {
        let hard = [
            ("max_id_bytes", self.max_id_bytes, u32::MAX as usize),
            ("max_text_bytes", self.max_text_bytes, u32::MAX as usize - 1),
            (
                "max_metadata_bytes",
                self.max_metadata_bytes,
                u32::MAX as usize,
            ),
            (
                "max_metadata_depth",
                self.max_metadata_depth,
                MAX_METADATA_DEPTH,
            ),
            ("max_batch_docs", self.max_batch_docs, usize::MAX),
            ("max_k", self.max_k, 1_000_000),
            ("max_filter_depth", self.max_filter_depth, MAX_FILTER_DEPTH),
            (
                "max_filter_conditions",
                self.max_filter_conditions,
                MAX_FILTER_CONDITIONS,
            ),
        ];
        for (name, value, most) in hard {
            if value == 0 || value > most {
                return Err(Error::InvalidOptions(format!(
                    "limits.{name} must be between 1 and {most}, got {value}"
                )));
            }
        }
        if self.max_snapshot_bytes == 0 {
            return Err(Error::InvalidOptions(
                "limits.max_snapshot_bytes must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

fn yes() -> bool {
    true
}

/// The default [`Options::title_boost`]: chosen on rustdocs and the Python documentation,
/// where a title field at half the body's weight raised BM25's MRR@10 by 11-14 % (see the
/// README's hybrid ranking section).
pub const DEFAULT_TITLE_BOOST: f32 = 0.5;

fn default_title_boost() -> f32 {
    DEFAULT_TITLE_BOOST
}

/// Writes an `f32` as the `f64` of the same value (it reads back the same): serde_json's
/// `f32` writer would add its own float formatter to the wasm module.
fn f32_as_f64<S: serde::Serializer>(x: &f32, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(*x as f64)
}

impl Options {
    /// Options for `dimension`-dimensional vectors with every other setting at its default.
    pub fn new(dimension: usize) -> Self {
        Options {
            dimension,
            metric: Metric::default(),
            hnsw: HnswParams::default(),
            fulltext: true,
            durability: Durability::default(),
            quantization: Quantization::default(),
            title_boost: DEFAULT_TITLE_BOOST,
            limits: Limits::default(),
        }
    }

    /// Sets the metric.
    pub fn metric(mut self, metric: Metric) -> Self {
        self.metric = metric;
        self
    }

    /// Sets HNSW `m`.
    pub fn m(mut self, m: usize) -> Self {
        self.hnsw.m = m;
        self
    }

    /// Sets HNSW `ef_construction`.
    pub fn ef_construction(mut self, ef: usize) -> Self {
        self.hnsw.ef_construction = ef;
        self
    }

    /// Sets the default `ef_search`.
    pub fn ef_search(mut self, ef: usize) -> Self {
        self.hnsw.ef_search = ef;
        self
    }

    /// Turns full-text indexing on or off.
    pub fn fulltext(mut self, on: bool) -> Self {
        self.fulltext = on;
        self
    }

    /// Sets how graph searches measure distances.
    pub fn quantization(mut self, q: Quantization) -> Self {
        self.quantization = q;
        self
    }

    /// Sets how much a match in a document's title counts ([`Options::title_boost`]).
    pub fn title_boost(mut self, boost: f32) -> Self {
        self.title_boost = boost;
        self
    }

    /// Sets the write durability.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Sets the caps on what one request may ask ([`Limits`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Checks that every value is in range.
    pub fn validate(&self) -> Result<()> {
        self.limits.validate()?;
        if self.dimension == 0 || self.dimension > MAX_DIMENSION {
            return Err(Error::InvalidOptions(format!(
                "dimension must be between 1 and {MAX_DIMENSION}, got {}",
                self.dimension
            )));
        }
        if !(0.0..=100.0).contains(&self.title_boost) {
            // (The value is not printed: formatting a float would add a float formatter to
            // the wasm module.)
            return Err(Error::InvalidOptions(
                "title_boost must be a number between 0 and 100".into(),
            ));
        }
        let h = &self.hnsw;
        if !(2..=128).contains(&h.m) {
            return Err(Error::InvalidOptions(format!(
                "hnsw m must be between 2 and 128, got {}",
                h.m
            )));
        }
        if !(1..=10_000).contains(&h.ef_construction) {
            return Err(Error::InvalidOptions(format!(
                "ef_construction must be between 1 and 10000, got {}",
                h.ef_construction
            )));
        }
        if !(1..=10_000).contains(&h.ef_search) {
            return Err(Error::InvalidOptions(format!(
                "ef_search must be between 1 and 10000, got {}",
                h.ef_search
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::HnswParams;

    #[test]
    fn fields_missing_from_stored_options_mean_the_same_on_every_target() {
        // Not `HnswParams::default()`, which depends on the target: a file must open with
        // the same parameters on each.
        let p: HnswParams = serde_json::from_str("{}").unwrap();
        assert_eq!((p.m, p.ef_construction, p.ef_search), (16, 200, 100));
        let p: HnswParams = serde_json::from_str(r#"{"m": 8, "ef_search": 40}"#).unwrap();
        assert_eq!((p.m, p.ef_construction, p.ef_search), (8, 200, 40));
    }
}
