//! The one error type of vjson.
//!
//! Every failure the database can report is a variant of [`Error`]; each variant has a
//! stable string code ([`Error::code`]) that the CLI prints and the npm package puts on the
//! thrown JS `Error` as `.code`. Messages say what was wrong and what to do about it.

use std::fmt;

/// A vjson result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in vjson. Match on the variant, or on [`Error::code`], a
/// stable string that the npm package (`err.code`) and the CLI (`[code]`) report too.
///
/// ```
/// use vjson::{Document, Error, Options, VectorDB};
///
/// let db = VectorDB::in_memory(Options::new(3))?;
/// let err = db.insert(Document::new("x", vec![1.0, 2.0])).unwrap_err();
/// assert_eq!(err.code(), "dimension_mismatch");
/// assert!(matches!(err, Error::DimensionMismatch { .. }));
/// println!("{err}"); // says what was expected and what came
/// # Ok::<(), vjson::Error>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A vector's length differs from the database's dimension.
    #[error(
        "vector for {id} has {got} dimensions but the database expects {expected}; embed with the same model the database was created for"
    )]
    DimensionMismatch {
        /// Which document or query (`"query"` for a search vector).
        id: String,
        /// The database dimension.
        expected: usize,
        /// The vector's length.
        got: usize,
    },
    /// A vector holds NaN or an infinity.
    #[error(
        "vector for {id} has a non-finite value (NaN or infinity) at index {index}; check the embedding pipeline"
    )]
    NonFiniteVector {
        /// Which document or query.
        id: String,
        /// The first offending index.
        index: usize,
    },
    /// A cosine vector whose norm is zero cannot be normalised.
    #[error(
        "vector for {id} has zero length, so it has no direction for cosine similarity; use metric \"dot\" or \"l2\", or drop the document"
    )]
    ZeroVector {
        /// Which document or query.
        id: String,
    },
    /// A document id is empty.
    #[error("document id is empty; every document needs a non-empty id")]
    EmptyId,
    /// A document id is too long.
    #[error("document id is {len} bytes long; ids are limited to {max} bytes")]
    IdTooLong {
        /// The id's byte length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// `insert` of an id that already exists (use `upsert` to replace it).
    #[error("a document with id {0:?} already exists; use upsert to replace it")]
    DuplicateId(String),
    /// `delete` / `get` of an id that does not exist.
    #[error("no document with id {0:?}")]
    NotFound(String),
    /// Metadata must be a JSON object (or absent).
    #[error("metadata for {id} must be a JSON object, got {got}")]
    InvalidMetadata {
        /// Which document.
        id: String,
        /// The JSON type that was given.
        got: &'static str,
    },
    /// A filter could not be parsed.
    #[error("invalid filter: {0}")]
    InvalidFilter(String),
    /// A query asks for nothing or for something impossible.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// Options are out of range, or disagree with an existing database.
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    /// Snapshot bytes are not a valid vjson snapshot.
    #[error("invalid snapshot: {0}")]
    InvalidSnapshot(String),
    /// On-disk data is damaged beyond what recovery may repair.
    #[error("corrupt database at {path}: {detail}")]
    Corrupt {
        /// The damaged file.
        path: String,
        /// What is wrong with it.
        detail: String,
    },
    /// Another open database (in this process or another) holds the database's write
    /// lock; the message names that process and what to do.
    #[error("{0}")]
    Locked(String),
    /// A write on a database opened read-only.
    #[error(
        "database {0} is open read-only; writes go through the one writer (open it for writing)"
    )]
    ReadOnly(String),
    /// An operating-system I/O error.
    #[error("I/O error{}: {source}", context.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Io {
        /// What was being done.
        context: Option<String>,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A request goes past one of the database's [`crate::Limits`].
    #[error(
        "{what} is {got}, above the limit of {max} (Limits::{limit}); split the request, or raise the limit when opening the database if this is intended"
    )]
    LimitExceeded {
        /// What was too large, e.g. `text of document "a" (bytes)`.
        what: String,
        /// Its size.
        got: u64,
        /// The limit.
        max: u64,
        /// The field of [`crate::Limits`] that sets it.
        limit: &'static str,
    },
    /// The full-text engine failed.
    #[error("full-text index error: {0}")]
    Text(String),
    /// The operation is not available on this target or with these options.
    #[error("unsupported: {0}")]
    Unsupported(String),
}

impl Error {
    /// The stable machine-readable code of this error, e.g. `"dimension_mismatch"`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::DimensionMismatch { .. } => "dimension_mismatch",
            Error::NonFiniteVector { .. } => "non_finite_vector",
            Error::ZeroVector { .. } => "zero_vector",
            Error::EmptyId => "empty_id",
            Error::IdTooLong { .. } => "id_too_long",
            Error::DuplicateId(_) => "duplicate_id",
            Error::NotFound(_) => "not_found",
            Error::InvalidMetadata { .. } => "invalid_metadata",
            Error::InvalidFilter(_) => "invalid_filter",
            Error::InvalidQuery(_) => "invalid_query",
            Error::InvalidOptions(_) => "invalid_options",
            Error::InvalidSnapshot(_) => "invalid_snapshot",
            Error::Corrupt { .. } => "corrupt",
            Error::Locked(_) => "locked",
            Error::ReadOnly(_) => "read_only",
            Error::Io { .. } => "io",
            Error::LimitExceeded { .. } => "limit_exceeded",
            Error::Text(_) => "text_index",
            Error::Unsupported(_) => "unsupported",
        }
    }

    /// Every code [`Error::code`] can return (for documentation and tests).
    pub const CODES: &'static [&'static str] = &[
        "dimension_mismatch",
        "non_finite_vector",
        "zero_vector",
        "empty_id",
        "id_too_long",
        "duplicate_id",
        "not_found",
        "invalid_metadata",
        "invalid_filter",
        "invalid_query",
        "invalid_options",
        "invalid_snapshot",
        "corrupt",
        "locked",
        "read_only",
        "io",
        "limit_exceeded",
        "text_index",
        "unsupported",
    ];

    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn io(context: impl fmt::Display, source: std::io::Error) -> Self {
        Error::Io {
            context: Some(context.to_string()),
            source,
        }
    }

    pub(crate) fn snapshot(msg: impl fmt::Display) -> Self {
        Error::InvalidSnapshot(msg.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(source: std::io::Error) -> Self {
        Error::Io {
            context: None,
            source,
        }
    }
}

/// The JSON type name of a value, for error messages.
pub(crate) fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// A number as messages show it: a whole number without a fraction (`-1`), any other in
/// the shortest digits that read back as the same `f64` (serde_json's writer, as in JSON
/// text: `0.1`, `1e300`), and `NaN`, `inf`, `-inf` by name. Messages format numbers through
/// here rather than the standard library's `{}`, whose float code the npm module would
/// otherwise carry more of.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Num(pub(crate) f64);

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Exactly representable as an integer: 2^53 and below.
        if self.0.fract() == 0.0 && self.0.abs() <= 9_007_199_254_740_992.0 {
            return write!(f, "{}", self.0 as i64);
        }
        match serde_json::Number::from_f64(self.0) {
            Some(n) => fmt::Display::fmt(&n, f),
            None if self.0.is_nan() => f.write_str("NaN"),
            None if self.0 > 0.0 => f.write_str("inf"),
            None => f.write_str("-inf"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Num;

    #[test]
    fn numbers_read_back_and_non_finite_ones_have_names() {
        for x in [0.0, -0.0, 1.0, 0.1, -2.5, 1e21, 1.5e-7, f64::MAX, 5e-324] {
            let text = Num(x).to_string();
            // (-0 reads back as 0, which it equals.)
            assert_eq!(text.parse::<f64>().unwrap(), x, "{text}");
        }
        assert_eq!(Num(1.0).to_string(), "1");
        assert_eq!(Num(-1.0).to_string(), "-1");
        assert_eq!(Num(2.5).to_string(), "2.5");
        assert_eq!(Num(f64::NAN).to_string(), "NaN");
        assert_eq!(Num(f64::INFINITY).to_string(), "inf");
        assert_eq!(Num(f64::NEG_INFINITY).to_string(), "-inf");
    }
}
