//! Database options: dimension, distance metric, HNSW parameters, full text, durability.
//!
//! Options are fixed when a database is created; they travel inside snapshots and the
//! on-disk manifest, and reopening with a different dimension or metric is an error.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The largest dimension vjson accepts.
pub const MAX_DIMENSION: usize = 65_536;

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
#[serde(default)]
pub struct HnswParams {
    /// Links per node on the upper layers (layer 0 keeps `2 * m`). Default 16.
    pub m: usize,
    /// Candidate list size while building. Default 200.
    pub ef_construction: usize,
    /// Candidate list size while searching (raised to `k` when smaller). Default 100: recall@10
    /// ≈ 0.96 on rustdocs (19 K MiniLM vectors) with the default int8 walk; 64 gave ≈ 0.94.
    pub ef_search: usize,
}

impl Default for HnswParams {
    fn default() -> Self {
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
///     .ef_construction(200)               // build-time candidate list (default 200)
///     .ef_search(100)                     // query-time candidate list (default 100)
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
}

fn yes() -> bool {
    true
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

    /// Sets the write durability.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Checks that every value is in range.
    pub fn validate(&self) -> Result<()> {
        if self.dimension == 0 || self.dimension > MAX_DIMENSION {
            return Err(Error::InvalidOptions(format!(
                "dimension must be between 1 and {MAX_DIMENSION}, got {}",
                self.dimension
            )));
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
