//! The `#[wasm_bindgen]` facade: converts JS values, calls the core, nothing else.
//!
//! This is the `VectorDB` class of the `vjson` npm package. Every method turns its JS
//! arguments into core types (`Document`, `Query`, `Filter`, `Fusion`), calls
//! [`crate::VectorDB`], and turns the answer back into plain JS values. Vectors arrive
//! as a `Float32Array` (copied once into wasm memory) or a `number[]` (converted by the JS
//! engine into a `Float32Array` first); metadata and filters are plain objects read with
//! a walk of the JS value (`json`). Every failure is thrown as a JS `Error` whose `code`
//! property is the core's [`crate::Error::code`]; a malformed JS argument gets the code of the core
//! error it resembles most (a missing id is `empty_id`, a non-vector where a vector
//! belongs is `dimension_mismatch` in a document and `invalid_query` in a query, a bad
//! option is `invalid_options`, bytes that are not a byte array are `invalid_snapshot`).

use std::str::FromStr;

use js_sys::{Array, ArrayBuffer, Float32Array, Object, Reflect, Uint8Array};
use serde_json::Value;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::error::Num;
use crate::{Document, Error, Filter, Fusion, Hit, Limits, Metric, Options, Query};

type JsResult<T> = Result<T, JsValue>;

/// A JS `Error` with `code` set.
fn js_error(code: &str, message: &str) -> JsValue {
    let e = js_sys::Error::new(message);
    set(&e, &JsValue::from_str("code"), &JsValue::from_str(code));
    e.into()
}

/// A core error as a JS `Error`.
fn throw(e: Error) -> JsValue {
    js_error(e.code(), &e.to_string())
}

fn is_nullish(v: &JsValue) -> bool {
    v.is_null() || v.is_undefined()
}

/// `obj[key]`, or `undefined` when `obj` is not an object.
fn prop(obj: &JsValue, key: &str) -> JsValue {
    if !obj.is_object() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// How a JS value is described in error messages.
fn describe(v: &JsValue) -> String {
    if v.is_null() {
        "null".into()
    } else if Array::is_array(v) {
        "an array".into()
    } else {
        match v.js_typeof().as_string().as_deref() {
            Some("object") => "an object".into(),
            Some("number") => "a number".into(),
            Some("string") => "a string".into(),
            Some("boolean") => "a boolean".into(),
            Some("function") => "a function".into(),
            Some("symbol") => "a symbol".into(),
            Some("bigint") => "a BigInt".into(),
            Some(other) => other.into(),
            None => "a value".into(),
        }
    }
}

/// The property names of a plain object, for rejecting misspelt keys.
fn check_keys(obj: &JsValue, allowed: &[&str], code: &str, what: &str) -> JsResult<()> {
    let Some(o) = obj.dyn_ref::<Object>() else {
        return Ok(());
    };
    for key in Object::keys(o).iter() {
        let key = key.as_string().unwrap_or_default();
        if !allowed.contains(&key.as_str()) {
            return Err(js_error(
                code,
                &format!(
                    "unknown {what} key {key:?}; the keys are {}",
                    allowed.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// A JS vector (`Float32Array`, `number[]` or another typed array) as `Vec<f32>`.
/// `Ok(None)` when `v` is not array-like; the caller picks the error.
fn vector(v: &JsValue) -> Option<Vec<f32>> {
    if let Some(f) = v.dyn_ref::<Float32Array>() {
        // One copy, straight from the JS buffer into wasm memory.
        return Some(f.to_vec());
    }
    if Array::is_array(v) || ArrayBuffer::is_view(v) {
        // The engine converts the elements (non-numbers become NaN, which the core rejects
        // as `non_finite_vector` with their index); then one copy into wasm memory.
        return Some(Float32Array::new(v).to_vec());
    }
    None
}

/// A non-negative whole number, or `None` when absent.
fn count(v: &JsValue, code: &str, what: &str) -> JsResult<Option<usize>> {
    if is_nullish(v) {
        return Ok(None);
    }
    match v.as_f64() {
        Some(x) if x >= 0.0 && x.fract() == 0.0 => Ok(Some(x as usize)),
        _ => Err(js_error(
            code,
            &format!(
                "{what} must be a whole number >= 0, got {}",
                v.as_f64()
                    .map(|x| Num(x).to_string())
                    .unwrap_or_else(|| describe(v))
            ),
        )),
    }
}

/// How deeply JS data handed to vjson may nest: above the core's own caps (metadata 64
/// levels, filters 32), which then say precisely what is wrong. Deeper data, or data that
/// contains itself, is refused before the conversion recurses that far.
const MAX_JS_NESTING: usize = 128;

/// JS data as JSON: `null` and `undefined` are null; numbers that are safe integers are
/// integers, other finite numbers floats, and NaN and ±Infinity (which JSON lacks) null;
/// BigInts in the 64-bit range are integers; strings, booleans and arrays are themselves;
/// `Map`s with string keys are objects, and any other object is the object of its own
/// enumerable string keys (plain objects as `JSON.stringify` writes them; unlike it, no
/// `toJSON` is called: a `Date` is `{}`). Functions, symbols, `Set`s and other iterables,
/// `ArrayBuffer`s and their views are refused, with what they were.
fn json(v: &JsValue, code: &str, what: &str) -> JsResult<Value> {
    to_json(v, 1)
        .map_err(|problem| js_error(code, &format!("{what} is not plain JSON data: {problem}")))
}

fn to_json(v: &JsValue, depth: usize) -> Result<Value, String> {
    if is_nullish(v) {
        return Ok(Value::Null);
    }
    if let Some(b) = v.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Some(x) = v.as_f64() {
        return Ok(if js_sys::Number::is_safe_integer(v) {
            Value::from(x as i64)
        } else {
            // Null when not finite.
            Value::from(x)
        });
    }
    if let Some(s) = v.as_string() {
        return Ok(Value::String(s));
    }
    if v.is_bigint() {
        return i64::try_from(v.clone())
            .map(Value::from)
            .or_else(|v| u64::try_from(v).map(Value::from))
            .map_err(|_| "it holds a BigInt outside the 64-bit integer range".into());
    }
    if !v.is_object() {
        return Err(format!("it holds {}", describe(v)));
    }
    if depth > MAX_JS_NESTING {
        return Err(format!(
            "it nests objects and arrays more than {MAX_JS_NESTING} levels deep (or contains itself)"
        ));
    }
    if Array::is_array(v) {
        return Array::from(v)
            .iter()
            .map(|x| to_json(&x, depth + 1))
            .collect::<Result<_, _>>()
            .map(Value::Array);
    }
    let pairs = if let Some(m) = v.dyn_ref::<js_sys::Map>() {
        Array::from(&m.entries())
    } else if js_sys::Symbol::iterator().js_in(v)
        || v.is_instance_of::<ArrayBuffer>()
        || ArrayBuffer::is_view(v)
    {
        return Err(
            "it holds a Set, a typed array, a buffer or another iterable that is not an array"
                .into(),
        );
    } else {
        Object::entries(v.unchecked_ref())
    };
    let mut map = serde_json::Map::new();
    for pair in pairs.iter() {
        let pair: Array = pair.unchecked_into();
        let key = pair
            .get(0)
            .as_string()
            .ok_or("it holds a Map whose keys are not all strings")?;
        map.insert(key, to_json(&pair.get(1), depth + 1)?);
    }
    Ok(Value::Object(map))
}

/// JSON as plain JS data: objects as plain objects, numbers as JS numbers (integers beyond
/// 2^53 as the nearest double).
fn to_js(v: &Value) -> JsValue {
    match v {
        Value::Null => JsValue::NULL,
        Value::Bool(b) => JsValue::from_bool(*b),
        Value::Number(n) => JsValue::from_f64(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => JsValue::from_str(s),
        Value::Array(items) => items.iter().map(to_js).collect::<Array>().into(),
        Value::Object(map) => {
            let o = Object::new();
            for (k, item) in map {
                set(&o, &JsValue::from_str(k), &to_js(item));
            }
            o.into()
        }
    }
}

#[wasm_bindgen]
extern "C" {
    /// An object of ours, just made, written by `obj[key] = value` (`Reflect.set` would
    /// wrap every call in an exception handler).
    #[wasm_bindgen(extends = Object)]
    type Fresh;

    #[wasm_bindgen(method, indexing_setter)]
    fn put(this: &Fresh, key: &JsValue, value: &JsValue);
}

/// `obj[key] = value` on an object just made (a plain object, an `Error`).
fn set(obj: &Object, key: &JsValue, value: &JsValue) {
    obj.unchecked_ref::<Fresh>().put(key, value);
}

/// An optional string or number as a JS value or `null`.
fn or_null<T>(v: Option<T>, f: impl FnOnce(T) -> JsValue) -> JsValue {
    v.map_or(JsValue::NULL, f)
}

thread_local! {
    /// The property names of a hit as JS strings, made once: a string crossing into JS
    /// costs about as much as the property it names.
    static HIT_KEYS: Vec<JsValue> =
        ["id", "score", "vectorScore", "textScore", "metadata", "text", "title"]
            .map(JsValue::from_str)
            .into();
}

/// Hits as `[{id, score, vectorScore, textScore, metadata, text, title}]`, `null` where a
/// hit has no value.
fn hits_to_js(hits: &[Hit]) -> JsValue {
    HIT_KEYS.with(|keys| {
        hits.iter()
            .map(|h| {
                let score = |s: f32| JsValue::from_f64(s as f64);
                let values = [
                    JsValue::from_str(&h.id),
                    score(h.score),
                    or_null(h.vector_score, score),
                    or_null(h.text_score, score),
                    or_null(h.metadata.as_ref(), to_js),
                    or_null(h.text.as_deref(), JsValue::from_str),
                    or_null(h.title.as_deref(), JsValue::from_str),
                ];
                let o = Object::new();
                for (k, v) in keys.iter().zip(&values) {
                    set(&o, k, v);
                }
                JsValue::from(o)
            })
            .collect::<Array>()
            .into()
    })
}

/// `{id, vector, text?, title?, metadata?}` as a [`Document`].
fn document(v: &JsValue) -> JsResult<Document> {
    if !v.is_object() || Array::is_array(v) {
        return Err(js_error(
            "empty_id",
            &format!(
                "a document must be an object {{id, vector, text?, title?, metadata?}}, got {}",
                describe(v)
            ),
        ));
    }
    let id = prop(v, "id");
    let id = id.as_string().ok_or_else(|| {
        js_error(
            "empty_id",
            &format!(
                "document id must be a non-empty string, got {}",
                describe(&id)
            ),
        )
    })?;
    let vec = prop(v, "vector");
    let vector = vector(&vec).ok_or_else(|| {
        js_error(
            "dimension_mismatch",
            &format!(
                "vector for document {id:?} must be a Float32Array or an array of numbers, got {}",
                describe(&vec)
            ),
        )
    })?;
    let mut doc = Document::new(id, vector);
    for (key, slot) in [("text", &mut doc.text), ("title", &mut doc.title)] {
        let value = prop(v, key);
        if !is_nullish(&value) {
            *slot = Some(value.as_string().ok_or_else(|| {
                js_error(
                    "invalid_metadata",
                    &format!(
                        "{key} of document {:?} must be a string, got {}",
                        doc.id,
                        describe(&value)
                    ),
                )
            })?);
        }
    }
    let meta = prop(v, "metadata");
    if !is_nullish(&meta) {
        let what = format!("metadata of document {:?}", doc.id);
        doc.metadata = Some(json(&meta, "invalid_metadata", &what)?);
    }
    Ok(doc)
}

/// An array of documents, the argument of `what` (`insertBatch`, `upsertBatch`).
fn documents(docs: &JsValue, what: &str) -> JsResult<Vec<Document>> {
    let arr = docs.dyn_ref::<Array>().ok_or_else(|| {
        js_error(
            "empty_id",
            &format!("{what} takes an array of documents, got {}", describe(docs)),
        )
    })?;
    arr.iter().map(|d| document(&d)).collect()
}

/// A fusion name (`"rrf"`, `"rrf:60"`, `"weighted:0.7,0.3"`, `"max"`, ...) or an object
/// `{type: "rrf", k}` / `{type: "weighted" | "zscore", vector, text}` / `{type: "max"}`.
fn fusion(v: &JsValue) -> JsResult<Fusion> {
    if is_nullish(v) {
        return Ok(Fusion::default());
    }
    if let Some(s) = v.as_string() {
        return Fusion::from_str(&s).map_err(throw);
    }
    if !v.is_object() || Array::is_array(v) {
        return Err(js_error(
            "invalid_query",
            &format!(
                "fusion must be a name such as \"rrf\" or an object {{type, ...}}, got {}",
                describe(v)
            ),
        ));
    }
    let kind = prop(v, "type").as_string().ok_or_else(|| {
        js_error(
            "invalid_query",
            "a fusion object needs a type: \"rrf\", \"weighted\", \"max\", \"min\", \"average\" or \"dbsf\"",
        )
    })?;
    let num = |key: &str, default: f32| -> JsResult<f32> {
        let x = prop(v, key);
        if is_nullish(&x) {
            return Ok(default);
        }
        x.as_f64().map(|x| x as f32).ok_or_else(|| {
            js_error(
                "invalid_query",
                &format!("fusion {key} must be a number, got {}", describe(&x)),
            )
        })
    };
    let f = match kind.to_ascii_lowercase().as_str() {
        "rrf" => {
            check_keys(v, &["type", "k"], "invalid_query", "fusion")?;
            if is_nullish(&prop(v, "k")) {
                Fusion::Rrf { k: Fusion::RRF_K }
            } else {
                Fusion::Rrf { k: num("k", 0.0)? }
            }
        }
        kind @ ("weighted" | "zscore") => {
            check_keys(v, &["type", "vector", "text"], "invalid_query", "fusion")?;
            let (vector, text) = (num("vector", 0.5)?, num("text", 0.5)?);
            match kind {
                "weighted" => Fusion::Weighted { vector, text },
                _ => Fusion::Zscore { vector, text },
            }
        }
        _ => {
            check_keys(v, &["type"], "invalid_query", "fusion")?;
            Fusion::from_str(&kind).map_err(throw)?
        }
    };
    f.validate().map_err(throw)?;
    Ok(f)
}

const QUERY_KEYS: &[&str] = &[
    "vector",
    "text",
    "k",
    "filter",
    "fusion",
    "efSearch",
    "candidates",
];

/// `{vector?, text?, k?, filter?, fusion?, efSearch?, candidates?}` as a [`Query`].
fn query(v: &JsValue) -> JsResult<Query> {
    if !v.is_object() || Array::is_array(v) {
        return Err(js_error(
            "invalid_query",
            &format!(
                "search takes an object {{vector?, text?, k?, filter?, fusion?, efSearch?}}, got {}",
                describe(v)
            ),
        ));
    }
    check_keys(v, QUERY_KEYS, "invalid_query", "query")?;
    let mut q = Query::new().fusion(fusion(&prop(v, "fusion"))?);
    let vec = prop(v, "vector");
    if !is_nullish(&vec) {
        q = q.vector(vector(&vec).ok_or_else(|| {
            js_error(
                "invalid_query",
                &format!(
                    "query vector must be a Float32Array or an array of numbers, got {}",
                    describe(&vec)
                ),
            )
        })?);
    }
    let text = prop(v, "text");
    if !is_nullish(&text) {
        q = q.text(text.as_string().ok_or_else(|| {
            js_error(
                "invalid_query",
                &format!("query text must be a string, got {}", describe(&text)),
            )
        })?);
    }
    if let Some(k) = count(&prop(v, "k"), "invalid_query", "k")? {
        q = q.k(k);
    }
    if let Some(ef) = count(&prop(v, "efSearch"), "invalid_query", "efSearch")? {
        q = q.ef_search(ef);
    }
    if let Some(n) = count(&prop(v, "candidates"), "invalid_query", "candidates")? {
        q = q.candidates(n);
    }
    let filter = prop(v, "filter");
    if !is_nullish(&filter) {
        let f = json(&filter, "invalid_filter", "filter")?;
        q = q.filter(Filter::from_json(&f).map_err(throw)?);
    }
    Ok(q)
}

const OPTION_KEYS: &[&str] = &[
    "dimension",
    "metric",
    "fulltext",
    "m",
    "efConstruction",
    "efSearch",
    "titleBoost",
    "limits",
];

/// The keys of `limits` (camelCase [`crate::Limits`] fields).
const LIMIT_KEYS: &[&str] = &[
    "maxIdBytes",
    "maxTextBytes",
    "maxMetadataBytes",
    "maxMetadataDepth",
    "maxBatchDocs",
    "maxK",
    "maxFilterDepth",
    "maxFilterConditions",
    "maxSnapshotBytes",
];

/// `{maxIdBytes?, maxTextBytes?, …}` over the default [`Limits`].
fn limits(v: &JsValue) -> JsResult<Limits> {
    let mut l = Limits::default();
    if is_nullish(v) {
        return Ok(l);
    }
    if !v.is_object() || Array::is_array(v) {
        return Err(js_error(
            "invalid_options",
            &format!("limits must be an object, got {}", describe(v)),
        ));
    }
    check_keys(v, LIMIT_KEYS, "invalid_options", "limit")?;
    let fields: [&mut usize; 8] = [
        &mut l.max_id_bytes,
        &mut l.max_text_bytes,
        &mut l.max_metadata_bytes,
        &mut l.max_metadata_depth,
        &mut l.max_batch_docs,
        &mut l.max_k,
        &mut l.max_filter_depth,
        &mut l.max_filter_conditions,
    ];
    // LIMIT_KEYS in the order of `fields`, then maxSnapshotBytes (a u64).
    for (field, name) in fields.into_iter().zip(LIMIT_KEYS) {
        if let Some(x) = count(&prop(v, name), "invalid_options", name)? {
            *field = x;
        }
    }
    if let Some(x) = count(&prop(v, LIMIT_KEYS[8]), "invalid_options", LIMIT_KEYS[8])? {
        l.max_snapshot_bytes = x as u64;
    }
    Ok(l)
}

/// `{dimension, metric?, fulltext?, m?, efConstruction?, efSearch?, titleBoost?, limits?}`
/// as [`Options`].
fn options(v: &JsValue) -> JsResult<Options> {
    if !v.is_object() || Array::is_array(v) {
        return Err(js_error(
            "invalid_options",
            &format!(
                "new VectorDB takes an object {{dimension, metric?, fulltext?, m?, efConstruction?, efSearch?, titleBoost?, limits?}}, got {}",
                describe(v)
            ),
        ));
    }
    check_keys(v, OPTION_KEYS, "invalid_options", "option")?;
    let dimension = count(&prop(v, "dimension"), "invalid_options", "dimension")?
        .ok_or_else(|| js_error("invalid_options", "options need a dimension"))?;
    let mut o = Options::new(dimension);
    let metric = prop(v, "metric");
    if !is_nullish(&metric) {
        let name = metric.as_string().ok_or_else(|| {
            js_error(
                "invalid_options",
                &format!(
                    "metric must be \"cosine\", \"dot\" or \"l2\", got {}",
                    describe(&metric)
                ),
            )
        })?;
        o = o.metric(Metric::from_str(&name).map_err(throw)?);
    }
    let fulltext = prop(v, "fulltext");
    if !is_nullish(&fulltext) {
        o = o.fulltext(fulltext.as_bool().ok_or_else(|| {
            js_error(
                "invalid_options",
                &format!("fulltext must be a boolean, got {}", describe(&fulltext)),
            )
        })?);
    }
    if let Some(m) = count(&prop(v, "m"), "invalid_options", "m")? {
        o = o.m(m);
    }
    if let Some(ef) = count(
        &prop(v, "efConstruction"),
        "invalid_options",
        "efConstruction",
    )? {
        o = o.ef_construction(ef);
    }
    if let Some(ef) = count(&prop(v, "efSearch"), "invalid_options", "efSearch")? {
        o = o.ef_search(ef);
    }
    let boost = prop(v, "titleBoost");
    if !is_nullish(&boost) {
        o = o.title_boost(boost.as_f64().map(|x| x as f32).ok_or_else(|| {
            js_error(
                "invalid_options",
                &format!("titleBoost must be a number, got {}", describe(&boost)),
            )
        })?);
    }
    Ok(o.limits(limits(&prop(v, "limits"))?))
}

/// A document id argument.
fn id_arg(v: &JsValue) -> JsResult<String> {
    v.as_string().ok_or_else(|| {
        js_error(
            "empty_id",
            &format!("a document id must be a string, got {}", describe(v)),
        )
    })
}

/// An embedded vector database with hybrid (vector + full-text) search.
#[wasm_bindgen]
pub struct VectorDB {
    db: crate::VectorDB,
}

#[wasm_bindgen]
impl VectorDB {
    /// `new VectorDB({dimension, metric, fulltext, m, efConstruction, efSearch})`.
    #[wasm_bindgen(constructor)]
    pub fn new(options_: JsValue) -> JsResult<VectorDB> {
        let db = crate::VectorDB::in_memory(options(&options_)?).map_err(throw)?;
        Ok(VectorDB { db })
    }

    /// Inserts one document `{id, vector, text?, title?, metadata?}`; its id must be new.
    pub fn insert(&self, doc: JsValue) -> JsResult<()> {
        self.db.insert(document(&doc)?).map_err(throw)
    }

    /// Inserts an array of documents, all or nothing.
    #[wasm_bindgen(js_name = insertBatch)]
    pub fn insert_batch(&self, docs: JsValue) -> JsResult<()> {
        let docs = documents(&docs, "insertBatch")?;
        self.db.insert_batch(docs).map_err(throw)
    }

    /// Inserts a document, replacing any document with the same id.
    pub fn upsert(&self, doc: JsValue) -> JsResult<()> {
        self.db.upsert(document(&doc)?).map_err(throw)
    }

    /// Inserts an array of documents, each replacing any document with the same id, all
    /// or nothing.
    #[wasm_bindgen(js_name = upsertBatch)]
    pub fn upsert_batch(&self, docs: JsValue) -> JsResult<()> {
        let docs = documents(&docs, "upsertBatch")?;
        self.db.upsert_batch(docs).map_err(throw)
    }

    /// Deletes a document; throws `not_found` when there is none with this id.
    pub fn delete(&self, id: JsValue) -> JsResult<()> {
        self.db.delete(&id_arg(&id)?).map_err(throw)
    }

    /// The document `{id, vector, text, title, metadata}` with this id, or `undefined`.
    pub fn get(&self, id: JsValue) -> JsResult<JsValue> {
        let Some(doc) = self.db.get(&id_arg(&id)?).map_err(throw)? else {
            return Ok(JsValue::UNDEFINED);
        };
        let out = Object::new();
        let put = |k: &str, v: &JsValue| set(&out, &JsValue::from_str(k), v);
        put("id", &JsValue::from_str(&doc.id));
        put("vector", &Float32Array::from(doc.vector.as_slice()).into());
        put("text", &or_null(doc.text.as_deref(), JsValue::from_str));
        put("title", &or_null(doc.title.as_deref(), JsValue::from_str));
        put("metadata", &or_null(doc.metadata.as_ref(), to_js));
        Ok(out.into())
    }

    /// Number of live documents.
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> usize {
        self.db.len()
    }

    /// The vector dimension.
    #[wasm_bindgen(getter)]
    pub fn dimension(&self) -> usize {
        self.db.options().dimension
    }

    /// The metric: `"cosine"`, `"dot"` or `"l2"`.
    #[wasm_bindgen(getter)]
    pub fn metric(&self) -> String {
        self.db.options().metric.name().to_owned()
    }

    /// Whether text is indexed for full-text search.
    #[wasm_bindgen(getter)]
    pub fn fulltext(&self) -> bool {
        self.db.options().fulltext
    }

    /// `search({vector?, text?, k?, filter?, fusion?, efSearch?, candidates?})`: hits
    /// `{id, score, vectorScore, textScore, metadata, text, title}`, best first.
    pub fn search(&self, query_: JsValue) -> JsResult<JsValue> {
        let hits = self.db.search(&query(&query_)?).map_err(throw)?;
        Ok(hits_to_js(&hits))
    }

    /// `hybridSearch(vector, text?, k = 10, fusion = "rrf")`.
    #[wasm_bindgen(js_name = hybridSearch)]
    pub fn hybrid_search(
        &self,
        vector_: JsValue,
        text: JsValue,
        k: JsValue,
        fusion_: JsValue,
    ) -> JsResult<JsValue> {
        let v = vector(&vector_).ok_or_else(|| {
            js_error(
                "invalid_query",
                &format!(
                    "hybridSearch needs a vector (Float32Array or array of numbers), got {}",
                    describe(&vector_)
                ),
            )
        })?;
        let text = if is_nullish(&text) {
            None
        } else {
            Some(text.as_string().ok_or_else(|| {
                js_error(
                    "invalid_query",
                    &format!("query text must be a string, got {}", describe(&text)),
                )
            })?)
        };
        let k = count(&k, "invalid_query", "k")?.unwrap_or(Query::DEFAULT_K);
        let hits = self
            .db
            .hybrid_search(&v, text.as_deref(), k, fusion(&fusion_)?)
            .map_err(throw)?;
        Ok(hits_to_js(&hits))
    }

    /// Rewrites the database without deleted rows.
    pub fn compact(&self) -> JsResult<()> {
        self.db.compact().map_err(throw)
    }

    /// The database in the portable snapshot format.
    #[wasm_bindgen(js_name = exportSnapshot)]
    pub fn export_snapshot(&self) -> JsResult<Uint8Array> {
        let bytes = self.db.export_snapshot().map_err(throw)?;
        Ok(Uint8Array::from(bytes.as_slice()))
    }

    /// Opens snapshot bytes (`Uint8Array`, `ArrayBuffer` or Node `Buffer`) written by
    /// either target.
    #[wasm_bindgen(js_name = importSnapshot)]
    pub fn import_snapshot(bytes: JsValue) -> JsResult<VectorDB> {
        let data = if let Some(b) = bytes.dyn_ref::<Uint8Array>() {
            b.to_vec()
        } else if let Some(b) = bytes.dyn_ref::<ArrayBuffer>() {
            Uint8Array::new(b).to_vec()
        } else {
            return Err(js_error(
                "invalid_snapshot",
                &format!(
                    "importSnapshot takes a Uint8Array or an ArrayBuffer, got {}",
                    describe(&bytes)
                ),
            ));
        };
        let db = crate::VectorDB::import_snapshot(&data).map_err(throw)?;
        Ok(VectorDB { db })
    }
}
