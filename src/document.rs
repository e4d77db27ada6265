//! What goes in and what comes out: [`Document`] (id, vector, text, title, metadata) and
//! [`Hit`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A document: an id, a vector, optional text and title for full-text search, optional
/// metadata.
///
/// The text is the document's full text; the title, when it has one, is a short field
/// indexed on its own: a query term found there adds [`Options::title_boost`] times its
/// BM25 score in the title field to the document's text score (the title is not added to
/// the text: put it in both when the text should hold it too, as a page's text usually
/// does). Short technical queries often name a title, which is why it helps.
///
/// Read from JSON (the CLI's JSON lines) it must have exactly these keys: an unknown one
/// (say `"meta"`, or `"name"`) is an error that names it, not silently dropped data — as
/// in the npm package, which rejects unknown keys too.
///
/// [`Options::title_boost`]: crate::Options::title_boost
///
/// ```
/// use serde_json::json;
/// use vjson::Document;
///
/// let doc = Document::new("api:std::vec::Vec", vec![0.1, 0.2, 0.3])
///     .text("A contiguous growable array type")
///     .metadata(json!({"crate": "std", "kind": "struct"}));
/// assert_eq!(doc.id, "api:std::vec::Vec");
/// // From JSON: exactly id, vector, text?, title?, metadata?.
/// let line = r#"{"id": "d1", "vector": [1, 0, 0], "text": "hello"}"#;
/// let d: Document = serde_json::from_str(line).unwrap();
/// assert_eq!(d.text.as_deref(), Some("hello"));
/// let err = serde_json::from_str::<Document>(r#"{"id": "d2", "vector": [1], "meta": {}}"#);
/// assert!(err.unwrap_err().to_string().contains("unknown field `meta`"));
/// ```
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
    /// A short title, indexed as its own field (see above).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
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
            title: None,
            metadata: None,
        }
    }

    /// Sets the text.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Sets the title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Sets the metadata (a JSON object).
    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = Some(metadata);
        self
    }
}

/// One search result, best first in the list a search returns.
///
/// ```
/// use vjson::{Document, Fusion, Options, Query, VectorDB};
///
/// let db = VectorDB::in_memory(Options::new(2))?;
/// db.insert(Document::new("a", vec![1.0, 0.0]).text("ownership and borrowing"))?;
/// db.insert(Document::new("b", vec![0.0, 1.0]).text("lifetimes"))?;
/// let q = Query::new().vector(vec![1.0, 0.1]).text("borrowing").k(2);
/// let hits = db.search(&q)?;
/// let top = &hits[0];
/// assert_eq!(top.id, "a");
/// assert!(top.vector_score.is_some() && top.text_score.is_some()); // found by both sides
/// // The default fusion scores every candidate on both sides: "b", found by the vector
/// // side only, holds no query term.
/// assert_eq!(hits[1].text_score, Some(0.0));
/// assert!(top.score >= hits[1].score);
/// // A fusion of the lists as they are (here RRF) leaves the other side's score out.
/// let hits = db.search(&q.fusion(Fusion::Rrf { k: 60.0 }))?;
/// assert_eq!(hits[1].text_score, None);
/// # Ok::<(), vjson::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// The document id.
    pub id: String,
    /// The fused score; higher is better. With only one side asked for, that side's score.
    pub score: f32,
    /// Vector similarity (cosine, dot, or `1 / (1 + l2)`). `None` when the query had no
    /// vector, or when the vector side did not find the document and the fusion does not
    /// score the other side's candidates (every fusion but the default z-score).
    pub vector_score: Option<f32>,
    /// BM25 score (0 when the document holds no query term). `None` when the query had no
    /// text, or when the text side did not find the document and the fusion does not score
    /// the other side's candidates (every fusion but the default z-score).
    pub text_score: Option<f32>,
    /// The document's metadata.
    pub metadata: Option<Value>,
    /// The document's text.
    pub text: Option<String>,
    /// The document's title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}
