//! What goes in and what comes out: [`Document`] (id, vector, text, metadata) and [`Hit`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A document: an id, a vector, optional text for full-text search, optional metadata.
///
/// Read from JSON (the CLI's JSON lines) it must have exactly these keys: an unknown one
/// (say `"meta"`, or a top-level `"title"`) is an error that names it, not silently
/// dropped data — as in the npm package, which rejects unknown keys too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// Unique id (non-empty, at most [`crate::MAX_ID_BYTES`] bytes).
    pub id: String,
    /// The embedding; its length must equal the database dimension.
    pub vector: Vec<f32>,
    /// Text indexed for full-text search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A JSON object that filters can test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

impl Document {
    /// A document with an id and a vector.
    pub fn new(id: impl Into<String>, vector: Vec<f32>) -> Self {
        Document {
            id: id.into(),
            vector,
            text: None,
            metadata: None,
        }
    }

    /// Sets the text.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Sets the metadata (a JSON object).
    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = Some(metadata);
        self
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// The document id.
    pub id: String,
    /// The fused score; higher is better. With only one side asked for, that side's score.
    pub score: f32,
    /// Vector similarity (cosine, dot, or `1 / (1 + l2)`), `None` when the vector side did
    /// not find the document.
    pub vector_score: Option<f32>,
    /// BM25 score, `None` when the text side did not find the document.
    pub text_score: Option<f32>,
    /// The document's metadata.
    pub metadata: Option<Value>,
    /// The document's text.
    pub text: Option<String>,
}
