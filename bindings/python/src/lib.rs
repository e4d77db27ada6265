//! `vjson._vjson`: the Python face of vjson, a thin PyO3 layer over `vjson::VectorDB`.
//!
//! This crate only translates, as `wasm.rs` and the CLI do: Python values to documents,
//! queries and filters; hits and documents back to dicts and numpy arrays; core errors to
//! the exceptions of `vjson.errors` (by their stable code). Every call that does real
//! work runs with the GIL released (`Python::detach`), so Python threads search in
//! parallel.
//!
//! Vectors: a C-contiguous, aligned `float32` numpy array is read in place; anything else
//! (a list, another dtype, a strided view, an unaligned buffer) is converted once with
//! `numpy.require(x, dtype=numpy.float32, requirements="CA")`.

use std::path::PathBuf;
use std::sync::Arc;

use numpy::{PyArray1, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use parking_lot::RwLock;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMapping, PyString, PyTuple};
use serde_json::{Map, Number, Value};
use vjson::{Document, Durability, Filter, Fusion, Hit, Limits, Metric, Options, Query, VectorDB};

/// The exception of `vjson.errors` for `code`, carrying `message`.
fn error(py: Python<'_>, code: &str, message: impl AsRef<str>) -> PyErr {
    match py
        .import("vjson.errors")
        .and_then(|m| m.call_method1("_for_code", (code, message.as_ref())))
    {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

/// Core results as Python results.
trait OrRaise<T> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> OrRaise<T> for vjson::Result<T> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| error(py, e.code(), e.to_string()))
    }
}

/// A Python value as JSON (dict with str keys, list, tuple, str, int, float, bool, None,
/// and numpy scalars); anything else is a `code` error naming `what`.
fn to_json(obj: &Bound<'_, PyAny>, code: &str, what: &str) -> PyResult<Value> {
    to_json_at(obj, code, what, 1)
}

/// `to_json` of a value nested `depth` levels deep: past the core's
/// `MAX_METADATA_DEPTH` (or in a structure that contains itself) it is an error, not a
/// stack overflow.
fn to_json_at(obj: &Bound<'_, PyAny>, code: &str, what: &str, depth: usize) -> PyResult<Value> {
    let py = obj.py();
    let too_deep = || {
        error(
            py,
            code,
            format!(
                "{what} nests more than {} levels deep (or contains itself)",
                vjson::MAX_METADATA_DEPTH
            ),
        )
    };
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err(error(
            py,
            code,
            format!("{what}: the integer {obj} does not fit in 64 bits"),
        ));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let x = f.value();
        return Number::from_f64(x)
            .map(Value::Number)
            .ok_or_else(|| error(py, code, format!("{what}: {x} is not a finite number")));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_str()?.to_owned()));
    }
    if let Ok(d) = obj.cast::<PyMapping>() {
        if depth > vjson::MAX_METADATA_DEPTH {
            return Err(too_deep());
        }
        let mut m = Map::new();
        for item in d.items()?.iter() {
            let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item.extract()?;
            let Ok(key) = k.cast::<PyString>() else {
                return Err(error(
                    py,
                    code,
                    format!("{what}: keys must be str, not {}", k.get_type().name()?),
                ));
            };
            m.insert(
                key.to_str()?.to_owned(),
                to_json_at(&v, code, what, depth + 1)?,
            );
        }
        return Ok(Value::Object(m));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        if depth > vjson::MAX_METADATA_DEPTH {
            return Err(too_deep());
        }
        let mut items = Vec::new();
        for item in obj.try_iter()? {
            items.push(to_json_at(&item?, code, what, depth + 1)?);
        }
        return Ok(Value::Array(items));
    }
    // numpy scalars (np.float32(0.5), np.int64(3), np.bool_(True)) and arrays: as the
    // Python values numpy's tolist() gives.
    if obj.hasattr("dtype")? && obj.hasattr("tolist")? {
        return to_json_at(&obj.call_method0("tolist")?, code, what, depth);
    }
    Err(error(
        py,
        code,
        format!(
            "{what}: a {} is not JSON data (use dict, list, str, int, float, bool or None)",
            obj.get_type().name()?
        ),
    ))
}

/// JSON as Python values.
fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (_, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for x in items {
                list.append(to_py(py, x)?)?;
            }
            list.into_any()
        }
        Value::Object(m) => {
            let d = PyDict::new(py);
            for (k, x) in m {
                d.set_item(k, to_py(py, x)?)?;
            }
            d.into_any()
        }
    })
}

/// `obj` as a C-contiguous float32 array of `ndim` dimensions: read in place when it is
/// one, else converted once by numpy.
fn f32_array<'py>(
    obj: &Bound<'py, PyAny>,
    ndim: usize,
    what: &str,
) -> PyResult<PyReadonlyArrayDyn<'py, f32>> {
    let py = obj.py();
    let shape_of = |a: &Bound<'py, PyArrayDyn<f32>>| format!("{:?}", a.shape());
    if let Ok(a) = obj.cast::<PyArrayDyn<f32>>()
        && a.is_c_contiguous()
        && a.is_aligned()
        && a.ndim() == ndim
    {
        return a
            .try_readonly()
            .map_err(|e| error(py, "invalid_argument", format!("{what}: {e}")));
    }
    let np = py.import("numpy")?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("dtype", np.getattr("float32")?)?;
    kwargs.set_item("requirements", ("C", "A"))?;
    let converted = np
        .call_method("require", (obj,), Some(&kwargs))
        .map_err(|e| {
            error(
                py,
                "invalid_argument",
                format!(
                    "{what} must be numbers (a sequence or a numpy array), not {}: {e}",
                    obj.get_type()
                        .name()
                        .map(|n| n.to_string())
                        .unwrap_or_default()
                ),
            )
        })?;
    let a = converted.cast_into::<PyArrayDyn<f32>>()?;
    if a.ndim() != ndim {
        let want = if ndim == 1 {
            "a 1-D vector"
        } else {
            "a 2-D array (one row per vector)"
        };
        return Err(error(
            py,
            "invalid_argument",
            format!("{what} must be {want}, got shape {}", shape_of(&a)),
        ));
    }
    a.try_readonly()
        .map_err(|e| error(py, "invalid_argument", format!("{what}: {e}")))
}

/// One vector.
fn vector(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<f32>> {
    let a = f32_array(obj, 1, what)?;
    Ok(a.as_slice()?.to_vec())
}

/// Rows of a 2-D array, and the row length.
fn rows<'py>(
    obj: &Bound<'py, PyAny>,
    what: &str,
) -> PyResult<(PyReadonlyArrayDyn<'py, f32>, usize)> {
    let a = f32_array(obj, 2, what)?;
    let d = a.shape()[1];
    Ok((a, d))
}

fn metadata(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Value>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => to_json(o, "invalid_metadata", "metadata").map(Some),
    }
}

fn filter(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Filter>> {
    let Some(o) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    let py = o.py();
    let value = match o.cast::<PyString>() {
        Ok(s) => serde_json::from_str(s.to_str()?)
            .map_err(|e| error(py, "invalid_filter", format!("the filter is not JSON: {e}")))?,
        Err(_) => to_json(o, "invalid_filter", "filter")?,
    };
    Filter::from_json(&value).or_raise(py).map(Some)
}

fn document(
    id: String,
    vector: Vec<f32>,
    metadata: Option<Value>,
    text: Option<String>,
    title: Option<String>,
) -> Document {
    let mut d = Document::new(id, vector);
    d.metadata = metadata;
    d.text = text;
    d.title = title;
    d
}

/// An optional str argument (`None` or a str), `what` naming it in the error.
fn opt_str(py: Python<'_>, v: Option<Bound<'_, PyAny>>, what: &str) -> PyResult<Option<String>> {
    match v.filter(|t| !t.is_none()) {
        Some(t) => t.extract::<String>().map(Some).map_err(|_| {
            error(
                py,
                "invalid_argument",
                format!("{what} must be a str or None"),
            )
        }),
        None => Ok(None),
    }
}

/// The documents of an `insert_batch` / `upsert_batch` call: `items` (tuples
/// `(id, vector[, metadata[, text[, title]]])` or dicts with those keys), or the columns.
#[allow(clippy::too_many_arguments)]
fn documents(
    py: Python<'_>,
    items: Option<&Bound<'_, PyAny>>,
    ids: Option<Vec<String>>,
    vectors: Option<&Bound<'_, PyAny>>,
    metadatas: Option<&Bound<'_, PyAny>>,
    texts: Option<&Bound<'_, PyAny>>,
    titles: Option<&Bound<'_, PyAny>>,
) -> PyResult<Vec<Document>> {
    let bad = |msg: String| error(py, "invalid_argument", msg);
    if let Some(items) = items {
        if ids.is_some()
            || vectors.is_some()
            || metadatas.is_some()
            || texts.is_some()
            || titles.is_some()
        {
            return Err(bad(
                "pass either items or the columns (ids=, vectors=, metadatas=, texts=, titles=), not both"
                    .into(),
            ));
        }
        let mut docs = Vec::new();
        for (i, item) in items.try_iter()?.enumerate() {
            let item = item?;
            let what = format!("item {i}");
            let (id, vec, meta, text, title) = if let Ok(d) = item.cast::<PyDict>() {
                for key in d.keys() {
                    let k: String = key.extract()?;
                    if !["id", "vector", "metadata", "text", "title"].contains(&k.as_str()) {
                        return Err(bad(format!(
                            "{what}: unknown key {k:?} (use id, vector, metadata, text, title)"
                        )));
                    }
                }
                let get = |k: &str| d.get_item(k);
                (
                    get("id")?.ok_or_else(|| bad(format!("{what}: no \"id\"")))?,
                    get("vector")?.ok_or_else(|| bad(format!("{what}: no \"vector\"")))?,
                    get("metadata")?,
                    get("text")?,
                    get("title")?,
                )
            } else {
                let t = item.cast::<PyTuple>().map_err(|_| {
                    bad(format!(
                        "{what}: expected a tuple (id, vector, metadata, text, title) or a dict"
                    ))
                })?;
                if !(2..=5).contains(&t.len()) {
                    return Err(bad(format!(
                        "{what}: a tuple of {} values; expected (id, vector[, metadata[, text[, title]]])",
                        t.len()
                    )));
                }
                (
                    t.get_item(0)?,
                    t.get_item(1)?,
                    t.get_item(2).ok(),
                    t.get_item(3).ok(),
                    t.get_item(4).ok(),
                )
            };
            let id: String = id
                .extract()
                .map_err(|_| bad(format!("{what}: the id must be a str")))?;
            docs.push(document(
                id,
                vector(&vec, &format!("{what}'s vector"))?,
                metadata(meta.as_ref())?,
                opt_str(py, text, &format!("{what}: the text"))?,
                opt_str(py, title, &format!("{what}: the title"))?,
            ));
        }
        return Ok(docs);
    }
    let (Some(ids), Some(vectors)) = (ids, vectors) else {
        return Err(bad(
            "pass items (a list of (id, vector, metadata, text, title)), or ids= and vectors= (with metadatas=, texts=, titles=)"
                .into(),
        ));
    };
    let (array, d) = rows(vectors, "vectors")?;
    let n = array.shape()[0];
    if n != ids.len() {
        return Err(bad(format!("{} ids but {n} vectors", ids.len())));
    }
    let metas = column(py, metadatas, n, "metadatas")?;
    let texts = column(py, texts, n, "texts")?;
    let titles = column(py, titles, n, "titles")?;
    let flat = array.as_slice()?;
    let mut docs = Vec::with_capacity(n);
    for (i, ((id, text), title)) in ids.into_iter().zip(texts).zip(titles).enumerate() {
        docs.push(document(
            id,
            flat[i * d..(i + 1) * d].to_vec(),
            metadata(metas[i].as_ref())?,
            opt_str(py, text, &format!("texts[{i}]"))?,
            opt_str(py, title, &format!("titles[{i}]"))?,
        ));
    }
    Ok(docs)
}

/// An optional column of `n` values (`None`: all absent).
fn column<'py>(
    py: Python<'_>,
    c: Option<&Bound<'py, PyAny>>,
    n: usize,
    name: &str,
) -> PyResult<Vec<Option<Bound<'py, PyAny>>>> {
    match c.filter(|c| !c.is_none()) {
        None => Ok(vec![None; n]),
        Some(c) => {
            let items: Vec<Bound<'py, PyAny>> = c.try_iter()?.collect::<PyResult<_>>()?;
            if items.len() != n {
                return Err(error(
                    py,
                    "invalid_argument",
                    format!("{n} ids but {} {name}", items.len()),
                ));
            }
            Ok(items.into_iter().map(Some).collect())
        }
    }
}

/// A hit as the dict of the seed API: id, combined_score, vector_score, text_score, text,
/// metadata; and title.
fn hit_dict<'py>(py: Python<'py>, h: &Hit) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("id", &h.id)?;
    d.set_item("combined_score", h.score)?;
    d.set_item("vector_score", h.vector_score)?;
    d.set_item("text_score", h.text_score)?;
    d.set_item("text", h.text.as_deref())?;
    d.set_item("title", h.title.as_deref())?;
    match &h.metadata {
        Some(m) => d.set_item("metadata", to_py(py, m)?)?,
        None => d.set_item("metadata", py.None())?,
    }
    Ok(d)
}

fn hits<'py>(py: Python<'py>, hits: &[Hit]) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for h in hits {
        list.append(hit_dict(py, h)?)?;
    }
    Ok(list)
}

/// An embedded vector database with hybrid (vector + full-text) search.
///
/// ``PyVectorDB(path, dimension, enable_fulltext=True, metric="cosine")`` creates or reopens
/// the database in directory ``path`` (write-ahead logged, memory-mapped vectors, Tantivy
/// full-text index); ``path=None`` or ``":memory:"`` makes an in-memory one. Reopening needs
/// no ``dimension``; when given, it must match. ``read_only=True`` opens an existing
/// database beside its writer (any number of readers, one writer at a time).
#[pyclass(name = "PyVectorDB", module = "vjson._vjson", frozen, weakref)]
struct PyVectorDB {
    db: RwLock<Option<Arc<VectorDB>>>,
    path: Option<String>,
}

impl PyVectorDB {
    fn db(&self, py: Python<'_>) -> PyResult<Arc<VectorDB>> {
        self.db.read().clone().ok_or_else(|| {
            error(
                py,
                "closed",
                "this database is closed; open it again with vjson.PyVectorDB(path)",
            )
        })
    }

    /// The query every search method starts from: `k`, the filter, `ef_search`.
    fn query(
        k: usize,
        filter_obj: Option<&Bound<'_, PyAny>>,
        ef_search: Option<usize>,
    ) -> PyResult<Query> {
        let mut q = Query::new().k(k);
        if let Some(f) = filter(filter_obj)? {
            q = q.filter(f);
        }
        if let Some(ef) = ef_search {
            q = q.ef_search(ef);
        }
        Ok(q)
    }

    fn run(&self, py: Python<'_>, q: Query) -> PyResult<Vec<Hit>> {
        let db = self.db(py)?;
        py.detach(|| db.search(&q)).or_raise(py)
    }

    fn write(&self, py: Python<'_>, docs: Vec<Document>, replace: bool) -> PyResult<()> {
        let db = self.db(py)?;
        py.detach(|| {
            if replace {
                db.upsert_batch(docs)
            } else {
                db.insert_batch(docs)
            }
        })
        .or_raise(py)
    }
}

/// `limits={"max_text_bytes": 1_000_000, ...}`: [`Limits`] fields over their defaults.
fn limits_from(py: Python<'_>, d: Option<&Bound<'_, PyDict>>) -> PyResult<Limits> {
    let mut l = Limits::default();
    let Some(d) = d else {
        return Ok(l);
    };
    for (k, v) in d.iter() {
        let key: String = k.extract().map_err(|_| {
            error(
                py,
                "invalid_options",
                "limits keys are strings, e.g. \"max_k\"",
            )
        })?;
        let value: u64 = v.extract().map_err(|_| {
            error(
                py,
                "invalid_options",
                format!("limits[{key:?}] must be a whole number >= 0"),
            )
        })?;
        let as_usize = usize::try_from(value).unwrap_or(usize::MAX);
        match key.as_str() {
            "max_id_bytes" => l.max_id_bytes = as_usize,
            "max_text_bytes" => l.max_text_bytes = as_usize,
            "max_metadata_bytes" => l.max_metadata_bytes = as_usize,
            "max_metadata_depth" => l.max_metadata_depth = as_usize,
            "max_batch_docs" => l.max_batch_docs = as_usize,
            "max_snapshot_bytes" => l.max_snapshot_bytes = value,
            "max_k" => l.max_k = as_usize,
            "max_filter_depth" => l.max_filter_depth = as_usize,
            "max_filter_conditions" => l.max_filter_conditions = as_usize,
            other => {
                return Err(error(
                    py,
                    "invalid_options",
                    format!(
                        "unknown limit {other:?}; the limits are max_id_bytes, max_text_bytes, max_metadata_bytes, max_metadata_depth, max_batch_docs, max_snapshot_bytes, max_k, max_filter_depth, max_filter_conditions"
                    ),
                ));
            }
        }
    }
    Ok(l)
}

#[pymethods]
impl PyVectorDB {
    #[new]
    #[pyo3(signature = (path=None, dimension=None, enable_fulltext=true, metric="cosine", *, m=None, ef_construction=None, ef_search=None, title_boost=None, durability="fsync", read_only=false, limits=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        path: Option<PathBuf>,
        dimension: Option<usize>,
        enable_fulltext: bool,
        metric: &str,
        m: Option<usize>,
        ef_construction: Option<usize>,
        ef_search: Option<usize>,
        title_boost: Option<f32>,
        durability: &str,
        read_only: bool,
        limits: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let limits = limits_from(py, limits)?;
        let path = path.filter(|p| p.as_os_str() != ":memory:");
        let options = |dim: usize| -> PyResult<Options> {
            let mut o = Options::new(dim)
                .metric(metric.parse::<Metric>().or_raise(py)?)
                .fulltext(enable_fulltext)
                .durability(durability.parse::<Durability>().or_raise(py)?);
            if let Some(m) = m {
                o = o.m(m);
            }
            if let Some(ef) = ef_construction {
                o = o.ef_construction(ef);
            }
            if let Some(ef) = ef_search {
                o = o.ef_search(ef);
            }
            if let Some(b) = title_boost {
                o = o.title_boost(b);
            }
            Ok(o)
        };
        let db = match (&path, dimension) {
            (None, None) => {
                return Err(error(
                    py,
                    "invalid_options",
                    "an in-memory database needs a dimension: PyVectorDB(None, dimension=384)",
                ));
            }
            (None, Some(_)) if read_only => {
                return Err(error(
                    py,
                    "invalid_options",
                    "read_only=True opens a database directory: pass its path",
                ));
            }
            (None, Some(d)) => {
                let o = options(d)?;
                py.detach(|| VectorDB::in_memory(o)).or_raise(py)?
            }
            (Some(p), _) if read_only => {
                let db = py.detach(|| VectorDB::open_read_only(p)).or_raise(py)?;
                if let Some(d) = dimension.filter(|&d| d != db.options().dimension) {
                    return Err(error(
                        py,
                        "invalid_options",
                        format!(
                            "the database at {} has dimension {}, not {d}",
                            p.display(),
                            db.options().dimension
                        ),
                    ));
                }
                db
            }
            (Some(p), None) => py.detach(|| VectorDB::open_existing(p)).or_raise(py)?,
            (Some(p), Some(d)) => {
                let o = options(d)?;
                py.detach(|| VectorDB::open(p, o)).or_raise(py)?
            }
        };
        let db = db.with_limits(limits).or_raise(py)?;
        Ok(PyVectorDB {
            db: RwLock::new(Some(Arc::new(db))),
            path: path.map(|p| p.display().to_string()),
        })
    }

    /// Inserts one document. ``vector``: a sequence of floats or a 1-D numpy array;
    /// ``metadata``: a JSON-like dict; ``text`` and ``title``: indexed for full-text search
    /// (a title in its own field, see ``title_boost``). An id that
    /// exists already is a ``DuplicateIdError`` (use ``upsert`` to replace).
    #[pyo3(signature = (id, vector, metadata=None, text=None, title=None))]
    fn insert(
        &self,
        py: Python<'_>,
        id: String,
        vector: &Bound<'_, PyAny>,
        metadata: Option<&Bound<'_, PyAny>>,
        text: Option<String>,
        title: Option<String>,
    ) -> PyResult<()> {
        let doc = document(
            id,
            self::vector(vector, "vector")?,
            self::metadata(metadata)?,
            text,
            title,
        );
        self.write(py, vec![doc], false)
    }

    /// Inserts many documents, all or nothing: ``items`` is a list of tuples
    /// ``(id, vector, metadata, text, title)`` (metadata, text and title optional) or dicts
    /// with those keys; or pass the columns ``ids=``, ``vectors=`` (a 2-D float32 array,
    /// read without a copy when C-contiguous), ``metadatas=``, ``texts=``, ``titles=``.
    #[pyo3(signature = (items=None, *, ids=None, vectors=None, metadatas=None, texts=None, titles=None))]
    #[allow(clippy::too_many_arguments)]
    fn insert_batch(
        &self,
        py: Python<'_>,
        items: Option<&Bound<'_, PyAny>>,
        ids: Option<Vec<String>>,
        vectors: Option<&Bound<'_, PyAny>>,
        metadatas: Option<&Bound<'_, PyAny>>,
        texts: Option<&Bound<'_, PyAny>>,
        titles: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let docs = documents(py, items, ids, vectors, metadatas, texts, titles)?;
        self.write(py, docs, false)
    }

    /// Inserts a document, or replaces the one with the same id.
    #[pyo3(signature = (id, vector, metadata=None, text=None, title=None))]
    fn upsert(
        &self,
        py: Python<'_>,
        id: String,
        vector: &Bound<'_, PyAny>,
        metadata: Option<&Bound<'_, PyAny>>,
        text: Option<String>,
        title: Option<String>,
    ) -> PyResult<()> {
        let doc = document(
            id,
            self::vector(vector, "vector")?,
            self::metadata(metadata)?,
            text,
            title,
        );
        self.write(py, vec![doc], true)
    }

    /// ``insert_batch`` that replaces documents whose id exists, all or nothing.
    #[pyo3(signature = (items=None, *, ids=None, vectors=None, metadatas=None, texts=None, titles=None))]
    #[allow(clippy::too_many_arguments)]
    fn upsert_batch(
        &self,
        py: Python<'_>,
        items: Option<&Bound<'_, PyAny>>,
        ids: Option<Vec<String>>,
        vectors: Option<&Bound<'_, PyAny>>,
        metadatas: Option<&Bound<'_, PyAny>>,
        texts: Option<&Bound<'_, PyAny>>,
        titles: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let docs = documents(py, items, ids, vectors, metadatas, texts, titles)?;
        self.write(py, docs, true)
    }

    /// Checks a batch the way ``insert_batch`` (or, with ``replace=True``,
    /// ``upsert_batch``) would, without writing: raises the error that call would raise
    /// (dimension, values, ids, metadata; with ``replace=False`` also ids that exist).
    #[pyo3(signature = (items=None, *, ids=None, vectors=None, metadatas=None, texts=None, titles=None, replace=false))]
    #[allow(clippy::too_many_arguments)]
    fn validate_batch(
        &self,
        py: Python<'_>,
        items: Option<&Bound<'_, PyAny>>,
        ids: Option<Vec<String>>,
        vectors: Option<&Bound<'_, PyAny>>,
        metadatas: Option<&Bound<'_, PyAny>>,
        texts: Option<&Bound<'_, PyAny>>,
        titles: Option<&Bound<'_, PyAny>>,
        replace: bool,
    ) -> PyResult<()> {
        let docs = documents(py, items, ids, vectors, metadatas, texts, titles)?;
        let db = self.db(py)?;
        py.detach(|| {
            let mut seen = std::collections::HashSet::new();
            for d in &docs {
                db.validate(d)?;
                if !seen.insert(d.id.as_str()) || (!replace && db.contains(&d.id)) {
                    return Err(vjson::Error::DuplicateId(d.id.clone()));
                }
            }
            Ok(())
        })
        .or_raise(py)
    }

    /// Deletes a document; a missing id is a ``NotFoundError`` (a ``KeyError``).
    fn delete(&self, py: Python<'_>, id: &str) -> PyResult<()> {
        let db = self.db(py)?;
        py.detach(|| db.delete(id)).or_raise(py)
    }

    /// The document with this id as a dict (``id``, ``vector`` as a float32 array,
    /// ``text``, ``title``, ``metadata``), or ``None``.
    fn get<'py>(&self, py: Python<'py>, id: &str) -> PyResult<Option<Bound<'py, PyDict>>> {
        let db = self.db(py)?;
        let Some(doc) = py.detach(|| db.get(id)).or_raise(py)? else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        d.set_item("id", &doc.id)?;
        d.set_item("vector", PyArray1::from_vec(py, doc.vector))?;
        d.set_item("text", doc.text.as_deref())?;
        d.set_item("title", doc.title.as_deref())?;
        match &doc.metadata {
            Some(m) => d.set_item("metadata", to_py(py, m)?)?,
            None => d.set_item("metadata", py.None())?,
        }
        Ok(Some(d))
    }

    /// The number of live documents.
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        let db = self.db(py)?;
        Ok(py.detach(|| db.len()))
    }

    /// Whether a document has this id (anything but a str: False).
    fn __contains__(&self, py: Python<'_>, id: &Bound<'_, PyAny>) -> PyResult<bool> {
        let db = self.db(py)?;
        Ok(match id.cast::<PyString>() {
            Ok(s) => {
                let id = s.to_str()?;
                py.detach(|| db.contains(id))
            }
            Err(_) => false,
        })
    }

    /// Vector search: the ``k`` nearest documents as dicts (``id``, ``combined_score``,
    /// ``vector_score``, ``text_score``, ``text``, ``metadata``), best first. ``filter`` is a
    /// Mongo-style metadata filter (a dict or a JSON string); ``ef_search`` trades speed for
    /// recall for this query.
    #[pyo3(signature = (query_vector, k=10, filter=None, ef_search=None))]
    fn search<'py>(
        &self,
        py: Python<'py>,
        query_vector: &Bound<'_, PyAny>,
        k: usize,
        filter: Option<&Bound<'_, PyAny>>,
        ef_search: Option<usize>,
    ) -> PyResult<Bound<'py, PyList>> {
        let q = Self::query(k, filter, ef_search)?.vector(vector(query_vector, "query_vector")?);
        hits(py, &self.run(py, q)?)
    }

    /// Hybrid search: the vector side and the full-text side, fused. ``fusion`` is
    /// ``"zscore:V,T"`` (the default, ``zscore:0.5,0.5``), ``"weighted:V,T"``, ``"rrf"`` or
    /// ``"rrf:K"``, ``"average"``, ``"dbsf"``, ``"max"`` or ``"min"``. Either query may be
    /// left out.
    /// ``candidates`` is how many each side contributes before fusion.
    #[pyo3(signature = (query_vector=None, query_text=None, k=10, fusion=None, filter=None, ef_search=None, candidates=None))]
    #[allow(clippy::too_many_arguments)]
    fn hybrid_search<'py>(
        &self,
        py: Python<'py>,
        query_vector: Option<&Bound<'_, PyAny>>,
        query_text: Option<String>,
        k: usize,
        fusion: Option<&str>,
        filter: Option<&Bound<'_, PyAny>>,
        ef_search: Option<usize>,
        candidates: Option<usize>,
    ) -> PyResult<Bound<'py, PyList>> {
        let mut q = Self::query(k, filter, ef_search)?;
        if let Some(v) = query_vector.filter(|v| !v.is_none()) {
            q = q.vector(vector(v, "query_vector")?);
        }
        if let Some(t) = query_text {
            q = q.text(t);
        }
        if let Some(f) = fusion {
            q = q.fusion(f.parse::<Fusion>().or_raise(py)?);
        }
        if let Some(c) = candidates {
            q = q.candidates(c);
        }
        hits(py, &self.run(py, q)?)
    }

    /// The two sides of a hybrid query before fusion, as ``hybrid_search`` fuses them:
    /// ``((vector_pairs, vector_found), (text_pairs, text_found))``, each a list of
    /// ``(id, score)``, the side's own ``candidates`` best first; under z-score fusion
    /// followed by the other side's candidates with this side's score for them (the
    /// ``*_found`` counts say where a side's own results end). For fusing the sides of
    /// several databases (``vjson.distributed``).
    #[pyo3(signature = (query_vector, query_text, k=10, fusion=None, filter=None, ef_search=None, candidates=None))]
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn sides(
        &self,
        py: Python<'_>,
        query_vector: &Bound<'_, PyAny>,
        query_text: String,
        k: usize,
        fusion: Option<&str>,
        filter: Option<&Bound<'_, PyAny>>,
        ef_search: Option<usize>,
        candidates: Option<usize>,
    ) -> PyResult<((Vec<(String, f32)>, usize), (Vec<(String, f32)>, usize))> {
        let mut q = Self::query(k, filter, ef_search)?
            .vector(vector(query_vector, "query_vector")?)
            .text(query_text);
        if let Some(f) = fusion {
            q = q.fusion(f.parse::<Fusion>().or_raise(py)?);
        }
        if let Some(c) = candidates {
            q = q.candidates(c);
        }
        let db = self.db(py)?;
        let s = py.detach(|| db.sides(&q)).or_raise(py)?;
        Ok(((s.vector, s.vector_found), (s.text, s.text_found)))
    }

    /// Full-text (BM25) search only.
    #[pyo3(signature = (query_text, k=10, filter=None))]
    fn text_search<'py>(
        &self,
        py: Python<'py>,
        query_text: String,
        k: usize,
        filter: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let q = Self::query(k, filter, None)?.text(query_text);
        hits(py, &self.run(py, q)?)
    }

    /// Vector search for every row of ``query_vectors`` (an (n, d) array), in parallel:
    /// ``(ids, scores)``, an (n, k) object array of ids and an (n, k) float32 array of
    /// scores, best first; rows with fewer than ``k`` hits are padded with ``None`` / NaN.
    #[pyo3(signature = (query_vectors, k=10, filter=None, ef_search=None))]
    fn search_batch<'py>(
        &self,
        py: Python<'py>,
        query_vectors: &Bound<'py, PyAny>,
        k: usize,
        filter: Option<&Bound<'_, PyAny>>,
        ef_search: Option<usize>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let base = Self::query(k, filter, ef_search)?;
        let (array, d) = rows(query_vectors, "query_vectors")?;
        let flat = array.as_slice()?;
        let queries: Vec<Query> = (0..array.shape()[0])
            .map(|i| base.clone().vector(flat[i * d..(i + 1) * d].to_vec()))
            .collect();
        drop(array);
        let db = self.db(py)?;
        let results = py.detach(|| db.search_batch(&queries)).or_raise(py)?;
        let n = results.len();
        let mut scores = vec![f32::NAN; n * k];
        let ids = PyList::empty(py);
        for (i, row) in results.iter().enumerate() {
            let r = PyList::empty(py);
            for j in 0..k {
                match row.get(j) {
                    Some(h) => {
                        r.append(&h.id)?;
                        scores[i * k + j] = h.score;
                    }
                    None => r.append(py.None())?,
                }
            }
            ids.append(r)?;
        }
        let np = py.import("numpy")?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("dtype", "object")?;
        let ids = np.call_method("array", (ids,), Some(&kwargs))?;
        let ids = ids.call_method1("reshape", ((n, k),))?;
        let scores = PyArray1::from_vec(py, scores).reshape([n, k])?.into_any();
        Ok((ids, scores))
    }

    /// Makes every write durable: on disk, folds the write-ahead log into the data files.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let db = self.db(py)?;
        py.detach(|| db.flush()).or_raise(py)
    }

    /// Flushes and closes the database; later calls raise ``ClosedError``. Closing twice
    /// is allowed.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let Some(db) = self.db.write().take() else {
            return Ok(());
        };
        match Arc::try_unwrap(db) {
            Ok(db) => py.detach(|| db.close()).or_raise(py),
            // A call on another thread still uses it: it closes when that call returns.
            Err(db) => py.detach(move || db.flush()).or_raise(py),
        }
    }

    /// Rewrites the database without deleted documents.
    fn compact(&self, py: Python<'_>) -> PyResult<()> {
        let db = self.db(py)?;
        py.detach(|| db.compact()).or_raise(py)
    }

    /// Counts and, on disk, file sizes and recovery figures, as a dict.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let db = self.db(py)?;
        let stats = py.detach(|| db.stats());
        let value =
            serde_json::to_value(&stats).map_err(|e| error(py, "io", format!("stats: {e}")))?;
        to_py(py, &value)
    }

    /// The database as snapshot bytes (the format every vjson target reads).
    fn export_snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let db = self.db(py)?;
        let bytes = py.detach(|| db.export_snapshot()).or_raise(py)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// An in-memory database from snapshot bytes (written by any vjson target).
    #[staticmethod]
    fn import_snapshot(py: Python<'_>, data: &[u8]) -> PyResult<PyVectorDB> {
        let db = py.detach(|| VectorDB::import_snapshot(data)).or_raise(py)?;
        Ok(PyVectorDB {
            db: RwLock::new(Some(Arc::new(db))),
            path: None,
        })
    }

    /// The vector dimension.
    #[getter]
    fn dimension(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.db(py)?.options().dimension)
    }

    /// The metric: ``"cosine"``, ``"dot"`` or ``"l2"``.
    #[getter]
    fn metric(&self, py: Python<'_>) -> PyResult<&'static str> {
        Ok(self.db(py)?.options().metric.name())
    }

    /// The database directory, or ``None`` in memory.
    #[getter]
    fn path(&self) -> Option<String> {
        self.path.clone()
    }

    /// False once ``close()`` was called.
    #[getter]
    fn is_open(&self) -> bool {
        self.db.read().is_some()
    }

    /// ``with vjson.PyVectorDB(...) as db:`` closes the database at the end of the block.
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Closes the database (see ``close``); exceptions from the block propagate.
    #[pyo3(signature = (exc_type=None, exc=None, tb=None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        exc: Option<&Bound<'_, PyAny>>,
        tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        // Closes whether or not the block raised; never swallows the exception.
        let _ = (exc_type, exc, tb);
        self.close(py)?;
        Ok(false)
    }

    /// ``PyVectorDB(path, dimension=...)`` (no count: a repr never waits for a writer).
    fn __repr__(&self) -> String {
        match (&*self.db.read(), &self.path) {
            (None, _) => "PyVectorDB(closed)".into(),
            (Some(db), path) => format!(
                "PyVectorDB({}, dimension={})",
                path.as_deref()
                    .map_or_else(|| "':memory:'".to_string(), |p| format!("{p:?}")),
                db.options().dimension,
            ),
        }
    }
}

/// Fuses two ranked lists of ``(id, score)`` (each best first) into one list of
/// ``(id, fused score)``, best first, exactly as a database fuses its vector and text
/// sides (``fusion``: a name as in ``hybrid_search``; ``None``: the default). Ties keep
/// the order of first appearance, vector list first. Used by ``vjson.distributed`` to fuse
/// the globally merged sides of a sharded database once.
#[pyfunction]
#[pyo3(signature = (vector_hits, text_hits, fusion=None))]
fn fuse(
    py: Python<'_>,
    vector_hits: Vec<(String, f32)>,
    text_hits: Vec<(String, f32)>,
    fusion: Option<&str>,
) -> PyResult<Vec<(String, f32)>> {
    let fusion = match fusion {
        Some(f) => f.parse::<Fusion>().or_raise(py)?,
        None => Fusion::default(),
    };
    // Keys by first appearance, vector list first.
    let mut keys: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
    let mut names: Vec<&str> = Vec::new();
    for (id, _) in vector_hits.iter().chain(&text_hits) {
        keys.entry(id.as_str()).or_insert_with(|| {
            names.push(id.as_str());
            names.len() as u32 - 1
        });
    }
    let keyed = |list: &[(String, f32)]| -> Vec<(u32, f32)> {
        list.iter().map(|(id, s)| (keys[id.as_str()], *s)).collect()
    };
    let (v, t) = (keyed(&vector_hits), keyed(&text_hits));
    let fused = fusion.fuse(&v, &t).or_raise(py)?;
    Ok(fused
        .into_iter()
        .map(|(key, score)| (names[key as usize].to_owned(), score))
        .collect())
}

/// The native half of the `vjson` package.
#[pymodule]
fn _vjson(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyVectorDB>()?;
    m.add_function(wrap_pyfunction!(fuse, m)?)?;
    m.add("ERROR_CODES", vjson::Error::CODES.to_vec())?;
    m.add("DEFAULT_FUSION", Fusion::default().to_string())?;
    m.add("DEFAULT_CANDIDATES", Query::DEFAULT_CANDIDATES)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
